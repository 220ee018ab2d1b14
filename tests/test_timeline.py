"""The readable timeline: smoothing keeps distributions and follows real changes; sections ignore blips."""
from __future__ import annotations

import numpy as np
import pytest

from genre_models.timeline import Section, sections, smooth

LABELS = ["rock", "metal", "pop"]


def grid(n: int, window: float = 3.0) -> np.ndarray:
    return np.array([[i * window, (i + 1) * window] for i in range(n)])


def one_hot(leaders: list[int], p: float = 0.8) -> np.ndarray:
    out = np.full((len(leaders), 3), (1 - p) / 2)
    out[np.arange(len(leaders)), leaders] = p
    return out


def test_smoothing_keeps_distributions_and_damps_a_single_window():
    probs = one_hot([0] * 10 + [1] + [0] * 10)
    out = smooth(probs, grid(21))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert out[10].argmax() == 0  # one odd 3-s window does not flip the smoothed curve
    assert out[10, 1] < probs[10, 1] and out[9, 1] > probs[9, 1]  # it is spread over its neighbours
    np.testing.assert_array_equal(smooth(probs[:1], grid(1)), probs[:1])  # one window: unchanged


def test_smoothing_is_over_time_not_window_index():
    """An end-aligned last window sits close to the one before it in time: it gets the same weight
    a neighbour 1 s away would, not a neighbour 3 s away."""
    probs = one_hot([0, 0, 0, 1])
    spans = np.array([[0.0, 3.0], [3.0, 6.0], [6.0, 9.0], [7.0, 10.0]])
    near = smooth(probs, spans, sigma_seconds=1.0)
    far = smooth(probs, grid(4), sigma_seconds=1.0)
    assert near[2, 1] > far[2, 1]


def test_sections_find_a_real_change_and_ignore_blips():
    # 60 s of rock with a 3-s metal blip, then 60 s of metal
    leaders = [0] * 10 + [1] + [0] * 9 + [1] * 20
    out = sections(one_hot(leaders), grid(40), LABELS)
    assert [s.genre for s in out] == ["rock", "metal"]
    assert out[0].start == 0.0 and out[-1].end == 120.0
    assert out[0].end == pytest.approx(60.0, abs=3.0)
    assert all(a.end == b.start for a, b in zip(out, out[1:]))  # they tile the track
    assert all(0 < s.probability <= 1 for s in out)


def test_short_runs_merge_into_the_neighbour_they_resemble():
    # rock | 6 s that are pop-but-metal-ish | metal: the short run joins metal, not rock
    probs = np.vstack([one_hot([0] * 10), np.tile([[0.05, 0.45, 0.5]], (2, 1)), one_hot([1] * 10)])
    out = sections(probs, grid(22), LABELS, sigma_seconds=0.0)
    assert [s.genre for s in out] == ["rock", "metal"]
    assert out[0].end == pytest.approx(30.0)  # half-way between the last rock and the first odd window


def test_a_short_track_is_one_section():
    out = sections(one_hot([2]), np.array([[0.0, 2.4]]), LABELS)
    assert out == [Section(0.0, 2.4, "pop", pytest.approx(0.8))]
    assert sections(np.zeros((0, 3)), np.zeros((0, 2)), LABELS) == []
