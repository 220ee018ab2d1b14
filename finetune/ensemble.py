#!/usr/bin/env python
"""Learn how much to trust each model of an ensemble, on a validation split; report on test.

    python finetune/ensemble.py --models runs/cnn runs/lstm genre_models/pretrained/gtzan-features \\
        --dataset gtzan --data_dir genres_original --split filtered --output_file ensemble.json

Every model is scored exactly as the app and the CLI score it (:func:`genre_models.prediction.predict`:
the model's own window length, probabilities per window). Per model a temperature ``T`` and a
weight ``w`` are then chosen to minimise the log-loss of the ensemble's track probabilities

    p(track) = sum_m w_m · mean_windows softmax(log p_m(window) / T_m)

on the ``--fit_split`` (default ``valid``), which is what :class:`genre_models.ensemble.Ensemble`
computes at inference. A small penalty pulls ``log T`` to 0 and the weights to equal, because
validation sets are small. The learned values go into an ``ensemble.json`` that the app
(``GENRE_ENSEMBLE=ensemble.json`` or the file beside ``app.py``) and the CLI (``--ensemble``) read.

The report compares, on ``--eval_split`` (default ``test``): each model alone, the equal-weight
average, and the learned ensemble; the "best single model" is the one with the best accuracy
on the fit split, so the test split chooses nothing.

No member is scored on tracks it was trained or validated on, on the fit split *or* the eval split
(the members' track records, :mod:`finetune.provenance`): such a member would earn weight for
remembering, not for generalising. ``--allow_train_overlap`` runs anyway and the printed table and
``ensemble.json`` say so.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from genre_models.audio import AudioLoadError  # noqa: E402
from genre_models.prediction import predict  # noqa: E402
from genre_models.registry import WindowClassifier, load_model  # noqa: E402

logger = logging.getLogger("finetune.ensemble")


@dataclass
class EnsembleArguments:
    """Which models, fitted on which split, written where."""

    models: list[str] = field(metadata={"help": "model folders or Hub ids (one label set), space-separated"})
    output_file: str = field(default="ensemble.json", metadata={
        "help": "the ensemble config to write (models, weights, temperatures, and the figures behind them)"})
    fit_split: str = field(default="valid", metadata={"help": "split the weights and temperatures are learned on"})
    eval_split: str = field(default="test", metadata={"help": "split the comparison is reported on"})
    hop_seconds: float | None = field(default=None, metadata={"help": "window hop (default: each model's window)"})
    penalty: float = field(default=0.01, metadata={
        "help": "L2 pull of log-temperatures to 0 and weight logits to equal (per track, so it fades with more data)"})
    seed: int = field(default=42, metadata={"help": "seed of --split random (use the training runs' seed)"})
    token: str | None = field(default=None, metadata={"help": "Hub token for models and datasets"})
    allow_train_overlap: bool = field(default=False, metadata={
        "help": "fit and score even where a member was trained or validated on the fit/eval tracks "
                "(the output then says so); default: refuse"})


# ------------------------------------------------------------------------------------- scoring
@dataclass
class Scored:
    """Per-window probabilities of every model on the tracks of one split."""

    models: list[str]
    labels: list[str]
    y: np.ndarray  # (n_tracks,)
    windows: list[list[np.ndarray]]  # [model][track] -> (n_windows, n_labels)
    track_ids: list[str]
    skipped: list[dict[str, str]] = field(default_factory=list)


def score_split(models: Sequence[WindowClassifier], tracks: Sequence[Any], hop_seconds: float | None = None,
                max_seconds: float | None = None) -> Scored:
    """Run every model over every track (``finetune.data.Track``: ``track_id``, ``label``,
    ``read_source()``) with the app's prediction path; a track that does not decode is skipped and
    counted, for every model alike."""
    labels = list(models[0].labels)
    for m in models[1:]:
        if list(m.labels) != labels:
            raise ValueError(f"{m.name} predicts {m.labels}, {models[0].name} predicts {labels}: an ensemble is "
                             "learned over one label set (group your models and run once per group)")
    windows: list[list[np.ndarray]] = [[] for _ in models]
    y, ids, skipped = [], [], []
    for track in tracks:
        try:
            source = track.read_source()
            preds = [predict(source, m, hop_seconds=hop_seconds, max_seconds=max_seconds) for m in models]
        except AudioLoadError as err:
            skipped.append({"track_id": track.track_id, "reason": f"{err.kind}: {err}"})
            continue
        for k, p in enumerate(preds):
            windows[k].append(np.asarray(p.window_probs, dtype=np.float64))
        y.append(int(track.label))
        ids.append(track.track_id)
    return Scored([m.name for m in models], labels, np.asarray(y, dtype=np.int64), windows, ids, skipped)


# ------------------------------------------------------------------------------------- the mixture
def tempered_track_probs(windows: Sequence[np.ndarray], temperature: float) -> np.ndarray:
    """``(n_tracks, n_labels)``: each window's probabilities tempered, then averaged per track —
    the same arithmetic as ``genre_models.ensemble._with_temperature`` at inference."""
    out = []
    for w in windows:
        z = np.log(np.clip(w, 1e-12, 1.0)) / temperature
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        out.append((z / z.sum(axis=-1, keepdims=True)).mean(axis=0))
    return np.stack(out)


def mixture(scored: Scored, weights: Sequence[float], temperatures: Sequence[float]) -> np.ndarray:
    """The ensemble's track probabilities for given (unnormalised) weights and temperatures."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    return sum(wk * tempered_track_probs(scored.windows[k], t) for k, (wk, t) in enumerate(zip(w, temperatures)))


def log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-probability of the true labels (``sklearn.metrics.log_loss`` over every label).

    Probabilities are floored at 1e-12 (a sure miss costs at most 27.6 nats, whatever the model's
    dtype: scikit-learn alone would floor float32 at 1.2e-7 and float64 at 2.2e-16) and each row is
    rescaled to sum to 1 (float32 window averages are off by ~1e-7, which scikit-learn warns about).
    """
    from sklearn.metrics import log_loss as sk_log_loss

    probs = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    probs /= probs.sum(axis=1, keepdims=True)
    return float(sk_log_loss(np.asarray(y), probs, labels=np.arange(probs.shape[1])))


def set_log_loss(probs: np.ndarray, allowed: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Weighted mean of ``−log Σ_{g ∈ allowed} p(g)``: :func:`log_loss` for a set-valued label (a one-hot
    ``allowed`` row is the ordinary term; AllMusic's ``metal|pop|rock`` counts the three together).
    Same flooring and row rescaling as :func:`log_loss`."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    probs /= probs.sum(axis=1, keepdims=True)
    terms = -np.log(np.clip((probs * np.asarray(allowed, dtype=bool)).sum(axis=1), 1e-12, 1.0))
    return float(np.average(terms, weights=sample_weight))


def one_hot(y: np.ndarray, n_labels: int) -> np.ndarray:
    out = np.zeros((len(y), n_labels), dtype=bool)
    out[np.arange(len(y)), np.asarray(y, dtype=int)] = True
    return out


def fit_mixture(scored: Scored, penalty: float = 0.01, allowed: np.ndarray | None = None,
                sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Weights (summing to 1) and temperatures minimising penalised log-loss on ``scored``.

    Parameters are ``log T_m`` and weight logits ``a_m`` (``w = softmax(a)``), so both stay valid
    whatever the optimiser tries; L-BFGS from equal weights and T = 1. ``allowed`` ``(tracks, labels)``:
    set-valued labels (:func:`set_log_loss`; default: ``scored.y`` one-hot); ``sample_weight``: per track
    (e.g. so that two collections of tracks count equally whatever their sizes).
    """
    from scipy.optimize import minimize

    n = len(scored.models)
    if len(scored.y) == 0:
        raise ValueError("the fit split has no tracks to learn from")
    if allowed is None:
        allowed = one_hot(scored.y, len(scored.labels))

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_t, a = np.clip(theta[:n], -3.0, 3.0), theta[n:]
        w = np.exp(a - a.max())
        return w / w.sum(), np.exp(log_t)

    def objective(theta: np.ndarray) -> float:
        w, t = unpack(theta)
        return set_log_loss(mixture(scored, w, t), allowed, sample_weight) + penalty * float(theta @ theta)

    start = np.zeros(2 * n)
    res = minimize(objective, start, method="L-BFGS-B", bounds=[(-3.0, 3.0)] * n + [(-8.0, 8.0)] * n)
    theta = res.x if res.fun <= objective(start) else start
    w, t = unpack(theta)
    return w, t, {"objective_start": float(objective(start)), "objective_end": float(objective(theta)),
                  "converged": bool(res.success), "iterations": int(res.nit)}


def metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Track accuracy and macro-F1 as train.py computes them (:class:`finetune.scoring.TrackScores`),
    and the log-loss of the track probabilities."""
    from finetune.scoring import TrackScores

    out = TrackScores(probs, y, log_loss(probs, y) if len(y) else float("nan"), 0).metrics()
    out["log_loss"] = out.pop("loss")
    return out


def compare(fit: Scored, evaluation: Scored, weights: np.ndarray, temperatures: np.ndarray) -> dict[str, Any]:
    """Each model alone, the equal-weight average and the learned ensemble on both splits; the best
    single model is chosen by accuracy on the fit split (ties: lower log-loss there)."""
    n = len(fit.models)
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for k, name in enumerate(fit.models):
        rows[name] = {s: metrics(tempered_track_probs(sc.windows[k], 1.0), sc.y)
                      for s, sc in (("fit", fit), ("eval", evaluation))}
    rows["equal-weight average"] = {s: metrics(mixture(sc, np.ones(n), np.ones(n)), sc.y)
                                    for s, sc in (("fit", fit), ("eval", evaluation))}
    rows["learned ensemble"] = {s: metrics(mixture(sc, weights, temperatures), sc.y)
                                for s, sc in (("fit", fit), ("eval", evaluation))}
    best = max(fit.models, key=lambda m: (rows[m]["fit"]["accuracy"], -rows[m]["fit"]["log_loss"]))
    return {"rows": rows, "best_single": best}


def to_markdown(report: dict[str, Any], fit_split: str, eval_split: str) -> str:
    lines = [f"| model | {fit_split} acc | {fit_split} log-loss | {eval_split} acc | {eval_split} macro-F1 | "
             f"{eval_split} log-loss |", "|---|---|---|---|---|---|"]
    for name, r in report["rows"].items():
        mark = " (best single on " + fit_split + ")" if name == report["best_single"] else ""
        lines.append(f"| {name}{mark} | {r['fit']['accuracy']:.3f} | {r['fit']['log_loss']:.3f} | "
                     f"{r['eval']['accuracy']:.3f} | {r['eval']['macro_f1']:.3f} | {r['eval']['log_loss']:.3f} |")
    return "\n".join(lines)


def ensemble_config(model_names: Sequence[str], weights: np.ndarray, temperatures: np.ndarray, output_file: str,
                    info: dict[str, Any]) -> dict[str, Any]:
    """The ``ensemble.json`` :meth:`genre_models.ensemble.Ensemble.from_file` reads; local folders are
    written relative to the file, so the file and its models can move together."""
    base = Path(output_file).resolve().parent
    entries = []
    for name, w, t in zip(model_names, weights, temperatures):
        where = Path(name)
        if where.is_dir():
            name = os.path.relpath(where.resolve(), base)
        entries.append({"model": name, "weight": round(float(w), 6), "temperature": round(float(t), 6)})
    return {"models": entries, **info}


# ------------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from transformers import HfArgumentParser

    from finetune import provenance
    from finetune.arguments import DataArguments
    from finetune.data import load_splits

    parser = HfArgumentParser((EnsembleArguments, DataArguments))
    if argv is None and len(sys.argv) == 2 and sys.argv[1].endswith(".json"):
        args, data_args = parser.parse_json_file(sys.argv[1])
    else:
        args, data_args = parser.parse_args_into_dataclasses(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    models = [load_model(m) for m in args.models]
    data = load_splits(data_args, args.seed, args.token)
    for split in (args.fit_split, args.eval_split):
        if split not in data.splits:
            raise SystemExit(f"no split {split!r}; this data has {sorted(data.splits)}")
    try:
        overlap = provenance.check_no_overlap(
            args.models,
            {s: [t.track_id for t in data.splits[s]] for s in dict.fromkeys((args.fit_split, args.eval_split))},
            allow=args.allow_train_overlap)
    except provenance.TrainOverlapError as err:
        if argv is not None:
            raise
        raise SystemExit(f"finetune/ensemble.py: {err}") from None
    if [m.labels for m in models][0] != list(data.labels):
        logger.warning("the models' labels %s differ from the data's %s; labels are matched by name",
                       models[0].labels, data.labels)
    index = {name: i for i, name in enumerate(models[0].labels)}
    remap = {i: index.get(name) for i, name in enumerate(data.labels)}

    def tracks_of(split: str) -> list[Any]:
        out = []
        for t in data.splits[split]:
            if remap[t.label] is None:
                raise SystemExit(f"label {data.labels[t.label]!r} of the data is not one the models predict")
            out.append(replace(t, label=remap[t.label]))
        return out

    logger.info("scoring %d %s and %d %s tracks with %d models", len(data.splits[args.fit_split]), args.fit_split,
                len(data.splits[args.eval_split]), args.eval_split, len(models))
    fit = score_split(models, tracks_of(args.fit_split), args.hop_seconds)
    evaluation = score_split(models, tracks_of(args.eval_split), args.hop_seconds)
    weights, temperatures, opt = fit_mixture(fit, args.penalty)
    report = compare(fit, evaluation, weights, temperatures)
    info = {
        "fitted_on": {"dataset": data.dataset, "split": data.split_name, "fit_split": args.fit_split,
                      "fit_tracks": int(len(fit.y)), "penalty": args.penalty, "optimizer": opt},
        "evaluated_on": {"split": data.split_name, "eval_split": args.eval_split, "tracks": int(len(evaluation.y))},
        "report": report,
        "skipped": fit.skipped + evaluation.skipped,
        "train_overlap": overlap,
        "command": "python finetune/ensemble.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    if overlap["problems"]:  # --allow_train_overlap: said first thing in the file, not only in the log
        info = {"WARNING": "members were fitted and/or scored on tracks they were trained or validated on "
                           "(--allow_train_overlap): these weights and figures are NOT held-out: "
                           + "; ".join(overlap["problems"]), **info}
    config = ensemble_config(args.models, weights, temperatures, args.output_file, info)
    Path(args.output_file).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output_file).write_text(json.dumps(config, indent=2) + "\n")
    for name, w, t in zip(fit.models, weights, temperatures):
        logger.info("%-40s weight %.3f  temperature %.3f", name, w, t)
    if overlap["problems"]:
        print("WARNING: --allow_train_overlap: " + "; ".join(overlap["problems"])
              + "\nTHESE FIGURES ARE NOT HELD-OUT FIGURES.\n")
    if overlap["unchecked"]:
        print(f"note: no track record for {', '.join(overlap['unchecked'])}: training overlap unchecked\n")
    print(to_markdown(report, f"{data.split_name}/{args.fit_split}", f"{data.split_name}/{args.eval_split}"))
    print(f"\nwrote {args.output_file}; skipped {len(info['skipped'])} undecodable track(s)")
    return config


if __name__ == "__main__":
    main()
