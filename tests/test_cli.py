"""The command line, end to end in a subprocess, on audio the test makes."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_models.features import FEATURE_NAMES
from genre_models.labels import GTZAN_GENRES

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genre_models", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("songs")
    rng = np.random.default_rng(0)
    sr = 22050
    t = np.arange(int(70 * sr)) / sr
    beat = (np.sin(2 * np.pi * 2 * t) > 0.95).astype(np.float32)
    long = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * beat) + 0.02 * rng.standard_normal(len(t))
    sf.write(d / "long song.wav", long.astype(np.float32), sr)
    sf.write(d / "short.mp3", long[: 5 * sr].astype(np.float32), sr, format="MP3")
    (d / "broken.mp3").write_bytes(b"definitely not audio" * 100)
    return {"long": d / "long song.wav", "short": d / "short.mp3", "broken": d / "broken.mp3"}


def test_predict_rows_and_csv(songs, tmp_path):
    out, windows = tmp_path / "pred.csv", tmp_path / "windows.csv"
    res = run("predict", songs["long"], songs["short"], "--csv", out, "--windows-csv", windows)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["path", "genre", *GTZAN_GENRES]
    assert len(rows) == 2
    for row in rows:
        probs = np.array([float(row[g]) for g in GTZAN_GENRES])
        assert abs(probs.sum() - 1) < 1e-4
        assert row["genre"] == GTZAN_GENRES[int(probs.argmax())]
    printed = [line for line in res.stdout.splitlines() if line]
    assert printed[0].startswith("path,genre,blues") and len(printed) == 3
    per_window = list(csv.DictReader(windows.open()))
    long_windows = [r for r in per_window if r["path"].endswith("long song.wav")]
    # 70 s with 30-s windows: [0,30) [30,60) and an end-aligned [40,70)
    assert [(float(r["start"]), float(r["end"])) for r in long_windows] == [(0, 30), (30, 60), (40, 70)]
    # the track answer is the mean of its windows
    mean = np.mean([[float(r[g]) for g in GTZAN_GENRES] for r in long_windows], axis=0)
    np.testing.assert_allclose(mean, [float(rows[0][g]) for g in GTZAN_GENRES], atol=2e-6)


def test_bad_file_is_reported_and_the_rest_still_run(songs, tmp_path):
    out = tmp_path / "pred.csv"
    res = run("predict", songs["broken"], songs["short"], "--csv", out)
    assert res.returncode == 1
    assert "broken.mp3" in res.stderr and "not audio" in res.stderr
    assert "Traceback" not in res.stderr
    assert len(list(csv.DictReader(out.open()))) == 1


def test_unknown_model_is_a_clear_error(songs, tmp_path):
    res = run("predict", songs["short"], "--model", tmp_path)
    assert res.returncode == 2 and "no config.json" in res.stderr and "Traceback" not in res.stderr


def test_features_csv(songs, tmp_path):
    out = tmp_path / "feats.csv"
    res = run("features", songs["short"], "--csv", out)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["filename", "length", *FEATURE_NAMES]
    assert rows[0]["filename"] == "short.mp3" and abs(int(rows[0]["length"]) - 5 * 22050) < 3000
    assert all(np.isfinite(float(rows[0][c])) for c in FEATURE_NAMES)
    res = run("features", songs["long"], "--csv", out, "--per-window", "30")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(out.open()))
    assert [(float(r["start"]), float(r["end"])) for r in rows] == [(0, 30), (30, 60), (40, 70)]
