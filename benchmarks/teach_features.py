"""Which backbone variants ``teach`` reads by default: ``genre_models.heads`` cross-validated on GTZAN's
artist folds (and the AllMusic previews' set-valued labels), one row per feature set.

    python benchmarks/teach_features.py                                  # GTZAN's 380 tracks (clips, excerpts)
    python benchmarks/teach_features.py --kinds clip,excerpt,allmusic    # + 240 AllMusic previews
    python benchmarks/teach_features.py --features msd-musicnn:pooled --cache runs/emb

The tracks and folds are ``benchmarks/genre_heads.py``'s (``finetune.folds.real_audio_tracks`` and
``artist_folds``, 5 folds, seed 42: fold k scored, fold k+1 chooses C, the others train); each track's
windows are embedded once through ``genre_models.embeddings`` (``teach``'s cache and layout: 3-s windows,
at most 10 per track) and a head is fit per fold by ``genre_models.heads`` (C from 0.003-0.3 chosen on the
validation fold; every track weighing the same, and with ``balanced`` every label). Printed per feature
set: test-fold track accuracy mean ± std over the folds, and right/total per kind ("right" for an
AllMusic preview: the answer is one of the genres its set allows).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

DEFAULT_SETS = ("msd-musicnn:pooled", "yamnet-audioset:meanmax", "msd-musicnn:pooled,yamnet-audioset:meanmax",
                "msd-musicnn:penultimate,yamnet-audioset:mean")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="clip,excerpt", help="clip, excerpt, allmusic (comma-separated)")
    parser.add_argument("--features", action="append", default=None, metavar="NAME:VARIANT,...",
                        help="a feature set (repeat); default: the four of docs/teach.md")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (default: teach's)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--max-windows", type=int, default=10)
    args = parser.parse_args()

    from finetune.folds import GTZAN_DIR, artist_folds, parse_kinds, real_audio_tracks
    from genre_models.embedding_cache import EmbeddingStore, FileStat, cache_key
    from genre_models.embeddings import parse_features, stack_features
    from genre_models.heads import WindowSet, cv_linear_head
    from genre_models.labels import GTZAN_GENRES
    from genre_models.teach import embed_songs

    tracks = real_audio_tracks(GTZAN_DIR, parse_kinds(args.kinds))
    folds = artist_folds(tracks, 5, 42)
    test_fold = {t.track_id: k for k, split in enumerate(folds) for t in split["test"]}
    sets = [parse_features(s) for s in (args.features or DEFAULT_SETS)]
    backbones = list(dict.fromkeys(f.backbone for fs in sets for f in fs))
    paths = [Path(t.source) for t in tracks]
    store = EmbeddingStore(args.cache, backbones, 3.0, args.max_windows)
    print(f"{len(tracks)} tracks ({args.kinds}), folds {folds.fingerprint[:12]}; "
          + embed_songs(store, paths, jobs=args.jobs).line(), flush=True)
    store = EmbeddingStore(args.cache, backbones, 3.0, args.max_windows)  # re-read the index
    allowed = np.zeros((len(tracks), len(GTZAN_GENRES)), bool)
    for i, t in enumerate(tracks):
        allowed[i, list(t.allowed_labels)] = True
    fold = np.array([test_fold[t.track_id] for t in tracks])
    kinds = [k for k in ("clip", "excerpt", "allmusic") if any(t.kind == k for t in tracks)]
    print("\n| features (dims) | balanced | test accuracy | " + " | ".join(kinds) + " | C per fold |")
    print("|---|---|---|" + "---|" * len(kinds) + "---|")
    for features in sets:
        rows = [stack_features(store.load(cache_key(p), FileStat.of(p), features)[1], features) for p in paths]
        data = WindowSet.from_tracks(rows, allowed, np.array([t.group for t in tracks]), list(GTZAN_GENRES),
                                     [t.track_id for t in tracks])
        for balance in (False, True):
            started = time.perf_counter()
            r = cv_linear_head(data, fold=fold, balance=balance)
            of_kind = {k: np.array([t.kind == k for t in tracks]) for k in kinds}
            by_kind = " | ".join(f"{int(r.right[m].sum())}/{int(m.sum())}" for m in of_kind.values())
            print(f"| `{','.join(map(str, features))}` ({data.X.shape[1]}) | {'yes' if balance else 'no'} | "
                  f"{np.mean(r.test_accuracy):.3f} ± {np.std(r.test_accuracy, ddof=1):.3f} | {by_kind} | "
                  f"{', '.join(f'{c:g}' for c in r.chosen_per_fold)} ({time.perf_counter() - started:.0f} s) |",
                  flush=True)


if __name__ == "__main__":
    main()
