"""Size and CPU cost of each of our model families: parameters, and the time to score 30 s of audio.

    python benchmarks/bench_models.py                       # all our families, torch threads 1
    python benchmarks/bench_models.py --models wavenet,dnn --threads 2 --runs 9
    python benchmarks/bench_models.py --models none --shipped gtzan-musicnn,gtzan-yamnet,gtzan-whisper
    python benchmarks/bench_models.py --models none --shipped msd-musicnn,mtt-musicnn,msd-vgg,mtt-vgg

Each family is built with its default config (10 GTZAN genres), saved as a model folder with a
3-s scoring window (what ``benchmarks/train_real_audio.py`` trains) and loaded back through
``genre_models.registry.load_model``, so the timed call is exactly the CLI's and the app's:
``predict_windows`` on the ten 3-s windows of a 30-s clip (feature extraction + forward pass, one
batch). Reported: the median over ``--runs`` of this process's CPU time (``time.process_time``: all
its threads, not other processes' work on a shared machine) and of the wall time, plus the share of
CPU time spent in feature extraction. ``--shipped`` times shipped genre model folders
(``genre_models/pretrained/<name>``) the same way, on the same clip resampled to their rate; a tagger
folder (multi-label, e.g. ``msd-musicnn``, ``mtt-vgg``), which ``load_model`` refuses as a genre model,
is timed through the same ``TransformersClassifier`` on 3-s windows (its softmax over the tags costs
what a sigmoid would). The
clip is GTZAN's ``blues.00000.wav`` when ``../shared/data/gtzan`` is there, else a synthetic signal
(the cost does not depend on content).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from genre_models.hf_models import MODEL_FAMILIES, build_model, count_parameters  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402
from genre_models.registry import load_model  # noqa: E402

GTZAN = Path(os.environ.get("GENRE_SHARED_DATA", REPO.parent / "shared" / "data")) / "gtzan"
SR = 22050
WINDOW_SECONDS = 3.0
DEFAULT_MODELS = "mel_cnn,lstm,crnn,wavenet,cnn1d,dnn"


def clip_30s() -> tuple[np.ndarray, str]:
    """30 s of mono 22.05-kHz audio: a real GTZAN clip if available."""
    path = GTZAN / "audio" / "blues.00000.wav"
    if path.is_file():
        from genre_models.audio import load_audio

        y = np.asarray(load_audio(str(path), sr=SR), dtype=np.float32)[: 30 * SR]
        if y.size == 30 * SR:
            return y, path.name
    t = np.arange(30 * SR) / SR
    rng = np.random.default_rng(0)
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0) + 0.05 * rng.standard_normal(t.size)
    return y.astype(np.float32), "synthetic 30-s signal"


def measure(family: str, windows: list[np.ndarray], runs: int, folder: Path) -> dict[str, float]:
    """Median CPU and wall seconds of ``predict_windows`` on the windows, and of extraction alone."""
    torch.manual_seed(0)
    model, fe = build_model(family, GTZAN_GENRES)
    if hasattr(fe, "fit_normalization"):  # give standardising extractors statistics, as training would
        fe.fit_normalization(windows[:3])
    model.config.window_seconds = WINDOW_SECONDS
    model.save_pretrained(folder)
    fe.save_pretrained(folder)
    clf = load_model(str(folder))
    return {"params": count_parameters(model), **timed(clf, windows, runs)}


def timed(clf, windows: list[np.ndarray], runs: int) -> dict[str, float]:
    """Median CPU and wall seconds of ``clf.predict_windows(windows)`` after a warm-up, and of its
    feature extraction alone."""
    clf.predict_windows(windows)  # warm-up: lazy filterbanks, allocator, oneDNN kernels
    cpu, wall, extract = [], [], []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        probs = clf.predict_windows(windows)
        c1, w1 = time.process_time(), time.perf_counter()
        clf.feature_extractor(list(windows), sampling_rate=clf.sample_rate, return_tensors="pt")
        extract.append(time.process_time() - c1)
        cpu.append(c1 - c0)
        wall.append(w1 - w0)
    assert probs.shape == (len(windows), len(clf.labels))
    return {"cpu": statistics.median(cpu), "wall": statistics.median(wall), "extract": statistics.median(extract)}


def measure_folder(folder: Path, y: np.ndarray, runs: int) -> dict[str, float]:
    """The same timings for a model folder as it is shipped (its own rate and window)."""
    import json

    import soxr

    from genre_models.registry import TransformersClassifier

    config = json.loads((folder / "config.json").read_text())
    if config.get("problem_type") == "multi_label_classification":
        clf = TransformersClassifier(str(folder), folder.name, {**config, "window_seconds": WINDOW_SECONDS})
    else:
        clf = load_model(str(folder))
    audio = soxr.resample(y, SR, clf.sample_rate, quality="HQ").astype(np.float32)
    n = int(round(clf.window_seconds * clf.sample_rate))
    windows = [audio[i : i + n] for i in range(0, audio.size - n + 1, n)]
    model = getattr(clf, "model", None)
    params = sum(p.numel() for p in model.parameters()) if model is not None else 0
    return {"params": params, **timed(clf, windows, runs), "windows": len(windows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated families (default {DEFAULT_MODELS})")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--shipped", default="", help="comma-separated shipped genre models, e.g. gtzan-yamnet")
    args = parser.parse_args()
    families = [m.strip() for m in args.models.split(",") if m.strip() and m.strip() != "none"]
    unknown = [f for f in families if f not in MODEL_FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {sorted(MODEL_FAMILIES)}")
    torch.set_num_threads(args.threads)
    y, name = clip_30s()
    n = int(WINDOW_SECONDS * SR)
    windows = [y[i : i + n] for i in range(0, y.size - n + 1, n)]
    print(f"{name}: {len(windows)} windows of {WINDOW_SECONDS:g} s; torch threads {torch.get_num_threads()}; "
          f"median of {args.runs} runs; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    print("\n| model | parameters | CPU ms per 30 s | of which features | wall ms per 30 s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        for family in families:
            r = measure(family, windows, args.runs, Path(tmp) / family)
            print(f"| `{family}` | {r['params']:,} | {1000 * r['cpu']:.0f} | {1000 * r['extract']:.0f} | "
                  f"{1000 * r['wall']:.0f} |", flush=True)
    for name in [s.strip() for s in args.shipped.split(",") if s.strip()]:
        r = measure_folder(REPO / "genre_models" / "pretrained" / name, y, args.runs)
        print(f"| `{name}` ({r['windows']} windows) | {r['params']:,} | {1000 * r['cpu']:.0f} | "
              f"{1000 * r['extract']:.0f} | {1000 * r['wall']:.0f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (the machine is shared: timings are noisy)")


if __name__ == "__main__":
    main()
