"""genre_models.features reproduces the GTZAN feature table; input checks and edge cases."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_models.features import FEATURE_NAMES, SAMPLE_RATE, extract_features

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
# In standard deviations of the column over the whole table. Measured here: the ten 30-s clips agree to
# <= 1.2e-6 std (harmony_mean), the ten 3-s segments of blues.00000 to <= 5.2e-5 (rolloff_mean of segment
# 7: one frame whose roll-off bin sits on a float32 tie). Each bug this file guards moves a column by more
# than 10x this bound (blues..reggae.00000): the STFT padding fix reverted (pad_mode "constant") by 0.0128
# (perceptr_mean), today's HPSS inversion (``istft(length=len(y))``) by 0.0183 (perceptr_mean).
TOLERANCE = 1e-3
TEMPO = FEATURE_NAMES.index("tempo")
SEGMENT_STEP = 3 * SAMPLE_RATE  # 3-s table: segment i starts at i*66150 ...
SEGMENT_LENGTH = 66149  # ... and is 66149 samples long (its `length` column)


def _read_table(path: Path) -> dict[str, np.ndarray]:
    """filename -> the 57 feature values of that row."""
    with path.open(newline="") as handle:
        return {row["filename"]: np.array([float(row[n]) for n in FEATURE_NAMES]) for row in csv.DictReader(handle)}


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        pytest.skip(f"clip not found: {path}")
    y, sr = sf.read(path, dtype="float32")
    assert sr == SAMPLE_RATE and y.ndim == 1
    return y


@pytest.fixture(scope="module")
def table_std(gtzan_dir: Path) -> np.ndarray:
    """Per-column standard deviation over the whole 30-s table: the unit of the tolerance."""
    return np.std(np.stack(list(_read_table(gtzan_dir / "features_30_sec.csv").values())), axis=0, ddof=1)


@pytest.fixture(scope="module")
def clip_deviations(gtzan_dir: Path, table_std: np.ndarray) -> np.ndarray:
    """(10, 57) deviations from the table, in std units, for the ten full <genre>.00000 clips."""
    table = _read_table(gtzan_dir / "features_30_sec.csv")
    rows = []
    for genre in GENRES:
        name = f"{genre}.00000.wav"
        rows.append((extract_features(_load(gtzan_dir / "audio" / name)) - table[name]) / table_std)
    return np.array(rows)


def test_feature_names() -> None:
    assert len(FEATURE_NAMES) == 57 == len(set(FEATURE_NAMES))
    assert FEATURE_NAMES[0] == "chroma_stft_mean" and FEATURE_NAMES[-1] == "mfcc20_var"
    assert FEATURE_NAMES[TEMPO - 2 : TEMPO + 2] == ("perceptr_mean", "perceptr_var", "tempo", "mfcc1_mean")


def test_feature_names_match_table_header(gtzan_dir: Path) -> None:
    with (gtzan_dir / "features_30_sec.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert tuple(header[2:-1]) == FEATURE_NAMES


def test_silence_gives_finite_values_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features = extract_features(np.zeros(30 * SAMPLE_RATE, dtype=np.float32))
    assert features.shape == (57,) and np.all(np.isfinite(features))


def test_one_second_clip() -> None:
    y = 0.1 * np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32)
    features = extract_features(y)
    assert features.shape == (57,) and features.dtype == np.float64
    assert np.all(np.isfinite(features))


@pytest.mark.parametrize(
    ("y", "sr", "message"),
    [
        (np.zeros(SAMPLE_RATE, dtype=np.float32), 44100, "sample rate"),
        (np.zeros((2, SAMPLE_RATE), dtype=np.float32), SAMPLE_RATE, "1-D"),
        (np.zeros(0, dtype=np.float32), SAMPLE_RATE, "empty"),
        (np.zeros(100, dtype=np.float32), SAMPLE_RATE, "too short"),
        (np.zeros(SAMPLE_RATE, dtype=np.int16), SAMPLE_RATE, "floating-point"),
        (np.full(SAMPLE_RATE, np.nan, dtype=np.float32), SAMPLE_RATE, "NaN"),
    ],
)
def test_bad_input_raises_value_error(y: np.ndarray, sr: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        extract_features(y, sr)


def test_full_clips_match_table_except_tempo(clip_deviations: np.ndarray) -> None:
    worst = np.abs(np.delete(clip_deviations, TEMPO, axis=1)).max(axis=0)
    names = [n for n in FEATURE_NAMES if n != "tempo"]
    off = {n: round(float(w), 4) for n, w in zip(names, worst) if w > TOLERANCE}
    assert not off, f"columns off by more than {TOLERANCE} std: {off}"


def test_full_clips_match_table_tempo(clip_deviations: np.ndarray) -> None:
    """Every clip, not most: librosa's plain ``feature.tempo`` (mean-aggregated onset envelope) picks
    another peak on exactly 2 of these 10 (country, pop), so a looser bound would pass with that bug."""
    matched = np.abs(clip_deviations[:, TEMPO]) <= TOLERANCE
    off = [g for g, m in zip(GENRES, matched) if not m]
    assert not off, f"tempo differs from the table on {off} ({len(off)}/10)"


def test_3s_segments_match_table(gtzan_dir: Path, table_std: np.ndarray) -> None:
    """Secondary check on the 3-s table (its segments start every 3 s, not every 66149 samples)."""
    table = _read_table(gtzan_dir / "features_3_sec_blues00000.csv")
    y = _load(gtzan_dir / "audio" / "blues.00000.wav")
    for i in range(10):
        segment = y[i * SEGMENT_STEP : i * SEGMENT_STEP + SEGMENT_LENGTH]
        deviation = np.abs(extract_features(segment) - table[f"blues.00000.{i}.wav"]) / table_std
        assert deviation.max() <= TOLERANCE, \
            f"segment {i}: {FEATURE_NAMES[deviation.argmax()]} off by {deviation.max():.3g} std"
