"""Our models trained on the 70 real GTZAN clips (from scratch; musicnn fine-tuned): 5-fold CV by track.

    python benchmarks/train_real_audio.py                        # every family below; 30 epochs; 5 folds
    python benchmarks/train_real_audio.py --models mel_cnn --epochs 5 --folds 5
    python benchmarks/train_real_audio.py --models wavenet --epochs 4 --threads 1   # raw audio, slowest
    python benchmarks/train_real_audio.py --models musicnn --epochs 5   # fine-tune the shipped MSD musicnn

Data: ``../shared/data/gtzan/audio`` (10 genres × 7 clips, 15–30 s; never copied into the repo).
Each fold is a set of *tracks* (stratified by genre); the next fold is the validation set (early
stopping, best epoch) and the other three are trained on, as random 3-s crops. Each held-out
track is scored by averaging its consecutive 3-s windows, so accuracy is per track (chance 0.10).
Training is ``finetune/train.py``'s own loop (:func:`finetune.train.run`); audio is decoded once
and shared by all folds and models. Prints one line per model and fold, then mean ± std.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from finetune.arguments import DataArguments, ModelArguments, TrainArguments  # noqa: E402
from finetune.data import GTZAN_CORRUPT, AudioStore, DataSplits, Track, check_disjoint  # noqa: E402
from finetune.train import run  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402

AUDIO = REPO.parent / "shared" / "data" / "gtzan" / "audio"


def gtzan_clips(audio_dir: Path) -> list[Track]:
    """``<genre>.000NN.wav`` files of a flat folder as tracks (GTZAN label ids)."""
    tracks = []
    for path in sorted(audio_dir.glob("*.wav")):
        genre = path.name.split(".")[0]
        if genre in GTZAN_GENRES and path.stem not in GTZAN_CORRUPT:
            tracks.append(Track(f"{genre}/{path.stem}", GTZAN_GENRES.index(genre), str(path)))
    return tracks


def folds(tracks: list[Track], n_folds: int, seed: int) -> list[dict[str, list[Track]]]:
    """Fold k: test = fold k, valid = fold k+1, train = the rest. Every sample is a whole track, so
    the folds are grouped by track by construction (chunks are cut later, inside each split)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.array([t.label for t in tracks])
    parts = [test for _, test in StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(len(tracks)), labels)]
    out = []
    for k in range(n_folds):
        test, valid = set(parts[k]), set(parts[(k + 1) % n_folds])
        split = {"train": [t for i, t in enumerate(tracks) if i not in test | valid],
                 "valid": [tracks[i] for i in sorted(valid)], "test": [tracks[i] for i in sorted(test)]}
        check_disjoint(split)
        out.append(split)
    return out


def family_rate(family: str) -> int:
    """The sampling rate a family's feature extractor reads (22.05 kHz for ours, 16 kHz for musicnn)."""
    from finetune.modeling import PRETRAINED_FAMILIES
    from genre_models.hf_models import MODEL_FAMILIES

    if family in PRETRAINED_FAMILIES:
        from transformers import AutoFeatureExtractor

        return int(AutoFeatureExtractor.from_pretrained(PRETRAINED_FAMILIES[family][0]).sampling_rate)
    _, _, extractor_cls, defaults = MODEL_FAMILIES[family]
    return int(extractor_cls(**defaults).sampling_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mel_cnn,lstm,crnn,wavenet,cnn1d,dnn", help="comma-separated families")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--chunk_seconds", type=float, default=3.0)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--patience", type=int, default=8, help="early stopping on the validation fold")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--audio_dir", type=Path, default=AUDIO)
    parser.add_argument("--output_dir", type=Path, default=None, help="keep the fold models here (default: a temp dir)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's; 1 is faster on a busy shared CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.folds < 3:
        parser.error("--folds must be at least 3 (one test fold, one validation fold, the rest to train on)")

    tracks = gtzan_clips(args.audio_dir)
    if not tracks:
        raise SystemExit(f"no GTZAN clips in {args.audio_dir}")
    labels = list(GTZAN_GENRES)
    stores: dict[int, tuple[AudioStore, DataSplits]] = {}  # per sampling rate (musicnn: 16 kHz), decoded once

    def prepared(rate: int) -> tuple[AudioStore, DataSplits]:
        if rate not in stores:
            store = AudioStore(rate)
            stores[rate] = store, store.prepare(DataSplits(labels, {"all": tracks}, "all", str(args.audio_dir)),
                                                num_workers=2, progress=False)
        return stores[rate]

    data_all = prepared(22050)[1]
    print(f"{len(data_all.splits['all'])} clips, {len(data_all.skipped)} skipped; {args.folds}-fold CV by track, "
          f"{args.chunk_seconds:g}-s chunks, {args.epochs} epochs; torch threads {torch.get_num_threads()}; chance 0.10",
          flush=True)
    splits = folds(data_all.splits["all"], args.folds, args.seed)
    root = args.output_dir or Path(tempfile.mkdtemp(prefix="train-real-audio-"))
    summary = {}
    for family in [m.strip() for m in args.models.split(",") if m.strip()]:
        accs = []
        for k, split in enumerate(splits):
            start = time.perf_counter()
            data = DataSplits(labels, split, f"cv{k + 1}of{args.folds}", f"GTZAN clips ({args.audio_dir})")
            metrics = run(
                ModelArguments(model=family),
                DataArguments(dataset="audiofolder", chunk_seconds=args.chunk_seconds),
                TrainArguments(output_dir=str(root / family / f"fold{k + 1}"), overwrite_output_dir=True,
                               num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
                               early_stopping_patience=args.patience, seed=args.seed, report_to="none",
                               dataloader_num_workers=0, disable_tqdm=True),
                data=data, store=prepared(family_rate(family))[0],
            )
            accs.append(metrics["test_accuracy"])
            print(f"{family:8s} fold {k + 1}: test accuracy {metrics['test_accuracy']:.3f} "
                  f"({metrics['test_tracks']} tracks), macro-F1 {metrics['test_macro_f1']:.3f}, best epoch "
                  f"{metrics['best_epoch']}/{metrics['epochs']}, {time.perf_counter() - start:.0f} s", flush=True)
        summary[family] = accs
    print("\n| model | " + " | ".join(f"fold {k + 1}" for k in range(args.folds)) + " | mean ± std |")
    print("|---|" + "---|" * (args.folds + 1))
    for family, accs in summary.items():
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {family} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | {statistics.mean(accs):.3f} ± {std:.3f} |")
    print(f"\nfold models and reports: {root}")


if __name__ == "__main__":
    main()
