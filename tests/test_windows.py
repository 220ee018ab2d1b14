"""Window logic: the streaming cutter agrees with the plan, whatever the block sizes (property-based)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genre_models.windows import iter_windows, plan_windows


def test_plan_examples():
    assert plan_windows(0, 10, 10) == []
    assert plan_windows(7, 10, 10) == [(0, 7)]  # shorter than a window: the whole track
    assert plan_windows(10, 10, 10) == [(0, 10)]
    assert plan_windows(32, 10, 10) == [(0, 10), (10, 20), (20, 30)]  # 2 left over <= tail (2)
    assert plan_windows(33, 10, 10) == [(0, 10), (10, 20), (20, 30), (23, 33)]  # end-aligned last window
    assert plan_windows(25, 10, 5) == [(0, 10), (5, 15), (10, 20), (15, 25)]
    with pytest.raises(ValueError):
        plan_windows(10, 0, 5)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 400),
    window=st.integers(1, 60),
    hop=st.integers(1, 80),
    tail=st.none() | st.integers(0, 30),
    cuts=st.lists(st.integers(1, 97), max_size=40),
)
def test_streaming_matches_plan(n, window, hop, tail, cuts):
    track = np.arange(n, dtype=np.float32)
    blocks, pos = [], 0
    for c in cuts:
        if pos >= n:
            break
        blocks.append(track[pos:pos + c])
        pos += c
    if pos < n:
        blocks.append(track[pos:])
    got = list(iter_windows(iter(blocks), window, hop, tail))
    assert [(w.start, w.end) for w in got] == plan_windows(n, window, hop, tail)
    for w in got:
        np.testing.assert_array_equal(w.samples, track[w.start:w.end])


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 5000), window=st.integers(1, 500), hop=st.integers(1, 500))
def test_plan_covers_the_track(n, window, hop):
    spans = plan_windows(n, window, hop)
    assert spans[0][0] == 0
    assert all(e - s == min(window, n) for s, e in spans)
    assert all(0 <= s < e <= n for s, e in spans)
    if hop <= window:  # contiguous windows: at most a tail is left uncovered
        assert n - spans[-1][1] <= window // 4


def test_memory_stays_bounded():
    """A long stream (8 MB of samples) is cut holding about window + block samples, not the track."""
    import tracemalloc

    def blocks():
        for _ in range(2000):  # 2M float32 samples
            yield np.ones(1000, dtype=np.float32)

    tracemalloc.start()
    count = sum(1 for _ in iter_windows(blocks(), 5000, 5000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 400
    assert peak < 200_000, f"peak {peak} bytes: the cutter is holding on to the stream"
