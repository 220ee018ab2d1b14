"""Cutting a track into model-sized windows, from a stream of blocks, in bounded memory.

A model trained on 30-s clips should see 30-s clips: windows start every ``hop`` samples and are
all ``window`` long; when the end of the track is left uncovered by more than ``tail`` samples a
last window is aligned to the end, so the timeline reaches the end of the song. A track shorter
than one window is a single (short) window.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """Samples ``[start, end)`` of the track."""

    start: int
    end: int
    samples: np.ndarray


def default_tail(window: int) -> int:
    """Uncovered samples at the end worth one more (end-aligned) window: a quarter window."""
    return window // 4


def plan_windows(n_samples: int, window: int, hop: int, tail: int | None = None) -> list[tuple[int, int]]:
    """The ``(start, end)`` pairs that :func:`iter_windows` yields for a track of ``n_samples``."""
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    tail = default_tail(window) if tail is None else tail
    if n_samples <= 0:
        return []
    if n_samples <= window:
        return [(0, n_samples)]
    spans = [(s, s + window) for s in range(0, n_samples - window + 1, hop)]
    if n_samples - spans[-1][1] > tail:
        spans.append((n_samples - window, n_samples))
    return spans


def iter_windows(
    blocks: Iterable[np.ndarray], window: int, hop: int, tail: int | None = None
) -> Iterator[Window]:
    """Windows of a block stream, as :func:`plan_windows` lays them out, holding O(window + hop) samples."""
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    tail = default_tail(window) if tail is None else tail
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # track position of buf[0]
    next_start = 0
    last_end = 0
    emitted = False
    total = 0
    for block in blocks:
        samples = np.asarray(block, dtype=np.float32)
        buf = np.concatenate([buf, samples]) if len(buf) else samples
        total += len(block)
        while next_start + window <= total:
            lo = next_start - buf_start
            yield Window(next_start, next_start + window, buf[lo:lo + window].copy())
            emitted, last_end = True, next_start + window
            next_start += hop
        # keep what a future window may need: from the next start, and the last `window` samples
        keep_from = min(next_start, max(total - window, 0))
        if keep_from > buf_start:
            buf = buf[keep_from - buf_start:]
            buf_start = keep_from
    if total == 0:
        return
    if not emitted:
        yield Window(0, total, buf.copy())
    elif total - last_end > tail:
        lo = total - window - buf_start
        yield Window(total - window, total, buf[lo:lo + window].copy())
