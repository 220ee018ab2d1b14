"""The default ensemble, chosen for music outside GTZAN: cross-fitted on the artist folds of GTZAN + AllMusic.

    python benchmarks/embed_tracks.py --backbones msd-musicnn,yamnet-audioset --cache runs/emb
    python benchmarks/default_ensemble.py --cache runs/emb --members musicnn,yamnet,musicnn+yamnet \\
        --weighting tracks --windows 1,2,3,5,10,12 --plot docs/reliability.png \\
        --export genre_models/pretrained                                      # the shipped default
    python benchmarks/default_ensemble.py --cache runs/emb --members musicnn,yamnet,mtt-musicnn,msd-vgg,mtt-vgg
    python benchmarks/default_ensemble.py --cache runs/emb --members musicnn,yamnet --augment pitch,mp3
    python benchmarks/default_ensemble.py --cache runs/emb --weighting tracks \\
        --fixture_from genre_models/pretrained        # only the fixture of the shipped members, refit

Why: every earlier selector was GTZAN, so every choice rewarded fitting GTZAN's 156 artists. Here the
tracks are GTZAN's 380 (70 clips, 310 excerpts) and the 240 AllMusic previews (198 artists outside
GTZAN, set-valued labels: ``metal|pop|rock`` for Pop/Rock), in one fold definition
(:func:`finetune.folds.artist_folds` over ``clip,excerpt,allmusic``; fold k: test = fold k, valid =
fold k+1, train = the other three; no artist group in two of them). Each AllMusic track is right when
the answer is in its set; its training loss is ``−log Σ_{g ∈ set} p(g)`` (:mod:`genre_models.heads`).

**Members** (:data:`MEMBERS`): a linear head on frozen window embeddings (:mod:`genre_models.embeddings`,
the vectors cached by ``embed_tracks.py``) mixed log-linearly with the backbone's own genre classes read
by name (:mod:`genre_models.priors`: AudioSet's for YAMNet, the MSD/MTT tags for musicnn and VGG),
calibrated on the training tracks. A member's settings — C and each prior's weight — are chosen on the
validation fold by the **balanced criterion**: the mean, over the two collections (GTZAN, AllMusic),
of the validation log-loss of the track's label set (accuracy breaks ties), so AllMusic's outside
artists weigh as much as GTZAN's.

**Ensemble**: per fold, weights and temperatures of the members are learned on the validation fold
(:func:`finetune.ensemble.fit_mixture` with the set-valued labels, each collection weighing half) and
compared with equal weights by a criterion not fitted on the same tracks: 2-fold cross-fitting inside
the validation fold (halves by artist group). Every subset of the members, with learned or equal
weights, is judged the same way; the default is the one of the lowest such loss with at least
``--min_members`` members (the app shows each member's vote). Everything is scored once on the test
fold, per collection: GTZAN clips, GTZAN excerpts, AllMusic, including "chosen on validation" (each
fold's own choice: a nested estimate of the procedure) and "the shipped choice" (the choice over all
folds, which has looked at every validation fold and so at the other folds' test tracks).

``--augment a,b``: training tracks also enter as augmented views (:mod:`finetune.augment`; vectors
from ``embed_tracks.py --views``); the run is repeated for no augmentation, each one alone and all
together, and a table says what each adds. ``--windows``: test accuracy when only k evenly spread
windows of each track are scored (coverage). ``--export DIR``: the run (training views) and the
members chosen on validation, each refit on all 620 tracks with the settings of the best mean
validation criterion, written as a model folder (``genre_embedding_head``, with a model card; checked
to reproduce this script's probabilities through the app's path), ``DIR/ensemble.json`` (equal weights
at T = 1, or the mean learned weights and temperatures, as chosen) and ``--fixture`` (the members'
window probabilities on ``examples/`` as fitted, which ``tests/test_shipped_models.py`` compares with
the folders).
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import numpy as np  # noqa: E402
from embed_tracks import read_cache  # noqa: E402

from finetune.ensemble import Scored, fit_mixture, mixture, set_log_loss  # noqa: E402
from finetune.folds import (  # noqa: E402
    ALLMUSIC_DIR,
    DATASET_WITH_ALLMUSIC,
    GTZAN_DIR,
    GTZAN_KINDS,
    KINDS,
    accuracy_by_kind,
    artist_folds,
    kinds_table,
    parse_kinds,
    real_audio_tracks,
    summary,
)
from genre_models import heads, priors  # noqa: E402
from genre_models.embeddings import Feature, backbone_kind, load_backbone  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402

N = len(GTZAN_GENRES)
CS = (*heads.DEFAULT_CS, 1.0, 3.0)  # musicnn's head chose the old grid's top, 0.3, in most folds
PRIOR_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
PAIR_WEIGHTS = [(a, b) for a in (0.0, 0.2, 0.4) for b in (0.0, 0.2, 0.4)]


@dataclass(frozen=True)
class MemberSpec:
    """A member: a head on ``features`` (concatenated), mixed with the ``priors`` read by name."""

    name: str
    features: tuple[str, ...]
    priors: tuple[str, ...] = ()

    @property
    def backbones(self) -> list[str]:
        return sorted({f.split(":")[0] for f in (*self.features, *self.priors)})

    def weight_grid(self) -> list[tuple[float, ...]]:
        if not self.priors:
            return [()]
        if len(self.priors) == 1:
            return [(w,) for w in PRIOR_WEIGHTS]
        return [tuple(p) for p in PAIR_WEIGHTS]


MEMBERS: dict[str, MemberSpec] = {m.name: m for m in (
    MemberSpec("musicnn", ("msd-musicnn:pooled",), ("msd-musicnn:tags",)),
    MemberSpec("yamnet", ("yamnet-audioset:meanmax",), ("yamnet-audioset:scores",)),
    MemberSpec("mtt-musicnn", ("mtt-musicnn:pooled",), ("mtt-musicnn:tags",)),
    MemberSpec("msd-vgg", ("msd-vgg:pooled",), ("msd-vgg:tags",)),
    MemberSpec("mtt-vgg", ("mtt-vgg:pooled",), ("mtt-vgg:tags",)),
    MemberSpec("musicnn-noprior", ("msd-musicnn:pooled",)),
    MemberSpec("yamnet-noprior", ("yamnet-audioset:meanmax",)),
    MemberSpec("musicnn+yamnet", ("msd-musicnn:pooled", "yamnet-audioset:meanmax"),
               ("msd-musicnn:tags", "yamnet-audioset:scores")),
    MemberSpec("musicnn-pen", ("msd-musicnn:penultimate",), ("msd-musicnn:tags",)),
    MemberSpec("yamnet-mean", ("yamnet-audioset:mean",), ("yamnet-audioset:scores",)),
    MemberSpec("musicnn+yamnet-small", ("msd-musicnn:penultimate", "yamnet-audioset:mean"),
               ("msd-musicnn:tags", "yamnet-audioset:scores")),
    MemberSpec("musicnn+yamnet+mtt", ("msd-musicnn:pooled", "yamnet-audioset:meanmax", "mtt-musicnn:pooled"),
               ("msd-musicnn:tags", "yamnet-audioset:scores")),
    MemberSpec("vgg+yamnet", ("msd-vgg:pooled", "mtt-vgg:pooled", "yamnet-audioset:meanmax"),
               ("msd-vgg:tags", "yamnet-audioset:scores")),
)}


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
@dataclass
class Data:
    """The tracks, their label sets and collection weights, and the cached vectors per (backbone, view)."""

    tracks: list
    allowed: np.ndarray  # (tracks, N) bool
    collection: np.ndarray  # "gtzan" / "allmusic" per track
    vectors: dict[tuple[str, str], dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {t.track_id: i for i, t in enumerate(self.tracks)}

    weighting: str = "balanced"  # how training tracks weigh: "balanced" collections, or every track alike

    def training_weights(self, idx: np.ndarray) -> np.ndarray:
        """Per training track (summing to 1): :meth:`balanced_weights`, or equal with ``weighting="tracks"``."""
        if self.weighting == "tracks":
            return np.full(len(idx), 1.0 / len(idx))
        return self.balanced_weights(idx)

    def balanced_weights(self, idx: np.ndarray) -> np.ndarray:
        """Per track: each collection present among ``idx`` weighs the same in total."""
        coll = self.collection[idx]
        w = np.zeros(len(idx))
        for c in np.unique(coll):
            w[coll == c] = 1.0 / (coll == c).sum()
        return w / w.sum()

    def stack(self, features: Sequence[str], tid: str, view: str = "orig") -> np.ndarray:
        parts = []
        for f in features:
            b, v = f.split(":")
            parts.append(self.vectors[(b, view)][tid][v])
        return np.concatenate(parts, axis=1).astype(np.float64)

    def prior_scores(self, prior: str, tid: str, view: str = "orig") -> np.ndarray:
        b, v = prior.split(":")
        return priors.prior_log_scores(self.vectors[(b, view)][tid][v], prior_index(prior))


_PRIOR_INDEX: dict[str, list[list[int]]] = {}


def prior_index(prior: str) -> list[list[int]]:
    """Per genre, the indices of the mapped classes of a backbone variant (names from the backbone)."""
    if prior not in _PRIOR_INDEX:
        b, _ = prior.split(":")
        config = load_backbone(b).model.config
        names = [config.id2label[i] for i in range(config.num_labels)]
        _PRIOR_INDEX[prior] = priors.class_index(priors.PRIOR_CLASSES[prior], names)
    return _PRIOR_INDEX[prior]


def load_data(args, members: Sequence[MemberSpec], views: Sequence[str]) -> Data:
    tracks = real_audio_tracks(args.gtzan_dir, parse_kinds(args.kinds), args.allmusic_dir)
    allowed = np.zeros((len(tracks), N), dtype=bool)
    for i, t in enumerate(tracks):
        allowed[i, list(t.allowed_labels)] = True
    collection = np.array(["gtzan" if t.kind in GTZAN_KINDS else "allmusic" for t in tracks])
    data = Data(tracks, allowed, collection)
    for b in sorted({b for m in members for b in m.backbones}):
        for view in views:
            emb = read_cache(args.cache, b, view)
            missing = [t.track_id for t in tracks if t.track_id not in emb]
            if missing:
                raise SystemExit(f"{len(missing)} tracks have no {b} vectors for view {view!r} in {args.cache}: run "
                                 f"python benchmarks/embed_tracks.py --backbones {b} --views {view} "
                                 f"--cache {args.cache}")
            data.vectors[(b, view)] = emb
    return data


# ---------------------------------------------------------------------------------------------
# one member
# ---------------------------------------------------------------------------------------------
@dataclass
class FittedMember:
    """A member fit on some tracks: the heads per C and the calibrated priors; scores any track.
    A track's head and prior log-probabilities are computed once and reused across settings."""

    spec: MemberSpec
    heads: dict[float, heads.LinearHead]
    calibrations: list[tuple[float, np.ndarray]]
    _memo: dict = field(default_factory=dict, repr=False)

    def _parts(self, data: Data, tid: str, C: float) -> tuple[np.ndarray, list[np.ndarray]]:
        key = (tid, C)
        if key not in self._memo:
            head = self.heads[C].log_proba(data.stack(self.spec.features, tid))
            if (tid, "priors") not in self._memo:
                self._memo[(tid, "priors")] = [
                    priors.calibrated_log_probs(data.prior_scores(prior, tid), scale, bias)
                    for prior, (scale, bias) in zip(self.spec.priors, self.calibrations)]
            self._memo[key] = head
        return self._memo[key], self._memo[(tid, "priors")]

    def window_log_probs(self, data: Data, tid: str, C: float, weights: Sequence[float],
                         windows: np.ndarray | None = None) -> np.ndarray:
        head, parts = self._parts(data, tid, C)
        if windows is not None:
            head, parts = head[windows], [p[windows] for p in parts]
        return priors.mix_log_probs(head, parts, weights)

    def track_probs(self, data: Data, idx: np.ndarray, C: float, weights: Sequence[float],
                    windows_of_track: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        out = []
        for i in idx:
            tid = data.tracks[i].track_id
            sel = windows_of_track.get(tid) if windows_of_track else None
            out.append(np.exp(self.window_log_probs(data, tid, C, weights, sel)).mean(axis=0))
        return np.stack(out)

    def window_probs(self, data: Data, idx: np.ndarray, C: float, weights: Sequence[float]) -> list[np.ndarray]:
        return [np.exp(self.window_log_probs(data, data.tracks[i].track_id, C, weights)) for i in idx]


def fit_member(spec: MemberSpec, data: Data, train: np.ndarray, views: Sequence[str], Cs: Sequence[float]
               ) -> FittedMember:
    """Heads for every C (each starting from the previous one's solution) and the priors' calibration,
    on the training tracks. Each collection weighs half and every track the same within it; a track's
    augmented views share its weight with the original (so C means the same with or without them)."""
    X, rows_allowed, owner = [], [], []
    for view in views:
        for j, i in enumerate(train):
            x = data.stack(spec.features, data.tracks[i].track_id, view)
            X.append(x)
            rows_allowed.append(np.repeat(data.allowed[i][None], len(x), axis=0))
            owner.append(np.full(len(x), j))
    X = np.concatenate(X)
    A = np.concatenate(rows_allowed)
    track_w = data.training_weights(train)  # each collection half (or every track alike)
    owner = np.concatenate(owner)
    counts = np.bincount(owner, minlength=len(train))
    w = track_w[owner] / counts[owner] * len(train)  # a track's views and windows share its weight
    fitted: dict[float, heads.LinearHead] = {}
    prev = None
    for C in sorted(Cs):
        prev = fitted[C] = heads.fit_head(X, A, labels=GTZAN_GENRES, sample_weight=w, C=C, init=prev)
    calibrations = []
    for prior in spec.priors:
        L = [data.prior_scores(prior, data.tracks[i].track_id, view) for view in views for i in train]
        calibrations.append(priors.fit_calibration(L, np.concatenate([data.allowed[train]] * len(views)),
                                                    np.concatenate([track_w] * len(views))))
    return FittedMember(spec, fitted, calibrations)


def criterion(data: Data, idx: np.ndarray, P: np.ndarray) -> tuple[float, float]:
    """``(balanced log-loss, balanced accuracy)`` of track probabilities ``P`` on tracks ``idx``: the
    mean over collections of the set-valued log-loss / accuracy."""
    A = data.allowed[idx]
    losses, accs = [], []
    for c in np.unique(data.collection[idx]):
        m = data.collection[idx] == c
        losses.append(set_log_loss(P[m], A[m]))
        accs.append(float(A[m][np.arange(m.sum()), P[m].argmax(axis=1)].mean()))
    return float(np.mean(losses)), float(np.mean(accs))


def choose_setting(fitted: FittedMember, data: Data, valid: np.ndarray) -> tuple[tuple, dict]:
    """The (C, prior weights) of the best balanced validation criterion (log-loss, then accuracy)."""
    scores = {}
    for C in fitted.heads:
        for weights in fitted.spec.weight_grid():
            loss, acc = criterion(data, valid, fitted.track_probs(data, valid, C, weights))
            scores[(C, weights)] = (loss, -acc)
    best = min(scores, key=lambda k: scores[k])
    return best, scores


# ---------------------------------------------------------------------------------------------
# ensembles
# ---------------------------------------------------------------------------------------------
def scored(names: Sequence[str], window_probs: Mapping[str, list[np.ndarray]], data: Data, idx: np.ndarray) -> Scored:
    y = np.array([data.allowed[i].argmax() for i in idx])  # unused by the set-valued fit; kept for Scored
    return Scored(list(names), list(GTZAN_GENRES), y, [window_probs[n] for n in names],
                  [data.tracks[i].track_id for i in idx])


def fit_weights(sc: Scored, data: Data, idx: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    w, t, _ = fit_mixture(sc, penalty, allowed=data.allowed[idx], sample_weight=data.balanced_weights(idx))
    return w, t


def subset(sc: Scored, keep: np.ndarray) -> Scored:
    return Scored(sc.models, sc.labels, sc.y[keep], [[w[i] for i in keep] for w in sc.windows],
                  [sc.track_ids[i] for i in keep])


def cross_fitted_choice(sc: Scored, data: Data, idx: np.ndarray, penalty: float) -> dict[str, float]:
    """Learned vs equal weights, judged by 2-fold cross-fitting inside the validation fold (halves by
    artist group): the weights (and temperatures) learned on one half are scored on the other; equal
    weights at T = 1 learn nothing. Balanced log-loss and accuracy of both."""
    groups = np.array([data.tracks[i].group for i in idx])
    uniq = sorted(set(groups))
    rng = np.random.default_rng(0)
    half = {g: h for g, h in zip(uniq, rng.permutation(np.arange(len(uniq)) % 2))}
    part = np.array([half[g] for g in groups])
    n = len(sc.models)
    P_learned, P_equal = np.zeros((len(idx), N)), np.zeros((len(idx), N))
    for h in (0, 1):
        fit_rows, eval_rows = np.flatnonzero(part != h), np.flatnonzero(part == h)
        w, t = fit_weights(subset(sc, fit_rows), data, idx[fit_rows], penalty)
        P_learned[eval_rows] = mixture(subset(sc, eval_rows), w, t)
        P_equal[eval_rows] = mixture(subset(sc, eval_rows), np.ones(n), np.ones(n))
    (ll, la), (el, ea) = criterion(data, idx, P_learned), criterion(data, idx, P_equal)
    return {"learned": ll, "equal": el, "learned_accuracy": la, "equal_accuracy": ea}


# ---------------------------------------------------------------------------------------------
# one run over the folds
# ---------------------------------------------------------------------------------------------
@dataclass
class FoldResult:
    chosen: dict[str, tuple]
    valid_scores: dict[str, dict[tuple, tuple[float, float]]]
    weights: np.ndarray
    temperatures: np.ndarray
    choice: dict[str, float]
    subsets: dict[tuple[str, ...], dict[str, float]]
    test_probs: dict[str, np.ndarray]  # name -> (test tracks, N)
    test_idx: np.ndarray
    coverage: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    subset_weights: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    procedure: tuple[tuple[str, ...], str] = ((), "")  # this fold's own choice: (members, "learned"/"equal")
    subset_test_probs: dict[tuple[tuple[str, ...], str], np.ndarray] = field(default_factory=dict)


PROCEDURE = "chosen on validation"  # the row of the procedure's own choice, made per fold on its validation fold
SHIPPED = "the shipped choice"  # the row of the choice made over all folds (what --export writes), on every fold
MIN_MEMBERS = 2  # the app shows each member's vote: a default of one model would have none to show


def best_choice(subsets: Mapping[tuple[str, ...], Mapping[str, float]], min_members: int = MIN_MEMBERS
                ) -> tuple[tuple[str, ...], str]:
    """The members (at least ``min_members``, where there are that many) and the weighting (learned /
    equal) of the lowest cross-fitted validation log-loss."""
    most = max(len(c) for c in subsets)
    return min(((combo, how) for combo in subsets for how in ("learned", "equal")
                if len(combo) >= min(min_members, most)),
               key=lambda ch: (subsets[ch[0]][ch[1]], len(ch[0])))


def run_folds(data: Data, folds, members: Sequence[MemberSpec], views: Sequence[str], args,
              say=print) -> list[FoldResult]:
    results = []
    for k, split in enumerate(folds):
        t0 = time.perf_counter()
        idx = {s: np.array([data.index[t.track_id] for t in split[s]]) for s in ("train", "valid", "test")}
        chosen, vscores, valid_windows, test_windows, test_probs = {}, {}, {}, {}, {}
        fitted_members = {}
        for spec in members:
            fm = fit_member(spec, data, idx["train"], views, CS)
            fitted_members[spec.name] = fm
            chosen[spec.name], vscores[spec.name] = choose_setting(fm, data, idx["valid"])
            C, weights = chosen[spec.name]
            valid_windows[spec.name] = fm.window_probs(data, idx["valid"], C, weights)
            test_windows[spec.name] = fm.window_probs(data, idx["test"], C, weights)
            test_probs[spec.name] = np.stack([w.mean(axis=0) for w in test_windows[spec.name]])
        names = [m.name for m in members]
        sv, st = scored(names, valid_windows, data, idx["valid"]), scored(names, test_windows, data, idx["test"])
        w, t = fit_weights(sv, data, idx["valid"], args.penalty)
        choice = cross_fitted_choice(sv, data, idx["valid"], args.penalty) if len(names) > 1 else {}
        test_probs["learned ensemble"] = mixture(st, w, t)
        test_probs["equal-weight average"] = mixture(st, np.ones(len(names)), np.ones(len(names)))
        subsets, subset_weights, subset_test = {}, {}, {}  # every subset, judged on validation by cross-fitting
        for r in range(1, len(names) + 1):
            for combo in itertools.combinations(range(len(names)), r):
                sub = Scored([names[i] for i in combo], sv.labels, sv.y, [sv.windows[i] for i in combo],
                             sv.track_ids)
                key = tuple(sub.models)
                subsets[key] = cross_fitted_choice(sub, data, idx["valid"], args.penalty)
                subset_weights[key] = fit_weights(sub, data, idx["valid"], args.penalty)
                subset_test[key] = Scored(list(key), st.labels, st.y, [st.windows[i] for i in combo], st.track_ids)
        # the procedure as if this fold were all there is: its validation fold picks members and weighting
        subset_test_probs = {}
        for key, sub in subset_test.items():
            subset_test_probs[(key, "learned")] = mixture(sub, *subset_weights[key])
            subset_test_probs[(key, "equal")] = mixture(sub, np.ones(len(key)), np.ones(len(key)))
        combo, how = best_choice(subsets, args.min_members)
        test_probs[PROCEDURE] = subset_test_probs[(combo, how)]
        coverage = {}
        for n_win in args.windows:
            sel = {data.tracks[i].track_id: spread(len(test_windows[names[0]][j]), n_win)
                   for j, i in enumerate(idx["test"])}
            per = {}
            for spec in members:
                C, weights = chosen[spec.name]
                per[spec.name] = fitted_members[spec.name].track_probs(data, idx["test"], C, weights, sel)
            cw = [[tw[sel[data.tracks[i].track_id]] for tw, i in zip(test_windows[n], idx["test"])] for n in names]
            per["learned ensemble"] = mixture(Scored(names, st.labels, st.y, cw, st.track_ids), w, t)
            for key in subset_test:  # every subset and weighting: the shipped choice is known after all folds
                sub = Scored(list(key), st.labels, st.y, [cw[names.index(n)] for n in key], st.track_ids)
                per[(key, "learned")] = mixture(sub, *subset_weights[key])
                per[(key, "equal")] = mixture(sub, np.ones(len(key)), np.ones(len(key)))
            coverage[n_win] = per
        results.append(FoldResult(chosen, vscores, w, t, choice, subsets, test_probs, idx["test"], coverage,
                                  subset_weights, (combo, how), subset_test_probs))
        tracks = [data.tracks[i] for i in idx["test"]]
        say(f"fold {k + 1} ({time.perf_counter() - t0:.0f} s): " + "; ".join(
            f"{n} C={chosen[n][0]:g} w={chosen[n][1]}" for n in names)
            + " | weights " + ", ".join(f"{n} {wi:.2f}/T{ti:.2f}" for n, wi, ti in zip(names, w, t))
            + (f" | valid (cross-fitted) learned {choice['learned']:.3f} vs equal {choice['equal']:.3f}"
               if choice else "")
            + f" | chosen: {' + '.join(combo)}, {how} weights"
            + "\n   test: " + "; ".join(
                f"{name}: " + ", ".join(f"{kind} {r}/{n}" for kind, (r, n) in
                                        accuracy_by_kind(tracks, P.argmax(axis=1)).items()
                                        if n and kind in ("clip", "excerpt", "allmusic"))
                for name, P in test_probs.items()))
    return results


def spread(n: int, k: int) -> np.ndarray:
    """``k`` evenly spread indices of ``n`` windows (all of them when ``n <= k``)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def report(data: Data, folds, members: Sequence[MemberSpec], results: list[FoldResult], title: str,
           min_members: int = MIN_MEMBERS) -> dict:
    """Print the per-collection tables; return the figures (JSON-able)."""
    subsets = {}
    for combo in results[0].subsets:
        vals = [r.subsets[combo] for r in results]
        subsets[combo] = {k: statistics.mean(v[k] for v in vals) for k in vals[0]}
    chosen = best_choice(subsets, min_members)
    for r in results:  # the choice made over all folds, scored on each test fold (its validation saw the others')
        r.test_probs[SHIPPED] = r.subset_test_probs[chosen]
        for per in r.coverage.values():
            per[SHIPPED] = per[chosen]
            for key in [k for k in per if isinstance(k, tuple)]:
                del per[key]
    names = list(results[0].test_probs)
    by_kind = {n: [accuracy_by_kind([data.tracks[i] for i in r.test_idx], r.test_probs[n].argmax(axis=1))
                   for r in results] for n in names}
    print(f"\n### {title}\n\ntest-fold track accuracy, mean ± std over folds (right/total over all folds):\n")
    print(kinds_table(by_kind))
    pooled = {}
    for n in names:
        idx = np.concatenate([r.test_idx for r in results])
        P = np.concatenate([r.test_probs[n] for r in results])
        loss, acc = criterion(data, idx, P)
        pooled[n] = {"balanced_log_loss": loss, "balanced_accuracy": acc}
    print("\npooled test folds, balanced over the two collections: " + "; ".join(
        f"{n} log-loss {v['balanced_log_loss']:.3f} accuracy {v['balanced_accuracy']:.3f}" for n, v in pooled.items()))
    mean_w = {m.name: statistics.mean(float(r.weights[i]) for r in results) for i, m in enumerate(members)}
    mean_t = {m.name: statistics.mean(float(r.temperatures[i]) for r in results) for i, m in enumerate(members)}
    if len(members) > 1:
        print("learned on the validation folds, mean over folds (weight, temperature): "
              + ", ".join(f"{n} {mean_w[n]:.3f}, {mean_t[n]:.3f}" for n in mean_w))
        learned = statistics.mean(r.choice["learned"] for r in results)
        equal = statistics.mean(r.choice["equal"] for r in results)
        print(f"learned vs equal weights, cross-fitted inside the validation folds (balanced log-loss, mean over "
              f"folds): learned {learned:.3f}, equal {equal:.3f} -> {'learned' if learned < equal else 'equal'}")
    if len(subsets) > 1:
        print("\nmember subsets on the validation folds, 2-fold cross-fitted inside each (weights and temperatures "
              "learned on one half, scored on the other; mean over folds; balanced log-loss / accuracy):\n")
        print("| members | learned weights | equal weights |\n|---|---|---|")
        for combo, v in sorted(subsets.items(), key=lambda kv: min(kv[1]["learned"], kv[1]["equal"])):
            print(f"| {' + '.join(combo)} | {v['learned']:.3f} / {v['learned_accuracy']:.3f} | "
                  f"{v['equal']:.3f} / {v['equal_accuracy']:.3f} |")
    print(f"\nchosen on validation (mean over folds; at least {min_members} members): {' + '.join(chosen[0])} with "
          f"{chosen[1]} weights (cross-fitted balanced log-loss {subsets[chosen[0]][chosen[1]]:.3f}); per fold: "
          + "; ".join(f"{' + '.join(r.procedure[0])} ({r.procedure[1]})" for r in results)
          + f". The row '{PROCEDURE}' scores each fold's own choice on its test fold (a nested estimate of the "
            f"procedure); '{SHIPPED}' scores the choice made over all folds on each test fold (each fold's "
            "validation is another's test, so it looked at them).")
    if results[0].coverage:
        print("\ncoverage: test accuracy when k evenly spread 3-s windows of each track are scored "
              "(right/total over the folds; excerpts have one window):\n")
        cols = ("clip", "allmusic")
        print("| k | " + " | ".join(f"{n}: {c}" for n in results[0].coverage[next(iter(results[0].coverage))]
                                     for c in cols) + " |")
        print("|---|" + "---|" * (len(cols) * len(results[0].coverage[next(iter(results[0].coverage))])))
        for k_win in results[0].coverage:
            cells = []
            for n in results[0].coverage[k_win]:
                counts = [accuracy_by_kind([data.tracks[i] for i in r.test_idx],
                                           r.coverage[k_win][n].argmax(axis=1)) for r in results]
                for c in cols:
                    cells.append(f"{sum(x[c][0] for x in counts)}/{sum(x[c][1] for x in counts)}")
            print(f"| {k_win} | " + " | ".join(cells) + " |")
    return {"by_kind": {n: [{k: list(v) for k, v in f.items()} for f in by_kind[n]] for n in names},
            "pooled": pooled, "weights": mean_w, "temperatures": mean_t,
            "subsets": {" + ".join(c): v for c, v in subsets.items()},
            "chosen": {"members": list(chosen[0]), "weights": chosen[1],
                       "valid_log_loss": subsets[chosen[0]][chosen[1]],
                       "per_fold": [[list(r.procedure[0]), r.procedure[1]] for r in results]}}


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=REPO / "runs" / "emb")
    parser.add_argument("--members", default="musicnn,yamnet", help=f"comma-separated, of {', '.join(MEMBERS)}")
    parser.add_argument("--augment", default="", help="augmented views to measure (each alone, then all together)")
    parser.add_argument("--use_augment", default="", help="augmented views every run trains on (the chosen ones)")
    parser.add_argument("--windows", default="", help="coverage: comma-separated window counts k to score")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--penalty", type=float, default=0.01)
    parser.add_argument("--min_members", type=int, default=MIN_MEMBERS,
                        help="the default has at least this many members (the app shows each one's vote)")
    parser.add_argument("--weighting", choices=("balanced", "tracks"), default="balanced",
                        help="training tracks: each collection weighs half (balanced), or every track alike")
    parser.add_argument("--gtzan_dir", type=Path, default=GTZAN_DIR)
    parser.add_argument("--allmusic_dir", type=Path, default=ALLMUSIC_DIR)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--plot", type=Path, default=None, help="reliability plot of the shipped choice and members")
    parser.add_argument("--export", type=Path, default=None, help="write the members and ensemble.json here")
    parser.add_argument("--max_windows", type=int, default=12, help="ensemble.json: windows per song per member")
    parser.add_argument("--fixture", type=Path, default=REPO / "tests" / "fixtures" / "default_members.json",
                        help="with --export: each exported member's window probabilities on examples/, as fitted")
    parser.add_argument("--fixture_from", type=Path, default=None,
                        help="only write --fixture for the members DIR/ensemble.json lists: each refit from the "
                             "tracks with the settings its config records (C, prior weights, views)")
    args = parser.parse_args(argv)
    if args.fixture_from:
        return refit_fixture(args)
    args.windows = [int(x) for x in args.windows.split(",") if x.strip()]
    members = [MEMBERS[m.strip()] for m in args.members.split(",") if m.strip()]
    for m in members:
        for f in (*m.features, *m.priors):
            Feature.parse(f)  # the backbone and variant exist
            backbone_kind(f.split(":")[0])
    base_views = ["orig", *[v for v in args.use_augment.split(",") if v.strip()]]
    extra = [v for v in args.augment.split(",") if v.strip()]
    data = load_data(args, members, sorted(set(base_views + extra)))
    data.weighting = args.weighting
    folds = artist_folds(data.tracks, args.folds, args.seed)
    print(summary(folds) + "\n", flush=True)

    runs = {"+".join(base_views[1:]) or "no augmentation": base_views}
    for v in extra:
        runs[f"{'+'.join(base_views[1:]) + '+' if len(base_views) > 1 else ''}{v}"] = base_views + [v]
    if len(extra) > 1:
        runs["all of " + "+".join(extra)] = base_views + extra
    figures = {}
    results_by_run = {}
    for title, views in runs.items():
        print(f"\n## training views: {', '.join(views)}", flush=True)
        results = run_folds(data, folds, members, views, args)
        results_by_run[title] = results
        figures[title] = report(data, folds, members, results, f"training views: {', '.join(views)}",
                                args.min_members)
    if len(runs) > 1:
        print("\n## what each augmentation adds (test folds, right/total; balanced log-loss, pooled test folds)\n")
        print("| training views | member | GTZAN clips | GTZAN excerpts | AllMusic | balanced log-loss |")
        print("|---|---|---|---|---|---|")
        for title, fig in figures.items():
            for n, folds_kinds in fig["by_kind"].items():
                cell = {k: f"{sum(f[k][0] for f in folds_kinds)}/{sum(f[k][1] for f in folds_kinds)}"
                        for k in ("clip", "excerpt", "allmusic")}
                print(f"| {title} | {n} | {cell['clip']} | {cell['excerpt']} | {cell['allmusic']} | "
                      f"{fig['pooled'][n]['balanced_log_loss']:.3f} |")
    print(f"\nfolds fingerprint {folds.fingerprint}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"folds_fingerprint": folds.fingerprint, "runs": figures,
                                         "command": "python benchmarks/default_ensemble.py " + " ".join(
                                             sys.argv[1:])}, indent=1, default=str) + "\n")
    best = min(figures, key=lambda t: figures[t]["chosen"]["valid_log_loss"])  # what --export writes
    first = results_by_run[best]
    if args.plot:
        from ensemble_real_audio import reliability_plot

        curves = {}
        for n in (SHIPPED, *[m.name for m in members]):
            if n in first[0].test_probs:
                P = np.concatenate([r.test_probs[n] for r in first])
                idx = np.concatenate([r.test_idx for r in first])
                g = data.collection[idx] == "gtzan"
                curves[n] = (P[g], data.allowed[idx][g].argmax(axis=1))
        reliability_plot(curves, args.plot, f"{int(g.sum())} GTZAN test tracks (folds of GTZAN + AllMusic)")
        print(f"reliability plot (GTZAN test tracks): {args.plot}")
    if args.export:  # the training views, members and weighting of the lowest cross-fitted validation loss
        title = best
        if len(figures) > 1:
            print(f"exporting the run '{title}' (lowest cross-fitted validation log-loss of its choice: " + ", ".join(
                f"{t} {f['chosen']['valid_log_loss']:.3f}" for t, f in figures.items()) + ")")
        export(args, data, folds, members, runs[title], results_by_run[title], figures[title])


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------
def export(args, data: Data, folds, members: Sequence[MemberSpec], views: Sequence[str], results: list[FoldResult],
           figures: dict) -> None:
    """The chosen members (``figures["chosen"]``), each refit on every track with the setting of the best
    mean validation criterion over the folds, written as a model folder; ``ensemble.json`` with the mean
    learned weights and temperatures of that subset, or equal weights at T = 1 where those were chosen."""
    from finetune.provenance import track_record
    from genre_models.hf_models.embedding_head import build_embedding_head

    every = np.arange(len(data.tracks))
    entries, fitted = [], {}
    combo, how = tuple(figures["chosen"]["members"]), figures["chosen"]["weights"]
    members = [m for m in members if m.name in combo]
    for i, spec in enumerate(members):
        settings = results[0].valid_scores[spec.name]
        mean = {key: tuple(np.mean([r.valid_scores[spec.name][key] for r in results], axis=0)) for key in settings}
        C, weights = min(mean, key=lambda key: mean[key])
        fm = fit_member(spec, data, every, views, [C])
        out = args.export / f"default-{spec.name.replace('+', '-')}"
        record = track_record({"train": [t.track_id for t in data.tracks]},
                              {"dataset": DATASET_WITH_ALLMUSIC, "split": f"all {len(data.tracks)} tracks",
                               "setting_chosen_on": f"mean balanced validation criterion over folds "
                                                    f"{folds.fingerprint[:12]}"})
        fold_figures = {k: v for k, v in figures["by_kind"].items() if k == spec.name}
        head = {"C": C, "prior_weights": list(weights), "views": list(views), "trained_on": len(data.tracks),
                "folds_fingerprint": folds.fingerprint, "test_by_kind": fold_figures.get(spec.name),
                "command": "python benchmarks/default_ensemble.py " + " ".join(sys.argv[1:]), "track_record": record}
        prior_cfg = [{"name": p.split(":")[0], "variant": p.split(":")[1], "classes": priors.PRIOR_CLASSES[p],
                      "scale": float(s), "bias": [float(b) for b in bias], "weight": float(w)}
                     for p, (s, bias), w in zip(spec.priors, fm.calibrations, weights)]
        tagger = "msd-musicnn" if "msd-musicnn" in spec.backbones and "yamnet-audioset" not in spec.backbones else None
        build_embedding_head(out, fm.heads[C], [Feature.parse(f) for f in spec.features], head_info=head,
                             priors=prior_cfg, max_windows=args.max_windows, tag_tagger=tagger)
        worst = check_parity(out, fm, data, C, weights)
        print(f"exported {out}: C={C:g}, prior weights {weights}; max |app path - this script| track probability "
              f"{worst:.1e}", flush=True)
        write_card(out, spec, C, weights, prior_cfg, views, data, folds, figures, worst)
        if worst > 1e-4:
            raise SystemExit(f"{out} does not reproduce the member")
        fitted[out.name] = (spec, fm, C, weights)
        if how == "learned":
            weight = statistics.mean(float(r.subset_weights[combo][0][i]) for r in results)
            temperature = statistics.mean(float(r.subset_weights[combo][1][i]) for r in results)
        else:
            weight, temperature = 1.0, 1.0
        entries.append({"model": out.name, "weight": round(weight, 4), "temperature": round(temperature, 4),
                        "max_windows": args.max_windows})
    total = sum(e["weight"] for e in entries)
    for e in entries:
        e["weight"] = round(e["weight"] / total, 4)
    config = {"models": entries, "fitted_on": {
        "how": "cross-fitted over the artist-grouped folds of GTZAN + AllMusic: in fold k the members trained on three "
               "folds, their settings and the ensemble's weights and temperatures were learned on the validation "
               "fold (balanced over the two collections); the members, the training views and learned vs equal "
               "weights are those of the lowest validation log-loss, 2-fold cross-fitted inside each validation "
               f"fold (mean over folds): {' + '.join(combo)}, {how} weights, views {'+'.join(views)}; "
               + ("the weights and temperatures are their means over the folds; " if how == "learned" else "")
               + f"each member here is refit on all {len(data.tracks)} tracks",
        "chosen": figures["chosen"],
        "tracks": len(data.tracks), "folds_fingerprint": folds.fingerprint,
        "command": "python benchmarks/default_ensemble.py " + " ".join(sys.argv[1:])}}
    (args.export / "ensemble.json").write_text(json.dumps(config, indent=2) + "\n")
    write_fixture(args.fixture, fitted, args.max_windows)
    print(f"wrote {args.export / 'ensemble.json'}: " + ", ".join(
        f"{e['model']} w {e['weight']} T {e['temperature']}" for e in entries))


def write_card(out: Path, spec: MemberSpec, C: float, weights, prior_cfg: list[dict], views, data: Data, folds,
               figures: dict, parity: float) -> None:
    """The member's model card: what it is, what it was trained on, its fold figures and the command."""
    from finetune.folds import kinds_table

    by_kind = {f"{spec.name} (this member's recipe, per fold)": [
        {k: tuple(v) for k, v in f.items()} for f in figures["by_kind"][spec.name]]}
    for row, name in (("all members, learned weights", "learned ensemble"),
                      ("all members, equal weights", "equal-weight average"),
                      ("members and weighting chosen on each fold's validation", PROCEDURE),
                      ("the shipped choice, on every fold", SHIPPED)):
        if name in figures["by_kind"]:
            by_kind[f"ensemble: {row}"] = [{k: tuple(v) for k, v in f.items()} for f in figures["by_kind"][name]]
    licences = {"msd-musicnn": "ISC", "mtt-musicnn": "ISC", "msd-vgg": "ISC", "mtt-vgg": "ISC",
                "yamnet-audioset": "Apache-2.0"}
    prior_text = "; ".join(f"`{p['name']}:{p['variant']}` weight {p['weight']:g} (scale {p['scale']:.3f})"
                           for p in prior_cfg) or "none"
    n_gtzan = int((data.collection == "gtzan").sum())
    (out / "README.md").write_text(f"""---
library_name: transformers
license: other
tags: [audio-classification, music-genre, gtzan, {', '.join(spec.backbones)}]
pipeline_tag: audio-classification
---

# {out.name}: a member of the default genre ensemble

A linear head (C={C:g}, standardised inputs folded into the layer) on the frozen window embeddings
`{', '.join(spec.features)}` of the package's shipped backbone(s) ({', '.join(f"`{b}` ({licences.get(b, '?')})"
                                                                        for b in spec.backbones)}; not copied
into this folder: `from_pretrained` attaches them), mixed log-linearly with the backbones' own genre
classes read by name ({prior_text}; `genre_models/priors.py`). 3-s windows at 16 kHz, at most
{json.loads((out / "config.json").read_text()).get("max_windows")} spread over a song; the answer is the
mean of the windows' probabilities.

**Trained on** {len(data.tracks)} real tracks: {n_gtzan} GTZAN ({int(sum(t.kind == 'clip' for t in data.tracks))}
30-s clips, {int(sum(t.kind == 'excerpt' for t in data.tracks))} 2-3 s excerpts) and
{len(data.tracks) - n_gtzan} AllMusic previews (198 artists outside GTZAN) whose label is the *set*
of genres their AllMusic genres allow (Pop/Rock → metal, pop or rock; loss −log Σ p over the set);
training views {', '.join(views)}. The track ids are in `config.json` (`head.track_record`).
The settings were chosen on the validation folds by the balanced criterion (GTZAN and AllMusic
weighing half each). The folder reproduces the training code's track probabilities through the
app's prediction path to {parity:.1e}.

```python
from genre_models import load_model, predict
predict("song.mp3", load_model("genre_models/pretrained/{out.name}")).top(3)
```

**Validation** (`python benchmarks/default_ensemble.py {' '.join(sys.argv[1:])}`): 5-fold CV over
artist groups of GTZAN + AllMusic (folds {folds.fingerprint[:12]}); test fold k, settings and
weights chosen on fold k+1, trained on the other three. Test-fold track accuracy, mean ± std over
folds (right/total); AllMusic counts an answer in the track's set as right:

{kinds_table(by_kind)}
""")


EXAMPLES = REPO / "examples"


def files_data(paths: Sequence[Path], backbones: Sequence[str], max_windows: int) -> Data:
    """:class:`Data` for audio files outside the corpus (track id = file name, no labels), their vectors
    from ``genre_models.embeddings.embed_file`` as the app's path windows them, for a :class:`FittedMember`."""
    from types import SimpleNamespace

    from genre_models.embeddings import embed_file

    tracks = [SimpleNamespace(track_id=Path(p).name, source=str(p)) for p in paths]
    data = Data(tracks, np.zeros((len(tracks), N), bool), np.array(["gtzan"] * len(tracks)))
    for t in tracks:
        emb = embed_file(t.source, backbones, max_windows=max_windows)
        for b in backbones:
            data.vectors.setdefault((b, "orig"), {})[t.track_id] = emb.vectors[b]
    return data


def write_fixture(path: Path, fitted: Mapping[str, tuple], max_windows: int) -> None:
    """Each member's window probabilities on the project's own examples, computed by the fitted member
    (head and priors' calibration as fitted on the tracks, not as read back from the folder), so
    ``tests/test_shipped_models.py`` ties every number of a shipped folder to the fit."""
    songs = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".mp3", ".ogg", ".flac"))
    data = files_data(songs, sorted({b for spec, *_ in fitted.values() for b in spec.backbones}), max_windows)
    tracks = data.tracks
    out = {"command": "python benchmarks/default_ensemble.py " + " ".join(sys.argv[1:]), "max_windows": max_windows,
           "members": {}}
    for name, (_spec, fm, C, weights) in fitted.items():
        probs = fm.window_probs(data, np.arange(len(tracks)), C, weights)
        out["members"][name] = {t.track_id: np.round(p, 8).tolist() for t, p in zip(tracks, probs)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}: {len(fitted)} member(s) on {len(tracks)} examples")


def refit_fixture(args) -> None:
    """``--fixture_from DIR``: refit each member of ``DIR/ensemble.json`` on the tracks with the settings
    its config records, check it against the folder, and write the fixture."""
    cfg = json.loads((args.fixture_from / "ensemble.json").read_text())
    specs, settings = [], {}
    for entry in cfg["models"]:
        c = json.loads((args.fixture_from / entry["model"] / "config.json").read_text())
        spec = MemberSpec(entry["model"], tuple(f"{b['name']}:{b['variant']}" for b in c["backbones"]),
                          tuple(f"{p['name']}:{p['variant']}" for p in c["priors"] or []))
        specs.append(spec)
        settings[spec.name] = (c["head"]["C"], tuple(c["head"]["prior_weights"]), c["head"]["views"])
    views = sorted({v for *_, vs in settings.values() for v in vs})
    data = load_data(args, specs, views)
    data.weighting = args.weighting
    every = np.arange(len(data.tracks))
    fitted = {}
    for spec in specs:
        C, weights, member_views = settings[spec.name]
        fm = fit_member(spec, data, every, member_views, [C])
        worst = check_parity(args.fixture_from / spec.name, fm, data, C, weights)
        print(f"{spec.name}: refit with C={C:g}, prior weights {weights}, views {member_views}; max |folder - refit| "
              f"track probability {worst:.1e}")
        if worst > 1e-4:
            raise SystemExit(f"{spec.name} is not its recorded recipe refit (other --weighting or --cache?)")
        fitted[spec.name] = (spec, fm, C, weights)
    write_fixture(args.fixture, fitted, int(cfg["models"][0].get("max_windows", args.max_windows)))


def check_parity(folder: Path, fm: FittedMember, data: Data, C: float, weights) -> float:
    """Max |exported model through the app's prediction path − this script| track probability, on a few
    GTZAN excerpts and clips and AllMusic previews (whole tracks: at most 10 windows, under max_windows)."""
    from genre_models.prediction import predict
    from genre_models.registry import load_model

    model = load_model(folder)
    pick = [t for t in data.tracks if t.kind == "excerpt"][:8] + [t for t in data.tracks if t.kind == "clip"][:2] \
        + [t for t in data.tracks if t.kind == "allmusic"][:2]
    idx = np.array([data.index[t.track_id] for t in pick])
    ref = fm.track_probs(data, idx, C, weights)
    return max(float(np.abs(predict(t.source, model).probs - r).max()) for t, r in zip(pick, ref))


__all__ = ["MEMBERS", "MemberSpec", "fit_member"]

if __name__ == "__main__":
    main()
