"""Window embeddings of the real tracks (GTZAN + AllMusic), per backbone and per *view*, cached for the head benchmarks.

    python benchmarks/embed_tracks.py --backbones msd-musicnn,yamnet-audioset --views orig --cache runs/emb
    python benchmarks/embed_tracks.py --backbones msd-musicnn --views pitch,mp3 --cache runs/emb   # augmented views

Why a cache: the heads (``benchmarks/default_ensemble.py``) are refit hundreds of times over folds,
settings and members, and a backbone pass over 620 tracks costs minutes; the vectors are computed
once here through the library's own path (:mod:`genre_models.embeddings`: the app's 3-s windows at
16 kHz, :func:`genre_models.windows.plan_windows` with hop = window) and read back many times.

A *view* is ``orig`` (the track as it is) or an augmentation of :mod:`finetune.augment` applied to the
whole track before it is cut into windows (``pitch``, ``mp3``, ...), seeded per track
(:func:`view_seed`), so a view is the same on every run. Only training tracks ever use an augmented
view (the benchmark's business); here every track gets every view asked for.

The cache is one ``.npz`` per backbone and view (``<cache>/<backbone>/<view>.npz``, keys
``<track_id>#<variant>``) plus a JSON beside it naming the backbone's recipe
(:func:`genre_models.embeddings.recipe`): a cache made by other weights or settings is refused.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from finetune.augment import AUGMENTATIONS, augment  # noqa: E402
from finetune.folds import ALLMUSIC_DIR, GTZAN_DIR, KINDS, parse_kinds, real_audio_tracks  # noqa: E402
from genre_models.audio import load_audio  # noqa: E402
from genre_models.embeddings import SAMPLE_RATE, WINDOW_SECONDS, load_backbone, recipe  # noqa: E402
from genre_models.windows import plan_windows  # noqa: E402

VIEWS = ("orig", *AUGMENTATIONS)


def view_seed(track_id: str, view: str) -> int:
    """A fixed seed per (track, view): the same augmented audio on every run and machine."""
    return int.from_bytes(hashlib.sha256(f"{track_id}|{view}".encode()).digest()[:4], "little")


def view_audio(source: str, track_id: str, view: str) -> np.ndarray:
    """The track at 16 kHz as ``view`` makes it."""
    y = load_audio(source, sr=SAMPLE_RATE)
    return y if view == "orig" else augment(y, SAMPLE_RATE, view, view_seed(track_id, view))


def windows_of(y: np.ndarray, seconds: float = WINDOW_SECONDS) -> list[np.ndarray]:
    """The app's scoring windows of a whole track (hop = window; a short track is one short window)."""
    size = int(round(seconds * SAMPLE_RATE))
    return [y[s:e] for s, e in plan_windows(len(y), size, size)]


def cache_path(cache: Path, backbone: str, view: str) -> Path:
    return cache / backbone / f"{view}.npz"


def read_cache(cache: Path, backbone: str, view: str) -> dict[str, dict[str, np.ndarray]]:
    """track id -> variant -> ``(windows, width)``; empty when there is no cache yet. Refuses a cache
    written with another recipe (weights, settings, window layout)."""
    path = cache_path(cache, backbone, view)
    if not path.is_file():
        return {}
    meta = json.loads(path.with_suffix(".json").read_text())
    want = recipe(backbone)
    if meta.get("recipe") != json.loads(json.dumps(want)):
        raise SystemExit(f"{path} was made with another recipe ({meta.get('recipe')} vs {want}): delete it")
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path) as flat:
        for key in flat.files:
            tid, variant = key.split("#", 1)
            out.setdefault(tid, {})[variant] = flat[key]
    return out


def write_cache(cache: Path, backbone: str, view: str, emb: dict[str, dict[str, np.ndarray]]) -> None:
    path = cache_path(cache, backbone, view)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f"{tid}#{v}": a for tid, d in emb.items() for v, a in d.items()})
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps({"recipe": recipe(backbone), "view": view,
                                                     "tracks": len(emb)}, indent=2) + "\n")


def embed_views(tracks, backbones: Sequence[str], views: Sequence[str], cache: Path,
                save_every: int = 50) -> dict[tuple[str, str], dict[str, dict[str, np.ndarray]]]:
    """Every (backbone, view) for every track, from the cache or computed (each track decoded and
    augmented once per view for all backbones); saved as it goes, so a killed run resumes."""
    out = {}
    for view in views:
        have = {b: read_cache(cache, b, view) for b in backbones}
        todo = [t for t in tracks if any(t.track_id not in have[b] for b in backbones)]
        start, done = time.perf_counter(), 0
        for t in todo:
            wins = windows_of(view_audio(t.source, t.track_id, view))
            for b in backbones:
                if t.track_id not in have[b]:
                    have[b][t.track_id] = {v: a.cpu().numpy() for v, a in load_backbone(b).embed(wins).items()}
            done += 1
            if done % save_every == 0 or done == len(todo):
                for b in backbones:
                    write_cache(cache, b, view, have[b])
                print(f"  {view}: {done}/{len(todo)} tracks embedded ({time.perf_counter() - start:.0f} s)",
                      flush=True)
        for b in backbones:
            out[(b, view)] = {t.track_id: have[b][t.track_id] for t in tracks}
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="msd-musicnn,yamnet-audioset")
    parser.add_argument("--views", default="orig", help=f"comma-separated: {', '.join(VIEWS)}")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--gtzan_dir", type=Path, default=GTZAN_DIR)
    parser.add_argument("--allmusic_dir", type=Path, default=ALLMUSIC_DIR)
    parser.add_argument("--cache", type=Path, default=REPO / "runs" / "emb")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    bad = [v for v in views if v not in VIEWS]
    if bad:
        raise SystemExit(f"unknown views {bad}; choose from {VIEWS}")
    tracks = real_audio_tracks(args.gtzan_dir, parse_kinds(args.kinds), args.allmusic_dir)
    backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    start = time.perf_counter()
    emb = embed_views(tracks, backbones, views, args.cache)
    windows = sum(len(next(iter(d.values()))) for d in emb[(backbones[0], views[0])].values())
    print(f"{len(tracks)} tracks, {windows} windows per view, backbones {backbones}, views {views}: "
          f"{time.perf_counter() - start:.0f} s (cache {args.cache})")


if __name__ == "__main__":
    main()
