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


FEATURES = REPO / "genre_models" / "pretrained" / "gtzan-features"


def test_predict_rows_and_csv(songs, tmp_path):
    out, windows = tmp_path / "pred.csv", tmp_path / "windows.csv"
    res = run("predict", songs["long"], songs["short"], "--model", FEATURES, "--csv", out, "--windows-csv", windows)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["path", "genre", *GTZAN_GENRES, "music", "music_share"]
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


# examples the default ensemble answers right and confidently (0.98 classical, 0.75 country; the table
# of answers is tests/test_shipped_models.py's EXPECTED, which says what to update when the default changes)
CONFIDENT_EXAMPLES = ("classical_strings.ogg", "country_twang.mp3")


def test_default_is_the_shipped_ensemble(songs, tmp_path):
    """No --model: the musicnn and YAMNet genre models, both in the per-window CSV, each scoring at most
    its max_windows windows spread from the start to the end of the 70-s song. Music gets the right
    genre and the verdict ``music``; the synthetic tone is not called music."""
    import json

    from test_shipped_models import EXPECTED

    from genre_models.ensemble import DEFAULT_ENSEMBLE_FILE

    out, windows = tmp_path / "pred.csv", tmp_path / "windows.csv"
    examples = [REPO / "examples" / name for name in CONFIDENT_EXAMPLES]
    res = run("predict", songs["long"], *examples, "--csv", out, "--windows-csv", windows)
    assert res.returncode == 0, res.stderr
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    assert sorted(rows) == sorted(["long song.wav", *CONFIDENT_EXAMPLES])
    for row in rows.values():
        assert abs(sum(float(row[g]) for g in GTZAN_GENRES) - 1) < 1e-4
    for name in CONFIDENT_EXAMPLES:
        written_as, answered = EXPECTED[name]
        assert written_as == answered, f"{name} is no longer answered right: pick another confident example"
        assert rows[name]["genre"] == answered, (name, rows[name])
        assert rows[name]["music"] == "music" and float(rows[name]["music_share"]) == 1.0, (name, rows[name])
    tone = rows["long song.wav"]  # a 220-Hz tone with a click track (README: test tones are not music)
    assert tone["music"] in ("tones", "noise", "other") and float(tone["music_share"]) < 0.5, tone
    per_model = {}
    for r in csv.DictReader(windows.open()):
        if Path(r["path"]).name == "long song.wav":
            per_model.setdefault(r["model"], []).append((float(r["start"]), float(r["end"])))
    limits = {Path(m["model"]).name: m["max_windows"] for m in json.loads(DEFAULT_ENSEMBLE_FILE.read_text())["models"]}
    assert set(per_model) == set(limits) and len(limits) >= 2  # every member of the default scored the song
    for name, spans in per_model.items():
        assert len(spans) == limits[name] and spans[0][0] == 0 and spans[-1][1] == 70, (name, spans)


def test_music_check_and_wide_genre_columns(songs, tmp_path):
    """Every row says whether the file is music; --wide-genres adds AudioSet's wider genre. White noise
    is called noise, whatever genre the models guess for it."""
    noise = tmp_path / "white noise.wav"
    sf.write(noise, (0.3 * np.random.default_rng(1).standard_normal(16000 * 12)).astype(np.float32), 16000)
    out = tmp_path / "pred.csv"
    res = run("predict", noise, songs["long"], "--csv", out, "--wide-genres")
    assert res.returncode == 0, res.stderr
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    assert list(rows["white noise.wav"])[-6:] == ["music", "music_share", "wide_genre", "wide_score", "outside_gtzan",
                                                  "wide_top3"]
    assert rows["white noise.wav"]["music"] == "noise" and float(rows["white noise.wav"]["music_share"]) == 0.0
    assert rows["white noise.wav"]["wide_genre"] == ""  # no wider genre for what is not music


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


def test_mixed_label_sets_give_one_table_each(songs, fma_like_model, tmp_path):
    """GTZAN's 10 genres and a 3-label model are never averaged: one table (and CSV) per label set."""
    out = tmp_path / "pred.csv"
    res = run("predict", songs["short"], "--model", fma_like_model, "--model", "genre_models/pretrained/gtzan-features",
              "--csv", out)
    assert res.returncode == 0, res.stderr
    first, second = list(csv.DictReader(out.open())), list(csv.DictReader(out.with_name("pred.group2.csv").open()))
    assert list(first[0]) == ["path", "genre", "Electronic", "Folk", "Rock", "music", "music_share"]
    assert list(second[0]) == ["path", "genre", *GTZAN_GENRES, "music", "music_share"]
    assert first[0]["music"] == second[0]["music"] != ""  # one music check per file, in every table
    assert "# label set 1: tiny-fma-cnn" in res.stderr and "# label set 2: gtzan-features" in res.stderr
    assert "path,genre,Electronic,Folk,Rock" in res.stdout and "path,genre,blues" in res.stdout


def test_ensemble_file_weights_are_used(songs, tmp_path):
    """An ensemble.json (as finetune/ensemble.py writes) drives the CLI; a tempered model is softer."""
    import json

    plain = tmp_path / "plain.csv"
    assert run("predict", songs["short"], "--model", FEATURES, "--csv", plain).returncode == 0
    cfg = tmp_path / "ensemble.json"
    cfg.write_text(json.dumps({"models": [{"model": str(REPO / "genre_models/pretrained/gtzan-features"),
                                           "weight": 1.0, "temperature": 4.0}]}))
    soft = tmp_path / "soft.csv"
    res = run("predict", songs["short"], "--ensemble", cfg, "--csv", soft)
    assert res.returncode == 0, res.stderr
    p = np.array([float(list(csv.DictReader(plain.open()))[0][g]) for g in GTZAN_GENRES])
    q = np.array([float(list(csv.DictReader(soft.open()))[0][g]) for g in GTZAN_GENRES])
    assert p.argmax() == q.argmax() and q.max() < p.max()  # same answer, less sure
    missing = run("predict", songs["short"], "--ensemble", tmp_path / "nope.json")
    assert missing.returncode == 2 and "could not be read" in missing.stderr and "Traceback" not in missing.stderr
