"""Genre *priors* read by name from what a pretrained backbone already outputs: AudioSet's classes
(YAMNet), the Million Song Dataset's and MagnaTagATune's tags (musicnn, VGG).

Why: a head fit on a few hundred songs learns their artists as much as their genres; a backbone's own
output classes were learned from millions of clips (AudioSet ~2 M, the MSD's Last.fm tags ~1 M songs)
and say "jazz", "country", "Hip-Hop" of music no GTZAN artist played. Read by name, each GTZAN genre
gets the score of its best mapped class (:data:`PRIOR_CLASSES`); a genre with no mapped class (the
MSD has no "classical" or "reggae" tag) gets none and is left to the bias. The log-scores are then
calibrated on training songs with one scale and a bias per genre (:func:`fit_calibration`: 11 numbers,
too few to memorise artists) and mixed log-linearly with the head: ``log p ∝ (1−w)·log p_head +
Σ w_k·log p_prior_k`` (:func:`mix_log_probs`), the weights chosen on validation folds.

The same functions run in training (``benchmarks/default_ensemble.py``) and inside the model
(:mod:`genre_models.hf_models.embedding_head`): one path.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .audioset import PRIOR_CLASSES as AUDIOSET_CLASSES
from .labels import GTZAN_GENRES

EPS = 1e-4  # a mapped class's score is floored here before the log (a silent class is not -inf)

# Last.fm tags of musicnn's MSD models (hf_models.musicnn.MSD_TAGS) read as GTZAN genres
MSD_CLASSES: dict[str, list[str]] = {
    "blues": ["blues"], "country": ["country"], "disco": ["funk", "dance"], "hiphop": ["Hip-Hop"],
    "jazz": ["jazz"], "metal": ["metal", "heavy metal"], "pop": ["pop", "indie pop"],
    "rock": ["rock", "classic rock", "alternative rock", "indie rock", "hard rock", "punk", "Progressive rock",
             "alternative"],
}
# MagnaTagATune's tags (hf_models.musicnn.MTT_TAGS)
MTT_CLASSES: dict[str, list[str]] = {
    "classical": ["classical", "classic", "opera", "harpsichord", "choral", "strings", "violin", "cello"],
    "country": ["country"], "disco": ["dance"], "metal": ["metal"], "pop": ["pop"], "rock": ["rock"],
}
# backbone variant -> genre -> class names of that variant's outputs
PRIOR_CLASSES: dict[str, dict[str, list[str]]] = {
    "yamnet-audioset:scores": AUDIOSET_CLASSES,
    "msd-musicnn:tags": MSD_CLASSES, "msd-vgg:tags": MSD_CLASSES,
    "mtt-musicnn:tags": MTT_CLASSES, "mtt-vgg:tags": MTT_CLASSES,
}


def class_index(classes: Mapping[str, Sequence[str]], names: Sequence[str],
                genres: Sequence[str] = GTZAN_GENRES) -> list[list[int]]:
    """Per genre, the indices in ``names`` (the variant's output classes) of its mapped classes."""
    where = {n: i for i, n in enumerate(names)}
    missing = sorted({c for cs in classes.values() for c in cs} - set(where))
    if missing:
        raise ValueError(f"prior classes not among the backbone's outputs: {missing}")
    return [[where[c] for c in classes.get(g, ())] for g in genres]


def prior_log_scores(scores: np.ndarray | torch.Tensor, index: Sequence[Sequence[int]]):
    """``(windows, genres)``: log of each genre's best mapped class score (floored at :data:`EPS`); 0
    for a genre with no mapped class (its calibrated bias alone speaks for it). Numpy or torch."""
    is_torch = isinstance(scores, torch.Tensor)
    cols = []
    for idx in index:
        if idx:
            best = scores[:, list(idx)].amax(dim=1) if is_torch else np.asarray(scores)[:, list(idx)].max(axis=1)
            cols.append(torch.log(best.clamp(min=EPS)) if is_torch else np.log(np.maximum(best, EPS)))
        else:
            cols.append(scores.new_zeros(scores.shape[0]) if is_torch else np.zeros(len(scores)))
    return torch.stack(cols, dim=1) if is_torch else np.stack(cols, axis=1)


def calibrated_log_probs(log_scores, scale: float, bias):
    """``log_softmax(scale · L + bias)`` per window (numpy or torch)."""
    if isinstance(log_scores, torch.Tensor):
        bias = torch.as_tensor(np.asarray(bias), dtype=log_scores.dtype, device=log_scores.device)
        return torch.log_softmax(scale * log_scores + bias, dim=-1)
    from scipy.special import log_softmax

    return log_softmax(scale * np.asarray(log_scores, dtype=np.float64) + np.asarray(bias), axis=-1)


def mix_log_probs(head_log_probs, priors: Sequence, weights: Sequence[float]):
    """``log_softmax((1 − Σw)·head + Σ w_k·prior_k)`` per window (numpy or torch)."""
    total = float(sum(weights))
    if total == 0.0:
        return head_log_probs
    z = (1.0 - total) * head_log_probs
    for p, w in zip(priors, weights):
        z = z + float(w) * p
    if isinstance(z, torch.Tensor):
        return torch.log_softmax(z, dim=-1)
    from scipy.special import log_softmax

    return log_softmax(z, axis=-1)


def fit_calibration(log_scores: Sequence[np.ndarray], allowed: np.ndarray, sample_weight: np.ndarray | None = None,
                    penalty: float = 0.01) -> tuple[float, np.ndarray]:
    """``(scale, bias)`` maximising the training songs' likelihood of their (set-valued) labels under
    the calibrated prior, a song's probability being the mean of its windows'; a small L2 pull of the
    biases to 0. ``log_scores``: per song ``(windows, genres)`` (:func:`prior_log_scores`)."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    n = allowed.shape[1]
    weight = np.ones(len(log_scores)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    weight = weight / weight.sum()
    # windows of all songs stacked once; a song's mean is a segment sum
    L = np.concatenate(log_scores).astype(np.float64)
    owner = np.repeat(np.arange(len(log_scores)), [len(s) for s in log_scores])
    counts = np.bincount(owner, minlength=len(log_scores)).astype(np.float64)
    mask = np.asarray(allowed, dtype=bool)

    def objective(theta: np.ndarray) -> float:
        p = np.exp(log_softmax(np.exp(theta[0]) * L + theta[1:], axis=-1))
        track = np.zeros((len(log_scores), n))
        np.add.at(track, owner, p)
        track /= counts[:, None]
        nll = -np.log(np.clip((track * mask).sum(axis=1), 1e-12, 1.0))
        return float(weight @ nll) + penalty * float(theta[1:] @ theta[1:])

    theta = minimize(objective, np.zeros(n + 1), method="L-BFGS-B").x
    return float(np.exp(theta[0])), theta[1:]
