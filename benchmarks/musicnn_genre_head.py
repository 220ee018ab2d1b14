"""A genre head on pretrained musicnn (MSD) embeddings: 5-fold CV on the real GTZAN audio, grouped by artist.

    python benchmarks/musicnn_genre_head.py                                   # CV table (380 tracks)
    python benchmarks/musicnn_genre_head.py --kinds clip                      # the 70 clips only
    python benchmarks/musicnn_genre_head.py --fold_models runs/real-audio \\
        --export genre_models/pretrained/gtzan-musicnn                        # + fold models, shipped model

The folds are :func:`finetune.folds.artist_folds` (the folds of ``train_real_audio.py``): the 70
clips and 310 excerpts of ``../shared/data/gtzan`` grouped by artist; in fold k the test set is
fold k, the validation set fold k+1, the rest is trained on. Every track is cut into consecutive
3-s patches (musicnn's input; an excerpt shorter than 3 s is one patch, repeated to length); a
logistic regression (standardised inputs) is fit on the training tracks' patch embeddings, and a
track's answer is the mean of its patches' probabilities (what the app does with 3-s windows). The
shipped recipe reads the penultimate layer (200 values: the input of the model's own classifier)
with C chosen on the validation fold only; the test fold chooses nothing. For comparison, the
layer (penultimate / pooled mid-end 1506 / 50 tag logits) is also chosen on validation, and every
setting's test accuracy is printed for transparency. Accuracy is reported on the clips, on the
excerpts and pooled.

Baselines on the same folds: the shipped features model's recipe refit on each fold's training
tracks (the shipped model itself was fit on the whole GTZAN table, which holds every track here,
clips' and excerpts' alike, so its score on them is training accuracy; printed, marked as such).

``--fold_models DIR`` writes each fold's head as a full HF model (``DIR/musicnn/fold<k>``) with its
track record (the folds' fingerprint and its fold; ``genre_head.json``), which
``benchmarks/ensemble_real_audio.py --models ...,musicnn`` checks and mixes with the other members.
``--export DIR`` refits the chosen setting on all the tracks and writes a shippable HF folder
(musicnn backbone + the head folded into its linear classifier), checked to reproduce the
scikit-learn probabilities, with the head itself (``genre_head.safetensors``: scaler and logistic
regression, so the folding can be re-checked) and the tracks it was fit on (``genre_head.json``).
``--refit_head DIR`` refits the head of an existing export (same layer and C) on ``--kinds`` with
this code, folds it into DIR's classifier (backbone untouched) and writes those two records into DIR:
``python benchmarks/musicnn_genre_head.py --kinds clip --refit_head genre_models/pretrained/gtzan-musicnn``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from finetune.folds import (DATASET, GTZAN_DIR, Folds, accuracy_by_kind, artist_folds, fold_rule, kinds_table,  # noqa: E402
                            parse_kinds, real_audio_tracks, summary)
from finetune.provenance import RECORD_KEY, overlap, read_record, track_record  # noqa: E402
from genre_models.audio import load_audio  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402

MSD_DIR = REPO / "genre_models" / "pretrained" / "msd-musicnn"
LAYERS = ("penultimate", "pooled", "tags")
CS = (0.01, 0.03, 0.1, 0.3, 1.0)


def embed_tracks(tracks, model_dir: Path = MSD_DIR) -> dict[str, dict[str, np.ndarray]]:
    """Per track, per layer: ``(patches, dims)`` embeddings of its consecutive 3-s patches."""
    import genre_models.hf_models  # noqa: F401
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    fe = AutoFeatureExtractor.from_pretrained(model_dir)
    model = AutoModelForAudioClassification.from_pretrained(model_dir).eval()
    out = {}
    for t in tracks:
        y = load_audio(t.source, sr=fe.sampling_rate)
        feats = torch.from_numpy(fe(y, sampling_rate=fe.sampling_rate, return_tensors="np")["input_features"])
        patches, _ = model._patches(feats, None)
        with torch.inference_mode():
            hidden, pooled = model.musicnn(patches)
            tags = model.classifier(hidden)
        out[t.track_id] = {"penultimate": hidden.numpy(), "pooled": pooled.numpy(), "tags": tags.numpy()}
    return out


def fit_head(emb, tracks, layer: str, C: float, seed: int = 0):
    """Standardise + multinomial logistic regression on every patch of ``tracks``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.concatenate([emb[t.track_id][layer] for t in tracks])
    y = np.concatenate([[t.label] * len(emb[t.track_id][layer]) for t in tracks])
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000, random_state=seed)).fit(X, y)


def track_probs(head, emb, tracks, layer: str) -> np.ndarray:
    """``(tracks, 10)``: the mean of each track's patch probabilities (all 10 classes, in label order)."""
    rows = []
    for t in tracks:
        p = np.zeros((len(emb[t.track_id][layer]), len(GTZAN_GENRES)))
        p[:, head.classes_] = head.predict_proba(emb[t.track_id][layer])
        rows.append(p.mean(axis=0))
    return np.array(rows)


def accuracy(probs: np.ndarray, tracks) -> float:
    return float(np.mean(probs.argmax(axis=1) == np.array([t.label for t in tracks])))


def log_loss(probs: np.ndarray, tracks) -> float:
    y = np.array([t.label for t in tracks])
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))))


def fold_head(scaler_mean: np.ndarray, scaler_scale: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
              classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` of one linear layer equal to standardise-then-logistic-regression (all 10 classes;
    a class absent from training gets bias -1e4, so it is never chosen)."""
    W = np.zeros((len(GTZAN_GENRES), coef.shape[1]))
    b = np.full(len(GTZAN_GENRES), -1e4)
    W[classes] = coef / scaler_scale
    b[classes] = intercept - (coef * (scaler_mean / scaler_scale)).sum(axis=1)
    return W, b


def head_arrays(head) -> dict[str, np.ndarray]:
    """The fitted head as plain arrays (``genre_head.safetensors``): what the folded layer must equal."""
    scaler, lr = head[0], head[-1]
    return {"scaler_mean": np.asarray(scaler.mean_, np.float64), "scaler_scale": np.asarray(scaler.scale_, np.float64),
            "coef": np.ascontiguousarray(lr.coef_, np.float64), "intercept": np.asarray(lr.intercept_, np.float64),
            "classes": np.asarray(lr.classes_, np.int64)}


def write_head_record(out: Path, head, record: dict, info: dict) -> None:
    """``genre_head.safetensors`` (the unfolded head) and ``genre_head.json`` (``info`` + the track record)."""
    from safetensors.numpy import save_file

    save_file(head_arrays(head), str(out / "genre_head.safetensors"), metadata={"what": "StandardScaler + "
              "LogisticRegression of the genre head, before folding into the classifier"})
    (out / "genre_head.json").write_text(json.dumps({**info, RECORD_KEY: record}, indent=2) + "\n")


def to_hf_model(head, layer: str, out: Path, info: dict, record: dict | None = None) -> None:
    """musicnn + this head as one transformers folder: the scaler is folded into the linear layer.
    With ``record`` (the tracks it was fit on), the head and the record are written beside it."""
    import genre_models.hf_models  # noqa: F401
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
    from transformers.utils import logging as hf_logging

    if layer != "penultimate":
        raise ValueError("only a head on the penultimate layer is the model's own classifier")
    a = head_arrays(head)
    W, b = fold_head(a["scaler_mean"], a["scaler_scale"], a["coef"], a["intercept"], a["classes"])
    labels = list(GTZAN_GENRES)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the classifier's size mismatch is the point here
    model = AutoModelForAudioClassification.from_pretrained(
        MSD_DIR, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={g: i for i, g in enumerate(labels)},
        problem_type="single_label_classification", ignore_mismatched_sizes=True).eval()
    hf_logging.set_verbosity(verbosity)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(W).float())
        model.classifier.bias.copy_(torch.from_numpy(b).float())
    model.config.window_seconds = 3.0  # the app scores 3-s windows, one musicnn patch each
    model.config.genre_head = info
    fe = AutoFeatureExtractor.from_pretrained(MSD_DIR)
    fe.chunk_seconds = 3.0
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    fe.save_pretrained(out)
    if record is not None:
        write_head_record(out, head, record, info)


def write_card(out: Path, C: float, cv: dict, kinds_md: str, parity: float, trained_on: str) -> None:
    """README.md (model card) and LICENSE of the exported genre model."""
    folds_txt = ", ".join(f"{a:.3f}" for a in cv["test_accuracy_folds"])
    (out / "LICENSE").write_text((MSD_DIR / "LICENSE").read_text())
    (out / "README.md").write_text(f"""---
library_name: transformers
license: isc
tags: [audio-classification, music-genre, gtzan, musicnn]
pipeline_tag: audio-classification
base_model: genre_models/pretrained/msd-musicnn
---

# gtzan-musicnn: GTZAN genres from pretrained musicnn embeddings

The musicnn backbone converted from the musicnn package's Million Song Dataset tagger
(`genre_models/pretrained/msd-musicnn`, ISC licence, kept frozen) with a new 10-genre head: a logistic
regression (C={C:g}, standardised inputs) on the 200-d penultimate embedding of each 3-s patch, folded
into the model's linear classifier (the exported model reproduces scikit-learn's probabilities to {parity:.1e};
the unfolded head is `genre_head.safetensors`). Trained on {trained_on}; the track ids are listed in
`genre_head.json` (`{RECORD_KEY}`), and `finetune/evaluate.py` / `finetune/ensemble.py` refuse to score
the model on them. Scoring window: 3 s (`window_seconds`), one musicnn patch per window; a track's answer is
the mean over its windows.

```python
from genre_models import load_model, predict
predict("song.mp3", load_model("genre_models/pretrained/gtzan-musicnn")).top(3)
```

**Validation** (`python benchmarks/musicnn_genre_head.py`): {cv['protocol']}. Test-fold track accuracy of
this recipe, mean ± std over folds (folds: {folds_txt}); per kind of track, mean ± std over the folds that
have that kind (right/total over all folds):

{kinds_md}

Folds are grouped by artist, so no artist is both trained on and scored; the folds are small and unequal in
genre (GTZAN's artists are), so these figures are noisy.

**Licence**: the weights derive from the musicnn checkpoints (ISC, see `LICENSE`); the head is this project's.
""")


def check_parity(folder: Path, head, emb, tracks) -> float:
    """Max |exported model − scikit-learn| of per-patch probabilities on ``tracks``."""
    import genre_models.hf_models  # noqa: F401
    from transformers import AutoModelForAudioClassification

    model = AutoModelForAudioClassification.from_pretrained(folder).eval()
    worst = 0.0
    for t in tracks:
        with torch.inference_mode():
            p = torch.softmax(model.classifier(torch.from_numpy(emb[t.track_id]["penultimate"])), -1).numpy()
        ref = np.zeros_like(p)
        ref[:, head.classes_] = head.predict_proba(emb[t.track_id]["penultimate"])
        worst = max(worst, float(np.abs(p - ref).max()))
    return worst


def features_baseline(splits: Folds, tracks) -> list[dict[str, tuple[int, int]]]:
    """The shipped features recipe refit on each fold's training tracks; test-fold results per kind."""
    from ensemble_real_audio import features_member

    from genre_models.features import SAMPLE_RATE, extract_features

    feats = {t.track_id: extract_features(load_audio(t.source, SAMPLE_RATE), SAMPLE_RATE) for t in tracks}
    out = []
    for split in splits:
        member = features_member(split["train"], feats)
        probs = member.model.predict_proba(np.stack([feats[t.track_id] for t in split["test"]]))
        out.append(accuracy_by_kind(split["test"], probs.argmax(axis=1)))
    shipped = load_shipped_features()
    seen = overlap(read_record(shipped_features_dir()) or {}, [t.track_id for t in tracks])
    train_acc = accuracy(shipped.predict_proba(np.stack([feats[t.track_id] for t in tracks])), tracks)
    print(f"shipped gtzan-features on all {len(tracks)} tracks: {train_acc:.3f} (TRAINING accuracy: {len(seen)} of "
          f"them are rows of features_30_sec.csv, which it was fit on; not comparable)", flush=True)
    return out


def shipped_features_dir() -> Path:
    from genre_models.features_model import DEFAULT_MODEL_DIR

    return DEFAULT_MODEL_DIR


def load_shipped_features():
    from genre_models.features_model import FeaturesModel

    return FeaturesModel.from_pretrained(shipped_features_dir())


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"


def refit_head(folder: Path, emb, tracks, rule: dict) -> float:
    """``--refit_head``: refit DIR's head (same layer, its C) on ``tracks`` with this code, fold it into
    DIR's classifier (the backbone is untouched), and write the head and the track record beside it.
    For a shipped head whose training audio has since changed (the clips were 15-30 s, now 30 s)."""
    import genre_models.hf_models  # noqa: F401
    from transformers import AutoModelForAudioClassification

    info = json.loads((folder / "genre_head.json").read_text()) if (folder / "genre_head.json").is_file() else {}
    C = float(json.loads((folder / "config.json").read_text())["genre_head"]["C"])
    head = fit_head(emb, tracks, "penultimate", C)
    before = check_parity(folder, head, emb, tracks)
    model = AutoModelForAudioClassification.from_pretrained(folder).eval()
    backbone = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("classifier.")}
    a = head_arrays(head)
    W, b = fold_head(a["scaler_mean"], a["scaler_scale"], a["coef"], a["intercept"], a["classes"])
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(W).float())
        model.classifier.bias.copy_(torch.from_numpy(b).float())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in backbone.items())
    model.save_pretrained(folder, safe_serialization=True)
    worst = check_parity(folder, head, emb, tracks)
    if worst > 1e-4:
        raise SystemExit(f"the refit model does not reproduce the head ({worst:.1e})")
    info = {k: v for k, v in info.items() if k != RECORD_KEY}
    info.update(C=C, parity_max_abs_diff=worst,
                refit=f"head refit on the current {len(tracks)} tracks with the same layer and C (the previous "
                      "head, fit on earlier, shorter copies of the clips, differed by up to "
                      f"{before:.2f} in a patch probability); "
                      "the cross-validation figures describe the recipe, measured on the earlier copies")
    write_head_record(folder, head, track_record({"train": [t.track_id for t in tracks]}, rule), info)
    card = folder / "README.md"
    if card.is_file():
        import re

        text = re.sub(r"probabilities to [0-9.e+-]+\)", f"probabilities to {worst:.1e}; the unfolded head is "
                      "`genre_head.safetensors`, the tracks it was fit on are listed in `genre_head.json`)",
                      card.read_text(), count=1)
        card.write_text(text)
    print(f"{folder}: head refit on {len(tracks)} tracks (C={C:g}); previous head differed by up to {before:.2f}; "
          f"parity {worst:.1e}; wrote model.safetensors, genre_head.safetensors and genre_head.json")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42, help="the folds' seed (finetune.folds; train_real_audio.py's)")
    parser.add_argument("--gtzan_dir", type=Path, default=GTZAN_DIR)
    parser.add_argument("--kinds", default="clip,excerpt", help="clip (30-s clips), excerpt (2-3 s), or both")
    parser.add_argument("--cache", type=Path, default=None, help="keep the embeddings in this .npz (re-used if present)")
    parser.add_argument("--fold_models", type=Path, default=None, help="write each fold's model to DIR/musicnn/fold<k>")
    parser.add_argument("--export", type=Path, default=None, help="write the model refit on all tracks here")
    parser.add_argument("--C", type=float, default=None, help="--export: this C (default: the one chosen most often)")
    parser.add_argument("--refit_head", type=Path, default=None,
                        help="only refit the head of this existing export on --kinds (its C), record it (module doc)")
    parser.add_argument("--no_features", action="store_true", help="skip the features-model baseline")
    args = parser.parse_args()

    tracks = real_audio_tracks(args.gtzan_dir, parse_kinds(args.kinds))
    start = time.perf_counter()
    emb: dict[str, dict[str, np.ndarray]] = {}
    if args.cache and args.cache.is_file():  # plain arrays (no pickle); tracks missing from it are embedded
        with np.load(args.cache) as flat:
            emb = {t.track_id: {layer: flat[f"{t.track_id}|{layer}"] for layer in LAYERS} for t in tracks
                   if all(f"{t.track_id}|{layer}" in flat.files for layer in LAYERS)}
    todo = [t for t in tracks if t.track_id not in emb]
    if todo:
        emb.update(embed_tracks(todo))
        if args.cache:
            np.savez(args.cache, **{f"{tid}|{layer}": v for tid, d in emb.items() for layer, v in d.items()})
    patches = sum(len(e["penultimate"]) for e in emb.values())
    kinds = Counter(t.kind for t in tracks)
    print(f"{len(tracks)} tracks ({kinds.get('clip', 0)} clips, {kinds.get('excerpt', 0)} excerpts), {patches} "
          f"patches of 3 s; embeddings in {time.perf_counter() - start:.0f} s; chance 0.10", flush=True)
    if args.refit_head:
        refit_head(args.refit_head, emb, tracks, {"dataset": DATASET,
                                                    "split": f"all {len(tracks)} tracks ({args.kinds})",
                                                    "kinds": list(parse_kinds(args.kinds))})
        return

    splits = artist_folds(tracks, args.folds, args.seed)
    print(summary(splits) + "\n", flush=True)
    grid = [(layer, C) for layer in LAYERS for C in CS]
    test_by_setting: dict[tuple[str, float], list[float]] = {s: [] for s in grid}
    chosen, test_acc, any_layer_acc, by_kind = [], [], [], []
    for k, split in enumerate(splits):
        scores, preds = {}, {}
        for layer, C in grid:
            head = fit_head(emb, split["train"], layer, C)
            pv = track_probs(head, emb, split["valid"], layer)
            pt = track_probs(head, emb, split["test"], layer)
            scores[(layer, C)] = (accuracy(pv, split["valid"]), -log_loss(pv, split["valid"]), accuracy(pt, split["test"]))
            preds[(layer, C)] = pt.argmax(axis=1)
            test_by_setting[(layer, C)].append(scores[(layer, C)][2])
        # the shipped recipe: the penultimate layer (the model's own classifier input), C chosen on
        # validation accuracy, then validation log-loss; and, for comparison, layer and C both chosen there
        best = max((s for s in grid if s[0] == "penultimate"), key=lambda s: scores[s][:2])
        best_any = max(grid, key=lambda s: scores[s][:2])
        chosen.append(best)
        test_acc.append(scores[best][2])
        any_layer_acc.append(scores[best_any][2])
        by_kind.append(accuracy_by_kind(split["test"], preds[best]))
        print(f"fold {k + 1}: penultimate C={best[1]:g} chosen on valid ({scores[best][0]:.3f}): test accuracy "
              f"{scores[best][2]:.3f} ({len(split['test'])} tracks: " + ", ".join(
                  f"{kind} {r}/{n}" for kind, (r, n) in by_kind[-1].items() if n) + f"); any layer: {best_any[0]} "
              f"C={best_any[1]:g} (valid {scores[best_any][0]:.3f}): test {scores[best_any][2]:.3f}", flush=True)
        if args.fold_models:
            head = fit_head(emb, split["train"], *best)
            rule = fold_rule(splits, k)
            record = track_record({name: [t.track_id for t in split[name]] for name in ("train", "valid", "test")},
                                  {"dataset": DATASET, **rule})
            to_hf_model(head, "penultimate", args.fold_models / "musicnn" / f"fold{k + 1}",
                        {"layer": "penultimate", "C": best[1], "fold": k + 1, "trained_on": "train folds only"}, record)

    print(f"\nmusicnn (MSD) penultimate embeddings + logistic regression, C chosen on each validation fold: "
          f"test accuracy {mean_std(test_acc)} (folds: {', '.join(f'{a:.3f}' for a in test_acc)})")
    print(f"layer and C both chosen on each validation fold: test accuracy {mean_std(any_layer_acc)} "
          f"(folds: {', '.join(f'{a:.3f}' for a in any_layer_acc)})")
    print("\nevery setting's test accuracy (for transparency only; nothing was chosen on these):")
    print("| layer | C | mean ± std |\n|---|---|---|")
    for (layer, C), accs in test_by_setting.items():
        print(f"| {layer} | {C:g} | {mean_std(accs)} |")
    rows = {"musicnn embeddings + logistic regression (C chosen on valid)": by_kind}
    if not args.no_features:
        rows["features-model recipe refit per fold"] = features_baseline(splits, tracks)
    kinds_md = kinds_table(rows)
    print("\ntest-fold track accuracy by kind of track (mean ± std over folds; right/total over all folds):\n")
    print(kinds_md)

    if args.export:
        # one setting for the shipped model: the C chosen most often on the validation folds (or --C)
        C = args.C if args.C is not None else Counter(c for _, c in chosen).most_common(1)[0][0]
        head = fit_head(emb, tracks, "penultimate", C)
        cv = {"protocol": f"{args.folds}-fold CV grouped by artist on {len(tracks)} GTZAN tracks ({args.kinds}; "
                          f"finetune.folds.artist_folds, seed {args.seed}, fingerprint "
                          f"{splits.fingerprint[:12]}): test fold k, validation fold k+1 (C chosen there), "
                          "trained on the other three", "test_accuracy_mean": statistics.mean(test_acc),
              "test_accuracy_std": statistics.stdev(test_acc), "test_accuracy_folds": test_acc,
              "by_kind": {kind: [list(f[kind]) for f in by_kind] for kind in ("clip", "excerpt", "pooled")}}
        record = track_record({"train": [t.track_id for t in tracks]},
                              {"dataset": DATASET,
                               "split": f"all {len(tracks)} tracks ({args.kinds})",
                               "kinds": list(parse_kinds(args.kinds)),
                               "C_chosen_on": f"the validation folds of folds {splits.fingerprint[:12]}"})
        trained_on = (f"{len(tracks)} real GTZAN tracks in `../shared/data/gtzan` ({kinds.get('clip', 0)} 30-s clips, "
                      f"{kinds.get('excerpt', 0)} 2-3 s excerpts)")
        info = {"layer": "penultimate", "C": C, "trained_on": trained_on, "cross_validation": cv}
        to_hf_model(head, "penultimate", args.export, info, record)
        worst = check_parity(args.export, head, emb, tracks)
        write_head_record(args.export, head, record, {"C": C, "parity_max_abs_diff": worst, **cv})
        write_card(args.export, C, cv, kinds_md, worst, trained_on)
        print(f"\nexported {args.export} (penultimate, C={C:g}, all {len(tracks)} tracks); "
              f"max |HF model − scikit-learn| per-patch probability {worst:.1e}")
        if worst > 1e-4:
            raise SystemExit("the exported model does not reproduce the head")


if __name__ == "__main__":
    main()
