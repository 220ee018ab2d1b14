"""The genre along a track, made readable: smoothed curves and the sections where the genre changes.

Why: per-window probabilities of 3-s windows jump from window to window (a drum break, a quiet
bar), so the raw curves of a 3-minute song are 60 noisy points per genre and the "winner" flips
every few seconds. People want to see *where the song changes*, e.g. a rock song with a metal
bridge. Two steps, both deterministic and cheap:

1. **Smoothing**: each genre's curve is a Gaussian-weighted average over window centres
   (``sigma_seconds``, default 6 s: about two 3-s windows either side), renormalised so every point
   is still a distribution. A track with one window is left as it is.
2. **Sections**: the genre with the highest smoothed probability at each window, in runs; a run
   shorter than ``min_seconds`` (default 20 s) is merged into the neighbour it resembles more, until
   none is left, so a section is a stretch people would call a part of the song, not a blip.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIGMA_SECONDS = 6.0
MIN_SECTION_SECONDS = 20.0


@dataclass(frozen=True)
class Section:
    """``[start, end)`` seconds of the track where ``genre`` leads, and its mean smoothed probability there."""

    start: float
    end: float
    genre: str
    probability: float


def smooth(window_probs: np.ndarray, window_spans: np.ndarray, sigma_seconds: float = SIGMA_SECONDS) -> np.ndarray:
    """``(n_windows, n_labels)`` probabilities averaged with Gaussian weights over window centres.

    Windows may be unevenly spaced (an end-aligned last window, a spread grid), so the kernel is over
    time, not over indices. Rows still sum to 1.
    """
    probs = np.asarray(window_probs, dtype=np.float64)
    if len(probs) <= 1 or sigma_seconds <= 0:
        return probs.copy()
    centres = np.asarray(window_spans, dtype=np.float64).mean(axis=1)
    weights = np.exp(-0.5 * ((centres[:, None] - centres[None, :]) / sigma_seconds) ** 2)
    out = weights @ probs / weights.sum(axis=1, keepdims=True)
    return out / out.sum(axis=1, keepdims=True)


def sections(window_probs: np.ndarray, window_spans: np.ndarray, labels: list[str],
             sigma_seconds: float = SIGMA_SECONDS, min_seconds: float = MIN_SECTION_SECONDS) -> list[Section]:
    """Stretches of the track with one leading genre (after :func:`smooth`); adjacent windows split
    the time between their centres, so sections tile ``[first start, last end)`` without gaps."""
    spans = np.asarray(window_spans, dtype=np.float64)
    if len(spans) == 0:
        return []
    probs = smooth(window_probs, spans, sigma_seconds)
    centres = spans.mean(axis=1)
    bounds = np.concatenate([[spans[0, 0]], (centres[1:] + centres[:-1]) / 2, [spans[-1, 1]]])
    # runs of one leader: [first window, last window + 1)
    leader = probs.argmax(axis=1)
    cuts = [0, *(np.flatnonzero(np.diff(leader)) + 1).tolist(), len(leader)]
    runs = [[a, b, int(leader[a])] for a, b in zip(cuts[:-1], cuts[1:])]

    def length(run: list[int]) -> float:
        return float(bounds[run[1]] - bounds[run[0]])

    def mean_prob(run: list[int], genre: int) -> float:
        return float(probs[run[0]:run[1], genre].mean())

    while len(runs) > 1:
        shortest = min(range(len(runs)), key=lambda i: length(runs[i]))
        if length(runs[shortest]) >= min_seconds:
            break
        run = runs[shortest]
        # merge into the neighbour whose genre this run rates higher (the only one at the ends)
        neighbours = [i for i in (shortest - 1, shortest + 1) if 0 <= i < len(runs)]
        into = max(neighbours, key=lambda i: mean_prob(run, runs[i][2]))
        lo, hi = sorted((shortest, into))
        runs[lo:hi + 1] = [[runs[lo][0], runs[hi][1], runs[into][2]]]
        # two runs of one genre that now touch become one
        merged = [runs[0]]
        for r in runs[1:]:
            if r[2] == merged[-1][2]:
                merged[-1] = [merged[-1][0], r[1], r[2]]
            else:
                merged.append(r)
        runs = merged
    return [Section(float(bounds[a]), float(bounds[b]), labels[g], mean_prob([a, b], g)) for a, b, g in runs]


__all__ = ["MIN_SECTION_SECONDS", "SIGMA_SECONDS", "Section", "sections", "smooth"]
