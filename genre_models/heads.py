"""The ONE way a linear genre head is fit on frozen embeddings: ``teach``, the shipped GTZAN heads
(``benchmarks/genre_heads.py``) and any retraining go through :func:`fit_head` and :func:`grouped_cv`.

Why our own fit rather than scikit-learn's ``LogisticRegression``: labels here are often *sets* ("this
song is metal, pop or rock": a partial label, e.g. AllMusic's Pop/Rock; or a file tagged "Rock; Pop"),
which scikit-learn cannot express. The objective is scikit-learn's, generalised:

    minimise  C · Σ_i w_i · ( −log Σ_{g ∈ A_i} p_i(g) )  +  ½ ‖W‖²,     p_i = softmax(W·z_i + b)

where ``z_i`` is the standardised window vector, ``A_i`` the labels row i may be (a boolean row of
``targets``; a one-hot row makes the term ordinary cross-entropy, so with one-hot targets this IS
scikit-learn's multinomial logistic regression, checked by ``tests/test_heads.py``), ``w_i`` its sample
weight (:func:`track_weights`: every track weighs the same whatever its number of windows) and the
intercept ``b`` is not penalised. Solved in float64 with L-BFGS (scipy's L-BFGS-B, as scikit-learn
solves it, on the objective and gradient torch computes) from zeros or a given start: deterministic.
With partial labels the objective is no longer convex; from zeros the head first spreads a set's mass
over its labels and lets the other songs decide between them.

Standardisation (:func:`standardise`): mean and standard deviation over the training windows, the
deviation floored at :data:`SCALE_FLOOR` — 72 % of musicnn's pooled mid-end values are constant up to
float rounding (dead units, std ~1e-11); standardising them would turn rounding noise into signal and,
folded into a float32 layer, into weights of 1e12. Features that constant (std below
:data:`CONSTANT_STD`) are left out of the optimisation (their weight is 0; what they would get is ~1e-8).

Two labels: this softmax over two classes with ``C`` equals scikit-learn's binary (sigmoid) logistic
regression with ``2·C`` (the difference of the two rows carries half the penalty).
"""
from __future__ import annotations

import json
import math
import threading
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize

SCALE_FLOOR = 1e-3
CONSTANT_STD = 1e-6
ABSENT_LOGIT = -1e4  # the intercept of a label no training row may be: never chosen
DEFAULT_CS: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3)  # benchmarks/genre_heads.py's grid
TOL = 1e-4  # on the largest gradient entry of the normalised objective: scikit-learn's default tol, same scale


# ---------------------------------------------------------------------------------------------
# the head
# ---------------------------------------------------------------------------------------------
def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass
class LinearHead:
    """Standardise, then a linear layer: ``logits = ((x − mean) / scale) · coefᵀ + intercept``.

    ``coef`` ``(labels, d)`` and ``intercept`` ``(labels,)`` act on standardised inputs; :meth:`folded`
    gives the one linear layer on raw inputs that a model folder stores. ``info`` says how it was fit
    (C, iterations, ...), JSON-able."""

    labels: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    info: dict = field(default_factory=dict)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``(n, labels)`` logits (float64)."""
        X = np.asarray(X, dtype=np.float64)
        return ((X - self.mean) / self.scale) @ self.coef.T + self.intercept

    def log_proba(self, X: np.ndarray) -> np.ndarray:
        return _log_softmax(self.decision_function(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.exp(self.log_proba(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Label indices."""
        return self.decision_function(X).argmax(axis=1)

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` with the standardisation folded in: ``x · Wᵀ + b`` equals :meth:`decision_function`."""
        W = self.coef / self.scale
        return W, self.intercept - W @ self.mean

    def save(self, path: str | Path) -> None:
        """safetensors: the five arrays, the labels and ``info`` as JSON in its metadata."""
        from safetensors.numpy import save_file

        save_file({"mean": np.ascontiguousarray(self.mean, np.float64),
                   "scale": np.ascontiguousarray(self.scale, np.float64),
                   "coef": np.ascontiguousarray(self.coef, np.float64),
                   "intercept": np.ascontiguousarray(self.intercept, np.float64)},
                  str(path), metadata={"labels": json.dumps(self.labels), "info": json.dumps(self.info),
                                       "what": "genre_models.heads.LinearHead (standardise + linear, unfolded)"})

    @classmethod
    def load(cls, path: str | Path) -> LinearHead:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            arrays = {k: fh.get_tensor(k) for k in ("mean", "scale", "coef", "intercept")}
        if "labels" not in meta:
            raise ValueError(f"{path} is not a LinearHead file (no labels in its metadata)")
        return cls(json.loads(meta["labels"]), info=json.loads(meta.get("info", "{}")), **arrays)


def standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (population, as scikit-learn's ``StandardScaler``) per column, the
    deviation floored at :data:`SCALE_FLOOR`."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    std = np.sqrt(np.maximum(((X - mean) ** 2).mean(axis=0), 0.0))
    return mean, np.maximum(std, SCALE_FLOOR)


def allowed_matrix(targets: np.ndarray, n_labels: int | None = None) -> np.ndarray:
    """``(n, K)`` booleans from class indices ``(n,)`` or an allowed matrix ``(n, K)`` (checked)."""
    t = np.asarray(targets)
    if t.ndim == 1:
        if t.size and (t.min() < 0 or not np.issubdtype(t.dtype, np.integer)):
            raise ValueError("targets must be label indices (>= 0) or a boolean (n, labels) matrix")
        k = int(n_labels if n_labels is not None else (t.max() + 1 if t.size else 0))
        out = np.zeros((len(t), k), dtype=bool)
        out[np.arange(len(t)), t] = True
        return out
    if t.ndim != 2 or (n_labels is not None and t.shape[1] != n_labels):
        raise ValueError(f"targets must be (n,) label indices or a (n, {n_labels or 'labels'}) matrix, got {t.shape}")
    out = t.astype(bool)
    if not out.any(axis=1).all():
        raise ValueError("every row of targets must allow at least one label")
    return out


def track_weights(track: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Per-window sample weights giving every track the same total weight (mean 1): a 30-s clip's ten
    windows count as much as an excerpt's one.

    With ``allowed`` (the ``(windows, K)`` labels each window's track may be) the labels are balanced
    too: a track weighs ``1 / (tracks of its label)`` (a set of labels: the mean over them), so six
    reggae songs count as much as forty jazz ones (scikit-learn's ``class_weight="balanced"``, by track)."""
    track = np.asarray(track)
    uniq, first, inverse, counts = np.unique(track, return_index=True, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    if allowed is not None:
        per_track = np.asarray(allowed, dtype=bool)[first]  # (tracks, K)
        songs = per_track.sum(axis=0).astype(np.float64)
        mean_songs = (per_track * songs).sum(axis=1) / per_track.sum(axis=1)
        w = w / mean_songs[inverse]
    return w / w.mean()


_THREADS_LOCK = threading.Lock()
_THREADS: dict = {"depth": 0}


@contextmanager
def fit_threads(n: int | None) -> Iterator[None]:
    """Run torch and the BLAS libraries numpy and scipy load (threadpoolctl) with ``n`` threads inside
    (None: as they are). One is the default for a head: the fit is bound by memory and alternates
    torch's matrix products with scipy's L-BFGS-B steps, and the idle threads of one pool spinning
    while the other works (worse on a busy machine) made fits 5-10x slower (measured on GTZAN's 1 006
    windows x 2048: 1.2 s of CPU with one thread each, 4-12 s without).

    The settings are process-wide: fits running side by side in threads (:func:`grouped_cv`'s ``n_jobs``)
    share them; the first to enter sets them and the last to leave restores them."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with _THREADS_LOCK:
        if _THREADS["depth"] == 0:
            _THREADS["torch"] = torch.get_num_threads()
            torch.set_num_threads(n)
            _THREADS["limiter"] = threadpool_limits(n)
        _THREADS["depth"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS["depth"] -= 1
            if _THREADS["depth"] == 0:
                _THREADS.pop("limiter").restore_original_limits()
                torch.set_num_threads(_THREADS.pop("torch"))


def fit_head(X: np.ndarray, targets: np.ndarray, *, labels: Sequence[str] | None = None,
             sample_weight: np.ndarray | None = None, C: float = 0.1, init: LinearHead | None = None,
             tol: float = TOL, max_iter: int = 2000, threads: int | None = 1) -> LinearHead:
    """Fit a :class:`LinearHead` (see the module docstring for the objective).

    Args:
        X: ``(n, d)`` window vectors.
        targets: ``(n,)`` label indices, or ``(n, K)`` booleans: the labels each row may be.
        labels: the K label names (default ``"0".."K-1"``).
        sample_weight: ``(n,)``, e.g. :func:`track_weights`; default 1.
        C: inverse regularisation strength, scikit-learn's convention.
        init: a head to start from (same labels and width; e.g. the fit at a neighbouring C): its
            coefficients are carried over in the new standardisation.
        tol: stop when every gradient entry of the objective divided by ``C · Σ w`` is below this
            (scikit-learn's ``tol``, on the same scale).
        threads: threads during the fit (see :func:`fit_threads`).
    """
    with fit_threads(threads):
        return _fit_head(X, targets, labels, sample_weight, C, init, tol, max_iter)


def _fit_head(X, targets, labels, sample_weight, C, init, tol, max_iter) -> LinearHead:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not len(X):
        raise ValueError(f"X must be a non-empty (n, d) array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values")
    k = len(labels) if labels is not None else None
    A = allowed_matrix(targets, k)
    if len(A) != len(X):
        raise ValueError(f"{len(X)} rows of X but {len(A)} targets")
    labels = list(labels) if labels is not None else [str(i) for i in range(A.shape[1])]
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (len(X),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("sample_weight must be (n,) non-negative with a positive sum")
    if C <= 0:
        raise ValueError(f"C must be positive, got {C}")
    mean, scale = standardise(X)
    raw_std = np.sqrt(((X - mean) ** 2).mean(axis=0))
    cols = np.flatnonzero(raw_std >= CONSTANT_STD)
    present = np.flatnonzero(A[w > 0].any(axis=0))
    K, d = A.shape[1], X.shape[1]

    coef = np.zeros((K, d))
    intercept = np.full(K, ABSENT_LOGIT)
    info = {"C": float(C), "solver": "L-BFGS-B (scipy) on torch float64", "rows": int(len(X)), "features": int(d),
            "constant_features": int(d - len(cols)), "labels_present": int(len(present))}
    if len(present) == 1:  # one label possible: it is the answer
        intercept[present] = 0.0
        return LinearHead(labels, mean, scale, coef, intercept, {**info, "iterations": 0, "converged": True})

    Z = torch.from_numpy(np.ascontiguousarray((X[:, cols] - mean[cols]) / scale[cols]))  # row-major: 8x faster gemm
    mask = torch.from_numpy(A[:, present])
    weight = torch.from_numpy(w / w.sum())
    penalty = 1.0 / (2.0 * C * w.sum())
    W0 = np.zeros((len(present), len(cols)))
    b0 = np.zeros(len(present))
    if init is not None:
        if init.labels != labels or init.coef.shape != (K, d):
            raise ValueError("init must have the same labels and width")
        known = init.intercept > ABSENT_LOGIT / 2  # labels the init head could answer
        W0 = np.where(known[:, None], init.coef / init.scale * scale, 0.0)[np.ix_(present, cols)]  # new scaling
        b0 = np.where(known, init.decision_function(mean[None, :])[0], 0.0)[present]
        b0 = b0 - b0.mean()
    P, D = W0.shape
    single = bool((mask.sum(dim=1) == 1).all())
    target_index = mask.to(torch.int64).argmax(dim=1) if single else None

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The normalised objective and its gradient (torch autograd, float64)."""
        t = torch.from_numpy(theta).requires_grad_(True)
        Wt, bt = t[: P * D].view(P, D), t[P * D:]
        logits = torch.addmm(bt, Z, Wt.T)
        lse = torch.logsumexp(logits, dim=1)
        if single:
            picked = logits.gather(1, target_index[:, None])[:, 0]
        else:
            picked = torch.logsumexp(logits.masked_fill(~mask, float("-inf")), dim=1)
        loss = (weight * (lse - picked)).sum() + penalty * (Wt * Wt).sum()
        loss.backward()
        return float(loss.detach()), t.grad.numpy()

    # scipy's L-BFGS-B with scikit-learn's settings (its lbfgs solver's): the same algorithm and stopping
    # rule; torch.optim.LBFGS would cost a 3-10 s import (torch._dynamo) in every process that fits a head
    res = minimize(objective, np.concatenate([W0.ravel(), b0]), method="L-BFGS-B", jac=True,
                   options={"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps})
    iterations = int(res.nit)
    gmax = float(np.abs(res.jac).max())
    W, b = res.x[: P * D].reshape(P, D), res.x[P * D:]
    coef[np.ix_(present, cols)] = W
    intercept[present] = b - b.mean()  # softmax is shift-invariant; a canonical intercept
    info.update(iterations=iterations, converged=bool(res.success), objective=float(res.fun) * C * w.sum(),
                max_gradient=gmax)
    if iterations >= max_iter:
        warnings.warn(f"fit_head: L-BFGS stopped at max_iter={max_iter} (largest gradient {gmax:.1e})", stacklevel=2)
    return LinearHead(labels, mean, scale, coef, intercept, info)


# ---------------------------------------------------------------------------------------------
# windows of tracks
# ---------------------------------------------------------------------------------------------
@dataclass
class WindowSet:
    """Tracks as rows of window vectors: what a head is fit and cross-validated on.

    ``X`` ``(windows, d)``; ``track`` ``(windows,)`` the index of each window's track; ``allowed``
    ``(tracks, K)`` the labels each track may be; ``groups`` ``(tracks,)`` what CV must keep together
    (artist, else folder); ``names`` a name per track (for reports)."""

    X: np.ndarray
    track: np.ndarray
    allowed: np.ndarray
    groups: np.ndarray
    labels: list[str]
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.track = np.asarray(self.track, dtype=np.int64)
        self.allowed = allowed_matrix(self.allowed, len(self.labels))
        self.groups = np.asarray(self.groups)
        n = len(self.allowed)
        if len(self.X) != len(self.track) or len(self.groups) != n or (self.names and len(self.names) != n):
            raise ValueError("X/track and allowed/groups/names disagree in length")
        if len(self.track) and (self.track.min() < 0 or self.track.max() >= n):
            raise ValueError("track indices out of range")
        if len(np.unique(self.track)) != n:
            raise ValueError("every track needs at least one window")
        self._rows = [np.flatnonzero(self.track == t) for t in range(n)]

    @classmethod
    def from_tracks(cls, windows: Sequence[np.ndarray], allowed: np.ndarray, groups: Sequence, labels: Sequence[str],
                    names: Sequence[str] = ()) -> WindowSet:
        """From one ``(windows_t, d)`` array per track."""
        X = np.concatenate([np.asarray(w) for w in windows]) if len(windows) else np.zeros((0, 0))
        track = np.concatenate([np.full(len(w), i) for i, w in enumerate(windows)]) if len(windows) else np.zeros(0)
        return cls(X, track, allowed, np.asarray(groups), list(labels), list(names))

    @property
    def n_tracks(self) -> int:
        return len(self.allowed)

    def rows(self, tracks: np.ndarray, per_track: int | None = None) -> np.ndarray:
        """The window rows of ``tracks`` (track order kept); with ``per_track``, at most that many of each
        track's windows, spread evenly over them."""
        parts = [self._rows[t] for t in tracks]
        if per_track:
            parts = [r if len(r) <= per_track else r[np.linspace(0, len(r) - 1, per_track).round().astype(int)]
                     for r in parts]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def fit(self, tracks: np.ndarray | None = None, *, balance: bool = False, per_track: int | None = None,
            **kwargs) -> LinearHead:
        """:func:`fit_head` on the windows of ``tracks`` (default all; at most ``per_track`` windows of
        each), every track weighing the same (with ``balance``, every label: :func:`track_weights`)."""
        tracks = np.arange(self.n_tracks) if tracks is None else np.asarray(tracks)
        rows = self.rows(tracks, per_track)
        allowed = self.allowed[self.track[rows]]
        weights = track_weights(self.track[rows], allowed if balance else None)
        head = fit_head(self.X[rows], allowed, labels=self.labels, sample_weight=weights, **kwargs)
        head.info["balanced"] = bool(balance)
        return head

    def track_probs(self, window_probs: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """``(len(tracks), K)``: each track's mean window probability (``window_probs`` for all windows)."""
        return np.stack([window_probs[self._rows[t]].mean(axis=0) for t in tracks])


# ---------------------------------------------------------------------------------------------
# grouped cross-validation
# ---------------------------------------------------------------------------------------------
def track_accuracy(probs: np.ndarray, allowed: np.ndarray) -> float:
    """Share of tracks whose top label is one they may be."""
    return float(allowed[np.arange(len(probs)), probs.argmax(axis=1)].mean()) if len(probs) else math.nan


def track_log_loss(probs: np.ndarray, allowed: np.ndarray) -> float:
    """Mean ``−log Σ_{allowed} p`` over tracks."""
    return float(-np.mean(np.log(np.clip((probs * allowed).sum(axis=1), 1e-12, 1.0))))


def make_folds(allowed: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 0) -> np.ndarray:
    """The test fold of every track: scikit-learn's ``StratifiedGroupKFold`` (shuffled, ``seed``) on the
    tracks' label sets, no group in two folds; ``GroupKFold`` where stratifying is impossible."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if n_groups < 3:
        raise ValueError(f"grouped cross-validation needs at least 3 groups (artists or folders), got {n_groups}")
    n_splits = min(n_splits, n_groups)
    strata = np.unique(["|".join(map(str, np.flatnonzero(row))) for row in allowed], return_inverse=True)[1]
    fold = np.full(len(groups), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the least populated class has fewer members than n_splits"
        try:
            splits = list(StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(
                np.zeros(len(groups)), strata, groups))
        except ValueError:
            splits = list(GroupKFold(n_splits).split(np.zeros(len(groups)), strata, groups))
    for k, (_, test) in enumerate(splits):
        fold[test] = k
    return fold


# fit_fold(train_tracks, [valid_tracks, test_tracks]) -> {setting: [valid probs, test probs]}
FoldFitter = Callable[[np.ndarray, Sequence[np.ndarray]], Mapping[Hashable, Sequence[np.ndarray]]]


@dataclass
class CVReport:
    """What :func:`grouped_cv` found. Fold k is scored (test), fold k+1 chooses the setting
    (validation), the others train; every track is scored once, by the setting its fold chose."""

    labels: list[str]
    allowed: np.ndarray
    groups: np.ndarray
    fold: np.ndarray  # (tracks,) test fold
    chosen_per_fold: list[Hashable]
    test_accuracy: list[float]  # per fold, with its chosen setting
    probs: np.ndarray  # (tracks, K) out-of-fold
    valid_scores: dict[Hashable, list[tuple[float, float]]]  # setting -> per fold (accuracy, -log loss)
    test_scores: dict[Hashable, list[float]]  # setting -> per fold test accuracy (transparency only)
    names: list[str] = field(default_factory=list)
    # setting -> a model fit at it on the fold with the most training tracks (a linear fit's start)
    fold_models: dict[Hashable, object] = field(default_factory=dict)

    @property
    def n_splits(self) -> int:
        return len(self.test_accuracy)

    @property
    def chosen(self) -> Hashable:
        """The setting with the best mean validation accuracy over the folds (then log-loss): the final fit's."""
        return max(self.valid_scores, key=lambda s: tuple(np.mean(self.valid_scores[s], axis=0)))

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def right(self) -> np.ndarray:
        return self.allowed[np.arange(len(self.probs)), self.predicted]

    @property
    def accuracy(self) -> float:
        return float(self.right.mean())

    @property
    def true_index(self) -> np.ndarray:
        """Each track's label for the confusion matrix: its allowed label the model rates highest."""
        return np.where(self.allowed, self.probs, -1.0).argmax(axis=1)

    def confusion(self) -> np.ndarray:
        """``(K, K)``: rows the (allowed) label, columns the answer (scikit-learn's ``confusion_matrix``)."""
        from sklearn.metrics import confusion_matrix

        k = len(self.labels)
        return confusion_matrix(self.true_index, self.predicted, labels=np.arange(k))

    def per_label(self) -> dict[str, dict[str, float]]:
        """label -> songs that may be it, their artists (groups), how many were answered right, recall."""
        out = {}
        for j, label in enumerate(self.labels):
            mine = self.allowed[:, j]
            n = int(mine.sum())
            right = int((self.right & mine).sum())
            out[label] = {"songs": n, "groups": int(len(np.unique(self.groups[mine]))), "right": right,
                          "recall": right / n if n else math.nan}
        return out

    @property
    def balanced_accuracy(self) -> float:
        recalls = [v["recall"] for v in self.per_label().values() if v["songs"]]
        return float(np.mean(recalls)) if recalls else math.nan

    def summary(self) -> str:
        acc = self.test_accuracy
        spread = f" ± {np.std(acc, ddof=1):.3f}" if len(acc) > 1 else ""
        return (f"CV accuracy {self.accuracy:.3f} ({int(self.right.sum())}/{len(self.right)} songs; per fold "
                f"{np.mean(acc):.3f}{spread}), balanced accuracy {self.balanced_accuracy:.3f}, "
                f"{self.n_splits} folds grouped by artist")

    def markdown(self) -> str:
        """Per-label table and confusion matrix, as Markdown."""
        lines = ["| label | songs | artists | right | recall |", "|---|---|---|---|---|"]
        for label, v in self.per_label().items():
            lines.append(f"| {label} | {v['songs']} | {v['groups']} | {v['right']} | {v['recall']:.2f} |")
        cm = self.confusion()
        lines += ["", "Confusion matrix (rows: the tag, columns: the answer):", "",
                  "| tag \\ answer | " + " | ".join(self.labels) + " |", "|---" * (len(self.labels) + 1) + "|"]
        for label, row in zip(self.labels, cm):
            lines.append(f"| {label} | " + " | ".join(str(int(v)) for v in row) + " |")
        return "\n".join(lines)

    def text(self) -> str:
        """Per-label counts and the confusion matrix as plain text (a terminal)."""
        width = max(8, *(len(label) for label in self.labels))
        out = [f"{'label':<{width}}  songs  artists  right  recall"]
        for label, v in self.per_label().items():
            out.append(f"{label:<{width}}  {v['songs']:>5}  {v['groups']:>7}  {v['right']:>5}  {v['recall']:>6.2f}")
        cm = self.confusion()
        short = [label[:6] for label in self.labels]
        out += ["", "confusion (rows: tag, columns: answer)", f"{'':<{width}}  " + " ".join(f"{s:>6}" for s in short)]
        for label, row in zip(self.labels, cm):
            out.append(f"{label:<{width}}  " + " ".join(f"{int(v):>6}" for v in row))
        return "\n".join(out)

    def as_dict(self) -> dict:
        """JSON-able figures (a model card and config keep them)."""
        return {"accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
                "right": int(self.right.sum()), "songs": int(len(self.right)), "folds": self.n_splits,
                "fold_accuracy": [float(a) for a in self.test_accuracy],
                "chosen_per_fold": [_jsonable(s) for s in self.chosen_per_fold], "chosen": _jsonable(self.chosen),
                "per_label": self.per_label(), "confusion": self.confusion().tolist(), "labels": list(self.labels)}


def _jsonable(setting: Hashable):
    return list(setting) if isinstance(setting, tuple) else setting


def grouped_cv(allowed: np.ndarray, groups: np.ndarray, fit_fold: FoldFitter, *, labels: Sequence[str],
               n_splits: int = 5, seed: int = 0, fold: np.ndarray | None = None,
               names: Sequence[str] = (), n_jobs: int = 1) -> CVReport:
    """Cross-validate any family of settings, grouped (by artist): ``benchmarks/genre_heads.py``'s protocol.

    ``fit_fold(train, [valid, test])`` fits every setting on the ``train`` tracks and returns
    ``{setting: [valid track probs, test track probs]}``; per fold the setting with the best validation
    accuracy (then log-loss) is scored on the test fold. ``fold`` gives the test fold of every track
    (default :func:`make_folds`). ``n_jobs`` folds are fit side by side in threads (``fit_fold`` must be
    thread-safe, as :func:`linear_fold_fitter`'s is: torch and BLAS release the GIL); the results do not
    depend on it."""
    allowed = allowed_matrix(allowed, len(labels))
    groups = np.asarray(groups)
    fold = make_folds(allowed, groups, n_splits, seed) if fold is None else np.asarray(fold)
    ks = sorted(set(fold.tolist()))
    if len(ks) < 3:
        raise ValueError("grouped cross-validation needs at least 3 folds")
    probs = np.zeros(allowed.shape)
    chosen, test_acc = [], []
    valid_scores: dict[Hashable, list[tuple[float, float]]] = {}
    test_scores: dict[Hashable, list[float]] = {}
    plans = []
    for i, k in enumerate(ks):
        nxt = ks[(i + 1) % len(ks)]
        plans.append((np.flatnonzero((fold != k) & (fold != nxt)), np.flatnonzero(fold == nxt),
                      np.flatnonzero(fold == k)))
    if n_jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(n_jobs, len(plans))) as pool:
            every = list(pool.map(lambda plan: fit_fold(plan[0], [plan[1], plan[2]]), plans))
    else:
        every = [fit_fold(train, [valid, test]) for train, valid, test in plans]
    for (_, valid, test), results in zip(plans, every):
        scores = {}
        for setting, (pv, pt) in results.items():
            scores[setting] = (track_accuracy(pv, allowed[valid]), -track_log_loss(pv, allowed[valid]))
            valid_scores.setdefault(setting, []).append(scores[setting])
            test_scores.setdefault(setting, []).append(track_accuracy(pt, allowed[test]))
        best = max(scores, key=lambda s: scores[s])
        chosen.append(best)
        probs[test] = results[best][1]
        test_acc.append(track_accuracy(results[best][1], allowed[test]))
    return CVReport(list(labels), allowed, groups, fold, chosen, test_acc, probs, valid_scores, test_scores,
                    list(names))


def linear_fold_fitter(data: WindowSet, Cs: Sequence[float] = DEFAULT_CS, **fit_kwargs) -> FoldFitter:
    """:func:`grouped_cv`'s ``fit_fold`` for a :class:`LinearHead` on ``data`` at each ``C`` (ascending,
    each fit starting from the previous one: the same optimum, far fewer iterations). ``fit_kwargs`` go
    to :meth:`WindowSet.fit` (``balance``, ``per_track``, ``tol``, ...); the validation and test tracks
    are always scored on all their windows. The fitter keeps, per C, the head of the fold with the
    most training tracks in ``fit_fold.heads`` (thread-safe; which fold does not depend on the order)."""
    lock = threading.Lock()
    heads: dict[float, tuple[tuple[int, int], LinearHead]] = {}

    def fit_fold(train: np.ndarray, evals: Sequence[np.ndarray]) -> dict[Hashable, list[np.ndarray]]:
        out: dict[Hashable, list[np.ndarray]] = {}
        head = None
        rows = [data.rows(e) for e in evals]
        rank = (len(train), -int(train.min()) if len(train) else 0)
        for C in sorted(Cs):
            head = data.fit(train, C=C, init=head, **fit_kwargs)
            out[float(C)] = [_track_probs(head.predict_proba(data.X[r]), data.track[r], e) for r, e in zip(rows, evals)]
            with lock:
                if float(C) not in heads or rank > heads[float(C)][0]:
                    heads[float(C)] = (rank, head)
        return out

    fit_fold.heads = heads  # type: ignore[attr-defined]
    return fit_fold


def _track_probs(window_probs: np.ndarray, window_track: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    index = {t: i for i, t in enumerate(tracks)}
    out = np.zeros((len(tracks), window_probs.shape[1]))
    counts = np.zeros(len(tracks))
    for row, t in enumerate(window_track):
        out[index[t]] += window_probs[row]
        counts[index[t]] += 1
    return out / counts[:, None]


def cv_linear_head(data: WindowSet, Cs: Sequence[float] = DEFAULT_CS, *, n_splits: int = 5, seed: int = 0,
                   fold: np.ndarray | None = None, n_jobs: int = 1, **fit_kwargs) -> CVReport:
    """:func:`grouped_cv` of a :class:`LinearHead` on ``data`` over ``Cs``; ``report.chosen`` is the C to
    refit on all tracks (``data.fit(C=report.chosen, init=report.fold_models[report.chosen])``: the same
    optimum, reached sooner). ``n_jobs``: folds fit side by side (one thread each); ``fit_kwargs`` as
    :func:`linear_fold_fitter`'s (e.g. ``per_track=5, tol=1e-3``: a cheaper model selection)."""
    fitter = linear_fold_fitter(data, Cs, **fit_kwargs)
    with fit_threads(fit_kwargs.get("threads", 1)):  # set once for the folds running side by side
        report = grouped_cv(data.allowed, data.groups, fitter, labels=data.labels, n_splits=n_splits, seed=seed,
                            fold=fold, names=data.names, n_jobs=n_jobs)
    report.fold_models = {C: head for C, (_, head) in fitter.heads.items()}
    return report


__all__ = [
    "ABSENT_LOGIT", "CONSTANT_STD", "CVReport", "DEFAULT_CS", "FoldFitter", "LinearHead", "SCALE_FLOOR", "WindowSet",
    "allowed_matrix", "cv_linear_head", "fit_head", "grouped_cv", "linear_fold_fitter", "make_folds",
    "standardise", "track_accuracy", "track_log_loss", "track_weights",
]
