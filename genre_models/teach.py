"""Teach a model your own genres from the tags (or folders) of your music library, on a CPU, in minutes.

    python -m genre_models teach ~/Music --labels-from-tags --out my-genres     # genre tags → labels
    python -m genre_models teach dataset/ --out my-genres                       # dataset/<label>/<file>
    python -m genre_models predict ~/Music -r --model my-genres --disagreements # songs whose tag it doubts

What it does, and why:

1. **Labels** (:mod:`genre_models.filetags`): every audio file under the folders (any depth) gives its
   genre tag values (ID3 ``TCON``, Vorbis ``GENRE``, MP4 ``©gen``; ``;`` or ``|`` between several) or,
   for the audiofolder layout (``datasets``' convention), the name of its first folder below the root.
   Spellings of one label are merged ("Hip-Hop", "hip hop", "HipHop" → the most common of them);
   untagged files are reported, labels with fewer than ``--min-songs`` songs skipped (and listed). A
   song with several labels may be any of them (a partial label, :mod:`genre_models.heads`).
2. **Embeddings** (:mod:`genre_models.embeddings`): every labelled song once, through the shipped
   default's frozen backbones (musicnn and YAMNet), in the library labeller's worker processes
   (:func:`genre_models.library.pool_map`: ``--jobs``, threads per worker, a crashing file isolated),
   into a cache that survives ``kill -9`` and notices changed files (:mod:`genre_models.embedding_cache`):
   a second ``teach`` with other labels embeds nothing again.
3. **Head** (:mod:`genre_models.heads`): a linear softmax head on the windows' vectors, every song
   weighing the same; its regularisation chosen by cross-validation grouped by the artist tag (else
   by folder), as the shipped GTZAN heads are; per-label counts, CV accuracy and the confusion matrix
   are printed and kept in the model card.
4. **Model** (:mod:`genre_models.hf_models.embedding_head`): a normal model folder (config.json with
   your labels, model.safetensors with the head only, preprocessor_config.json, README.md) that
   ``predict --model``, the library labeller, the app (``GENRE_MODELS=DIR``) and ``pipeline()`` load.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shlex
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .audio import AudioLoadError
from .embedding_cache import EmbeddingStore, FileStat, cache_key, stat_or_none
from .embeddings import WINDOW_SECONDS, Feature, audio_digest, backbone_kind, embed_file, parse_features
from .filetags import DEFAULT_SEPARATORS, LabelMerger, artist_key, label_key, read_tags
from .heads import DEFAULT_CS, CVReport, WindowSet, cv_linear_head
from .library import (
    WORKER_DIED,
    Progress,
    _exit_with_parent,
    cpu_count,
    find_audio,
    pick_device,
    pool_map,
    thread_env,
    threads_per_worker,
)

DEFAULT_FEATURES = "msd-musicnn:penultimate,yamnet-audioset:mean"  # best of those measured (docs/teach.md)
DEFAULT_MAX_WINDOWS = 10  # a 30-s preview whole; a long song's ten windows spread over it
DEFAULT_MIN_SONGS = 5
DEFAULT_FOLDS = 5
NO_CV_C = 0.1  # the head's C when there are too few artists to cross-validate
POOL_FROM = 8  # fewer songs to embed than this are embedded in this process (worker start-up costs more)
# model selection cheaper than the final fit (on 200 songs: a third of the iterations, the same accuracy and
# nearly the same Cs, measured by benchmarks/bench_teach.py's library): at most 5 windows of a song in the
# folds' fits, scikit-learn's tolerance x10; the final head is fit on every window to scikit-learn's own 1e-4
CV_WINDOWS = 5
CV_TOL = 1e-3


class TeachError(ValueError):
    """Input that cannot teach a model (no tags, one label, ...); the message says what to do."""


# ---------------------------------------------------------------------------------------------
# songs and their labels
# ---------------------------------------------------------------------------------------------
@dataclass
class Song:
    path: Path
    values: list[str]  # the tag values (or the folder name) the labels come from
    group: str  # what CV keeps together: the artist, else the folder
    note: str | None = None  # why it has no label (untagged, unreadable tags)
    labels: list[str] = field(default_factory=list)  # after merging and the --min-songs filter


def folder_label(path: Path, roots: Sequence[Path]) -> str | None:
    """The audiofolder label of ``path``: its first folder below the root it was found under."""
    for root in roots:
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            continue
        return parts[0] if len(parts) > 1 else None
    return None


def collect_songs(files: Sequence[Path], roots: Sequence[Path], labels_from: str) -> list[Song]:
    """Each file's label values and group (the artist tag, else the folder holding the file)."""
    songs = []
    for f in files:
        tags = read_tags(f)
        group = artist_key(tags.artist)
        group = f"artist:{group}" if group else f"folder:{os.path.abspath(f.parent)}"
        if labels_from == "tags":
            note = tags.error or (None if tags.genres else "no genre tag")
            songs.append(Song(f, list(tags.genres), group, note))
        else:
            label = folder_label(f, roots)
            songs.append(Song(f, [label] if label else [], group, None if label else "not in a label folder"))
    return songs


@dataclass
class LabelPlan:
    merger: LabelMerger
    labels: list[str]  # kept, by songs (most first)
    songs: Counter  # label name -> songs (all labels seen, kept or not)
    skipped: dict[str, int]  # label -> songs, below --min-songs
    merged: dict[str, dict[str, int]]  # label -> {spelling: count} where several spellings met


def plan_labels(songs: Sequence[Song], merger: LabelMerger, min_songs: int) -> LabelPlan:
    """Merge spellings, count songs per label, drop rare labels; sets each song's ``labels``."""
    keys_songs = merger.fit(s.values for s in songs)
    spellings = merger.spellings(s.values for s in songs)
    counts = Counter({merger.names[k]: n for k, n in keys_songs.items()})
    kept = [label for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_songs]
    skipped = {label: n for label, n in counts.items() if n < min_songs}
    merged = {merger.names[k]: dict(c.most_common()) for k, c in spellings.items() if len(c) > 1}
    keep = set(kept)
    for s in songs:
        s.labels = [label for label in merger.labels(s.values) if label in keep]
    return LabelPlan(merger, kept, counts, skipped, merged)


# ---------------------------------------------------------------------------------------------
# embedding songs into the cache, in the library labeller's worker processes
# ---------------------------------------------------------------------------------------------
@dataclass
class EmbedTask:
    path: str
    key: str
    stat: FileStat
    backbones: tuple[str, ...]
    known_digest: str | None  # the digest of this path's audio when last embedded (its stat changed since)
    window_seconds: float
    max_windows: int | None
    max_seconds: float | None


@dataclass
class EmbedResult:
    task: EmbedTask
    embedding: Any = None  # FileEmbedding
    same_audio: bool = False
    error: str | None = None


def embed_task(task: EmbedTask) -> EmbedResult:
    """Embed one song (a bad file is the result's error, never an exception)."""
    try:
        if task.known_digest is not None and audio_digest(task.path, task.max_seconds) == task.known_digest:
            return EmbedResult(task, same_audio=True)
        emb = embed_file(task.path, task.backbones, window_seconds=task.window_seconds, max_windows=task.max_windows,
                         max_seconds=task.max_seconds)
        return EmbedResult(task, emb)
    except AudioLoadError as err:
        return EmbedResult(task, error=str(err))
    except Exception as err:  # a decoder failing on one odd file must not end the run
        return EmbedResult(task, error=f"unexpected {type(err).__name__}: {err}")


_WORKER: dict[str, Any] = {}


def _init_embed_worker(backbones: tuple[str, ...], threads: int, device: str, first_index: int, counter: Any,
                       parent: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        import torch

        from .embeddings import load_backbone

        torch.set_num_threads(threads)
        with counter.get_lock():
            index = first_index + counter.value
            counter.value += 1
        where = pick_device(device, index)
        for name in backbones:
            load_backbone(name).to(where)
    except BaseException as err:  # reported with the first song this worker gets
        _WORKER["failed"] = f"{type(err).__name__}: {err}"


def _embed_work(task: EmbedTask) -> EmbedResult:
    if "failed" in _WORKER:
        raise ValueError(f"a worker could not load the backbones: {_WORKER['failed']}")
    return embed_task(task)


@dataclass
class EmbedSummary:
    cached: int = 0
    embedded: int = 0
    same_audio: int = 0  # changed on disk (e.g. retagged), same audio: vectors reused
    failed: int = 0  # this run
    failed_before: int = 0  # listed in errors.csv, unchanged since
    rate: float = 0.0  # songs per minute embedded this run
    seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)  # path -> reason

    def line(self) -> str:
        parts = [f"{self.cached} cached", f"{self.embedded} embedded"]
        if self.embedded:
            parts[-1] += f" in {self.seconds:.0f} s ({self.rate:.1f} songs/min)"
        if self.same_audio:
            parts.append(f"{self.same_audio} changed on disk with the same audio (vectors reused)")
        if self.failed or self.failed_before:
            parts.append(f"{self.failed + self.failed_before} could not be read")
        return ", ".join(parts)


def embed_songs(store: EmbeddingStore, paths: Sequence[Path], *, jobs: int = 1, device: str = "auto",
                retry_errors: bool = False, max_seconds: float | None = None,
                err: TextIO | None = None) -> EmbedSummary:
    """Make sure every song of ``paths`` has fresh vectors for every backbone of ``store``."""
    err = err or sys.stderr
    out = EmbedSummary()
    tasks: list[EmbedTask] = []
    for path in paths:
        key = cache_key(path)
        stat = stat_or_none(path)
        if stat is None:
            out.failed += 1
            out.errors[str(path)] = "the file cannot be read (it was moved, deleted or is not readable)"
            continue
        need = tuple(b for b, c in store.caches.items() if c.fresh(key, stat) is None)
        if not need:
            out.cached += 1
            continue
        reason = None if retry_errors else store.errors.known(key, stat)
        if reason is not None:
            out.failed_before += 1
            out.errors[str(path)] = reason
            continue
        stale = [store.caches[b].stale(key) for b in need]
        digests = {e.digest for e in stale if e is not None}
        known = next(iter(digests)) if len(digests) == 1 and all(stale) else None
        tasks.append(EmbedTask(str(path), key, stat, need, known, store.window_seconds, store.max_windows,
                               max_seconds))
    if not tasks:
        return out
    progress = Progress(len(tasks), out.cached, "embedding: ", err, err)
    started = time.monotonic()

    def keep(result: EmbedResult) -> None:
        _store_result(store, result, out)
        progress.advance(result.error is not None)
        if result.error is not None:
            progress.note(f"{result.task.path}: {result.error}")

    try:
        checked, tasks = _check_changed(tasks, max(1, min(jobs, cpu_count())))
        for result in checked:
            keep(result)
        for result in _run_tasks(tasks, jobs, device):
            keep(result)
    finally:
        store.close()
    out.seconds = time.monotonic() - started
    out.rate = out.embedded / out.seconds * 60 if out.seconds > 0 else 0.0
    progress.summary()  # clears the progress line
    return out


def _store_result(store: EmbeddingStore, result: EmbedResult, out: EmbedSummary) -> None:
    t = result.task
    if result.error is not None:
        store.errors.add(t.key, t.stat, result.error)
        out.failed += 1
        out.errors[t.path] = result.error
    elif result.same_audio:
        for b in t.backbones:
            store.caches[b].relink(t.key, t.stat, store.caches[b].stale(t.key))
        out.same_audio += 1
    else:
        for b in t.backbones:
            store.caches[b].put(t.key, t.stat, result.embedding)
        out.embedded += 1


def _check_changed(tasks: list[EmbedTask], threads: int) -> tuple[list[EmbedResult], list[EmbedTask]]:
    """Songs whose file changed since they were embedded (retagged, most often) are decoded here, in
    threads, and their audio hashed: the same audio keeps its vectors, with no worker to start; the
    others are left to embed."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    changed = [t for t in tasks if t.known_digest is not None]
    if not changed:
        return [], tasks

    def check(t: EmbedTask) -> EmbedResult | EmbedTask:
        try:
            same = audio_digest(t.path, t.max_seconds) == t.known_digest
        except AudioLoadError as err:
            return EmbedResult(t, error=str(err))
        except Exception as err:  # a decoder failing on one odd file
            return EmbedResult(t, error=f"unexpected {type(err).__name__}: {err}")
        return EmbedResult(t, same_audio=True) if same else replace(t, known_digest=None)

    with ThreadPoolExecutor(threads) as pool:  # decoding (libsndfile, soxr) runs outside the GIL
        outcomes = list(pool.map(check, changed))
    results = [o for o in outcomes if isinstance(o, EmbedResult)]
    redo = {o.key: o for o in outcomes if isinstance(o, EmbedTask)}
    return results, [redo.get(t.key, t) for t in tasks if t.known_digest is None or t.key in redo]


def _run_tasks(tasks: list[EmbedTask], jobs: int, device: str) -> Iterator[EmbedResult]:
    if not tasks:
        return
    backbones = tuple(dict.fromkeys(b for t in tasks for b in t.backbones))
    if jobs <= 1 or len(tasks) < POOL_FROM:  # a few songs: starting workers would cost more than they save
        from .embeddings import load_backbone

        where = pick_device(device)
        for name in backbones:
            load_backbone(name).to(where)
        for t in tasks:
            yield embed_task(t)
        return
    jobs = min(jobs, len(tasks))
    threads = threads_per_worker(jobs)
    counter = mp.get_context("spawn").Value("i", 0)
    with thread_env(threads):
        initargs = (backbones, threads, device, 0, counter, os.getpid())
        for _, result in pool_map(_embed_work, tasks, jobs, initializer=_init_embed_worker, initargs=initargs,
                                  on_death=lambda task: EmbedResult(task, error=WORKER_DIED)):
            yield result


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
@dataclass
class TeachOptions:
    paths: list[Path]
    out: Path
    labels_from: str = "folders"  # or "tags"
    min_songs: int = DEFAULT_MIN_SONGS
    merges: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    separators: str = DEFAULT_SEPARATORS
    features: str = DEFAULT_FEATURES
    max_windows: int | None = DEFAULT_MAX_WINDOWS
    folds: int = DEFAULT_FOLDS
    Cs: tuple[float, ...] = DEFAULT_CS
    balance: bool = True  # every label weighs the same in the fit (not only every song)
    seed: int = 0
    jobs: int = 0  # 0: one per core, at most 4
    cache: Path | None = None
    retry_errors: bool = False
    max_seconds: float | None = None
    device: str = "auto"
    overwrite: bool = False
    command: str = ""


@dataclass
class TeachResult:
    out: Path
    labels: list[str]
    report: CVReport | None
    embed: EmbedSummary
    songs: int
    seconds: float


def _few(paths: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(str(p) for p in paths[:n])
    return shown + (f", ... ({len(paths) - n} more)" if len(paths) > n else "")


def run_teach(opts: TeachOptions, *, out: TextIO | None = None, err: TextIO | None = None) -> TeachResult:
    """The whole ``teach`` (see the module docstring). Raises :class:`TeachError` for input that cannot
    teach a model, ``ValueError`` for a bad option."""
    out, err = out or sys.stdout, err or sys.stderr
    started = time.monotonic()

    def say(msg: str = "") -> None:
        print(msg, file=out, flush=True)

    def warn(msg: str) -> None:
        print(msg, file=err, flush=True)

    features = parse_features(opts.features)
    if opts.min_songs < 1:
        raise ValueError("--min-songs must be at least 1")
    if opts.max_windows is not None and opts.max_windows < 2:
        raise ValueError("--max-windows must be at least 2 (or 0 for every window)")
    if opts.out.exists() and (not opts.out.is_dir() or (
            any(opts.out.iterdir()) and not opts.overwrite and not (opts.out / "config.json").is_file())):
        raise ValueError(f"{opts.out} exists and is not a model folder; choose another --out")
    merger = LabelMerger.from_options(opts.separators, opts.merges, opts.ignore)
    roots = [p for p in opts.paths if p.is_dir()]
    missing = [str(p) for p in opts.paths if not p.exists()]
    if missing:
        raise TeachError(f"no such file or folder: {', '.join(missing)}")

    # 1. songs and labels
    files = find_audio(opts.paths, recursive=True, warn=warn)
    if not files:
        raise TeachError(f"no audio files found under {', '.join(map(str, opts.paths))} "
                         "(.wav .flac .ogg .opus .mp3 .m4a .aac .aiff ...)")
    songs = collect_songs(files, roots, opts.labels_from)
    source = "genre tags" if opts.labels_from == "tags" else "folder names"
    say(f"teach: {len(files)} audio file(s) under {', '.join(map(str, opts.paths))}; labels from {source}")
    unlabelled = [s for s in songs if not s.values]
    unreadable = [s for s in unlabelled if s.note and s.note != "no genre tag" and s.note != "not in a label folder"]
    if unlabelled:
        what = "without a genre tag" if opts.labels_from == "tags" else "not inside a label folder"
        say(f"  {len(unlabelled)} file(s) {what} (not used): {_few([str(s.path) for s in unlabelled])}")
    for s in unreadable[:5]:
        warn(f"{s.path}: {s.note}")
    plan = plan_labels(songs, merger, opts.min_songs)
    if not plan.songs:
        hint = ("tag them (any tag editor: the Genre field), or sort them into one folder per label and run "
                "`teach DIR --out MODEL`" if opts.labels_from == "tags" else
                "put each song in a folder named after its label (DIR/<label>/<file>), or use --labels-from-tags")
        raise TeachError(f"none of the {len(files)} file(s) has a label ({source}): {hint}")
    for label, spellings in sorted(plan.merged.items()):
        say(f"  merged spellings into {label!r}: " + ", ".join(f"{s!r} ({n})" for s, n in spellings.items()))
    if plan.skipped:
        say(f"  skipped, fewer than {opts.min_songs} songs (--min-songs): "
            + ", ".join(f"{label} ({n})" for label, n in sorted(plan.skipped.items(), key=lambda kv: (-kv[1], kv[0]))))
    if len(plan.labels) < 2:
        only = f"only {plan.labels[0]!r} has" if plan.labels else "no label has"
        raise TeachError(f"{only} at least {opts.min_songs} songs; a model needs two labels or more. Tag more songs, "
                         "or lower --min-songs (labels and their songs: "
                         + ", ".join(f"{k} {n}" for k, n in plan.songs.most_common(8)) + ")")
    used = [s for s in songs if s.labels]
    say("  labels (songs): " + ", ".join(f"{label} ({plan.songs[label]})" for label in plan.labels))

    # 2. embeddings
    store = EmbeddingStore(opts.cache, [f.backbone for f in features], WINDOW_SECONDS, opts.max_windows)
    jobs = opts.jobs if opts.jobs > 0 else max(1, min(cpu_count(), 4))
    say(f"embedding {len(used)} song(s) with {', '.join(dict.fromkeys(f.backbone for f in features))} "
        f"({opts.max_windows or 'every'} {WINDOW_SECONDS:g}-s windows per song{' at most' if opts.max_windows else ''}"
        f"; cache {store.root}; {jobs} worker(s))")
    summary = embed_songs(store, [s.path for s in used], jobs=jobs, device=opts.device,
                          retry_errors=opts.retry_errors, max_seconds=opts.max_seconds, err=err)
    say(f"  {summary.line()}")
    if summary.errors:
        say(f"  could not be read (left out; listed in {store.errors.path}): {_few(list(summary.errors))}")

    # 3. the training set: songs with vectors, labels that still have enough of them
    rows, kept_songs = [], []
    for s in used:
        if str(s.path) in summary.errors:
            continue
        try:
            _, vectors = store.load(cache_key(s.path), FileStat.of(s.path), features)
        except (KeyError, OSError):
            warn(f"{s.path}: changed while teaching; left out (run teach again)")
            continue
        rows.append(_stack(vectors, features))
        kept_songs.append(s)
    counts = Counter(label for s in kept_songs for label in s.labels)
    labels = [label for label in plan.labels if counts[label] >= opts.min_songs]
    if len(labels) < len(plan.labels):
        lost = [label for label in plan.labels if label not in labels]
        say(f"  after unreadable files, fewer than {opts.min_songs} songs left for: {', '.join(lost)} (skipped)")
        keep = [i for i, s in enumerate(kept_songs) if set(s.labels) & set(labels)]
        rows, kept_songs = [rows[i] for i in keep], [kept_songs[i] for i in keep]
        for s in kept_songs:
            s.labels = [label for label in s.labels if label in labels]
    if len(labels) < 2:
        raise TeachError("fewer than two labels have enough readable songs; see the files listed above")
    index = {label: j for j, label in enumerate(labels)}
    allowed = np.zeros((len(kept_songs), len(labels)), dtype=bool)
    for i, s in enumerate(kept_songs):
        allowed[i, [index[label] for label in s.labels]] = True
    data = WindowSet.from_tracks(rows, allowed, [s.group for s in kept_songs], labels,
                                 [str(s.path) for s in kept_songs])
    for label in labels:
        groups = set(data.groups[data.allowed[:, index[label]]])
        if len(groups) == 1:
            warn(f"warning: all {counts[label]} songs of {label!r} share one artist or folder ({next(iter(groups))}): "
                 "the model may learn that artist rather than the genre, and CV cannot judge the label")

    # 4. the head: C by grouped CV, then a fit on every song
    n_groups = len(np.unique(data.groups))
    report = None
    fit_started = time.monotonic()
    if n_groups >= 3:
        report = cv_linear_head(data, opts.Cs, n_splits=opts.folds, seed=opts.seed, balance=opts.balance,
                                n_jobs=min(opts.folds, cpu_count()),  # folds side by side, one thread each
                                per_track=CV_WINDOWS, tol=CV_TOL)
        C = float(report.chosen)
        say(f"\ncross-validation: {report.n_splits} folds, grouped by artist (else folder): {n_groups} groups; "
            f"C chosen on each fold's validation fold: {', '.join(f'{c:g}' for c in report.chosen_per_fold)}")
        say(report.summary())
        say(report.text())
    else:
        C = NO_CV_C
        warn(f"warning: songs by only {n_groups} artist(s)/folder(s): too few to cross-validate (3 needed); "
             f"fitting with C={C:g}, no CV figures")
    head = data.fit(C=C, balance=opts.balance, init=report.fold_models.get(C) if report else None)
    fit_seconds = time.monotonic() - fit_started

    # 5. the model folder
    teach_info = {"labels_from": opts.labels_from, "merger": plan.merger.as_dict(), "min_songs": opts.min_songs,
                  "skipped": plan.skipped, "songs": {label: int(counts[label]) for label in labels},
                  "groups": int(n_groups)}
    head_info = {"recipe": "genre_models.heads.fit_head (multinomial, partial labels, track-weighted)",
                 "C": C, "Cs": list(opts.Cs), "balanced": opts.balance,
                 "cv_fits": {"windows_per_song": CV_WINDOWS, "tol": CV_TOL}, "features": [str(f) for f in features],
                 "max_windows": opts.max_windows, "window_seconds": WINDOW_SECONDS, "songs": len(kept_songs),
                 "windows": int(len(data.X)), "cv": report.as_dict() if report else None,
                 "command": opts.command, "made": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                 "fit": {k: v for k, v in head.info.items() if k in ("iterations", "converged", "constant_features")}}
    write_model(opts.out, head, features, opts.max_windows, head_info, teach_info, report, plan, opts)
    took = time.monotonic() - started
    say(f"\nwrote {opts.out} ({len(labels)} labels, {len(kept_songs)} songs; head fit with CV in {fit_seconds:.1f} s; "
        f"teach took {took:.0f} s)")
    if report is not None and (~report.right).any():
        say(f"  {int((~report.right).sum())} song(s) whose tag the cross-validated model contradicts, most confident "
            f"first: {opts.out / 'cv_predictions.csv'}")
    say(f"  python -m genre_models predict SONG_OR_FOLDER --model {opts.out}")
    say(f"  python -m genre_models predict {' '.join(map(str, opts.paths))} -r --model {opts.out} --disagreements")
    return TeachResult(opts.out, labels, report, summary, len(kept_songs), took)


def _stack(vectors: dict, features: Sequence[Feature]) -> np.ndarray:
    from .embeddings import stack_features

    return stack_features(vectors, features)


def write_model(out: Path, head, features: Sequence[Feature], max_windows: int | None, head_info: dict,
                teach_info: dict, report: CVReport | None, plan: LabelPlan, opts: TeachOptions) -> None:
    """The model folder (``build_embedding_head``), its card and the CV's per-song answers."""
    from .hf_models.embedding_head import build_embedding_head

    build_embedding_head(out, head, features, max_windows=max_windows, head_info=head_info, teach=teach_info)
    (out / "README.md").write_text(model_card(out.name, head, features, head_info, teach_info, report, plan, opts))
    if report is not None:
        _write_cv_csv(out / "cv_predictions.csv", report, opts.paths)
    else:  # a folder taught again without CV keeps no stale answers
        (out / "cv_predictions.csv").unlink(missing_ok=True)


def _write_cv_csv(path: Path, report: CVReport, roots: Sequence[Path]) -> None:
    """Every song's out-of-fold answer (paths relative to the library), most confident contradiction first."""
    import csv

    def relative(name: str) -> str:
        for root in roots:
            try:
                return str(Path(name).relative_to(root))
            except ValueError:
                continue
        return name

    rows = []
    for i, name in enumerate(report.names):
        p = report.probs[i]
        top = int(p.argmax())
        tag = "; ".join(report.labels[j] for j in np.flatnonzero(report.allowed[i]))
        rows.append({"path": relative(name), "tag": tag,
                     "cv_answer": report.labels[top], "cv_confidence": f"{p[top]:.4f}",
                     "disagrees": "no" if report.allowed[i, top] else "yes", "fold": str(int(report.fold[i]) + 1)})
    rows.sort(key=lambda r: (r["disagrees"] != "yes", -float(r["cv_confidence"])))
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["path", "tag", "cv_answer", "cv_confidence", "disagrees", "fold"])
        w.writeheader()
        w.writerows(rows)


def model_card(name: str, head, features: Sequence[Feature], head_info: dict, teach_info: dict,
               report: CVReport | None, plan: LabelPlan, opts: TeachOptions) -> str:
    base = [f"genre_models/pretrained/{b}" for b in dict.fromkeys(f.backbone for f in features)]
    about = "; ".join(f"`{f}` ({f.width}: {backbone_kind(f.backbone).about})" for f in features)
    labels = head.labels
    songs = teach_info["songs"]
    merged = "".join(f"\n- **{label}** ← " + ", ".join(f"“{s}” ({n})" for s, n in sp.items())
                     for label, sp in sorted(plan.merged.items()))
    skipped = ", ".join(f"{label} ({n})" for label, n in sorted(plan.skipped.items())) or "none"
    weighting = ", and every label the same" if head_info.get("balanced") else ""
    cv = ("Not cross-validated: the songs come from fewer than 3 artists/folders." if report is None else
          f"{report.summary()} (C chosen per fold on the next fold; every song scored once, by a head that "
          f"never saw its artist; the folds' heads were fit on at most {CV_WINDOWS} windows of a song, to a "
          f"tolerance of {CV_TOL:g}, this one on all of them).\n\n{report.markdown()}")
    return f"""---
library_name: transformers
pipeline_tag: audio-classification
tags: [audio-classification, music-genre, genre-models-teach]
base_model: {json.dumps(base)}
---

# {name}: {len(labels)} genres taught from a music library's {('genre tags' if teach_info['labels_from'] == 'tags'
                                                              else 'folders')}

Labels (songs): {', '.join(f'{label} ({songs[label]})' for label in labels)}.

Made with `{head_info['command'] or 'python -m genre_models teach'}` on {head_info['made']}:
a linear softmax head (`genre_models.heads.fit_head`, C={head_info['C']:g}, every song weighing the same
whatever its number of windows{weighting}) on the frozen window embeddings {about}, of 3-s windows (at most
{head_info['max_windows'] or 'all'} per song, spread over it). The backbones are not in this folder: they ship
with `genre-models` and are loaded from there. {head_info['songs']} songs, {head_info['windows']} windows.

Spellings merged: {merged or 'none needed'}

Labels skipped (fewer than {teach_info['min_songs']} songs): {skipped}.

## Cross-validation

{cv}

`cv_predictions.csv` has every song's cross-validated answer, the songs whose tag it contradicts first (paths
are relative to the library: remove the file before publishing this folder if they are private).

## Use

```bash
python -m genre_models predict song.mp3 --model {name}
python -m genre_models predict ~/Music -r --model {name} --disagreements   # songs whose tag it doubts
GENRE_MODELS={name} python app.py
```

```python
import genre_models.hf_models  # registers the model type
from transformers import pipeline
pipeline("audio-classification", model="{name}")("song.mp3")
```

The tags are the only truth this model knows: where they are inconsistent, so is it.
"""


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
def add_parser(sub) -> None:
    t = sub.add_parser("teach", help="teach a model your own genres from a library's tags or folders",
                       description="Teach a model your own genres: from the genre tags of a music library "
                                   "(--labels-from-tags) or from folders (DIR/<label>/<file>). Writes a model "
                                   "folder that predict --model, the app and pipeline() load.")
    t.add_argument("paths", nargs="+", type=Path, metavar="LIBRARY",
                   help="folders (walked all the way down) and/or audio files")
    t.add_argument("--out", type=Path, required=True, metavar="MODEL", help="the model folder to write")
    t.add_argument("--labels-from-tags", action="store_true",
                   help="labels from the files' genre tags (ID3 TCON, Vorbis GENRE, MP4 ©gen); default: from the "
                        "first folder below LIBRARY (the audiofolder layout)")
    t.add_argument("--min-songs", type=int, default=DEFAULT_MIN_SONGS, metavar="N",
                   help=f"skip labels with fewer songs than this (default {DEFAULT_MIN_SONGS})")
    t.add_argument("--merge", action="append", default=[], metavar="LABEL=SPELLING[,SPELLING]",
                   help="merge spellings the automatic merging misses, e.g. 'R&B=RnB,Rhythm and Blues' (repeat)")
    t.add_argument("--ignore", action="append", default=[], metavar="LABEL",
                   help="never use this label (e.g. Other); repeat")
    t.add_argument("--separators", default=DEFAULT_SEPARATORS, metavar="CHARS",
                   help=f"characters between several genres in one tag (default {DEFAULT_SEPARATORS!r}; '/' is not "
                        "one by default: Pop/Rock is a genre)")
    t.add_argument("--backbones", default=DEFAULT_FEATURES, metavar="NAME:VARIANT,...",
                   help=f"the embeddings the head reads (default {DEFAULT_FEATURES})")
    t.add_argument("--max-windows", type=int, default=DEFAULT_MAX_WINDOWS, metavar="N",
                   help=f"3-s windows per song at most, spread over it (default {DEFAULT_MAX_WINDOWS}; 0: all)")
    t.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help=f"CV folds (default {DEFAULT_FOLDS})")
    t.add_argument("--C", default=",".join(f"{c:g}" for c in DEFAULT_CS), metavar="C,C,...",
                   help="regularisation values CV chooses from (scikit-learn's C)")
    t.add_argument("--no-balance", action="store_true",
                   help="weigh every song the same, so big labels count more (default: every label weighs the same, "
                        "so six reggae songs are heard as much as sixty rock ones)")
    t.add_argument("--seed", type=int, default=0, help="the folds' seed")
    t.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                   help="embed in N worker processes (default: one per core, at most 4)")
    t.add_argument("--cache", type=Path, default=None, metavar="DIR",
                   help="where song embeddings are kept (default $GENRE_MODELS_CACHE/embeddings or "
                        "~/.cache/genre_models/embeddings; safe to delete)")
    t.add_argument("--retry-errors", action="store_true", help="try files that failed before again")
    t.add_argument("--max-seconds", type=float, default=None, help="refuse files longer than this")
    t.add_argument("--device", default="auto", help="auto (a GPU when torch sees one), cpu, cuda or cuda:K")


def _command(args: argparse.Namespace) -> str:
    """The command as the model card shows it (the options that change the model, none of the paths' spelling)."""
    parts = ["python -m genre_models teach", *map(str, args.paths), "--out", str(args.out)]
    parts += ["--labels-from-tags"] if args.labels_from_tags else []
    parts += ["--no-balance"] if args.no_balance else []
    defaults = {"min_songs": DEFAULT_MIN_SONGS, "separators": DEFAULT_SEPARATORS, "backbones": DEFAULT_FEATURES,
                "max_windows": DEFAULT_MAX_WINDOWS, "folds": DEFAULT_FOLDS, "C": ",".join(f"{c:g}" for c in DEFAULT_CS),
                "seed": 0}
    for name, default in defaults.items():
        if getattr(args, name) != default:
            parts += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    parts += [x for m in args.merge for x in ("--merge", m)] + [x for i in args.ignore for x in ("--ignore", i)]
    return " ".join(shlex.quote(p) if i else p for i, p in enumerate(parts))


def run(args: argparse.Namespace) -> int:
    """``python -m genre_models teach``: 0 when a model was written, 2 for input that cannot teach one."""
    try:
        Cs = tuple(float(c) for c in str(args.C).split(",") if c.strip())
    except ValueError:
        raise ValueError(f"--C wants comma-separated numbers, got {args.C!r}") from None
    if not Cs or min(Cs) <= 0:
        raise ValueError("--C wants positive numbers")
    opts = TeachOptions(paths=list(args.paths), out=args.out,
                        labels_from="tags" if args.labels_from_tags else "folders", min_songs=args.min_songs,
                        merges=args.merge, ignore=args.ignore, separators=args.separators,
                        features=args.backbones, max_windows=args.max_windows or None, folds=args.folds, Cs=Cs,
                        balance=not args.no_balance,
                        seed=args.seed, jobs=args.jobs, cache=args.cache, retry_errors=args.retry_errors,
                        max_seconds=args.max_seconds, device=args.device, command=_command(args))
    try:
        run_teach(opts)
    except TeachError as err:
        print(f"teach: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the songs embedded so far are cached: run the same command again to go on",
              file=sys.stderr)
        return 130
    return 0


def label_matcher(labels: Sequence[str], teach: dict | None) -> Callable[[Sequence[str]], tuple[list[str], list[str]]]:
    """For ``predict --disagreements``: tag values → (the model's labels they name, the tag's labels as
    read), with the merging the model was taught with (its ``config.teach``), else by :func:`label_key`."""
    merger = LabelMerger.from_dict(teach["merger"]) if teach and teach.get("merger") else LabelMerger()
    by_key = {label_key(label): label for label in labels}
    by_key.update({k: name for k, name in merger.names.items() if name in labels})

    def match(values: Sequence[str]) -> tuple[list[str], list[str]]:
        keys = merger.keys(values)
        read = merger.labels(values)
        return [by_key[k] for k in keys if k in by_key], read

    return match


__all__ = ["DEFAULT_FEATURES", "EmbedSummary", "LabelPlan", "Song", "TeachError", "TeachOptions", "TeachResult",
           "add_parser", "collect_songs", "embed_songs", "label_matcher", "plan_labels", "run", "run_teach"]
