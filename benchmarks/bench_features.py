"""Time genre_models.features on a 30-s clip and check it against the GTZAN feature table.

Run from the repository root: ``python benchmarks/bench_features.py [--runs N]``.
Uses ../shared/data/gtzan (or $GENRE_SHARED_DATA/gtzan) when present, else a synthetic 30-s signal
(timing only).
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from genre_models.features import FEATURE_NAMES, SAMPLE_RATE, extract_features  # noqa: E402

GTZAN = Path(os.environ.get("GENRE_SHARED_DATA", REPO.parent / "shared" / "data")) / "gtzan"
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
TOLERANCE = 0.05


def _clip() -> tuple[np.ndarray, str]:
    path = GTZAN / "audio" / "blues.00000.wav"
    if path.is_file():
        return sf.read(path, dtype="float32")[0], path.name
    t = np.arange(30 * SAMPLE_RATE) / SAMPLE_RATE
    rng = np.random.default_rng(0)
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0) + 0.05 * rng.standard_normal(t.size)
    return y.astype(np.float32), "synthetic 30-s signal"


def time_extraction(runs: int) -> None:
    y, name = _clip()
    extract_features(y)  # warm-up: numba JIT, filter caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        extract_features(y)
        times.append(time.perf_counter() - start)
    print(f"extract_features on {name} ({y.size / SAMPLE_RATE:.1f} s, {os.cpu_count()} CPUs): "
          f"median {statistics.median(times):.3f} s over {runs} runs (min {min(times):.3f}, max {max(times):.3f})")


def check_table() -> None:
    table_path = GTZAN / "features_30_sec.csv"
    if not table_path.is_file():
        print(f"no GTZAN table at {table_path}: accuracy check skipped")
        return
    with table_path.open(newline="") as handle:
        table = {row["filename"]: np.array([float(row[n]) for n in FEATURE_NAMES]) for row in csv.DictReader(handle)}
    std = np.std(np.stack(list(table.values())), axis=0, ddof=1)
    deviations = []
    for genre in GENRES:
        name = f"{genre}.00000.wav"
        y = sf.read(GTZAN / "audio" / name, dtype="float32")[0]
        deviations.append(np.abs(extract_features(y) - table[name]) / std)
    worst = np.max(deviations, axis=0)
    print(f"\nmax |deviation| over {len(GENRES)} clips, in table std units (tolerance {TOLERANCE}):")
    for name, value in zip(FEATURE_NAMES, worst):
        print(f"  {name:26s} {value:.2e}{'  <-- over tolerance' if value > TOLERANCE else ''}")
    tempo_ok = sum(d[FEATURE_NAMES.index("tempo")] <= TOLERANCE for d in deviations)
    print(f"tempo matches the table on {tempo_ok}/{len(GENRES)} clips")
    plain_tempo(table)


def plain_tempo(table: dict[str, np.ndarray]) -> None:
    """Why features.py takes beat_track's tempo: plain ``librosa.feature.tempo`` (mean-aggregated onset
    envelope) picks another peak on some clips."""
    import librosa

    column = FEATURE_NAMES.index("tempo")
    off = []
    for genre in GENRES:
        name = f"{genre}.00000.wav"
        y = sf.read(GTZAN / "audio" / name, dtype="float32")[0]  # mono 22050 Hz, as check_table reads it
        plain = float(np.atleast_1d(librosa.feature.tempo(y=y, sr=SAMPLE_RATE))[0])
        if abs(plain - table[name][column]) > 1.0:
            off.append(f"{genre} {plain:.1f} vs {table[name][column]:.1f} BPM")
    print(f"plain librosa.feature.tempo(y=...) differs from the table on {len(off)}/{len(GENRES)} clips"
          + (": " + ", ".join(off) if off else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs after one warm-up (default 7)")
    args = parser.parse_args()
    time_extraction(args.runs)
    check_table()


if __name__ == "__main__":
    main()
