"""Does a learned ensemble beat its best member? finetune/ensemble.py's fit on the real GTZAN audio, cross-fitted.

    python benchmarks/train_real_audio.py --models mel_cnn --epochs 8 --output_dir runs/real-audio   # and crnn, lstm
    python benchmarks/genre_heads.py --backbone musicnn --fold_models runs/real-audio              # heads on backbones
    python benchmarks/ensemble_real_audio.py --fold_models runs/real-audio --models mel_cnn,crnn,lstm,features
    python benchmarks/ensemble_real_audio.py --fold_models runs/real-audio --models musicnn,yamnet \
        --plot docs/reliability.png --export_ensemble genre_models/pretrained/ensemble.json \
        --shipped musicnn=gtzan-musicnn,yamnet=gtzan-yamnet --max_windows musicnn=12,yamnet=12   # the default

Cross-fitted over the folds of :func:`finetune.folds.artist_folds` (the 380 real tracks, or
``--kinds clip``, grouped by artist; the same ``--folds``/``--seed``/``--kinds`` as the runs that
wrote the fold models): in fold k the members were trained on three folds, the ensemble's weights
and temperatures are learned on the validation fold (k+1) and everything is scored on the test
fold (k). Each fold model's recorded folds fingerprint and fold number are checked before it is
used (:func:`finetune.folds.check_fold_model`), so no track is scored by a model that trained on
it, and the test fold chooses nothing (the "best single model" is the best on the validation
fold). The validation fold is also where the trained members stopped early, so the learned weights
saw the tracks that chose the members' epochs (the test fold saw nothing).

``features`` is the shipped features model's recipe (its vote of LR, LDA and an MLP bag on the
57 GTZAN features) refit in each fold on the training tracks only: the shipped model itself was
fit on the whole GTZAN table, which contains every one of these tracks, so it cannot be scored on
them honestly. Members are scored by ``genre_models.prediction.predict``, the app's path. Prints
one line per fold, a mean ± std table over folds, and the accuracy on clips, excerpts and pooled;
then, on the pooled test folds, accuracy, macro-F1, log-loss and the expected calibration error of
each row (``--plot``: the reliability diagram), and whether learning one weight set per kind of
track (30-s clips, 2-3 s excerpts) instead of one for all would have helped. ``--export_ensemble``
writes the shipped ``ensemble.json``: each member's shipped model (``--shipped``, its recipe refit on
all tracks) with the mean over folds of the weights and temperatures learned on validation.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import numpy as np  # noqa: E402

from finetune.ensemble import (  # noqa: E402
    compare,
    fit_mixture,
    log_loss,
    mixture,
    score_split,
    tempered_track_probs,
)
from finetune.folds import (  # noqa: E402
    GTZAN_DIR,
    accuracy_by_kind,
    artist_folds,
    check_fold_model,
    kinds_table,
    parse_kinds,
    real_audio_tracks,
    summary,
)
from genre_models.audio import load_audio  # noqa: E402
from genre_models.features import FEATURE_NAMES, SAMPLE_RATE, extract_features  # noqa: E402
from genre_models.features_model import DEFAULT_MODEL_DIR, FeaturesModel  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402
from genre_models.registry import FeaturesClassifier, load_model  # noqa: E402


def features_member(train_tracks, feats: dict[str, np.ndarray]) -> FeaturesClassifier:
    """The shipped recipe, refit on this fold's training tracks and exported the shipped way."""
    from finetune.classical import fit_vote, log_features
    from genre_models.features_model import transform_features

    recipe = dict(json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())["training"]["recipe"])
    parts = tuple(recipe.pop("parts"))
    X = np.stack([feats[t.track_id] for t in train_tracks])
    y = np.array([t.label for t in train_tracks])
    absent = [g for i, g in enumerate(GTZAN_GENRES) if i not in set(y.tolist())]
    if absent:  # the exported vote needs every class; artist folds of the 70 clips alone leave whole genres out
        raise SystemExit(f"the features recipe cannot be refit: this fold's training tracks have no {absent} "
                         "(artist-grouped folds of few tracks put a genre's only artist in one fold); use more "
                         "tracks (--kinds clip,excerpt) or leave out the features member")
    logs = log_features(list(FEATURE_NAMES))
    Z = transform_features(X, FEATURE_NAMES, logs)
    scaler, _, members = fit_vote(parts, {**recipe, "mlp_hidden": tuple(recipe["mlp_hidden"])}, Z, y)
    model = FeaturesModel.from_estimators(members, labels=GTZAN_GENRES, feature_names=FEATURE_NAMES,
                                          log_features=logs, scaler_mean=scaler.mean_, scaler_scale=scaler.scale_)
    return FeaturesClassifier(model, "features")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold_models", type=Path, required=True,
                        help="train_real_audio.py's --output_dir (holds <family>/fold<k>/)")
    parser.add_argument("--models", default="mel_cnn,crnn,lstm,features")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42, help="the folds' seed (the fold models' own)")
    parser.add_argument("--penalty", type=float, default=0.01)
    parser.add_argument("--gtzan_dir", type=Path, default=GTZAN_DIR)
    parser.add_argument("--kinds", default="clip,excerpt", help="clip (30-s clips), excerpt (2-3 s), or both")
    parser.add_argument("--plot", type=Path, default=None, help="write the learned ensemble's reliability plot here")
    parser.add_argument("--save_probs", type=Path, default=None,
                        help="keep every fold's validation and test window probabilities (.npz) for later analysis")
    parser.add_argument("--export_ensemble", type=Path, default=None,
                        help="write an ensemble.json of the shipped models (--shipped) with the mean learned weights "
                             "and temperatures")
    parser.add_argument("--shipped", default=None,
                        help="name=folder,... the shipped model of each member for --export_ensemble "
                             "(e.g. musicnn=gtzan-musicnn,yamnet=gtzan-yamnet; relative to the json's folder)")
    parser.add_argument("--max_windows", default=None,
                        help="name=N,... at most N windows per song for that member in --export_ensemble")
    args = parser.parse_args()

    tracks = real_audio_tracks(args.gtzan_dir, parse_kinds(args.kinds))
    splits = artist_folds(tracks, args.folds, args.seed)
    print(summary(splits) + "\n", flush=True)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    feats = {}
    if "features" in names:
        for t in tracks:
            feats[t.track_id] = extract_features(load_audio(t.source, SAMPLE_RATE), SAMPLE_RATE)
    rows: dict[str, list[float]] = {}
    kinds_rows: dict[str, list[dict[str, tuple[int, int]]]] = {}
    chosen: list[str] = []
    learned: dict[str, list[tuple[float, float]]] = {}
    pooled: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}  # name -> per fold (test probs, labels)
    valid_rows: dict[str, list[float]] = {}
    by_length_rows: list[dict[str, tuple[int, int, int]]] = []
    saved: dict[str, np.ndarray] = {}
    for k, split in enumerate(splits):
        members = []
        for name in names:
            if name == "features":
                members.append(features_member(split["train"], feats))
            else:
                folder = args.fold_models / name / f"fold{k + 1}"
                if not (folder / "config.json").is_file():
                    raise SystemExit(f"{folder} is missing: run train_real_audio.py --models {name} "
                                     f"--output_dir {args.fold_models} first")
                check_fold_model(folder, splits, k)  # trained on exactly this fold of these folds, or refused
                members.append(load_model(folder))
                members[-1].name = name  # the family, not "fold3"
        fit = score_split(members, split["valid"])
        test = score_split(members, split["test"])
        w, t, _ = fit_mixture(fit, args.penalty)
        by_length_rows.append(by_length(fit, test, w, t, {tr.track_id: tr.kind for tr in tracks}, args.penalty))
        report = compare(fit, test, w, t)
        chosen.append(report["best_single"])
        for m, wi, ti in zip(members, w, t):
            learned.setdefault(m.name, []).append((float(wi), float(ti)))
        accs = {name: r["eval"]["accuracy"] for name, r in report["rows"].items()}
        accs["best single (chosen on valid)"] = accs[report["best_single"]]
        for name, a in accs.items():
            rows.setdefault(name, []).append(a)
        scored = {tr.track_id: tr for tr in split["test"]}
        scored = [scored[tid] for tid in test.track_ids]
        n = len(members)
        probs = {m.name: tempered_track_probs(test.windows[i], 1.0) for i, m in enumerate(members)}
        probs["equal-weight average"] = mixture(test, np.ones(n), np.ones(n))
        probs["learned ensemble"] = mixture(test, w, t)
        probs["best single (chosen on valid)"] = probs[report["best_single"]]
        for name, p in probs.items():
            kinds_rows.setdefault(name, []).append(accuracy_by_kind(scored, p.argmax(axis=1)))
            pooled.setdefault(name, []).append((p, test.y))
        for name, r in report["rows"].items():
            valid_rows.setdefault(name, []).append(r["fit"]["accuracy"])
        if args.save_probs:
            for part, sc in (("valid", fit), ("test", test)):
                for i, m in enumerate(members):
                    for tid, win in zip(sc.track_ids, sc.windows[i]):
                        saved[f"{k + 1}|{part}|{m.name}|{tid}"] = win
            saved[f"{k + 1}|weights"] = np.concatenate([w, t])
        print(f"fold {k + 1}: " + ", ".join(f"{n} {a:.3f}" for n, a in accs.items())
              + " | weights " + ", ".join(f"{m.name} {wi:.2f}/T{ti:.2f}" for m, wi, ti in zip(members, w, t)),
              flush=True)
    sizes = ", ".join(str(len(s["test"])) for s in splits)
    print(f"\ntest-fold track accuracy over {args.folds} folds ({sizes} tracks; weights learned on the validation "
          f"fold; best single chosen there: {', '.join(chosen)})\n")
    print("| model | " + " | ".join(f"fold {k + 1}" for k in range(args.folds)) + " | mean ± std |")
    print("|---|" + "---|" * (args.folds + 1))
    for name, accs in rows.items():
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | {statistics.mean(accs):.3f} ± {std:.3f} |")
    print("\nby kind of track (mean ± std over folds; right/total over all folds):\n")
    print(kinds_table(kinds_rows))
    print("\nlearned on the validation folds, mean over folds (weight, temperature): " + ", ".join(
        f"{name} {statistics.mean(w for w, _ in v):.3f}, {statistics.mean(t for _, t in v):.3f}"
        for name, v in learned.items()))
    print("\nvalidation-fold accuracy (where weights were learned and members may be chosen), mean over folds: "
          + ", ".join(f"{name} {statistics.mean(v):.3f}" for name, v in valid_rows.items()))
    print("\npooled test folds (every track scored once, by models that never saw its artist):\n")
    print("| model | accuracy | macro-F1 | log-loss | ECE (15 bins) | mean confidence |\n|---|---|---|---|---|---|")
    for name, parts in pooled.items():
        P = np.concatenate([p for p, _ in parts])
        y = np.concatenate([t for _, t in parts])
        m = calibration(P, y)
        print(f"| {name} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['log_loss']:.3f} | {m['ece']:.3f} | "
              f"{m['confidence']:.3f} |")
    print("\none weight set for every track, or one per kind of track (clips / excerpts), each learned on the "
          "validation fold's tracks of that kind; right on the pooled test folds:")
    for kind in ("clip", "excerpt"):
        shared = sum(r[kind][0] for r in by_length_rows if kind in r)
        own = sum(r[kind][1] for r in by_length_rows if kind in r)
        total = sum(r[kind][2] for r in by_length_rows if kind in r)
        print(f"  {kind}s: one weight set {shared}/{total}, weights per kind {own}/{total}")
    if args.plot:
        curves = {name: (np.concatenate([p for p, _ in pooled[name]]), np.concatenate([t for _, t in pooled[name]]))
                  for name in ("learned ensemble", *[n for n in names if n in pooled])}
        reliability_plot(curves, args.plot, f"{len(tracks)} real GTZAN tracks, pooled test folds (artist-grouped)")
        print(f"\nreliability plot: {args.plot}")
    if args.save_probs:
        np.savez(args.save_probs, **saved)
    if args.export_ensemble:
        export_ensemble(args, names, learned, splits)
    print(f"folds fingerprint {splits.fingerprint}")


def by_length(fit, test, w, t, kinds: dict[str, str], penalty: float) -> dict[str, tuple[int, int, int]]:
    """Per kind of track: right answers on the test fold with the shared weights, with weights learned
    on the validation fold's tracks of that kind alone, and the number of test tracks of that kind.
    Does the ensemble gain from weighing members by the clip's length? (Short excerpts vs 30-s clips.)"""
    out = {}
    for kind in ("clip", "excerpt"):
        part_test, part_fit = _subset(test, kinds, kind), _subset(fit, kinds, kind)
        if not len(part_test.y):
            continue
        wk, tk = fit_mixture(part_fit, penalty)[:2] if len(part_fit.y) else (w, t)
        out[kind] = (int((mixture(part_test, w, t).argmax(1) == part_test.y).sum()),
                     int((mixture(part_test, wk, tk).argmax(1) == part_test.y).sum()), len(part_test.y))
    return out


def _subset(scored, kinds: dict[str, str], kind: str):
    from dataclasses import replace

    keep = [i for i, tid in enumerate(scored.track_ids) if kinds.get(tid) == kind]
    return replace(scored, y=scored.y[keep], windows=[[w[i] for i in keep] for w in scored.windows],
                   track_ids=[scored.track_ids[i] for i in keep])


def calibration(P: np.ndarray, y: np.ndarray, bins: int = 15) -> dict[str, float]:
    """Accuracy, macro-F1, log-loss and the expected calibration error of the top label (equal-width
    confidence bins, weighted by their share of tracks)."""
    from sklearn.metrics import f1_score

    conf, pred = P.max(axis=1), P.argmax(axis=1)
    right = (pred == y).astype(float)
    acc, mean_conf, count = reliability_bins(P, y, bins)
    ece = float(np.sum(np.abs(acc - mean_conf) * count / len(y)))
    return {"accuracy": float(right.mean()), "macro_f1": float(f1_score(y, pred, average="macro")),
            "log_loss": log_loss(P, y),
            "ece": ece, "confidence": float(conf.mean())}


def reliability_bins(P: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, mean confidence and number of tracks of the top label in each non-empty equal-width
    confidence bin: ``sklearn.calibration.calibration_curve``'s bins (right-closed, ``(k/bins, (k+1)/bins]``)."""
    from sklearn.calibration import calibration_curve

    conf = np.clip(P.max(axis=1), 0.0, 1.0)  # a mixture's top probability may be 1 + 2e-16
    right = (P.argmax(axis=1) == y).astype(int)
    acc, mean_conf = calibration_curve(right, conf, n_bins=bins, strategy="uniform", pos_label=1)
    counts = np.bincount(np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], conf), minlength=bins)
    return acc, mean_conf, counts[counts > 0]


def reliability_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], out: Path, title: str, bins: int = 10) -> None:
    """Accuracy against confidence of the top label, per model (the diagonal is perfect calibration)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=100)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, (P, y) in curves.items():
        ys, xs, count = reliability_bins(P, y, bins)
        shown = count >= 3  # bins of 1-2 tracks are noise
        xs, ys = xs[shown], ys[shown]
        ece = calibration(P, y)["ece"]
        ax.plot(xs, ys, marker="o", linewidth=2 if name == "learned ensemble" else 1, label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("confidence (probability of the answer)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def export_ensemble(args, names: list[str], learned: dict[str, list[tuple[float, float]]], splits) -> None:
    """The shipped ensemble.json: each member's shipped model (fit on all tracks) with the weight and
    temperature learned on the validation folds, averaged over folds; how it was made, beside."""
    shipped = dict(item.split("=", 1) for item in args.shipped.split(",")) if args.shipped else {}
    limits = {k: int(v) for k, v in (item.split("=", 1) for item in args.max_windows.split(","))} \
        if args.max_windows else {}
    missing = [n for n in names if n not in shipped]
    if missing:
        raise SystemExit(f"--export_ensemble needs --shipped name=folder for {missing}")
    weights = np.array([statistics.mean(w for w, _ in learned[n]) for n in names])
    weights = weights / weights.sum()
    entries = []
    for name, w in zip(names, weights):
        entry = {"model": shipped[name], "weight": round(float(w), 4),
                 "temperature": round(statistics.mean(t for _, t in learned[name]), 4)}
        if name in limits:
            entry["max_windows"] = limits[name]
        entries.append(entry)
    config = {"models": entries, "fitted_on": {
        "how": "cross-fitted over the artist-grouped folds: in fold k the members trained on three folds, the weights "
               "and temperatures were learned on the validation fold (finetune.ensemble.fit_mixture, penalty "
               f"{args.penalty}); these are their means over the {len(splits)} folds; each member here is its recipe "
               "refit on all the tracks",
        "tracks": int(splits.rule.get("tracks", 0)), "folds_fingerprint": splits.fingerprint,
        "command": "python benchmarks/ensemble_real_audio.py " + " ".join(sys.argv[1:])}}
    args.export_ensemble.write_text(json.dumps(config, indent=2) + "\n")
    print(f"\nwrote {args.export_ensemble}: " + ", ".join(f"{e['model']} w {e['weight']} T {e['temperature']}"
                                                          for e in entries))


if __name__ == "__main__":
    main()
