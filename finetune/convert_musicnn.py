#!/usr/bin/env python
"""Convert the ``musicnn`` package's TensorFlow checkpoints into our PyTorch/transformers folders,
and prove the port equal to the original on the same audio.

The package ships four: ``MSD_musicnn`` and ``MTT_musicnn`` (:mod:`genre_models.hf_models.musicnn`), and
``MSD_vgg`` and ``MTT_vgg`` (its VGG-style baseline on the same input, :mod:`genre_models.hf_models.musicnn_vgg`).

Why a script: the checkpoints (ISC licence, Pons & Serra 2019) are TensorFlow-1 files inside the
``musicnn`` PyPI package; the app and the tests must never need TensorFlow, so TensorFlow is used
here only, once, and what it writes is committed. One command, in a separate virtual environment
(musicnn 0.1.0 declares ``numpy<1.17``, so it is installed without its dependencies; its graph code
uses ``tf.compat.v1.layers``, which current TensorFlow offers only through ``tf-keras``)::

    python -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu tf-keras torch==2.13.0 transformers==5.23.0 \\
        librosa==0.11.0 soundfile soxr safetensors
    /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0
    /tmp/tfvenv/bin/python finetune/convert_musicnn.py            # MSD_musicnn → genre_models/pretrained/msd-musicnn
    /tmp/tfvenv/bin/python finetune/convert_musicnn.py --models MTT_musicnn,MSD_vgg,MTT_vgg \
        --audio examples/*.mp3 ../shared/data/gtzan/audio/{blues,classical,metal,pop}.00000.wav

For every model it:

1. reads the checkpoint's tensors with TensorFlow's checkpoint reader and maps them onto
   :class:`~genre_models.hf_models.musicnn.MusiCNNForAudioClassification` or
   :class:`~genre_models.hf_models.musicnn_vgg.MusiCNNVGGForAudioClassification`
   (``load_state_dict(strict=True)``, every checkpoint variable used);
2. builds the package's own graph (``musicnn.models.define_model``), restores the checkpoint, and
   runs it and our port on the same patches of real audio: the tag probabilities must agree to
   ``--tolerance`` (1e-4) or the script fails; logits and the embeddings (musicnn: penultimate; vgg:
   the flattened ``pool5`` and the max/mean of the fifth block, read from the same graph) are reported too;
3. checks our feature extractor against the package's ``extractor.batch_data`` on the same audio;
4. writes the HF folder (config.json, model.safetensors, preprocessor_config.json, README.md model
   card with the measured figures, LICENSE, conversion.json) and ``tests/fixtures/<FIXTURES[name]>``
   (the first clip's first two patches + TensorFlow's outputs; that clip must be this project's own,
   CC0, audio) so the tests (``tests/test_musicnn.py``, ``tests/test_musicnn_vgg.py``) check the port
   without TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MSD_DATA = "the Million Song Dataset (Last.fm tags, 50 most frequent)"
MTT_DATA = "MagnaTagATune (50 most frequent tags)"
MODELS = {  # package name -> (our folder name, tag list name, training data, architecture)
    "MSD_musicnn": ("msd-musicnn", "MSD_TAGS", MSD_DATA, "musicnn"),
    "MTT_musicnn": ("mtt-musicnn", "MTT_TAGS", MTT_DATA, "musicnn"),
    "MSD_vgg": ("msd-vgg", "MSD_TAGS", MSD_DATA, "vgg"),
    "MTT_vgg": ("mtt-vgg", "MTT_TAGS", MTT_DATA, "vgg"),
}
FIXTURES = REPO / "tests" / "fixtures"
FIXTURE_NAMES = {"MSD_musicnn": "musicnn_msd.npz", "MTT_musicnn": "musicnn_mtt.npz",
                 "MSD_vgg": "vgg_msd.npz", "MTT_vgg": "vgg_mtt.npz"}
FIXTURE = FIXTURES / FIXTURE_NAMES["MSD_musicnn"]  # also holds the package's preprocessing of fixture_signal()
DEFAULT_AUDIO = REPO / "examples" / "metal_riff.mp3"  # made by this project (CC0): shippable as a fixture


def fixture_signal(sr: int = 16000, seconds: float = 3.2) -> np.ndarray:
    """A deterministic test signal (two chirps + noise; a few of its loudest bins overflow the
    package's float16) that the test regenerates to check the feature extractor against the
    package's preprocessing."""
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(5)
    y = 0.2 * np.sin(2 * np.pi * (100 * t + 400 * t**2)) + 0.1 * np.sin(2 * np.pi * (3000 * t - 300 * t**2))
    return (y + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# checkpoint → state dict
# ---------------------------------------------------------------------------------------------
def read_checkpoint(prefix: str) -> dict[str, np.ndarray]:
    """Every variable of a TF checkpoint (optimizer slots and counters left out)."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if "Adam" not in name and not name.endswith("_power")}


def tf_to_state_dict(tf_vars: dict[str, np.ndarray]) -> dict:
    """Map tf.layers' auto-named variables (creation order in ``build_musicnn``) onto our modules'
    state-dict keys (float32 torch tensors).

    conv2d: f74, f77, s1, s2, s3, mid-end 1-3; batch_normalization: input, then one after each conv,
    then the pooled vector and the dense layer; dense: penultimate, output.
    """
    import torch

    convs = ["musicnn.timbral.0", "musicnn.timbral.1", "musicnn.temporal.0", "musicnn.temporal.1",
             "musicnn.temporal.2", "musicnn.midend.0", "musicnn.midend.1", "musicnn.midend.2"]
    bns = ["musicnn.input_bn"] + [f"{c}.bn" for c in convs] + ["musicnn.pool_bn", "musicnn.dense_bn"]
    out: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def take(name: str) -> np.ndarray:
        used.add(name)
        return tf_vars[name]

    for i, ours in enumerate(convs):
        tf_name = "conv2d" if i == 0 else f"conv2d_{i}"
        kernel = take(f"{tf_name}/kernel")  # (time, freq_or_channels, in, out)
        if ours.startswith("musicnn.midend"):  # (7, C_in, 1, C_out) → Conv1d (C_out, C_in, 7)
            out[f"{ours}.conv.weight"] = kernel[:, :, 0, :].transpose(2, 1, 0)
        else:  # NHWC kernel → Conv2d (out, in, time, freq)
            out[f"{ours}.conv.weight"] = kernel.transpose(3, 2, 0, 1)
        out[f"{ours}.conv.bias"] = take(f"{tf_name}/bias")
    for i, ours in enumerate(bns):
        tf_name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        out[f"{ours}.weight"] = take(f"{tf_name}/gamma")
        out[f"{ours}.bias"] = take(f"{tf_name}/beta")
        out[f"{ours}.running_mean"] = take(f"{tf_name}/moving_mean")
        out[f"{ours}.running_var"] = take(f"{tf_name}/moving_variance")
    for tf_name, ours in (("dense", "musicnn.dense"), ("dense_1", "classifier")):
        out[f"{ours}.weight"] = take(f"{tf_name}/kernel").T
        out[f"{ours}.bias"] = take(f"{tf_name}/bias")
    left = sorted(set(tf_vars) - used)
    if left:
        raise ValueError(f"checkpoint variables not mapped: {left}")
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in out.items()}


def vgg_tf_to_state_dict(tf_vars: dict[str, np.ndarray]) -> dict:
    """The vgg's variables: convs named ``1CNN`` ... ``5CNN`` by the package, BatchNorms auto-named in
    creation order (input, then one per block), one ``dense`` output layer."""
    import torch

    out: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def take(name: str) -> np.ndarray:
        used.add(name)
        return tf_vars[name]

    bns = ["vgg.input_bn"]
    for i in range(5):
        ours = f"vgg.blocks.{i}"
        # (time, freq, in, out) → Conv2d (out, in, time, freq)
        out[f"{ours}.conv.weight"] = take(f"{i + 1}CNN/kernel").transpose(3, 2, 0, 1)
        out[f"{ours}.conv.bias"] = take(f"{i + 1}CNN/bias")
        bns.append(f"{ours}.bn")
    for i, ours in enumerate(bns):
        tf_name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        out[f"{ours}.weight"] = take(f"{tf_name}/gamma")
        out[f"{ours}.bias"] = take(f"{tf_name}/beta")
        out[f"{ours}.running_mean"] = take(f"{tf_name}/moving_mean")
        out[f"{ours}.running_var"] = take(f"{tf_name}/moving_variance")
    out["classifier.weight"] = take("dense/kernel").T  # rows in TF's flatten order (time, freq, channel)
    out["classifier.bias"] = take("dense/bias")
    left = sorted(set(tf_vars) - used)
    if left:
        raise ValueError(f"checkpoint variables not mapped: {left}")
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# the original model
# ---------------------------------------------------------------------------------------------
class OriginalMusicnn:
    """The package's own graph (``musicnn.models.define_model``) with its checkpoint restored."""

    def __init__(self, name: str, prefix: str, n_tags: int, n_frames: int = 187):
        import tensorflow as tf
        from musicnn import configuration, models

        tf.compat.v1.disable_eager_execution()
        self.graph = tf.Graph()
        with self.graph.as_default(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with tf.name_scope("model"):
                self.x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, configuration.N_MELS])
                self.is_training = tf.compat.v1.placeholder(tf.bool)
                y, *features = models.define_model(self.x, self.is_training, name, n_tags)
                self.outputs = {"logits": y, "tags": tf.nn.sigmoid(y)}
                if "vgg" in name:  # (pool1, ..., pool5): the dense layer reads pool5 flattened
                    pool5 = features[-1]
                    block5 = pool5.op.inputs[0]  # the fifth block's BN output, which pool5 max-pools
                    assert pool5.op.type == "MaxPool" and len(block5.shape) == 4
                    self.outputs["penultimate"] = tf.compat.v1.layers.flatten(pool5)
                    self.outputs["pooled"] = tf.concat(
                        [tf.reduce_max(block5, axis=[1, 2]), tf.reduce_mean(block5, axis=[1, 2])], axis=1)
                else:  # (timbral, ..., max_pool, penultimate)
                    self.outputs["penultimate"] = features[-1]
            self.session = tf.compat.v1.Session(graph=self.graph)
            tf.compat.v1.train.Saver().restore(self.session, prefix)

    def __call__(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for ``(n, 187, 96)`` patches, one patch per run (the package's BATCH_SIZE = 1)."""
        rows = [self.session.run(self.outputs, {self.x: p[None], self.is_training: False}) for p in patches]
        return {k: np.concatenate([r[k] for r in rows]) for k in self.outputs}


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def port_outputs(model, patches: np.ndarray) -> dict[str, np.ndarray]:
    """The port's logits, tag probabilities and embeddings for ``(n, 187, 96)`` patches."""
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(patches)
        if hasattr(model, "vgg"):
            hidden, pooled = model.vgg(x)
            extra = {"pooled": pooled.numpy()}
        else:
            hidden, _ = model.musicnn(x)
            extra = {}
        logits = model.classifier(hidden)
    return {"logits": logits.numpy(), "tags": torch.sigmoid(logits).numpy(), "penultimate": hidden.numpy(), **extra}


def compare(original: OriginalMusicnn, model, patches: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Max |TF − port| of tags, logits and embeddings on the same patches."""
    ref = original(patches)
    ours = port_outputs(model, patches)
    return {k: float(np.abs(ours[k] - ref[k]).max()) for k in ref}, ref


def package_patches(audio_16k: np.ndarray, tmp: Path) -> np.ndarray:
    """The package's own ``extractor.batch_data`` patches for these samples (written as a float WAV,
    which ``librosa.load`` reads back unchanged)."""
    import soundfile as sf
    from musicnn.extractor import batch_data

    path = tmp / "clip.wav"
    sf.write(path, audio_16k, 16000, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patches, _ = batch_data(str(path), 187, 187)
    return patches.astype(np.float32)


def check_extractor(fe, audio_16k: np.ndarray, tmp: Path) -> dict[str, float]:
    """Our extractor vs the package's ``batch_data`` on the same 16-kHz samples (written as a float
    WAV, which ``librosa.load`` reads back unchanged). The package runs on the installed librosa,
    whose STFT pads with zeros (librosa ≥ 0.10), so ours is compared with ``pad_mode="constant"``."""
    from genre_models.hf_models.musicnn import MusiCNNFeatureExtractor

    package = package_patches(audio_16k, tmp)
    same_pad = MusiCNNFeatureExtractor(**{**fe.to_dict(), "pad_mode": "constant"})
    ours = same_pad(audio_16k, sampling_rate=16000, return_tensors="np")["input_features"][0]
    ours = ours[: package.shape[0] * 187].reshape(package.shape)
    finite = np.isfinite(package)
    diff = np.abs(ours[finite] - package[finite])
    # a bin whose float32 mel power differs in its last bit between the two runs (the FFT's SIMD path) can round
    # to the neighbouring float16: one float16 step (≤ 0.004 at these values); counted here
    return {"patches": int(package.shape[0]), "overflow_bins": float(1.0 - finite.mean()),
            "max_abs_diff_finite": float(diff.max()), "differing_finite_bins": float((diff > 0).mean()),
            "ours_finite": bool(np.isfinite(ours).all())}


def build_port(name: str, prefix: str):
    """Our model for checkpoint ``name``, loaded from its TF variables (strict), and its tags."""
    from genre_models.hf_models import musicnn, musicnn_vgg

    _, tags_name, _, arch = MODELS[name]
    tags = getattr(musicnn, tags_name)
    tf_vars = read_checkpoint(prefix)
    if arch == "vgg":
        model = musicnn_vgg.MusiCNNVGGForAudioClassification(musicnn_vgg.vgg_tags_config(tags))
        state = vgg_tf_to_state_dict(tf_vars)
    else:
        model = musicnn.MusiCNNForAudioClassification(musicnn.musicnn_tags_config(tags))
        state = tf_to_state_dict(tf_vars)
    model.load_state_dict(state, strict=True)
    return model.eval(), tags


def reported_auc(package_dir: Path, name: str) -> tuple[float, float] | None:
    """(ROC-AUC, PR-AUC) from the checkpoint's ``experiment.result`` (the authors' test figures)."""
    import re

    path = package_dir / name / "experiment.result"
    values = [float(v) for v in re.findall(r"AUC:\s*([0-9.]+)", path.read_text())] if path.is_file() else []
    return (values[0], values[1]) if len(values) >= 2 else None


def convert(name: str, package_dir: Path, out_root: Path, audio: list[Path], tolerance: float,
            write_fixture: bool) -> dict:
    from genre_models.audio import load_audio
    from genre_models.hf_models import musicnn as port

    folder, _, data, arch = MODELS[name]
    prefix = str(package_dir / name) + "/"  # the package's checkpoints are named '<dir>/' + '.index' etc.
    model, tags = build_port(name, prefix)
    fe = port.MusiCNNFeatureExtractor()
    original = OriginalMusicnn(name, prefix, len(tags))

    import tensorflow as tf

    report: dict = {"model": name, "architecture": arch, "parameters": sum(p.numel() for p in model.parameters()),
                    "reported_auc": reported_auc(package_dir, name), "tensorflow": tf.__version__, "clips": {}}
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for clip_path in audio:
            y = load_audio(clip_path, sr=16000)
            feats = fe(y, sampling_rate=16000, return_tensors="np")["input_features"][0]
            n = feats.shape[0] // 187
            patches = np.ascontiguousarray(feats[: n * 187].reshape(n, 187, 96))
            diffs, ref = compare(original, model, patches)
            worst = max(worst, diffs["tags"])
            mean_tags = ref["tags"].mean(axis=0)
            top = [(tags[i], round(float(mean_tags[i]), 3)) for i in np.argsort(-mean_tags)[:5]]
            # what the package itself answers, float16 overflow included (its patches may hold inf)
            pkg = original(package_patches(y, Path(tmp)))["tags"]
            nan_rows = ~np.isfinite(pkg).all(axis=1)  # TF may turn a patch's infinities into NaN (inf - inf)
            pkg = pkg[~nan_rows].mean(axis=0) if not nan_rows.all() else None
            top_pkg = [(tags[i], round(float(pkg[i]), 3)) for i in np.argsort(-pkg)[:5]] if pkg is not None else []
            report["clips"][clip_path.name] = {"patches": n, "max_abs_diff": diffs, "top_tags_tf": top,
                                               "top_tags_package_pipeline": top_pkg,
                                               "package_pipeline_nan_patches": int(nan_rows.sum()),
                                               "extractor_vs_package": check_extractor(fe, y, Path(tmp))}
            embeddings = ", ".join(f"{k} {diffs[k]:.2e}" for k in ("penultimate", "pooled") if k in diffs)
            print(f"{name} on {clip_path.name} ({n} patches): max |TF - port| tags {diffs['tags']:.2e}, "
                  f"logits {diffs['logits']:.2e}, {embeddings}; top tags {top}")
            print(f"  extractor vs package batch_data: {report['clips'][clip_path.name]['extractor_vs_package']}; "
                  f"the package's own pipeline (overflow included) says {top_pkg}")
            if write_fixture and clip_path == audio[0]:
                if not clip_path.resolve().is_relative_to(REPO / "examples"):
                    raise SystemExit(f"the fixture is committed: its clip must be one of examples/ (CC0), "
                                     f"not {clip_path}; pass one first or use --no_fixture")
                fixture = FIXTURES / FIXTURE_NAMES[name]
                keep = patches[:2]
                ref2 = original(keep)
                extra = {}
                if name == "MSD_musicnn":
                    extra["signal_patches"] = package_patches(fixture_signal(), Path(tmp)).astype(np.float16)
                fixture.parent.mkdir(parents=True, exist_ok=True)
                source = f"{clip_path.name}, first 2 patches; TF outputs of {name} (musicnn 0.1.0)"
                np.savez_compressed(
                    fixture, patches=keep.astype(np.float32), **{k: v.astype(np.float32) for k, v in ref2.items()},
                    **extra, source=np.array(source))
                print(f"  wrote {fixture.relative_to(REPO)} ({fixture.stat().st_size / 1024:.0f} KB)")
    report["max_abs_diff_tags"] = worst
    if worst > tolerance:
        raise SystemExit(f"{name}: the port differs from TensorFlow by {worst:.2e} > {tolerance:g}; not written")

    out = out_root / folder
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    fe.save_pretrained(out)
    license_text = (package_dir.parent / "musicnn-0.1.0.dist-info" / "LICENSE.md")
    license_text = license_text.read_text() if license_text.is_file() else ISC_NOTICE
    (out / "LICENSE").write_text(license_text.strip() + "\n")
    (out / "README.md").write_text(model_card(name, folder, data, tags, report))
    (out / "conversion.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return report


ISC_NOTICE = """Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019. Code developed by Jordi Pons (www.jordipons.me).

Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby granted, provided that the above copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE."""  # noqa: E501


ARCHITECTURES = {  # architecture -> (module, what it is, how a clip is scored, its embeddings)
    "musicnn": (
        "genre_models.hf_models.musicnn", "genre_musicnn",
        "musicnn's timbral and temporal convolutions, a dense mid-end and max/mean temporal pooling",
        "`model.embed(...)` (`layer=\"penultimate\"`: the 200-d dense layer; `\"pooled\"`: the 1506 max/mean-pooled "
        "mid-end values) or `output_hidden_states=True` (pooled, penultimate)",
    ),
    "vgg": (
        "genre_models.hf_models.musicnn_vgg", "genre_musicnn_vgg",
        "the package's VGG-style baseline: five blocks of 3x3 conv (128 filters) → ReLU → BatchNorm → max-pool, "
        "then one dense layer on the flattened last pool",
        "`model.embed(...)` (`layer=\"penultimate\"`: the flattened last pool, 256 values, what the tag layer reads; "
        "`\"pooled\"`: max and mean of the fifth conv block over all its positions, 256 values) or "
        "`output_hidden_states=True` (pooled, penultimate)",
    ),
}


def model_card(name: str, folder: str, data: str, tags: list[str], report: dict) -> str:
    """README.md of a converted folder: source, licence, tags, and the measured equivalence."""
    module, model_type, architecture, embeddings = ARCHITECTURES[report["architecture"]]
    emb = [k for k in ("penultimate", "pooled") if k in next(iter(report["clips"].values()))["max_abs_diff"]]

    def tops(pairs) -> str:
        return ", ".join(f"{t} {p:.2f}" for t, p in pairs)

    def package(r: dict) -> str:
        nan = r.get("package_pipeline_nan_patches", 0)
        if nan == r["patches"]:
            return "NaN on every patch"
        return tops(r["top_tags_package_pipeline"]) + (f" ({nan} NaN patches left out)" if nan else "")

    rows = "\n".join(
        f"| {clip} | {r['patches']} | {r['max_abs_diff']['tags']:.1e} | {r['max_abs_diff']['logits']:.1e} | "
        + "".join(f"{r['max_abs_diff'][k]:.1e} | " for k in emb)
        + f"{tops(r['top_tags_tf'])} | {package(r)} |"
        for clip, r in report["clips"].items())
    ext = next(iter(report["clips"].values()))["extractor_vs_package"]
    differing = (f" ({ext['differing_finite_bins']:.3%} of them differ, each by one float16 step: their float32 mel "
                 "power differed in the last bit)" if ext.get("differing_finite_bins") else "")
    auc = report.get("reported_auc")
    auc_line = (f"The package's `{name}/experiment.result` reports ROC-AUC **{auc[0]:.3f}** and PR-AUC "
                f"**{auc[1]:.3f}** on its test set (the authors' figures, not re-measured here).\n\n" if auc else "")
    return f"""---
library_name: transformers
license: isc
tags: [audio-classification, music-tagging, musicnn]
pipeline_tag: audio-classification
---

# {folder}: musicnn ({name}) in PyTorch

The `{name}` checkpoint of **musicnn** (Jordi Pons and Xavier Serra, *musicnn: pre-trained convolutional
neural networks for music audio tagging*, ISMIR 2019 late-breaking demo), trained on {data}, converted
from the TensorFlow checkpoint inside the `musicnn==0.1.0` PyPI package to our own PyTorch
implementation (`{module}`: {architecture}; {report['parameters'] / 1e6:.2f} M parameters;
`model_type` `{model_type}`). No network is needed to use it.

```python
import genre_models.hf_models  # registers model_type {model_type}; no trust_remote_code
from transformers import pipeline
tagger = pipeline("audio-classification", model="genre_models/pretrained/{folder}", top_k=5)
tagger({{"raw": y, "sampling_rate": 16000}})   # y: mono float audio at 16 kHz; sigmoid scores
```

**Input**: 16-kHz mono audio → `MusiCNNFeatureExtractor`: librosa mel power (n_fft 512, hop 256, 96 bands),
`log10(10000·x + 1)` as the package computes it (float16), cut into non-overlapping 187-frame (3-s) patches.
A clip's tag logits are the mean of its patches' logits; `problem_type` is `multi_label_classification`,
so the pipeline applies a sigmoid. Embeddings for other tasks: {embeddings}.

**Tags ({len(tags)})**: {", ".join(tags)}.

{auc_line}**Equivalence with the original (measured by `finetune/convert_musicnn.py`)**: the package's own
TensorFlow graph (`musicnn.models.define_model`, restored from the checkpoint) and this port, on the same input
patches (max abs differences):

| audio | patches | tag probabilities | logits | {" | ".join(emb)} | top tags (TF, mean over patches) \
| the package's own pipeline |
|---|---|---|---|{"---|" * len(emb)}---|---|
{rows}

The feature extractor matches the package's `extractor.batch_data` on the same samples to
{ext['max_abs_diff_finite']:.1e} on every finite value of the first clip{differing}. Two deliberate
differences: the STFT edge padding is `reflect`, as in the librosa the checkpoints were trained with
(librosa ≥ 0.10 pads with zeros; only the first and last frame change), and bins where the package's float16
`10000·x` overflows to infinity (mel power > 6.55; {ext['overflow_bins']:.2%} of the first clip's bins, ~1 % of
loud music's) are computed in float32 instead of being infinite. The last column shows what the package itself
answers with the infinities, on TensorFlow {report.get('tensorflow', '?')}: a patch holding one infinite bin can
come out as NaN (∞ − ∞ in the convolutions) or as tags far from what the same network says on finite input.

**Licence**: ISC, see `LICENSE` (the musicnn package's notice, kept as it requires). The conversion code and the
PyTorch implementation are this project's.

**Limitations**: the tags are Last.fm / MagnaTagATune folksonomy tags (decades, moods, genres, instruments), not a
genre taxonomy; trained on 30-s previews of mostly Western popular music (MagnaTagATune: Magnatune's catalogue,
much of it classical and electronic).
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="MSD_musicnn", help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--package_dir", type=Path, default=None,
                        help="the installed musicnn package folder (default: found by import)")
    parser.add_argument("--out_root", type=Path, default=REPO / "genre_models" / "pretrained")
    parser.add_argument("--audio", type=Path, nargs="+", default=[DEFAULT_AUDIO],
                        help="clips to compare on (the first one also makes the test fixture)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--no_fixture", action="store_true",
                        help=f"do not (re)write the models' fixtures ({', '.join(FIXTURE_NAMES.values())})")
    args = parser.parse_args(argv)
    # before TensorFlow is first imported (lazily, below): tf.compat.v1.layers lives in tf-keras
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    package_dir = args.package_dir
    if package_dir is None:
        import musicnn

        package_dir = Path(musicnn.__file__).resolve().parent
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name not in MODELS:
            parser.error(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
        convert(name, package_dir, args.out_root, args.audio, args.tolerance,
                write_fixture=not args.no_fixture)


if __name__ == "__main__":
    main()
