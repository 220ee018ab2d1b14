"""Our models trained on the real GTZAN audio (from scratch; musicnn fine-tuned): 5-fold CV grouped by artist.

    python benchmarks/train_real_audio.py                        # every family below; 30 epochs; 5 folds; 380 tracks
    python benchmarks/train_real_audio.py --models mel_cnn --epochs 5 --folds 5
    python benchmarks/train_real_audio.py --models mel_cnn --kinds clip          # the 70 30-s clips only
    python benchmarks/train_real_audio.py --models wavenet --epochs 4 --threads 1   # raw audio, slowest
    python benchmarks/train_real_audio.py --models musicnn --epochs 5   # fine-tune the shipped MSD musicnn

Data: ``../shared/data/gtzan`` (never copied into the repo): the 70 clips of ``audio/`` (15-30 s)
and the 310 excerpts of ``snippets/`` (2-3 s, of 310 other tracks): 380 tracks. The folds are
:func:`finetune.folds.artist_folds` (grouped by artist, stratified by genre as far as the groups
allow; the same folds every real-audio benchmark uses): fold k is the test set, fold k+1 the
validation set (early stopping, best epoch), the others are trained on, as random 3-s crops (an
excerpt shorter than the crop is used whole). Each held-out track is scored by averaging its
consecutive 3-s windows, so accuracy is per track (chance 0.10), reported on the clips, on the
excerpts and pooled. Training is ``finetune/train.py``'s own loop (:func:`finetune.train.run`);
each fold model records the folds' fingerprint and its fold (``metrics.json`` ``track_record``);
audio is decoded once and shared by all folds and models. Prints one line per model and fold,
then mean ± std.
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

import torch  # noqa: E402

from finetune.arguments import DataArguments, ModelArguments, TrainArguments  # noqa: E402
from finetune.data import AudioStore, DataSplits  # noqa: E402
from finetune.folds import (  # noqa: E402
    DATASET,
    GTZAN_DIR,
    accuracy_by_kind,
    artist_folds,
    fold_rule,
    kinds_table,
    parse_kinds,
    real_audio_tracks,
    summary,
)
from finetune.train import run  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402


def family_rate(family: str) -> int:
    """The sampling rate a family's feature extractor reads (22.05 kHz for ours, 16 kHz for musicnn, yamnet
    and the Hub backbones: whisper, distilhubert, wav2vec2)."""
    from finetune.modeling import HUB_FAMILIES, PRETRAINED_FAMILIES
    from genre_models.hf_models import MODEL_FAMILIES

    if family in HUB_FAMILIES:
        return 16000
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
    parser.add_argument("--only_folds", default=None, help="train only these folds, e.g. 1 or 1,3 (a quick look)")
    parser.add_argument("--chunk_seconds", type=float, default=3.0)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--patience", type=int, default=8, help="early stopping on the validation fold")
    parser.add_argument("--seed", type=int, default=42, help="the folds' seed and the training seed")
    parser.add_argument("--gtzan_dir", type=Path, default=GTZAN_DIR, help="folder with audio/, snippets/, artists.csv")
    parser.add_argument("--kinds", default="clip,excerpt", help="clip (30-s clips), excerpt (2-3 s), or both")
    parser.add_argument("--output_dir", type=Path, default=None, help="keep the fold models here (default: a temp dir)")
    parser.add_argument("--model_name_or_path", default=None,
                        help="checkpoint every family of this run starts from (e.g. whisper-base: the offline Whisper)")
    parser.add_argument("--freeze_encoder_layers", type=int, default=None,
                        help="whisper: keep the front end and the first N encoder blocks fixed")
    parser.add_argument("--learning_rate", type=float, default=None, help="default: train.py's per family")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's; 1 is faster on a busy shared CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.folds < 3:
        parser.error("--folds must be at least 3 (one test fold, one validation fold, the rest to train on)")

    tracks = real_audio_tracks(args.gtzan_dir, parse_kinds(args.kinds))
    labels = list(GTZAN_GENRES)
    stores: dict[int, tuple[AudioStore, DataSplits]] = {}  # per sampling rate (musicnn: 16 kHz), decoded once

    def prepared(rate: int) -> tuple[AudioStore, DataSplits]:
        if rate not in stores:
            store = AudioStore(rate)
            stores[rate] = store, store.prepare(DataSplits(labels, {"all": tracks}, "all", str(args.gtzan_dir)),
                                                num_workers=2, progress=False)
        return stores[rate]

    data_all = prepared(22050)[1]
    if data_all.skipped:
        raise SystemExit(f"{len(data_all.skipped)} track(s) do not decode: {data_all.skipped[:3]} "
                         "(the folds need them all)")
    splits = artist_folds(tracks, args.folds, args.seed)
    print(f"{len(tracks)} tracks; {args.folds}-fold CV grouped by artist, {args.chunk_seconds:g}-s chunks, "
          f"{args.epochs} "
          f"epochs; torch threads {torch.get_num_threads()}; chance 0.10\n\n{summary(splits)}\n", flush=True)
    only = {int(k) for k in args.only_folds.split(",")} if args.only_folds else set(range(1, args.folds + 1))
    root = args.output_dir or Path(tempfile.mkdtemp(prefix="train-real-audio-"))
    summary_rows, kinds_rows = {}, {}
    for family in [m.strip() for m in args.models.split(",") if m.strip()]:
        accs, by_kind = [], []
        for k, split in enumerate(splits):
            if k + 1 not in only:
                continue
            start = time.perf_counter()
            rule = fold_rule(splits, k)
            data = DataSplits(labels, split, rule["split"], DATASET, rule=rule)
            metrics = run(
                ModelArguments(model=family, model_name_or_path=args.model_name_or_path,
                               freeze_encoder_layers=args.freeze_encoder_layers),
                DataArguments(dataset="audiofolder", chunk_seconds=args.chunk_seconds),
                TrainArguments(output_dir=str(root / family / f"fold{k + 1}"), overwrite_output_dir=True,
                               num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
                               early_stopping_patience=args.patience, seed=args.seed, report_to="none",
                               learning_rate=args.learning_rate,
                               dataloader_num_workers=0, disable_tqdm=True),
                data=data, store=prepared(family_rate(family))[0],
            )
            answers = metrics["test_predictions"]  # canonical id -> genre, as train.py scored the best model
            kinds = accuracy_by_kind(split["test"], [labels.index(answers[t.stem]) for t in split["test"]])
            accs.append(metrics["test_accuracy"])
            by_kind.append(kinds)
            print(f"{family:8s} fold {k + 1}: test accuracy {metrics['test_accuracy']:.3f} "
                  f"({metrics['test_tracks']} tracks: " + ", ".join(f"{kind} {r}/{n}" for kind, (r, n) in kinds.items())
                  + f"), macro-F1 {metrics['test_macro_f1']:.3f}, best epoch "
                  f"{metrics['best_epoch']}/{metrics['epochs']}, {time.perf_counter() - start:.0f} s", flush=True)
        summary_rows[family], kinds_rows[family] = accs, by_kind
    ran = sorted(only)
    print("\n| model | " + " | ".join(f"fold {k}" for k in ran) + " | mean ± std |")
    print("|---|" + "---|" * (len(ran) + 1))
    for family, accs in summary_rows.items():
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {family} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | {statistics.mean(accs):.3f} ± {std:.3f} |")
    print("\ntest-fold track accuracy by kind of track (mean ± std over folds; right/total over all folds):\n")
    print(kinds_table(kinds_rows))
    print(f"\nfold models and reports: {root} (folds fingerprint {splits.fingerprint})")


if __name__ == "__main__":
    main()
