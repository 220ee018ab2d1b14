"""Whole-track prediction with a stand-in model: windows, averaging, refusals, combining."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from genre_models.audio import AudioLoadError
from genre_models.prediction import Prediction, combine, predict


class Loudness:
    """A fake model whose answer is the window's loudness, so windows are easy to tell apart."""

    name = "loudness"
    labels = ["quiet", "loud"]
    sample_rate = 8000
    window_seconds = 2.0

    def __init__(self):
        self.calls: list[int] = []

    def predict_windows(self, windows):
        self.calls.append(len(windows))
        loud = np.array([min(1.0, float(np.abs(w).mean()) * 2) for w in windows])
        return np.stack([1 - loud, loud], axis=1)


@pytest.fixture
def song(tmp_path):
    sr = 16000  # not the model's rate: predict resamples
    quiet, loud = np.full(sr * 3, 0.05, np.float32), np.full(sr * 4, 0.45, np.float32)
    path = tmp_path / "song.wav"
    sf.write(path, np.concatenate([quiet, loud]), sr)
    return path


def test_windows_are_scored_and_averaged(song):
    model = Loudness()
    seen = []
    pred = predict(song, model, on_window=lambda w: seen.append((w.start, w.end)))
    # 7 s, 2-s windows: [0,2) [2,4) [4,6) and an end-aligned [5,7)
    np.testing.assert_allclose(pred.window_spans, [[0, 2], [2, 4], [4, 6], [5, 7]], atol=1e-3)
    assert seen == [(int(a * 8000), int(b * 8000)) for a, b in pred.window_spans]
    assert pred.window_probs[0, 1] < 0.2 and pred.window_probs[2, 1] > 0.8
    np.testing.assert_allclose(pred.probs, pred.window_probs.mean(axis=0))
    assert pred.genre == "loud" and abs(pred.duration - 7.0) < 1e-3
    assert sum(model.calls) == 4


def test_hop_gives_overlapping_windows(song):
    pred = predict(song, Loudness(), hop_seconds=1.0)
    assert len(pred.window_spans) == 6  # starts 0..5 s


def test_max_windows_spreads_the_work_over_a_long_song(tmp_path):
    """A costly model scores at most max_windows windows, from the start to the very end."""
    path = tmp_path / "long.wav"
    sf.write(path, np.full(8000 * 41, 0.3, np.float32), 8000)  # 41 s: 20 plain 2-s windows (+ tail)
    model = Loudness()
    pred = predict(path, model, max_windows=5)
    np.testing.assert_allclose(pred.window_spans[:, 0], [0, 9.75, 19.5, 29.25, 39], atol=1e-3)
    assert pred.window_spans[-1, 1] == pytest.approx(41) and sum(model.calls) == 5
    assert len(predict(path, Loudness(), max_windows=30).window_spans) == 21  # short enough: every window
    assert len(predict(path.read_bytes(), Loudness(), max_windows=5).window_spans) == 5  # bytes too


def test_too_short_is_refused_before_the_model_runs(tmp_path):
    path = tmp_path / "blip.wav"
    sf.write(path, np.ones(4000, np.float32) * 0.1, 8000)  # 0.5 s
    model = Loudness()
    with pytest.raises(AudioLoadError) as info:
        predict(path, model)
    assert info.value.kind == "too_short" and model.calls == []


def test_combine_weights_and_label_sets():
    spans = np.array([[0.0, 1.0]])
    a = Prediction(["x", "y"], np.array([1.0, 0.0]), spans, np.array([[1.0, 0.0]]), 1.0, "a")
    b = Prediction(["x", "y"], np.array([0.0, 1.0]), spans, np.array([[0.0, 1.0]]), 1.0, "b")
    both = combine([a, b], weights=[3, 1])
    np.testing.assert_allclose(both.probs, [0.75, 0.25])
    np.testing.assert_allclose(both.window_probs, [[0.75, 0.25]])
    assert [m.model for m in both.members] == ["a", "b"] and both.genre == "x"
    assert combine([a]) is a
    other = Prediction(["x", "z"], np.array([0.5, 0.5]), spans, np.array([[0.5, 0.5]]), 1.0, "c")
    with pytest.raises(ValueError, match="different label sets"):
        combine([a, other])


def test_combined_timeline_uses_the_finest_grid():
    """A 30-s-window model and a 3-s-window model: the ensemble's timeline has the 3-s windows, each
    mixed with the long window that covers it."""
    long = Prediction(["x", "y"], np.array([0.8, 0.2]), np.array([[0.0, 30.0], [30.0, 60.0]]),
                      np.array([[1.0, 0.0], [0.6, 0.4]]), 60.0, "long")
    spans = np.array([[s, s + 3.0] for s in (0.0, 27.0, 31.0, 57.0)])
    short = Prediction(["x", "y"], np.array([0.5, 0.5]), spans, np.array([[0.0, 1.0]] * 4), 60.0, "short")
    both = combine([long, short], weights=[1, 1])
    np.testing.assert_array_equal(both.window_spans, spans)
    np.testing.assert_allclose(both.window_probs, [[0.5, 0.5], [0.5, 0.5], [0.3, 0.7], [0.3, 0.7]])
    np.testing.assert_allclose(both.probs, [0.65, 0.35])  # the track answer is still the weighted mean
