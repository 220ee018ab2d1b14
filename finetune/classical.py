"""Compare classical classifiers on the GTZAN 57-feature table, honestly; optionally export the shipped model.

Why: published results on this table (70.4 % AdaBoost over random forests, 74.4 % MLP) use random splits,
which put tracks of the same artist/album on both sides and flatter every model.  This script reports two
protocols side by side:

1. **random**: stratified, shuffled 5-fold CV (seeded) over all usable rows; every step that learns from data
   (the standardiser included) sits inside a ``Pipeline`` and is refit per fold.
2. **filtered**: the artist-filtered split of Kereliuk, Sturm & Larsen: the chosen setting is refit on
   *train+valid* and scored once on *test*.  Test is never used for any choice.

**Selection protocol** (test tracks are never touched).  Accuracy on the 183-track filtered valid split alone
is noisy (about +-0.037 s.e.) and, used alone, picked over-regularised settings.  Every choice -- each model's
hyper-parameters, the soft vote's composition and its part weights -- therefore maximises the *selection score*

    score = mean( filtered-valid accuracy after fitting on filtered-train,
                  stratified 5-fold CV accuracy (shuffled, seeded) over filtered train+valid )

i.e. one artist-disjoint estimate and one lower-variance (but artist-leaky) estimate, both on the 613
train+valid tracks only.  Ties go to the earlier (simpler) grid entry.  The vote's members are the
score-chosen LR / LDA / XGBoost / MLP bag; their held-out probabilities (valid, and out-of-fold on
train+valid) are cached, so the part weights in {0, 1, 2} (0 = left out) are chosen on the same score
without refitting; equal weights over all four win ties.  The XGBoost grid is bounded so that the exported
``xgb.json`` stays within the folder's ~6 MB budget (trees x nodes roughly constant).

The random CV reuses the settings chosen by this score (no nested tuning: train+valid tracks are part of the
CV pool, so the random figures carry a little selection optimism).

``--export DIR`` additionally refits the shipped recipe (the score-chosen soft vote of LR / LDA / XGBoost / an
MLP bag) on every usable
row and writes a pickle-free Hugging Face-style folder (see ``genre_models/features_model.py``), checking
that the exported model reproduces the training-time estimator's probabilities.

Run from the repo root::

    python finetune/classical.py                     # full comparison (a few minutes on 2 cores)
    python finetune/classical.py --quick             # subset smoke run (< 1 min)
    python finetune/classical.py --export genre_models/pretrained/gtzan-features
    python finetune/classical.py --export genre_models/pretrained/gtzan-features --refit   # no search

``--refit`` skips the search: it takes the recipe recorded in the export folder's ``config.json``
(or ``--recipe_from``), re-measures that one recipe by both protocols on the table as it is now,
writes ``refit.md``/``refit.json`` and exports it. Use it when the table changes and the recipe
must stay (the search itself is not re-run, so no choice is made on the new table).

Every exported folder records the table rows it was fit on (``config.json`` ``training.track_record``,
canonical track ids, see ``finetune/provenance.py``), so no one scores it on those tracks by mistake.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # members run in parallel processes; avoid BLAS oversubscription
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import hashlib
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from joblib import Parallel, delayed  # noqa: E402  (parallelism only; nothing is saved with joblib)
from sklearn.base import clone  # noqa: E402
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    AdaBoostClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_predict  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402
from xgboost import XGBClassifier  # noqa: E402

from genre_models.features_model import FeaturesModel, transform_features  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("GENRE_SHARED_DATA", REPO.parent / "shared" / "data")) / "gtzan"
CORRUPT = {"jazz.00054.wav"}  # known-corrupt GTZAN clip: excluded everywhere


@dataclass
class Args:
    """Command-line arguments (parsed by ``transformers.HfArgumentParser`` when available)."""

    data_dir: str = field(default=str(DEFAULT_DATA), metadata={"help": "folder with features_30_sec.csv and splits/"})
    out: str = field(default="finetune/results/classical", metadata={"help": "where results.md/json and the PNG go"})
    export: str | None = field(default=None, metadata={"help": "also write the shipped model folder here"})
    quick: bool = field(default=False, metadata={"help": "subset of models, one setting each, 2 MLP seeds"})
    seed: int = field(default=0, metadata={"help": "seed of the CV shuffle and of every model"})
    folds: int = field(default=5, metadata={"help": "random stratified CV folds"})
    mlp_seeds: int = field(default=5, metadata={"help": "MLPs (different seeds) averaged in the shipped ensemble"})
    n_jobs: int = field(default=2, metadata={"help": "parallel processes"})
    refit: bool = field(default=False, metadata={
        "help": "no search: re-measure and export the recipe recorded in --recipe_from (default: the --export "
                "folder's config.json)"})
    recipe_from: str | None = field(default=None, metadata={
        "help": "model folder whose config.json recipe --refit uses"})


def parse_args(argv: list[str] | None = None) -> Args:
    """HfArgumentParser when transformers is installed (the project's convention), else argparse."""
    try:
        from transformers import HfArgumentParser
    except Exception:  # pragma: no cover - fallback when transformers is absent/broken
        import argparse

        p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
        for name, f in Args.__dataclass_fields__.items():
            flag = "--" + name
            if f.type in ("bool", bool):
                p.add_argument(flag, action="store_true", help=f.metadata.get("help"))
            else:
                typ = int if f.type in ("int", int) else str
                p.add_argument(flag, type=typ, default=f.default, help=f.metadata.get("help"))
        return Args(**vars(p.parse_args(argv)))
    (args,) = HfArgumentParser(Args).parse_args_into_dataclasses(args=argv)
    return args


# ----------------------------------------------------------------------------- data
@dataclass
class Data:
    """The usable table rows, their labels and the filtered-split masks."""

    X: np.ndarray            # (n, 57) raw features
    y: np.ndarray            # (n,) label ids
    filenames: list[str]
    labels: list[str]
    feature_names: list[str]
    split: dict[str, np.ndarray]       # name -> boolean mask over rows
    split_report: dict[str, dict]      # listed / missing from table / excluded corrupt / used


def load_data(data_dir: str | os.PathLike) -> Data:
    """Read the table, drop the corrupt clip, and map the artist-filtered lists (by basename) onto rows."""
    data_dir = Path(data_dir)
    df = pd.read_csv(data_dir / "features_30_sec.csv")
    df = df[~df["filename"].isin(CORRUPT)].reset_index(drop=True)
    feature_names = [c for c in df.columns if c not in ("filename", "length", "label")]
    if len(feature_names) != 57:
        raise ValueError(f"expected 57 feature columns, found {len(feature_names)}")
    try:
        from genre_models.labels import GTZAN_GENRES
        labels = list(GTZAN_GENRES)
    except ImportError:  # pragma: no cover
        labels = sorted(df["label"].unique())
    if set(df["label"]) - set(labels):
        raise ValueError(f"unknown labels {set(df['label']) - set(labels)}")
    y = df["label"].map({lab: i for i, lab in enumerate(labels)}).to_numpy()
    names = set(df["filename"])
    split, report = {}, {}
    for part in ("train", "valid", "test"):
        listed = [os.path.basename(line.strip())
                  for line in (data_dir / "splits" / f"{part}_filtered.txt").read_text().splitlines() if line.strip()]
        corrupt = [f for f in listed if f in CORRUPT]
        missing = [f for f in listed if f not in names and f not in CORRUPT]
        split[part] = df["filename"].isin(set(listed)).to_numpy()
        report[part] = {"listed": len(listed), "missing_from_table": len(missing), "corrupt_excluded": len(corrupt),
                        "used": int(split[part].sum()), "missing_files": missing}
    if (split["train"] & split["test"]).any() or (split["valid"] & split["test"]).any():
        raise ValueError("filtered splits overlap")
    return Data(df[feature_names].to_numpy(np.float64), y, list(df["filename"]), labels, feature_names, split, report)


def log_features(feature_names: list[str]) -> list[str]:
    """The variance columns (``*_var``): strictly positive, skewed over orders of magnitude -> log scale."""
    return [n for n in feature_names if n.endswith("_var")]


# ----------------------------------------------------------------------------- models
def mlp(hidden: tuple[int, ...], alpha: float, seed: int) -> MLPClassifier:
    return MLPClassifier(hidden_layer_sizes=hidden, alpha=alpha, max_iter=3000, random_state=seed)


def xgb(seed: int, **kw: Any) -> XGBClassifier:
    params = dict(n_estimators=300, learning_rate=0.05, max_depth=3, subsample=0.8, colsample_bytree=0.5,
                  min_child_weight=1.0, reg_lambda=1.0, tree_method="hist", n_jobs=1, random_state=seed)
    params.update(kw)
    return XGBClassifier(**params)


def soft_vote(parts: tuple[str, ...], lr_C: float, lda_shrinkage: float, xgb_kw: dict, mlp_alpha: float,
              mlp_hidden: tuple[int, ...], n_mlp: int, seed: int,
              part_weights: dict[str, float] | None = None) -> VotingClassifier:
    """Soft vote of the named parts ("lr", "lda", "xgb", "mlp"); the MLP bag shares its part's vote.

    ``part_weights`` maps part -> weight (missing parts: 1.0; default: equal weights).  Every part is exportable
    without pickle (linear softmax, ReLU MLP, XGBoost JSON), so any vote can ship.
    """
    pw = dict(part_weights or {})
    members: list[tuple[str, Any]] = []
    weights: list[float] = []
    for part in parts:
        w = float(pw.get(part, 1.0))
        if part == "mlp":
            members += [(f"mlp{i}", mlp(mlp_hidden, mlp_alpha, seed + i)) for i in range(n_mlp)]
            weights += [w / n_mlp] * n_mlp
            continue
        if part == "lr":
            members.append(("lr", LogisticRegression(C=lr_C, max_iter=5000)))
        elif part == "lda":
            members.append(("lda", LinearDiscriminantAnalysis(solver="lsqr", shrinkage=lda_shrinkage)))
        elif part == "xgb":
            members.append(("xgb", xgb(seed, **xgb_kw)))
        else:
            raise ValueError(f"unknown vote part {part!r}")
        weights.append(w)
    return VotingClassifier(members, voting="soft", weights=weights)


def fit_vote(parts: tuple[str, ...], recipe: dict, Z: np.ndarray, y: np.ndarray
             ) -> tuple[StandardScaler, VotingClassifier, list[tuple[str, Any, float]]]:
    """The scaler and the soft vote fitted on preprocessed features ``Z``, and the vote's fitted
    ``(name, estimator, weight)`` members as :meth:`FeaturesModel.from_estimators` takes them."""
    scaler = StandardScaler().fit(Z)
    vote = soft_vote(parts, **recipe).fit(scaler.transform(Z), y)
    members = [(name, est, w) for (name, _), est, w in zip(vote.estimators, vote.estimators_, vote.weights)]
    return scaler, vote, members


def mlp_bag(hidden: tuple[int, ...], alpha: float, n: int, seed: int) -> VotingClassifier:
    """n MLPs (seeds seed..seed+n-1) averaged: the MLP part of the vote, tuned and reported as one model."""
    return VotingClassifier([(f"mlp{i}", mlp(hidden, alpha, seed + i)) for i in range(n)], voting="soft")


def vote_name(parts: tuple[str, ...], weights: dict[str, float] | None = None) -> str:
    if weights and len({weights[p] for p in parts}) > 1:
        return "vote(" + "+".join(f"{weights[p]:g}*{p}" for p in parts) + ")"
    return f"vote({'+'.join(parts)})"


PARTS: tuple[str, ...] = ("lr", "lda", "xgb", "mlp")
PART_MODEL = {"lr": "logistic regression", "lda": "LDA (shrinkage)", "xgb": "XGBoost", "mlp": "MLP"}
WEIGHT_LEVELS: tuple[float, ...] = (0.0, 1.0, 2.0)  # per vote part; 0 leaves the part out


def candidates(args: Args) -> dict[str, tuple[Callable[..., Any], list[dict]]]:
    """Model name -> (factory(**params), grid of params tried with the selection score)."""
    s, q = args.seed, args.quick
    n_mlp = 2 if q else args.mlp_seeds
    grids: dict[str, tuple[Callable[..., Any], list[dict]]] = {
        "kNN": (lambda k: KNeighborsClassifier(n_neighbors=k, weights="distance"),
                [{"k": 10}] if q else [{"k": k} for k in (5, 10, 20)]),
        "logistic regression": (lambda C: LogisticRegression(C=C, max_iter=5000),
                                [{"C": 0.3}] if q else [{"C": C} for C in (0.03, 0.1, 0.3, 1.0)]),
        "LDA (shrinkage)": (lambda sh: LinearDiscriminantAnalysis(solver="lsqr", shrinkage=sh),
                            [{"sh": 0.1}] if q else [{"sh": v} for v in (0.03, 0.1, 0.3)]),
        "SVM (RBF)": (lambda C: SVC(C=C, kernel="rbf", gamma="scale", probability=True, random_state=s),
                      [{"C": 3.0}] if q else [{"C": C} for C in (1.0, 3.0, 10.0)]),
        "random forest": (lambda mf: RandomForestClassifier(500, max_features=mf, random_state=s, n_jobs=1),
                          [{"mf": "sqrt"}] if q else [{"mf": "sqrt"}, {"mf": 0.3}]),
        "AdaBoost (over random forests)": (
            lambda d: AdaBoostClassifier(RandomForestClassifier(50, max_depth=d, random_state=s, n_jobs=1),
                                         n_estimators=10, random_state=s),
            [{"d": 6}] if q else [{"d": 4}, {"d": 8}]),
        "gradient boosting (sklearn HistGB)": (
            lambda lr: HistGradientBoostingClassifier(learning_rate=lr, max_iter=200, early_stopping=False,
                                                      random_state=s),
            [{"lr": 0.1}] if q else [{"lr": 0.05}, {"lr": 0.1}]),
        # trees x nodes kept roughly constant so the exported xgb.json stays within the ~6 MB folder budget
        "XGBoost": (lambda md, ne, eta: xgb(s, max_depth=md, n_estimators=ne, learning_rate=eta),
                    [{"md": 3, "ne": 300, "eta": 0.05}] if q else
                    [{"md": 2, "ne": 300, "eta": 0.05}, {"md": 2, "ne": 600, "eta": 0.03},
                     {"md": 3, "ne": 300, "eta": 0.05}, {"md": 4, "ne": 150, "eta": 0.1}]),
        "MLP": (lambda h, a: mlp_bag(h, a, n_mlp, s),
                [{"h": (256,), "a": 1.0}] if q else
                [{"h": (256,), "a": a} for a in (0.3, 1.0, 3.0)]),
    }
    if q:
        for k in ("SVM (RBF)", "random forest", "AdaBoost (over random forests)", "gradient boosting (sklearn HistGB)"):
            grids.pop(k)
    return grids


def pipe(est: Any) -> Pipeline:
    """Standardise inside the pipeline so each CV fold / split fits its own scaler."""
    return Pipeline([("scale", StandardScaler()), ("clf", est)])


# ----------------------------------------------------------------------------- evaluation
def scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {"accuracy": float(accuracy_score(y, pred)), "macro_f1": float(f1_score(y, pred, average="macro"))}


def selection_splits(data: Data, args: Args) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, held-out rows) index pairs for the selection score: [train -> valid] + 5 CV folds of train+valid."""
    tr, va = np.flatnonzero(data.split["train"]), np.flatnonzero(data.split["valid"])
    trva = np.flatnonzero(data.split["train"] | data.split["valid"])
    cv = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    return [(tr, va)] + [(trva[a], trva[b]) for a, b in cv.split(trva, data.y[trva])]


def _fit_proba(factory: Callable[..., Any], params: dict, Z: np.ndarray, y: np.ndarray, fit: np.ndarray,
               held: np.ndarray) -> np.ndarray:
    return pipe(factory(**params)).fit(Z[fit], y[fit]).predict_proba(Z[held])


@dataclass
class Held:
    """Held-out probabilities of one fitted setting: on valid (fit on train) and out-of-fold on train+valid."""

    p_valid: np.ndarray
    p_cv: np.ndarray  # rows in train+valid order (np.flatnonzero(train | valid))


def held_out(factory: Callable[..., Any], grid: list[dict], Z: np.ndarray, data: Data, args: Args) -> list[Held]:
    splits = selection_splits(data, args)
    probs = Parallel(n_jobs=args.n_jobs)(delayed(_fit_proba)(factory, p, Z, data.y, f, h)
                                         for p in grid for f, h in splits)
    trva = np.flatnonzero(data.split["train"] | data.split["valid"])
    pos = {r: i for i, r in enumerate(trva)}
    out = []
    for g in range(len(grid)):
        ps = probs[g * len(splits):(g + 1) * len(splits)]
        p_cv = np.zeros((len(trva), ps[0].shape[1]))
        for (_, h), p in zip(splits[1:], ps[1:]):
            p_cv[[pos[r] for r in h]] = p
        out.append(Held(ps[0], p_cv))
    return out


def selection_score(h: Held, data: Data) -> dict[str, float]:
    """The selection criterion: mean of filtered-valid accuracy and train+valid 5-fold CV accuracy."""
    va = data.split["valid"]
    trva = data.split["train"] | va
    a = float(accuracy_score(data.y[va], h.p_valid.argmax(1)))
    b = float(accuracy_score(data.y[trva], h.p_cv.argmax(1)))
    return {"valid_accuracy": a, "trainvalid_cv_accuracy": b, "score": (a + b) / 2}


def combine(helds: dict[str, Held], weights: dict[str, float]) -> Held:
    """Held-out probabilities of a soft vote = weighted mean of its parts' (each part is fit independently)."""
    w = {k: v for k, v in weights.items() if v > 0}
    tot = sum(w.values())
    return Held(sum(w[k] * helds[k].p_valid for k in w) / tot, sum(w[k] * helds[k].p_cv for k in w) / tot)


def tune(name: str, factory: Callable[..., Any], grid: list[dict], Z: np.ndarray, data: Data,
         args: Args) -> tuple[int, list[dict], list[Held]]:
    """Score every setting; the best selection score wins, ties go to the earlier (simpler) setting."""
    helds = held_out(factory, grid, Z, data, args)
    tried = [{"params": _jsonable(p)} | selection_score(h, data) for p, h in zip(grid, helds)]
    best = max(range(len(grid)), key=lambda i: (tried[i]["score"], -i))
    return best, tried, helds


def evaluate(est: Any, Z: np.ndarray, data: Data, args: Args) -> dict[str, Any]:
    """Random stratified k-fold CV + filtered (refit on train+valid, score test) for one fixed estimator."""
    t0 = time.time()
    cv = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    p_cv = cross_val_predict(pipe(clone(est)), Z, data.y, cv=cv, n_jobs=args.n_jobs, method="predict_proba")
    tr, va, te = data.split["train"], data.split["valid"], data.split["test"]
    trva = tr | va
    p_test = pipe(clone(est)).fit(Z[trva], data.y[trva]).predict_proba(Z[te])
    return finish_eval(p_cv, p_test, data) | {"seconds": time.time() - t0}


def finish_eval(p_cv: np.ndarray, p_test: np.ndarray, data: Data) -> dict[str, Any]:
    te = data.split["test"]
    return {"random_cv": scores(data.y, p_cv.argmax(1)), "filtered_test": scores(data.y[te], p_test.argmax(1)),
            "test_pred": p_test.argmax(1), "p_cv": p_cv, "p_test": p_test}


def evaluate_vote(rows: dict[str, dict], weights: dict[str, float], data: Data) -> dict[str, Any]:
    """A soft vote's random-CV and test probabilities = weighted mean of its parts' (same folds, same refits).

    Exact: ``VotingClassifier`` fits each member independently on the same standardised rows.
    """
    w = {p: v for p, v in weights.items() if v > 0}
    tot = sum(w.values())
    p_cv = sum(v * rows[PART_MODEL[p]]["p_cv"] for p, v in w.items()) / tot
    p_test = sum(v * rows[PART_MODEL[p]]["p_test"] for p, v in w.items()) / tot
    return finish_eval(p_cv, p_test, data) | {"seconds": 0.0}


def _jsonable(p: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}


def choose_vote(helds: dict[str, Held], data: Data) -> tuple[dict[str, float], list[dict]]:
    """Part weights in WEIGHT_LEVELS (0 = out) by the selection score; equal weights over all parts win ties."""
    import itertools

    seen, order = set(), [tuple(1.0 for _ in PARTS)]
    order += [w for w in itertools.product(WEIGHT_LEVELS, repeat=len(PARTS)) if any(w)]
    tried, best, best_score = [], None, -1.0
    for w in order:
        m = max(w)
        key = tuple(round(x / m, 6) for x in w)  # argmax of a soft vote is scale-invariant
        if key in seen:
            continue
        seen.add(key)
        weights = dict(zip(PARTS, w))
        sc = selection_score(combine(helds, weights), data)
        tried.append({"weights": weights} | sc)
        if sc["score"] > best_score:
            best, best_score = weights, sc["score"]
    return best, tried


def recorded_recipe(folder: str | os.PathLike) -> tuple[tuple[str, ...], dict]:
    """``(parts, recipe)`` of an exported folder's ``config.json`` (``training.recipe``), as
    :func:`soft_vote` takes them (part weights inside the recipe)."""
    recipe = dict(json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))["training"]["recipe"])
    parts = tuple(recipe.pop("parts"))
    recipe["mlp_hidden"] = tuple(recipe["mlp_hidden"])
    return parts, recipe


def refit(args: Args) -> dict[str, Any]:
    """``--refit``: the recorded recipe, re-measured (random CV, filtered test, selection score) and
    exported, without any search."""
    warnings.filterwarnings("ignore", category=UserWarning)
    if not args.export:
        raise SystemExit("--refit needs --export DIR (the folder to write; its config.json gives the recipe "
                         "unless --recipe_from is set)")
    t_start = time.time()
    data = load_data(args.data_dir)
    Z = transform_features(data.X, data.feature_names, log_features(data.feature_names))
    parts, recipe = recorded_recipe(args.recipe_from or args.export)
    name = vote_name(parts, recipe.get("part_weights"))
    factory = lambda: soft_vote(parts, **recipe)  # noqa: E731
    measured = evaluate(factory(), Z, data, args)
    (held,) = held_out(factory, [{}], Z, data, args)
    measured["selection"] = selection_score(held, data)
    sc = {k: {kk: vv for kk, vv in v.items() if kk != "missing_files"} for k, v in data.split_report.items()}
    summary = {"recipe": name, "parts": list(parts), "params": _jsonable(recipe), "rows_used": int(len(data.y)),
               "split_counts": sc, "random_cv": measured["random_cv"], "filtered_test": measured["filtered_test"],
               "selection": measured["selection"], "seed": args.seed,
               "command": f"python finetune/classical.py --export {args.export} --refit"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = (f"# Refit of the shipped recipe on the current table (no search)\n\n"
          f"Recipe {name}: {_jsonable(recipe)}. Rows: {summary['rows_used']}. Filtered train/valid/test used: "
          f"{sc['train']['used']}/{sc['valid']['used']}/{sc['test']['used']}.\n\n"
          "| protocol | accuracy | macro-F1 |\n|---|---|---|\n"
          f"| random stratified {args.folds}-fold CV (seed {args.seed}) | {measured['random_cv']['accuracy']:.3f} | "
          f"{measured['random_cv']['macro_f1']:.3f} |\n"
          f"| artist-filtered: train+valid -> test | {measured['filtered_test']['accuracy']:.3f} | "
          f"{measured['filtered_test']['macro_f1']:.3f} |\n\n"
          f"Selection score of this recipe on the new table: {measured['selection']['score']:.3f} (valid "
          f"{measured['selection']['valid_accuracy']:.3f}, train+valid CV "
          f"{measured['selection']['trainvalid_cv_accuracy']:.3f}); "
          "nothing was chosen with it. Command: `" + summary["command"] + "`.\n")
    (out / "refit.md").write_text(md, encoding="utf-8")
    (out / "refit.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot_confusion(data.y[data.split["test"]], measured["test_pred"], data.labels,
                   out / "refit_confusion_filtered_test.png",
                   f"{name} (shipped recipe), filtered test (fit on train+valid), acc "
                   f"{measured['filtered_test']['accuracy']:.3f}, {summary['rows_used']}-row table")
    print(md)
    export(args, data, Z, parts, recipe, measured)
    print(f"total {time.time() - t_start:.0f} s; refit figures in {out}/refit.md")
    return summary


def run(args: Args) -> dict[str, Any]:
    """Choose every candidate by the selection score, evaluate, build the ensembles, write the outputs."""
    if args.refit:
        return refit(args)
    warnings.filterwarnings("ignore", category=UserWarning)
    t_start = time.time()
    data = load_data(args.data_dir)
    Z = transform_features(data.X, data.feature_names, log_features(data.feature_names))
    rows: dict[str, dict[str, Any]] = {}
    chosen: dict[str, dict] = {}
    best_held: dict[str, Held] = {}
    for name, (factory, grid) in candidates(args).items():
        t0 = time.time()
        best, tried, helds = tune(name, factory, grid, Z, data, args)
        chosen[name], best_held[name] = grid[best], helds[best]
        res = evaluate(factory(**grid[best]), Z, data, args)
        res.update(params=_jsonable(grid[best]), selection=tried[best], tried=tried)
        res["seconds"] += time.time() - t0
        rows[name] = res
        _log_row(name, res)

    # The vote over the score-chosen members; composition and part weights by the same score.
    x_p, mlp_p = chosen["XGBoost"], chosen["MLP"]
    recipe = dict(lr_C=chosen["logistic regression"]["C"], lda_shrinkage=chosen["LDA (shrinkage)"]["sh"],
                  xgb_kw=dict(max_depth=x_p["md"], n_estimators=x_p["ne"], learning_rate=x_p["eta"]),
                  mlp_alpha=mlp_p["a"], mlp_hidden=tuple(mlp_p["h"]), n_mlp=2 if args.quick else args.mlp_seeds,
                  seed=args.seed)
    part_held = {p: best_held[PART_MODEL[p]] for p in PARTS}
    weights, vote_tried = choose_vote(part_held, data)
    ship_parts = tuple(p for p in PARTS if weights[p] > 0)
    ship_weights = {p: weights[p] for p in ship_parts}
    shipped = vote_name(ship_parts, ship_weights)
    equal = {p: 1.0 for p in PARTS}
    # The vote's figures come from its parts' cached probabilities (exact; see evaluate_vote), no refit needed.
    ensembles = {shipped: ship_weights}
    if shipped != vote_name(PARTS) and not args.quick:
        ensembles[vote_name(PARTS)] = equal
    for name, w in ensembles.items():
        res = evaluate_vote(rows, w, data)
        res.update(params={}, selection=selection_score(combine(part_held, w), data), tried=[])
        rows[name] = res
        _log_row(name, res)
    ship_recipe = _jsonable(recipe) | {"parts": list(ship_parts), "part_weights": ship_weights}
    rows[shipped]["params"] = {"recipe": ship_recipe}
    rows[shipped]["tried"] = vote_tried

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "protocol": {
            "rows_used": int(len(data.y)),
            "excluded": sorted(CORRUPT),
            "features": "57 columns; log of the 28 *_var columns; StandardScaler fitted inside each fold/split",
            "random_cv": f"StratifiedKFold(n_splits={args.folds}, shuffle=True, random_state={args.seed}) "
                         "over all rows",
            "selection": "every hyper-parameter, the vote's composition and its part weights maximise the selection "
                         "score = mean(filtered-valid accuracy after fitting on filtered-train, stratified "
                         f"{args.folds}-fold CV accuracy (shuffle, seed {args.seed}) over filtered train+valid); "
                         "test tracks are never used for a choice; ties go to the earlier grid entry",
            "filtered": "score-chosen setting refit on filtered train+valid; scored once on filtered-test",
            "random_cv_hyperparameters": "the ones chosen by the selection score (no nested tuning)",
            "split_counts": {k: {kk: vv for kk, vv in v.items() if kk != "missing_files"}
                             for k, v in data.split_report.items()},
            "missing_from_table": {k: v["missing_files"] for k, v in data.split_report.items()},
            "quick": args.quick,
            "seed": args.seed,
        },
        "published_random_split_baselines": {"AdaBoost over random forests": 0.704, "MLP": 0.744},
        "shipped_recipe": shipped,
        "shipped_selection": "the soft vote of the score-chosen LR / LDA / XGBoost / MLP bag whose part weights in "
                             f"{list(WEIGHT_LEVELS)} (0 = left out) maximise the selection score "
                             "(equal weights over all four win ties)",
        "models": {k: {kk: vv for kk, vv in v.items() if kk not in ("test_pred", "p_cv", "p_test")}
                   for k, v in rows.items()},
    }
    md = to_markdown(summary)
    (out / "results.md").write_text(md, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot_confusion(data.y[data.split["test"]], rows[shipped]["test_pred"], data.labels,
                   out / "confusion_filtered_test.png",
                   f"{shipped} (shipped), filtered test (fit on train+valid), acc "
                   f"{rows[shipped]['filtered_test']['accuracy']:.3f}")
    print(md)
    if args.export:
        export(args, data, Z, ship_parts, recipe | {"part_weights": ship_weights}, rows[shipped])
    print(f"total {time.time() - t_start:.0f} s; results in {out}/")
    return summary


def _log_row(name: str, r: dict) -> None:
    sel = r["selection"]
    print(f"  {name:38s} score {sel['score']:.3f} (valid {sel['valid_accuracy']:.3f}, "
          f"tv-cv {sel['trainvalid_cv_accuracy']:.3f})  "
          f"random {r['random_cv']['accuracy']:.3f}  test {r['filtered_test']['accuracy']:.3f}  "
          f"({r['seconds']:.0f} s)", flush=True)


def to_markdown(s: dict) -> str:
    """The comparison table, with the protocol spelled out under it."""
    p = s["protocol"]
    lines = ["| model | chosen setting | selection: valid acc (fit train) | selection: train+valid 5-fold acc "
             "| selection score | random 5-fold acc | random macro-F1 | filtered test acc | filtered test macro-F1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in s["models"].items():
        prm = (", ".join(f"{k}={v}" for k, v in r["params"].items() if k != "recipe")
               or ("see below" if r["params"] else ""))
        bold = "**" if name == s["shipped_recipe"] else ""
        sel = r["selection"]
        lines.append(f"| {bold}{name}{bold} | {prm} | {sel['valid_accuracy']:.3f} | "
                     f"{sel['trainvalid_cv_accuracy']:.3f} | "
                     f"{sel['score']:.3f} | {r['random_cv']['accuracy']:.3f} | {r['random_cv']['macro_f1']:.3f} | "
                     f"{r['filtered_test']['accuracy']:.3f} | "
                     f"{r['filtered_test']['macro_f1']:.3f} |")
    sc = p["split_counts"]
    lines += [
        "",
        f"Rows: {p['rows_used']} (table minus {', '.join(p['excluded'])}). Features: {p['features']}.",
        f"Selection (test never used): {p['selection']}.",
        f"Random: {p['random_cv']}; hyper-parameters = {p['random_cv_hyperparameters']}.",
        f"Filtered (Kereliuk/Sturm artist-filtered): {p['filtered']}. Tracks used train/valid/test = "
        f"{sc['train']['used']}/{sc['valid']['used']}/{sc['test']['used']} of listed "
        f"{sc['train']['listed']}/{sc['valid']['listed']}/{sc['test']['listed']} "
        f"(missing from the table: {sc['train']['missing_from_table']}/{sc['valid']['missing_from_table']}/"
        f"{sc['test']['missing_from_table']}; corrupt excluded: {sc['train']['corrupt_excluded']}/"
        f"{sc['valid']['corrupt_excluded']}/{sc['test']['corrupt_excluded']}).",
        f"Shipped recipe (bold) = {s['shipped_selection']}: {s['shipped_recipe']} with "
        f"{s['models'][s['shipped_recipe']]['params'].get('recipe')}.",
        "vote(lr+lda+xgb+mlp), when not the shipped row, is the equal-weight vote of the same score-chosen members, "
        "shown for comparison only (its test figures were not used to choose anything). Vote rows are computed from "
        "their members' cached out-of-fold / test probabilities (exactly what the fitted VotingClassifier gives).",
        "Published random-split figures on this table: AdaBoost over random forests 0.704, MLP 0.744.",
    ]
    if p["quick"]:
        lines.append("**--quick run: subset of models and settings; not the reported figures.**")
    return "\n".join(lines) + "\n"


def plot_confusion(y: np.ndarray, pred: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix with counts, for the model we ship."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion_matrix(y, pred, labels=range(len(labels)))
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- export
def export(args: Args, data: Data, Z: np.ndarray, parts: tuple[str, ...], recipe: dict,
           measured: dict) -> FeaturesModel:
    """Refit the shipped recipe on every usable row, convert to a pickle-free folder, check parity."""
    if args.quick:
        raise SystemExit("--export needs the full run (the folder records the measured figures)")
    from finetune.provenance import RECORD_KEY, track_record

    scaler, vote, members = fit_vote(parts, recipe, Z, data.y)
    Zs = scaler.transform(Z)
    table = Path(args.data_dir) / "features_30_sec.csv"
    record = track_record({"train": data.filenames}, {
        "dataset": "GTZAN features_30_sec.csv", "split": "all usable rows (no validation or test rows: the shipped "
        "model is the recipe refit on everything)", "rows": int(len(data.y)), "excluded": sorted(CORRUPT),
        "table_sha256": hashlib.sha256(table.read_bytes()).hexdigest(), "seed": args.seed})
    extra = {
        "architecture": vote_words(parts, recipe),
        "training": {
            "data": "GTZAN features_30_sec.csv (librosa features of whole 30-s clips)",
            "rows": int(len(data.y)), "excluded": sorted(CORRUPT),
            "recipe": _jsonable(recipe) | {"parts": list(parts)},
            "hyperparameter_selection": "each member's setting, the vote's composition and part weights maximise "
                                        "mean(filtered-valid accuracy after fitting on filtered train, stratified "
                                        "5-fold CV accuracy over filtered train+valid); the selection score never "
                                        "reads test, but the feature transform (log of the *_var columns) and the "
                                        "candidate families were settled during development while filtered-test "
                                        "figures were visible",
            "command": f"python finetune/classical.py --export {args.export}" + (" --refit" if args.refit else ""),
            RECORD_KEY: record,
        },
        "metrics": {
            "random_5fold": measured["random_cv"],
            "filtered_test": measured["filtered_test"],
            "selection_score": measured["selection"],
            "notes": "random: StratifiedKFold(5, shuffle, seed 0), scaler inside folds; filtered: Kereliuk/Sturm "
                     "artist-filtered split, hyper-parameters chosen by the selection score, refit on train+valid "
                     f"({int((data.split['train'] | data.split['valid']).sum())} rows), scored on test "
                     f"({int(data.split['test'].sum())} tracks). Exported model itself is fit on all rows."
                     + (" Refit without a search: the recipe comes from an earlier search "
                        "(finetune/results/classical/results.md) and was only re-measured on this table "
                        "(finetune/results/classical/refit.md)." if args.refit else ""),
        },
    }
    model = FeaturesModel.from_estimators(members, labels=data.labels, feature_names=data.feature_names,
                                          log_features=log_features(data.feature_names),
                                          scaler_mean=scaler.mean_, scaler_scale=scaler.scale_, extra_config=extra)
    ref = vote.predict_proba(Zs)
    got = model.predict_proba(data.X)
    diff = float(np.abs(ref - got).max())
    if diff > 1e-5:
        raise SystemExit(f"parity check failed: max |p_export - p_sklearn| = {diff:.2e}")
    model.config["metrics"]["parity_max_abs_diff"] = diff
    model.config["metrics"]["training_accuracy"] = float((got.argmax(1) == data.y).mean())
    model.model_card = model_card(model.config)
    dest = Path(args.export)
    if dest.is_dir():  # drop a previous export's files (e.g. an xgb.json the new recipe no longer uses)
        for f in dest.iterdir():
            if f.is_file() and (f.suffix in (".json", ".safetensors") or f.name == "README.md"):
                f.unlink()
    model.save_pretrained(args.export)
    reloaded = FeaturesModel.from_pretrained(args.export)
    diff2 = float(np.abs(reloaded.predict_proba(data.X) - ref).max())
    if diff2 > 1e-5:
        raise SystemExit(f"reload parity check failed: {diff2:.2e}")
    size = sum(f.stat().st_size for f in Path(args.export).iterdir())
    print(f"exported {args.export} ({size / 1e6:.2f} MB); parity max abs diff {diff:.1e} (reloaded {diff2:.1e})")
    if Path(args.export).resolve() == (REPO / "genre_models" / "pretrained" / "gtzan-features").resolve():
        write_parity_fixture(reloaded, vote, scaler, Path(args.export), PARITY_FIXTURE)
    return model


PARITY_FIXTURE = REPO / "tests" / "fixtures" / "gtzan_features_parity.json"


def write_parity_fixture(model: FeaturesModel, vote: VotingClassifier, scaler: StandardScaler, folder: Path,
                         path: Path) -> None:
    """Inputs that are not GTZAN (the features of the project's own CC0 examples, first 30 s, and
    rows spread around the training mean) with the probabilities of the scikit-learn estimators this
    model was exported from: ``tests/test_shipped_models.py`` checks the shipped numpy inference
    against them without the data or a refit."""
    from genre_models.audio import load_audio
    from genre_models.features import extract_features

    rows, names = [], []
    for f in sorted((REPO / "examples").iterdir()):
        if f.suffix in (".mp3", ".ogg", ".flac"):
            y = load_audio(f, 22050)[: 30 * 22050]
            rows.append(extract_features(y, 22050))
            names.append(f"examples/{f.name} (first 30 s)")
    rng = np.random.default_rng(0)
    Z = np.asarray(scaler.mean_) + np.asarray(scaler.scale_) * rng.normal(scale=1.0, size=(6, len(scaler.mean_)))
    logc = [model.feature_names.index(n) for n in model.config["preprocessing"]["log_features"]]
    Z[:, logc] = np.exp(Z[:, logc])  # back to raw variances
    rows += list(Z)
    names += [f"random row {i} around the training mean" for i in range(len(Z))]
    X = np.array(rows, dtype=np.float64)
    Zs = scaler.transform(transform_features(X, model.feature_names, model.config["preprocessing"]["log_features"]))
    ref = vote.predict_proba(Zs)
    if np.abs(model.predict_proba(X) - ref).max() > 1e-9:
        raise SystemExit("the exported model does not reproduce scikit-learn on the fixture rows")
    weights = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    path.write_text(json.dumps({"what": "features of non-GTZAN inputs and the probabilities of the scikit-learn "
                                        "estimators genre_models/pretrained/gtzan-features was exported from "
                                        "(finetune/classical.py writes this file with every export of that folder)",
                                "model_safetensors_sha256": weights, "rows": names, "X": X.tolist(),
                                "sklearn_proba": ref.tolist()}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(REPO)} ({len(X)} rows)")


def vote_words(parts: tuple[str, ...], recipe: dict) -> str:
    pw = recipe.get("part_weights") or {}
    ws = [float(pw.get(p, 1.0)) for p in parts]
    if len(set(ws)) == 1:
        return "equal-weight soft vote of " + "; ".join(describe_part(p, recipe) for p in parts)
    return "weighted soft vote of " + "; ".join(f"(weight {w:g}) {describe_part(p, recipe)}" for p, w in zip(parts, ws))


def describe_part(part: str, r: dict) -> str:
    """One vote part in words, for config.json and the model card."""
    return {"lr": f"multinomial logistic regression (C={r['lr_C']})",
            "lda": f"linear discriminant analysis (shrinkage {r['lda_shrinkage']}; softmax of its linear scores)",
            "xgb": f"XGBoost ({', '.join(f'{k}={v}' for k, v in r['xgb_kw'].items())}, subsample 0.8, colsample 0.5)",
            "mlp": f"a bag of {r['n_mlp']} ReLU MLPs (hidden {list(r['mlp_hidden'])}, L2 alpha={r['mlp_alpha']}, "
                   f"seeds {r['seed']}..{r['seed'] + r['n_mlp'] - 1}) sharing one vote"}[part]


def model_card(cfg: dict) -> str:
    """A short model card written next to the weights."""
    m, t = cfg["metrics"], cfg["training"]
    has_xgb = any(mem.get("type") == "xgboost" for mem in cfg["members"])
    tags = "[audio-classification, music-genre, gtzan" + (", xgboost]" if has_xgb else "]")
    weights = ("`model.safetensors` (numpy arrays) + `xgb.json` (XGBoost's own JSON); no pickle. Inference needs "
               "numpy, safetensors and xgboost" if has_xgb else
               "`model.safetensors` (numpy arrays); no pickle. Inference needs numpy and safetensors")
    return f"""---
library_name: numpy
tags: {tags}
license: other
---

# gtzan-features: genre classifier over 57 librosa track features

**Data.** GTZAN (Tzanetakis & Cook 2002; 10 genres, 30-s clips, 22 050 Hz) as the widely used
`features_30_sec.csv` table: {t['rows']} rows ({', '.join(t['excluded'])} excluded as corrupt).
The table is not redistributed here; no training rows are stored in this folder.

**Features.** The table's 57 columns, in `config.json` `feature_names` order: chroma, RMS, spectral centroid /
bandwidth / roll-off, zero-crossing rate, HPSS harmonic/percussive, tempo, 20 MFCCs (means and variances over the
whole 30-s clip). The 28 `*_var` columns are log-transformed, then all 57 standardised (mean/scale in `config.json`).

**Model.** {cfg['architecture'][0].upper() + cfg['architecture'][1:]}. Weights: {weights}
(`genre_models.features_model.FeaturesModel`).

**Measured (this recipe).**

| protocol | accuracy | macro-F1 |
|---|---|---|
| random stratified 5-fold CV (seed 0) | {m['random_5fold']['accuracy']:.3f} | {m['random_5fold']['macro_f1']:.3f} |
| artist-filtered split (Kereliuk/Sturm): train+valid -> test | {m['filtered_test']['accuracy']:.3f} \
| {m['filtered_test']['macro_f1']:.3f} |

{targets(m)}

**How the recipe was chosen, plainly.** The feature transform (log of the 28 `*_var` columns) and the candidate
model families were settled during development while random-CV **and filtered-test** figures were both visible,
so the filtered-test figure above is not a clean held-out figure and may be optimistic. Within those, the
hyper-parameters, the vote's members and its weights were chosen by a selection score that does not read test
(the mean of filtered-valid accuracy after fitting on filtered train and stratified 5-fold CV accuracy over
filtered train+valid); the random CV reuses those settings. See `finetune/results/classical/results.md` for
every model of that search.{refit_note(t)}

**Training rows.** The shipped weights are refit on all {t['rows']} rows (training accuracy
{m['training_accuracy']:.3f}). Their track ids (GTZAN stems) are listed in `config.json` `training.track_record`,
so `finetune/evaluate.py` and `finetune/ensemble.py` refuse to score this model on them: every track of the table,
its clips and its excerpts included, is a training track of this model. Reproduce: `{t['command']}`.

**Limitations.** Random-split accuracy overstates real performance: GTZAN repeats artists and even clips across
genre folders, has mislabelings and distortions (Sturm 2013); the artist-filtered figure is the honest one.
Ten Western genres only; trained on 30-s clips (`window_seconds` 30.0) — features of shorter or longer windows
shift the variance statistics. Features must be computed exactly as the table was (librosa defaults at 22 050 Hz).
"""


def refit_note(t: dict) -> str:
    """The card's sentence for a ``--refit`` export: the recipe was not chosen on this table."""
    if "--refit" not in t.get("command", ""):
        return ""
    return (" The recipe comes from that search on an earlier copy of the table; it was refit on this one "
            "without a new search (`finetune/results/classical/refit.md`), and the figures above are re-measured.")


def targets(m: dict) -> str:
    r, f = m["random_5fold"]["accuracy"], m["filtered_test"]["accuracy"]
    met = [r >= 0.80, f >= 0.60]
    if all(met):
        return "These meet the project's targets (0.80 random, 0.60 filtered)."
    if any(met):
        return (f"The project's targets are 0.80 random and 0.60 filtered: the {'random' if met[0] else 'filtered'} "
                f"one is met, the {'filtered' if met[0] else 'random'} one is not.")
    return "These are below the project's targets (0.80 random, 0.60 filtered)."


def main(argv: list[str] | None = None) -> None:
    run(parse_args(argv))


if __name__ == "__main__":
    main()
