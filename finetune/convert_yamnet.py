#!/usr/bin/env python
"""Convert YAMNet's TensorFlow Lite file into our PyTorch/transformers folder, and prove the port
equal to it on real audio.

Why a script: the only offline copy of YAMNet (Apache-2.0, Plakal & Ellis, Google) is
``yamnet.tflite`` in ``../shared/weights/yamnet`` (see its PROVENANCE.md); the app and the tests must
never need TFLite, so the TFLite runtime is used here only, once, and what it writes is committed.
One command, in a separate virtual environment (the ``tflite-runtime`` 2.14 wheel needs numpy < 2)::

    python -m venv /tmp/tflvenv
    /tmp/tflvenv/bin/pip install tflite-runtime==2.14.0 'numpy<2' torch==2.13.0 transformers==5.23.0 \\
        librosa==0.11.0 soundfile soxr safetensors
    /tmp/tflvenv/bin/python finetune/convert_yamnet.py      # → genre_models/pretrained/yamnet-audioset

It:

1. walks the file's operators and reads every tensor with its quantisation parameters through the
   interpreter (``get_tensor_details()`` / ``get_tensor()``): the front end's constants (window,
   padding, int8 DFT and mel matrices, the 0.001 log offset) must equal what
   :class:`genre_models.hf_models.yamnet.YAMNetFeatureExtractor` regenerates, bit for bit (the mel
   matrix's scale is taken from the file: TF's float32 log moved it by 3e-6 relative); the 14
   layers and the classifier are mapped onto :class:`~genre_models.hf_models.yamnet.YAMNetForAudioClassification`
   (``load_state_dict(strict=True)``; int8 tensors keep their int8 values and scales);
2. runs the interpreter on every 0.975-s window (hop 0.48 s) of real audio (this project's examples
   and, when ``../shared`` is there, a few GTZAN clips) and our extractor + port on the same samples:
   the class scores must agree to ``--tolerance`` (1e-3) or nothing is written; the log-mel patch
   (the file's second output) is compared too, and so is a plain float port (no int8 emulation);
3. writes the HF folder (config.json, model.safetensors with the int8 weights, preprocessor_config.json,
   README.md model card with the measured figures, LICENSE, conversion.json) and
   ``tests/fixtures/yamnet_audioset.npz`` (a few seconds of one project example, CC0, and TFLite's
   outputs on it) so ``tests/test_yamnet.py`` checks the port without TFLite. GTZAN audio is
   compared on, never written.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SOURCE_DIR = REPO.parent / "shared" / "weights" / "yamnet"
GTZAN_AUDIO = REPO.parent / "shared" / "data" / "gtzan" / "audio"
GTZAN_CLIPS = ("blues.00000", "classical.00000", "hiphop.00000", "metal.00000")  # compared on, never written
OUT = REPO / "genre_models" / "pretrained" / "yamnet-audioset"
FIXTURE = REPO / "tests" / "fixtures" / "yamnet_audioset.npz"
FIXTURE_AUDIO = REPO / "examples" / "disco_groove.mp3"  # made by this project (CC0): shippable as a fixture
FIXTURE_START_S, FIXTURE_WINDOWS, FIXTURE_SHORT = 5.0, 6, 8000  # 6 windows from 5 s; a 0.5-s clip too
APACHE_TEXT = Path(__file__).resolve().parent / "licenses" / "APACHE-2.0.txt"
WINDOW, HOP = 15600, 7680  # the file's input (0.975 s) and YAMNet's patch hop (0.48 s) at 16 kHz


def class_names(csv_path: Path) -> list[str]:
    """The 521 display names of ``yamnet_class_map.csv``, in output order."""
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if [int(r["index"]) for r in rows] != list(range(len(rows))):
        raise ValueError(f"{csv_path}: indices are not 0..{len(rows) - 1} in order")
    return [r["display_name"] for r in rows]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# the TFLite file
# ---------------------------------------------------------------------------------------------
class Reference:
    """The TFLite interpreter on ``yamnet.tflite`` (default settings, i.e. with its XNNPACK delegate: the
    reference), with its graph."""

    def __init__(self, path: Path, builtin_kernels: bool = False):
        from tflite_runtime.interpreter import Interpreter, OpResolverType

        # builtin_kernels: TFLite's own CPU kernels instead of its default XNNPACK delegate (for comparison)
        kind = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if builtin_kernels else OpResolverType.AUTO
        self.interpreter = Interpreter(str(path), experimental_op_resolver_type=kind)
        self.interpreter.allocate_tensors()
        self.tensors = {d["index"]: d for d in self.interpreter.get_tensor_details()}
        self.ops = self.interpreter._get_ops_details()  # the operators in execution order
        (inp,) = self.interpreter.get_input_details()
        outs = {tuple(d["shape"]): d["index"] for d in self.interpreter.get_output_details()}
        self.input_index, self.scores_index, self.log_mel_index = inp["index"], outs[(1, 521)], outs[(96, 64)]

    def __call__(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(521,)`` and log-mel patch ``(96, 64)`` of one 15 600-sample window."""
        self.interpreter.set_tensor(self.input_index, window.astype(np.float32)[None])
        self.interpreter.invoke()
        return (self.interpreter.get_tensor(self.scores_index)[0].copy(),
                self.interpreter.get_tensor(self.log_mel_index).copy())

    def value(self, index: int) -> np.ndarray:
        return self.interpreter.get_tensor(index).copy()

    def scales(self, index: int) -> np.ndarray:
        """The tensor's quantisation scales (empty for float tensors)."""
        return np.asarray(self.tensors[index]["quantization_parameters"]["scales"], dtype=np.float32)

    def weight(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """A constant weight: its values (int8 values as float32 for quantised ones) and, if int8, its
        scale per output channel (axis 0 for conv/FC, 3 for depthwise); zero points must be 0."""
        detail = self.tensors[index]
        values = self.value(index)
        if detail["dtype"] == np.float32:
            return values, None
        q = detail["quantization_parameters"]
        if detail["dtype"] != np.int8 or np.any(q["zero_points"]):
            raise ValueError(f"tensor {detail['name']}: expected symmetric int8, got {detail['dtype']} {q}")
        scales = self.scales(index)
        channels = values.shape[q["quantized_dimension"]] if scales.size > 1 else None
        if channels is not None and scales.size != channels:
            raise ValueError(f"tensor {detail['name']}: {scales.size} scales for {channels} channels")
        return values.astype(np.float32), scales

    def producer(self, index: int) -> dict | None:
        return next((op for op in self.ops if index in op["outputs"]), None)

    def graph(self) -> dict:
        """The parts of the graph the port needs, read from the operators (not from tensor names)."""
        of = lambda name: [op for op in self.ops if op["op_name"] == name]  # noqa: E731
        (mul_window,) = [op for op in of("MUL") if tuple(self.tensors[op["inputs"][1]]["shape"]) == (1, 400)]
        (pad,) = of("PAD")
        fcs = of("FULLY_CONNECTED")
        if len(fcs) != 4 or fcs[0]["inputs"][0] != pad["outputs"][0] or fcs[1]["inputs"][0] != pad["outputs"][0]:
            raise ValueError("unexpected graph: expected the real/imaginary DFT, the mel matrix and the classifier")
        layers = []
        for op in self.ops:
            if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                continue
            w_index = op["inputs"][1]
            source = self.producer(w_index)
            if source is not None and source["op_name"] == "DEQUANTIZE":  # int8 weights dequantised at run time
                w_index = source["inputs"][0]
            layers.append({"op": op["op_name"], "weight": self.weight(w_index), "bias": self.value(op["inputs"][2]),
                           "hybrid": self.tensors[w_index]["dtype"] == np.int8 and source is None,
                           "in_shape": tuple(self.tensors[op["inputs"][0]]["shape"]),
                           "out_shape": tuple(self.tensors[op["outputs"][0]]["shape"])})
        classifier = fcs[3]
        return {
            "window": self.value(mul_window["inputs"][1])[0],
            "paddings": self.value(pad["inputs"][1]),
            "dft_real": self.weight(fcs[0]["inputs"][1]), "dft_imag": self.weight(fcs[1]["inputs"][1]),
            "mel": self.weight(fcs[2]["inputs"][1]), "mel_bias": self.value(fcs[2]["inputs"][2]),
            "layers": layers,
            "classifier": {"weight": self.weight(classifier["inputs"][1]), "bias": self.value(classifier["inputs"][2])},
            "ops": [op["op_name"] for op in self.ops],
        }


# ---------------------------------------------------------------------------------------------
# graph → our extractor (checked) and state dict
# ---------------------------------------------------------------------------------------------
def check_front_end(graph: dict, fe) -> dict:
    """Every constant of the file's front end equals what our extractor regenerates (bit for bit)."""
    window, dft, dft_scale, mel, mel_scale = fe.matrices()
    start = (fe.fft_length - fe.window_length) // 2
    real, real_scale = graph["dft_real"]
    imag, imag_scale = graph["dft_imag"]
    file_mel, file_mel_scale = graph["mel"]
    bins = fe.fft_length // 2 + 1
    checks = {
        "window": np.array_equal(graph["window"], window),
        "paddings": graph["paddings"].tolist() == [[0, 0], [start, fe.fft_length - fe.window_length - start]],
        "dft_int8": np.array_equal(real[:, start:start + fe.window_length].T, dft[:, :bins])
        and np.array_equal(imag[:, start:start + fe.window_length].T, dft[:, bins:]),
        "dft_scale": real_scale.tolist() == [dft_scale] and imag_scale.tolist() == [dft_scale],
        "mel_int8": np.array_equal(file_mel.T, mel),
        "mel_scale": file_mel_scale.tolist() == [mel_scale],  # the file's, which the extractor keeps
        "log_offset": np.all(graph["mel_bias"] == np.float32(fe.log_offset)),
    }
    if not all(checks.values()):
        raise SystemExit(f"the extractor does not regenerate the file's front end: {checks}")
    return {k: bool(v) for k, v in checks.items()}


def tflite_to_state_dict(graph: dict, config) -> tuple[dict, set[str]]:
    """Map the file's 27 convs and the classifier onto our modules' keys. Returns float32 torch tensors
    (int8 values kept as integer-valued floats, with their ``weight_scale``) and the keys that hold int8
    values. BatchNorm is already folded into the file's convs (their bias is the folded BN)."""
    import torch

    layers = graph["layers"]
    if [op["op"] for op in layers] != ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 13:
        raise ValueError("expected a conv and 13 depthwise/pointwise pairs")
    out: dict[str, np.ndarray] = {}
    int8_keys: set[str] = set()

    def put(prefix: str, layer: dict, to_torch) -> None:
        values, scales = layer["weight"]
        weight = to_torch(values)
        out[f"{prefix}.weight"] = weight
        out[f"{prefix}.bias"] = layer["bias"]
        out[f"{prefix}.weight_scale"] = (np.ones(weight.shape[0], np.float32) if scales is None
                                         else np.broadcast_to(scales, (weight.shape[0],)).astype(np.float32))
        if scales is not None:
            int8_keys.add(f"{prefix}.weight")

    for i, layer in enumerate(layers):
        if i == 0:  # (out, kh, kw, in) → (out, in, kh, kw)
            put("yamnet.layers.0.conv", layer, lambda w: w.transpose(0, 3, 1, 2))
        elif layer["op"] == "DEPTHWISE_CONV_2D":  # (1, kh, kw, C) → (C, 1, kh, kw)
            put(f"yamnet.layers.{(i + 1) // 2}.depthwise", layer, lambda w: w[0].transpose(2, 0, 1)[:, None])
        else:
            if not layer["hybrid"]:
                raise ValueError(f"pointwise conv {i // 2} is not a hybrid int8 op; the port assumes it is")
            put(f"yamnet.layers.{i // 2}.pointwise", layer, lambda w: w.transpose(0, 3, 1, 2))
    strides = [op["in_shape"][1] // op["out_shape"][1] for op in layers[0:1] + layers[1::2]]  # the depthwise convs
    filters = [op["out_shape"][3] for op in layers[0:1] + layers[2::2]]
    if strides != list(config.layer_strides) or filters != list(config.layer_filters):
        raise ValueError(f"the file's strides/filters {strides}/{filters} differ from the config's")
    put("classifier", graph["classifier"], lambda w: w)
    return ({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in out.items()}, int8_keys)


def save_int8(model, int8_keys: set[str], path: Path) -> None:
    """``model.safetensors`` with the int8-valued weights stored as int8 (exact, a quarter of the size);
    ``from_pretrained`` casts them back to float32 and ``weight_scale`` dequantises them."""
    import torch
    from safetensors.torch import save_file

    state = {}
    for key, value in model.state_dict().items():
        if key in int8_keys:
            as_int = value.round().to(torch.int8)
            assert torch.equal(as_int.float(), value)
            value = as_int
        state[key] = value.contiguous()
    save_file(state, str(path), metadata={"format": "pt"})
    path.chmod(0o644)


# ---------------------------------------------------------------------------------------------
# the comparison
# ---------------------------------------------------------------------------------------------
def windows_of(y: np.ndarray, max_windows: int | None) -> tuple[np.ndarray, int]:
    """The clip cut to a whole number of YAMNet windows (hop 0.48 s), at most ``max_windows``."""
    n = 1 + (len(y) - WINDOW) // HOP
    if max_windows:
        n = min(n, max_windows)
    return y[: WINDOW + (n - 1) * HOP], n


def port_outputs(model, fe, y: np.ndarray) -> dict[str, np.ndarray]:
    """Our extractor + model on the samples: per-patch scores, embeddings and the log-mel frames."""
    import torch

    feats = fe(y, sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        out = model.patch_outputs(feats["input_features"], feats["attention_mask"])
    return {"scores": out.scores[0].numpy(), "embeddings": out.embeddings[0].numpy(),
            "log_mel": feats["input_features"][0].numpy()}


def compare_clip(ref: Reference, builtin: Reference, ports: dict[str, tuple], y: np.ndarray,
                 max_windows: int | None) -> dict:
    """TFLite on every window of the clip against each port (``ports``: name → (model, extractor); the
    first is the one converted, the others show what less exact emulations would give), and TFLite's
    built-in kernels against its default delegate."""
    y, n = windows_of(y, max_windows)
    ref_scores, ref_mel = zip(*(ref(y[p * HOP: p * HOP + WINDOW]) for p in range(n)))
    ref_scores, ref_mel = np.stack(ref_scores), np.stack(ref_mel)
    builtin_scores = np.stack([builtin(y[p * HOP: p * HOP + WINDOW])[0] for p in range(n)])
    out: dict = {"windows": n,
                 "tflite_builtin_kernels_max_abs_diff_scores": float(np.abs(builtin_scores - ref_scores).max())}
    for i, (name, (model, fe)) in enumerate(ports.items()):
        ours = port_outputs(model, fe, y)
        mel = np.stack([ours["log_mel"][48 * p: 48 * p + 96] for p in range(n)])
        prefix = "" if i == 0 else f"{name}_port_"
        out[f"{prefix}max_abs_diff_scores"] = float(np.abs(ours["scores"] - ref_scores).max())
        out[f"{prefix}max_abs_diff_log_mel"] = float(np.abs(mel - ref_mel).max())
    mean = ref_scores.mean(axis=0)
    labels = next(iter(ports.values()))[0].config.id2label
    out["top_mean_scores_tflite"] = [(labels[int(i)], round(float(mean[i]), 3)) for i in np.argsort(-mean)[:5]]
    return out


def write_fixture(ref: Reference, y: np.ndarray) -> dict:
    """A few seconds of a project example (CC0) and TFLite's outputs on them; the audio is rounded to
    16-bit first so the fixture holds exactly what TFLite was given."""
    start = int(FIXTURE_START_S * 16000)
    pcm = np.round(np.clip(y[start: start + WINDOW + (FIXTURE_WINDOWS - 1) * HOP], -1, 1) * 32767).astype(np.int16)
    x = pcm.astype(np.float32) / 32768.0
    scores, mels = zip(*(ref(x[p * HOP: p * HOP + WINDOW]) for p in range(FIXTURE_WINDOWS)))
    # the frames of overlapping windows are computed frame by frame, so they are identical: keep each once
    for p in range(1, FIXTURE_WINDOWS):
        assert np.array_equal(mels[p][:48], mels[p - 1][48:]), "overlapping frames differ between windows"
    log_mel = np.concatenate([mels[0]] + [m[48:] for m in mels[1:]])
    short = np.pad(x[:FIXTURE_SHORT], (0, WINDOW - FIXTURE_SHORT))  # YAMNet pads short clips with zeros
    short_scores, short_mel = ref(short)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        FIXTURE, pcm16=pcm, scores=np.stack(scores), log_mel=log_mel, short_samples=np.int64(FIXTURE_SHORT),
        short_scores=short_scores[None], short_log_mel=short_mel,
        source=np.array(f"examples/{FIXTURE_AUDIO.name} (CC0) at 16 kHz from {FIXTURE_START_S:g} s, rounded to "
                        f"int16 (pcm16 / 32768); TFLite outputs of yamnet.tflite on {FIXTURE_WINDOWS} windows of "
                        f"{WINDOW} samples every {HOP}, and on the first {FIXTURE_SHORT} samples zero-padded"))
    size = FIXTURE.stat().st_size
    print(f"wrote {FIXTURE.relative_to(REPO)} ({size / 1024:.0f} KB)")
    return {"path": str(FIXTURE.relative_to(REPO)), "bytes": size}


def convert(source: Path, out: Path, audio: list[Path], gtzan: list[Path], tolerance: float, max_windows: int | None,
            write_fixture_file: bool) -> dict:
    import torch

    from genre_models.audio import load_audio
    from genre_models.hf_models.yamnet import (
        YAMNetFeatureExtractor,
        YAMNetForAudioClassification,
        yamnet_classes_config,
    )

    torch.set_num_threads(1)
    tflite, class_map = source / "yamnet.tflite", source / "yamnet_class_map.csv"
    classes = class_names(class_map)
    ref, builtin = Reference(tflite), Reference(tflite, builtin_kernels=True)
    graph = ref.graph()
    # the mel matrix's scale is the one number of the front end we cannot regenerate exactly (TF's float32
    # log differs from numpy's in the last bits); the int8 values themselves are checked
    regenerated = YAMNetFeatureExtractor().matrices()[4]
    file_mel_scale = float(graph["mel"][1][0])
    fe = YAMNetFeatureExtractor(mel_scale=file_mel_scale)
    front = check_front_end(graph, fe)
    config = yamnet_classes_config(classes)
    state, int8_keys = tflite_to_state_dict(graph, config)
    model = YAMNetForAudioClassification(config).eval()
    model.load_state_dict(state, strict=True)
    ports = {"exact": (model, fe)}
    for name, emulation, stft in (("int8", "int8", True), ("float", "none", False)):
        other = YAMNetForAudioClassification(yamnet_classes_config(classes, emulation=emulation)).eval()
        other.load_state_dict(state, strict=True)
        ports[name] = (other, YAMNetFeatureExtractor(mel_scale=file_mel_scale, quantized_stft=stft))
    mel_scale_rel = abs(float(regenerated) / file_mel_scale - 1)
    print(f"{tflite.name}: {len(ref.ops)} ops; front end equal to the file ({', '.join(front)}; the mel scale "
          f"regenerated differs by {mel_scale_rel:.1e} relative, the file's is kept); "
          f"{len(state)} tensors mapped, {len(int8_keys)} int8")

    report: dict = {"source": {"file": tflite.name, "bytes": tflite.stat().st_size, "sha256": sha256(tflite),
                               "class_map": class_map.name, "class_map_sha256": sha256(class_map)},
                    "parameters": sum(p.numel() for p in model.parameters()), "front_end_checks": front,
                    "mel_scale_regenerated_rel_diff": mel_scale_rel, "int8_tensors": sorted(int8_keys),
                    "tolerance": tolerance, "clips": {}}
    for path in [*audio, *gtzan]:
        y = load_audio(path, sr=16000)
        r = compare_clip(ref, builtin, ports, y, max_windows)
        r["source"] = "gtzan" if path in gtzan else "examples"
        report["clips"][path.name] = r
        print(f"{path.name}: {r['windows']} windows; max |TFLite - port| scores {r['max_abs_diff_scores']:.1e}, "
              f"log-mel {r['max_abs_diff_log_mel']:.1e}; emulation int8 {r['int8_port_max_abs_diff_scores']:.1e}, "
              f"plain float {r['float_port_max_abs_diff_scores']:.1e}; TFLite's built-in kernels vs its default "
              f"{r['tflite_builtin_kernels_max_abs_diff_scores']:.1e}; top {r['top_mean_scores_tflite'][:3]}")
    clips = report["clips"].values()
    report["windows"] = sum(r["windows"] for r in clips)
    for key in [k for k in next(iter(clips)) if "max_abs_diff" in k]:
        report[key] = max(r[key] for r in clips)
    print(f"all {report['windows']} windows of {len(report['clips'])} clips: max |TFLite - port| scores "
          f"{report['max_abs_diff_scores']:.2e}, log-mel {report['max_abs_diff_log_mel']:.2e}; "
          f"emulation int8: {report['int8_port_max_abs_diff_scores']:.2e}; plain float port: "
          f"{report['float_port_max_abs_diff_scores']:.2e} (log-mel {report['float_port_max_abs_diff_log_mel']:.2e}); "
          f"TFLite built-in kernels vs default: {report['tflite_builtin_kernels_max_abs_diff_scores']:.2e}")
    if report["max_abs_diff_scores"] > tolerance:
        raise SystemExit(f"the port differs from TFLite by {report['max_abs_diff_scores']:.2e} > {tolerance:g}; "
                         "nothing written")

    if write_fixture_file:
        report["fixture"] = write_fixture(ref, load_audio(FIXTURE_AUDIO, sr=16000))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    save_int8(model, int8_keys, out / "model.safetensors")
    fe.save_pretrained(out)
    (out / "LICENSE").write_text(YAMNET_NOTICE + "\n\n" + APACHE_TEXT.read_text())
    (out / "README.md").write_text(model_card(report, out))
    (out / "conversion.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out} "
          f"({sum(f.stat().st_size for f in out.iterdir()) / 1e6:.1f} MB)")
    return report


YAMNET_NOTICE = """YAMNet (model and weights): Copyright 2019 The TensorFlow Authors. All Rights Reserved.
From https://github.com/tensorflow/models/tree/master/research/audioset/yamnet; converted to this folder's
format (PyTorch/safetensors, same int8 weights) by finetune/convert_yamnet.py of the genre-models project.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License."""


TABLE_HEADER = (
    "| audio | source | windows | max abs diff, scores | log-mel | `int8`, scores | plain float, scores "
    "| TFLite built-in kernels, scores | top classes (TFLite, mean over windows) |\n"
    "|---|---|---|---|---|---|---|---|---|")


def model_card(report: dict, out: Path) -> str:
    """README.md of the converted folder: source, licence, how to use it, and the measured equivalence."""
    rows = "\n".join(
        f"| {clip} | {r['source']} | {r['windows']} | {r['max_abs_diff_scores']:.1e} | {r['max_abs_diff_log_mel']:.1e} "
        f"| {r['int8_port_max_abs_diff_scores']:.1e} | {r['float_port_max_abs_diff_scores']:.1e} "
        f"| {r['tflite_builtin_kernels_max_abs_diff_scores']:.1e} "
        f"| {', '.join(f'{c} {p:.2f}' for c, p in r['top_mean_scores_tflite'][:3])} |"
        for clip, r in report["clips"].items())
    src = report["source"]
    return f"""---
library_name: transformers
license: apache-2.0
tags: [audio-classification, audioset, yamnet, sound-event-detection, audio-embeddings]
pipeline_tag: audio-classification
---

# {out.name}: YAMNet (AudioSet) in PyTorch

**YAMNet** (Manoj Plakal and Dan Ellis, Google; `tensorflow/models`, research/audioset/yamnet): MobileNet-v1
on 0.96-s log-mel patches at 16 kHz, trained on AudioSet to score its 521 classes (speech, music,
instruments, ~60 music genres, noises). Converted from a TensorFlow Lite file of it (`{src['file']}`,
{src['bytes']:,} bytes, sha256 `{src['sha256']}`; class names from `{src['class_map']}`, sha256
`{src['class_map_sha256']}`) to our own PyTorch implementation (`genre_models.hf_models.yamnet`;
{report['parameters'] / 1e6:.2f} M parameters). No network is needed to use it.

```python
import torch
import genre_models.hf_models  # registers model_type genre_yamnet; no trust_remote_code
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

tagger = pipeline("audio-classification", model="genre_models/pretrained/{out.name}")
tagger({{"raw": y, "sampling_rate": 16000}}, top_k=5)   # y: mono float audio at 16 kHz; sigmoid of the mean logits

fe = AutoFeatureExtractor.from_pretrained("genre_models/pretrained/{out.name}")
model = AutoModelForAudioClassification.from_pretrained("genre_models/pretrained/{out.name}").eval()
inputs = fe(y, sampling_rate=16000, return_tensors="pt")
with torch.inference_mode():
    out = model.patch_outputs(inputs["input_features"], inputs["attention_mask"])   # one pass through the network
out.scores      # (1, patches, 521): AudioSet scores of every 0.96-s patch (every 0.48 s)
out.embeddings  # (1, patches, 1024): YAMNet's embedding of every patch
out.mask        # (1, patches): True for real patches (False: batch padding)
```

**What it computes** (read out of the TFLite graph; details in `genre_models/hf_models/yamnet.py`):
25-ms periodic-Hann frames every 10 ms, a 512-point DFT magnitude and 64 HTK mel bands 125-7500 Hz, all as
int8 matrix products, `log(mel + 0.001)`; 96-frame patches every 48 frames; a 3×3 conv and 13
depthwise-separable blocks (BatchNorm folded in); global average pool (the 1024-d embedding, which the
file does not output); a dense layer and a sigmoid. The file's weights are int8 with a scale per tensor
(except the first conv and the first two depthwise convs) and are stored here the same way (int8 values +
`weight_scale`), so `model.safetensors` is small. TFLite's *hybrid* kernels also quantise the input of
each int8 matrix product (the DFT and mel products per frame, the 1×1 convs and the classifier per patch)
to int8 on the fly; the extractor (`quantized_stft`) and the model (`emulation`) do the same. Because each
int8 rounding turns a last-bit float difference into a whole int8 step, the float convolutions and the
pooling are also summed in the order of TFLite's default CPU back-end (XNNPACK, fused multiply-adds), and
the log is glibc's `logf`, reproduced (`emulation="exact"`, this folder's setting). That is TFLite's
arithmetic as measured on an x86-64 CPU with AVX-512 (XNNPACK picks its kernels by CPU, so elsewhere TFLite
itself may round differently); the port computes the same numbers on any CPU, up to the last bit of the
final sigmoid (a GPU's TF32 convolutions would not be exact).
`from_pretrained(..., emulation="int8")` or `"none"` runs faster and less exactly (figures below; speed:
`benchmarks/bench_yamnet.py`). Clips are zero-padded at the end to whole patches (at least one, 0.975 s), as
YAMNet's `pad_waveform` does.

**Equivalence with the original (measured by `finetune/convert_yamnet.py`)**: the TFLite interpreter
(`tflite-runtime` 2.14, default settings) on every 0.975-s window (hop 0.48 s) of each clip, and our
extractor + model on the same samples (per-patch scores): max abs difference of the class scores
**{report['max_abs_diff_scores']:.1e}** and of the log-mel patches **{report['max_abs_diff_log_mel']:.1e}** over
{report['windows']} windows (tolerance {report['tolerance']:g}). The other two columns are the same weights run less
exactly: `emulation="int8"` (int8 activations, PyTorch's own float convs) and a plain float port (float log-mel,
`emulation="none"`): what a straightforward port would give. TFLite's own two CPU back-ends, its default XNNPACK
delegate (the reference here) and its built-in kernels, differ from each other by up to
{report['tflite_builtin_kernels_max_abs_diff_scores']:.1e} on these scores (last column but one).

{TABLE_HEADER}
{rows}

`tests/test_yamnet.py` rechecks the port against TFLite's outputs on a few seconds of this project's disco
example (`tests/fixtures/yamnet_audioset.npz`) without TFLite.

**Licence**: Apache-2.0 (see `LICENSE`: the YAMNet notice and the licence text). The conversion code and
the PyTorch implementation are this project's.

**Limitations**: AudioSet's labels come from YouTube videos (weak, clip-level labels; its music-genre
classes are noisy and skewed to popular Western genres); scores are independent sigmoids, not a
distribution. The int8 weights cost the TFLite file (and so this port) a little accuracy against the
original float YAMNet.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source_dir", type=Path, default=SOURCE_DIR, help="folder of yamnet.tflite and the class map")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--audio", type=Path, nargs="+", default=None,
                        help="project clips to compare on (default: every example in examples/)")
    parser.add_argument("--gtzan", type=Path, nargs="*", default=None,
                        help=f"GTZAN clips to compare on too (default: {', '.join(GTZAN_CLIPS)} when present)")
    parser.add_argument("--max_windows", type=int, default=None, help="at most this many windows per clip")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="max abs difference of the class scores")
    parser.add_argument("--no_fixture", action="store_true", help="do not (re)write tests/fixtures/yamnet_audioset.npz")
    args = parser.parse_args(argv)
    audio = args.audio or sorted(p for p in (REPO / "examples").iterdir() if p.suffix in (".mp3", ".ogg", ".flac"))
    gtzan = args.gtzan
    if gtzan is None:
        gtzan = [GTZAN_AUDIO / f"{c}.wav" for c in GTZAN_CLIPS if (GTZAN_AUDIO / f"{c}.wav").is_file()]
    convert(args.source_dir, args.out, audio, gtzan, args.tolerance, args.max_windows, not args.no_fixture)


if __name__ == "__main__":
    main()
