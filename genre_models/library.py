"""Label a whole music library: folders in, one table out; in parallel, resumable, across machines.

``python -m genre_models predict ~/Music --recursive --jobs 4 --csv library.csv --resume`` is this
module (the CLI only parses flags). What it does, and why:

- **Files** (:func:`find_audio`): named files are taken as given; a folder gives its own audio files
  (:data:`~genre_models.audio.SUPPORTED_EXTENSIONS`), or with ``recursive`` its whole tree. Symlink
  loops, a folder reached twice and unreadable folders are reported, never fatal.
- **Rows** (:func:`prediction_row`): the one place that turns a file's answer into a row; every
  table's header is derived from it, so a new column is added there and nowhere else.
- **Tables** (:mod:`genre_models.journal`): append-only CSV journals written as files finish. A file's
  row in the *ledger* (the table itself; with several label sets ``<stem>.done.csv``) is written
  after all its other rows, so it means "this file is complete": on ``--resume`` the ledger and
  ``<stem>.errors.csv`` say what to skip, a torn last line is cut off and rows of a file whose
  ledger row never came are dropped. A ``.parquet`` output is (re)written from its journal
  (``<stem>.journal.csv``, kept beside it) at the end of each run.
- **Workers** (``jobs``): N spawned processes, each loading the models once and using
  ``cores // N`` threads (OMP/MKL/OpenBLAS and torch), so N workers do not oversubscribe the cores.
  A worker that dies (a crash, the OOM killer) loses nothing: the files it had are scored again one
  at a time, and the one that kills a worker alone is listed as an error.
- **Shards** (torchrun / accelerate launch, or any launcher setting ``RANK`` and ``WORLD_SIZE``):
  process r of w scores every w-th file of the sorted list and writes its own part files
  (``<stem>.part-r-of-w.csv``); after a barrier (a gloo process group when the launcher gives a
  rendezvous, else done-marker files) process 0 merges the parts into the output. Across machines
  the output folder must be shared (NFS, ...). GPUs are used when present.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

import numpy as np

from . import journal
from .audio import SUPPORTED_EXTENSIONS, AudioLoadError
from .ensemble import Ensemble
from .metadata import MetadataRequiredError, TrackMetadata, metadata_for_file, read_metadata_csv
from .prediction import Prediction

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
IN_FLIGHT_PER_WORKER = 2  # files queued per worker: enough to keep it busy, few to redo after a crash
PROGRESS_EVERY_SECONDS = 0.5
MARKER_POLL_SECONDS = 1.0
BARRIER_TIMEOUT = timedelta(days=30)  # a shard of a big library can take days; a dead peer still ends it
WORKER_DIED = "the worker scoring this file died (a crash, or out of memory)"
ERROR_COLUMNS = ["path", "reason"]
LEDGER_COLUMNS = ["path"]


# ---------------------------------------------------------------------------------------------
# finding the files
# ---------------------------------------------------------------------------------------------

def is_audio_name(name: str) -> bool:
    """An audio suffix (any case), and not a macOS ``._`` resource fork beside the real file."""
    return name.lower().endswith(SUPPORTED_EXTENSIONS) and not name.startswith("._")


def find_audio(paths: Iterable[str | os.PathLike], *, recursive: bool = False,
               warn: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)) -> list[Path]:
    """The files to score, in the order given (a folder's files sorted), each once.

    A named file is taken whatever its suffix (scoring says what is wrong with it); a folder gives
    its audio files, and with ``recursive`` those of every folder below it, following symlinks
    except one that leads back into a folder already walked (a loop, or the same folder twice:
    reported through ``warn``, as are folders that cannot be read)."""
    out: dict[str, Path] = {}
    for given in map(Path, paths):
        if not given.is_dir():
            out.setdefault(str(given), given)
            continue
        for f in _walk(given, recursive, warn):
            out.setdefault(str(f), f)
    return list(out.values())


def _walk(top: Path, recursive: bool, warn: Callable[[str], None]) -> Iterator[Path]:
    seen: dict[tuple[int, int], Path] = {}

    def visit(folder: Path, ancestors: frozenset[tuple[int, int]]) -> Iterator[Path]:
        try:
            st = folder.stat()
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            warn(f"{folder}: cannot read this folder ({err.strerror or err}); skipped")
            return
        key = (st.st_dev, st.st_ino)
        if key in ancestors:
            warn(f"{folder}: a symlink loop (it leads back to {seen[key]}); skipped")
            return
        if key in seen:
            warn(f"{folder}: the same folder as {seen[key]}; skipped (its files are listed once)")
            return
        seen[key] = folder
        inner = ancestors | {key}
        subfolders = []
        for entry in entries:
            path = folder / entry.name
            try:
                if entry.is_dir():  # follows symlinks
                    subfolders.append(path)
                elif entry.is_file():
                    if is_audio_name(entry.name):
                        yield path
                elif entry.is_symlink() and is_audio_name(entry.name):
                    warn(f"{path}: a broken symlink; skipped")
            except OSError as err:
                warn(f"{path}: cannot be read ({err.strerror or err}); skipped")
        if recursive:
            for sub in subfolders:
                yield from visit(sub, inner)

    yield from visit(top, frozenset())


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------

def prediction_row(path: str, answer: Prediction, wide: bool = False,
                   tag: tuple[list[str], list[str]] | None = None) -> dict[str, str]:
    """One file's row in the table of its label set: path, genre, each label's probability, then the
    music check (``music``: music, speech, silence, noise, tones or other; ``music_share``: the share of
    the audio that sounds like music) and, with ``wide`` (``--wide-genres``), AudioSet's wider genre:
    the best one, its score, whether it lies outside the label set's genres, and the top three.
    With ``tag`` (``--disagreements``: the labels of the model the file's genre tag names, and the
    tag's labels as read): ``tag`` and ``disagrees`` (yes / no / empty when the tag names none of the
    model's labels).

    The single place a column is added: table headers come from it (:func:`table_columns`), and
    the CSV, the Parquet, stdout and every worker go through it."""
    row = {"path": path, "genre": answer.genre,
           **{label: f"{p:.6f}" for label, p in zip(answer.labels, answer.probs)}}
    reading = answer.audioset
    row["music"] = reading.check.verdict if reading else ""
    row["music_share"] = f"{reading.check.music_share:.3f}" if reading else ""
    if wide:
        best = reading.wide.best if reading else None
        row["wide_genre"] = best[0] if best else ""
        row["wide_score"] = f"{best[1]:.3f}" if best else ""
        row["outside_gtzan"] = ("yes" if reading.wide.outside_gtzan else "no") if best else ""
        row["wide_top3"] = "; ".join(f"{n} {v:.3f}" for n, v in reading.wide.top) if reading else ""
    if tag is not None:
        named, read = tag
        row["tag"] = "; ".join(read)
        row["disagrees"] = ("yes" if answer.genre not in named else "no") if named else ""
    return row


def window_rows(path: str, answer: Prediction) -> list[dict[str, str]]:
    """The per-window probabilities of each member (``--windows-csv``)."""
    rows = []
    for member in answer.members or [answer]:
        for (start, end), probs in zip(member.window_spans, member.window_probs):
            rows.append({"path": path, "model": member.model, "start": f"{start:.3f}", "end": f"{end:.3f}",
                         **{label: f"{p:.6f}" for label, p in zip(answer.labels, probs)}})
    return rows


def _blank(labels: Sequence[str]) -> Prediction:
    n = len(labels)
    return Prediction(list(labels), np.full(n, 1.0 / n), np.zeros((0, 2)), np.zeros((0, n)), 0.0, "")


def table_columns(labels: Sequence[str], wide: bool = False, tags: bool = False) -> list[str]:
    """The header of a label set's table: the keys :func:`prediction_row` gives."""
    return list(prediction_row("", _blank(labels), wide, ([], []) if tags else None))


def window_columns(labels: Sequence[str]) -> list[str]:
    return ["path", "model", "start", "end", *labels]


# ---------------------------------------------------------------------------------------------
# models, devices, threads
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """What to load (picklable, so each worker loads its own copy)."""

    ensemble_file: str | None = None
    models: tuple[str, ...] = ()

    def load(self) -> Ensemble:
        """``--ensemble`` plus ``--model``s (both strict: a named model must load), else the default."""
        ensemble = Ensemble.from_file(self.ensemble_file, strict=True) if self.ensemble_file else None
        extra = Ensemble.load(list(self.models), strict=True) if self.models else None
        if ensemble is None:
            return extra or Ensemble.default()
        if extra is not None:
            ensemble.members.extend(extra.members)
        return ensemble


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Threads each of ``workers`` processes on one machine may use without oversubscribing."""
    return max(1, (cores or cpu_count()) // max(1, workers))


def torch_nets(ensemble: Ensemble) -> list[Any]:
    """The torch networks of the ensemble's members (none for the numpy features model)."""
    nets = [getattr(m.model, "model", None) for m in ensemble.members]
    return [n for n in nets if hasattr(n, "to") and hasattr(n, "parameters")]


def pick_device(choice: str, index: int = 0) -> str:
    """``auto``: the ``index``-th GPU (modulo their number) when torch sees one, else the CPU."""
    if choice == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        if choice == "auto":
            return "cpu"
        raise ValueError("--device cuda needs torch") from None
    if not torch.cuda.is_available():
        if choice == "auto":
            return "cpu"
        raise ValueError(f"--device {choice}: torch sees no GPU")
    if ":" in choice:
        return choice
    return f"cuda:{index % torch.cuda.device_count()}"


def place(ensemble: Ensemble, choice: str, index: int = 0, threads: int | None = None) -> None:
    """Move the ensemble's torch networks to the device ``choice`` names (the features model is
    numpy: CPU) and give torch ``threads``; torch is not even imported for an ensemble without any."""
    nets = torch_nets(ensemble)
    if not nets:
        return
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    device = pick_device(choice, index)
    if device != "cpu":
        for net in nets:
            net.to(device)


@contextmanager
def thread_env(n: int) -> Iterator[None]:
    """Worker processes spawned inside inherit ``n`` threads for OpenMP, MKL, OpenBLAS and numba
    (they read it once, at import, so it has to be in the environment before)."""
    before = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update({k: str(n) for k in THREAD_ENV})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------------------------
# scoring one file
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreSettings:
    hop: float | None = None
    max_seconds: float | None = None
    windows: bool = False  # compute the per-window rows too
    wide_genres: bool = False  # add AudioSet's wider-genre columns
    disagreements: bool = False  # read each file's genre tag: columns tag, disagrees (genre_models.teach)
    confidence: float = 0.5  # --disagreements lists contradictions at least this sure


@dataclass
class Task:
    path: str
    metadata: TrackMetadata | None = None


@dataclass
class FileResult:
    """What one file gave: a row per label set (None where no model of that set could answer),
    the per-window rows, notes for stderr, or the reason it could not be scored."""

    path: str
    rows: list[dict[str, str] | None] = field(default_factory=list)
    windows: list[list[dict[str, str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def score_file(ensemble: Ensemble, task: Task, settings: ScoreSettings) -> FileResult:
    """Score one file; bad input (and anything else a file can cause) is the result's ``error``,
    so one file never stops a library run."""
    groups = {tuple(g[0].model.labels): k for k, g in enumerate(ensemble.groups())}
    try:
        answers = ensemble.predict(task.path, hop_seconds=settings.hop, max_seconds=settings.max_seconds,
                                   metadata=task.metadata)
    except (AudioLoadError, MetadataRequiredError) as err:
        return FileResult(task.path, error=str(err))
    except Exception as err:  # a decoder or model failing on one odd file must not end a day-long run
        return FileResult(task.path, error=f"unexpected {type(err).__name__}: {err}")
    result = FileResult(task.path, rows=[None] * len(groups), windows=[[] for _ in groups],
                        notes=list(answers[0].problems))
    tag_values = _tag_values(task.path) if settings.disagreements else None
    for answer in answers:  # a set whose models were all left out (metadata) has no answer
        k = groups[tuple(answer.labels)]
        tag = _tag_check(ensemble, answer.labels, tag_values) if tag_values is not None else None
        result.rows[k] = prediction_row(task.path, answer, settings.wide_genres, tag)
        if settings.windows:
            result.windows[k] = window_rows(task.path, answer)
    return result


def _tag_values(path: str) -> list[str]:
    from .filetags import read_tags

    return read_tags(path).genres


def _tag_check(ensemble: Ensemble, labels: Sequence[str], values: list[str]) -> tuple[list[str], list[str]]:
    """The tag read as the label set's taught model reads it (its ``config.teach``), else by label key."""
    from .teach import label_matcher

    teach = None
    for m in ensemble.members:
        config = getattr(getattr(m.model, "model", None), "config", None)
        if list(m.model.labels) == list(labels) and getattr(config, "teach", None):
            teach = config.teach
            break
    return label_matcher(labels, teach)(values)


_WORKER: dict[str, Any] = {}


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent was killed (``kill -9``) exits instead of waiting for work forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _init_worker(spec: ModelSpec, settings: ScoreSettings, threads: int, device: str, first_index: int,
                 counter: Any, parent: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        with counter.get_lock():
            index = first_index + counter.value
            counter.value += 1
        ensemble = spec.load()
        place(ensemble, device, index, threads)
        _WORKER.update(ensemble=ensemble, settings=settings)
    except BaseException as err:  # reported with the first file this worker gets, by the parent
        _WORKER["failed"] = f"{type(err).__name__}: {err}"


def _work(task: Task) -> FileResult:
    if "failed" in _WORKER:
        raise ValueError(f"a worker could not load the models: {_WORKER['failed']}")  # the CLI's exit status 2
    return score_file(_WORKER["ensemble"], task, _WORKER["settings"])


T = TypeVar("T")
R = TypeVar("R")


def pool_map(fn: Callable[[T], R], tasks: Iterable[T], jobs: int, *, initializer: Callable[..., None] | None = None,
             initargs: tuple = (), on_death: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """``fn`` over ``tasks`` in ``jobs`` spawned processes, results as they finish (any order).

    At most ``IN_FLIGHT_PER_WORKER * jobs`` tasks are queued, so a million files cost no memory.
    When a worker dies, the pool is restarted and the tasks it held are rerun one at a time; a
    task that kills a worker on its own gets ``on_death(task)``. An exception ``fn`` raises is
    raised here (a file's own trouble is in its result, not raised)."""
    ctx = mp.get_context("spawn")  # never fork a process that holds torch's and OpenMP's threads

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(jobs, mp_context=ctx, initializer=initializer, initargs=initargs)

    todo = iter(tasks)
    suspects: deque[T] = deque()
    pending: dict[Any, tuple[T, bool]] = {}
    pool = new_pool()
    try:
        while True:
            isolating = bool(suspects) or any(s for _, s in pending.values())
            limit = 1 if isolating else IN_FLIGHT_PER_WORKER * jobs
            while len(pending) < limit:
                if suspects:
                    task, suspect = suspects.popleft(), True
                elif isolating:
                    break
                else:
                    nxt = next(todo, _END)
                    if nxt is _END:
                        break
                    task, suspect = nxt, False
                pending[pool.submit(fn, task)] = (task, suspect)
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            died: list[tuple[T, bool]] = []
            for fut in done:
                task, suspect = pending.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    died.append((task, suspect))
                    continue
                yield task, result
            if died:  # every other future of the broken pool fails too
                died.extend(pending.values())
                pending.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                if len(died) == 1 and died[0][1]:  # it ran alone: it is the one
                    yield died[0][0], on_death(died[0][0])
                else:
                    suspects.extend(task for task, _ in died)
                pool = new_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()


# ---------------------------------------------------------------------------------------------
# the files a run writes
# ---------------------------------------------------------------------------------------------

def group_path(path: Path, k: int, n_groups: int) -> Path:
    """Label set 1 writes to ``path``; with several, set k to ``<stem>.group<k><suffix>``."""
    return path if k == 0 or n_groups == 1 else path.with_name(f"{path.stem}.group{k + 1}{path.suffix}")


def journal_path(path: Path) -> Path:
    """The CSV a table is appended to: itself, or ``<stem>.journal.csv`` beside a ``.parquet``."""
    return path.with_name(f"{path.stem}.journal.csv") if path.suffix.lower() == ".parquet" else path


def part_path(path: Path, rank: int, world: int) -> Path:
    return path.with_name(f"{path.stem}.part-{rank}-of-{world}.csv")


@dataclass
class TableSet:
    """The journals one writer appends to. ``ledger`` is one of ``tables`` (one label set) or a
    path-only table (several): its row for a file is written last."""

    ledger: Path | None
    tables: list[Path | None]  # a journal per label set (None: not written, e.g. no --csv)
    windows: list[Path]  # per label set, or empty
    errors: Path | None

    def journals(self) -> list[Path]:
        """Every file of the set, the ledger last (the order a merge appends in)."""
        others = [p for p in [*self.tables, *self.windows] if p is not None and p != self.ledger]
        return others + [p for p in (self.errors, self.ledger) if p is not None]

    def part(self, rank: int, world: int) -> TableSet:
        def f(p: Path | None) -> Path | None:
            return None if p is None else part_path(p, rank, world)
        return TableSet(f(self.ledger), [f(p) for p in self.tables], [part_path(p, rank, world) for p in self.windows],
                        f(self.errors))

    def marker(self, rank: int, world: int) -> Path:
        assert self.ledger is not None
        return self.ledger.with_name(f"{self.ledger.stem}.part-{rank}-of-{world}.done")

    def parts_on_disk(self) -> list[tuple[int, int]]:
        """(rank, world) of every part set whose ledger is beside the output (any world size)."""
        if self.ledger is None:
            return []
        pattern = re.compile(re.escape(self.ledger.stem) + r"\.part-(\d+)-of-(\d+)\.csv")
        found = []
        for p in self.ledger.parent.glob("*.part-*-of-*.csv"):
            m = pattern.fullmatch(p.name)
            if m:
                found.append((int(m[1]), int(m[2])))
        return sorted(found, key=lambda rw: (rw[1], rw[0]))

    def remove(self) -> None:
        for p in self.journals():
            p.unlink(missing_ok=True)


@dataclass
class Layout:
    """Where a run's outputs go, derived from ``--csv`` and ``--windows-csv``."""

    out: Path | None
    windows_out: Path | None
    labels: list[list[str]]
    wide: bool = False  # the wider-genre columns (--wide-genres)
    tags: bool = False  # the tag, disagrees columns (--disagreements)

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    def final(self) -> TableSet:
        n = self.n_groups
        tables = [journal_path(group_path(self.out, k, n)) if self.out else None for k in range(n)]
        windows = [journal_path(group_path(self.windows_out, k, n)) for k in range(n)] if self.windows_out else []
        if self.out is None:
            return TableSet(None, tables, windows, None)
        ledger = tables[0] if n == 1 else self.out.with_name(f"{self.out.stem}.done.csv")
        return TableSet(ledger, tables, windows, self.out.with_name(f"{self.out.stem}.errors.csv"))

    def columns(self, tset: TableSet) -> dict[Path, list[str]]:
        cols: dict[Path, list[str]] = {}
        for k, labels in enumerate(self.labels):
            if tset.tables[k] is not None:
                cols[tset.tables[k]] = table_columns(labels, self.wide, self.tags)
            if tset.windows:
                cols[tset.windows[k]] = window_columns(labels)
        if tset.ledger is not None and tset.ledger not in cols:
            cols[tset.ledger] = LEDGER_COLUMNS
        if tset.errors is not None:
            cols[tset.errors] = ERROR_COLUMNS
        return cols

    def parquet_targets(self) -> list[tuple[Path, Path]]:
        """(journal, parquet) pairs to convert at the end."""
        pairs = []
        for base in (self.out, self.windows_out):
            if base is not None and base.suffix.lower() == ".parquet":
                for k in range(self.n_groups):
                    target = group_path(base, k, self.n_groups)
                    pairs.append((journal_path(target), target))
        return pairs


def read_errors(path: Path | None) -> dict[str, str]:
    """path → reason (the last one listed)."""
    if path is None:
        return {}
    _, rows = journal.read_table(path)
    return {row[0]: row[1] for row in rows if len(row) >= 2}


def recover(tset: TableSet) -> None:
    """Make a set consistent after a kill: torn tails cut, rows of files without a ledger row
    dropped, errors of files now in the ledger (retried, and scored) dropped, one error per file."""
    for p in tset.journals():
        if p.is_file():
            good = journal.complete_length(p)
            if good != p.stat().st_size:
                os.truncate(p, good)
    if tset.ledger is None:
        return
    ledger = journal.paths_in(tset.ledger)
    for p in tset.journals():
        if p not in (tset.ledger, tset.errors) and p.is_file():
            journal.keep_rows(p, ledger.__contains__)
    if tset.errors is not None and tset.errors.is_file():
        _, rows = journal.read_table(tset.errors)
        rows = list(rows)
        errors = read_errors(tset.errors)
        if len(errors) != len(rows) or any(p in ledger for p in errors):
            journal.rewrite(tset.errors, ERROR_COLUMNS,
                            [{"path": p, "reason": r} for p, r in errors.items() if p not in ledger])


class Writer:
    """Appends each file's result to a :class:`TableSet`: per-window rows, then each label set's
    row, the ledger row last (or the error row)."""

    def __init__(self, tset: TableSet, columns: dict[Path, list[str]]):
        self.tset = tset
        self.journals = {p: journal.Journal(p, columns[p]) for p in tset.journals()}

    def open(self, *, resume: bool) -> None:
        if resume:
            for path, j in self.journals.items():  # before anything is trimmed: is it our table at all?
                header, _ = journal.read_table(path)
                if header is not None and header != j.columns:
                    raise ValueError(f"{path} has the columns {header}, this run writes {j.columns}: use another "
                                     "output file, or drop --resume to start it afresh")
            recover(self.tset)
        for j in self.journals.values():
            j.open(resume=resume)

    def write(self, result: FileResult) -> None:
        t = self.tset
        if result.error is not None:
            if t.errors is not None:
                self.journals[t.errors].append([{"path": result.path, "reason": result.error}])
            return
        for k, rows in enumerate(result.windows):
            if t.windows and rows:
                self.journals[t.windows[k]].append(rows)
        for k, row in enumerate(result.rows):
            if row is not None and t.tables[k] is not None and t.tables[k] != t.ledger:
                self.journals[t.tables[k]].append([row])
        if t.ledger is not None:
            ledger_row = result.rows[0] if t.ledger == t.tables[0] else {"path": result.path}
            self.journals[t.ledger].append([ledger_row])

    def close(self) -> None:
        for j in self.journals.values():
            j.close()


def merge(parts: TableSet, final: TableSet, columns: dict[Path, list[str]]) -> int:
    """Append the complete files of a part set to the (recovered) final set, the ledger last, so a
    kill during a merge is undone by the next :func:`recover`; returns the files added."""
    done = journal.paths_in(final.ledger) if final.ledger and final.ledger.is_file() else set()
    new = journal.paths_in(parts.ledger) - done if parts.ledger and parts.ledger.is_file() else set()
    pairs = list(zip(parts.journals(), final.journals()))
    for src, dst in pairs:
        if src == parts.errors or not src.is_file():
            continue
        header, rows = journal.read_table(src)
        if header != columns[dst]:
            raise ValueError(f"{src} has the columns {header}, {dst} {columns[dst]}: it was written by another "
                             "model set; move it away to merge the others")
        out = journal.Journal(dst, columns[dst])
        out.open(resume=True)
        try:
            batch = []
            for row in rows:
                if row and row[0] in new:
                    batch.append(dict(zip(header, row)))
                    if len(batch) >= 1024:
                        out.append(batch)
                        batch = []
            out.append(batch)
        finally:
            out.close()
    if final.errors is not None:
        errors = read_errors(final.errors)
        errors.update(read_errors(parts.errors))
        ledger = done | new
        journal.rewrite(final.errors, ERROR_COLUMNS,
                        [{"path": p, "reason": r} for p, r in errors.items() if p not in ledger])
    return len(new)


# ---------------------------------------------------------------------------------------------
# several processes (torchrun, accelerate launch, a scheduler's RANK/WORLD_SIZE)
# ---------------------------------------------------------------------------------------------

@dataclass
class Shard:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    run_id: str = ""  # the launcher's id of this run: a done-marker of another run is not ours
    created_group: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Shard:
        """torchrun's (and accelerate launch's) variables, else mpirun's (``accelerate launch --mpirun``)."""
        env = dict(os.environ if env is None else env)

        def first(*names: str, default: str) -> int:
            return int(next((env[n] for n in names if env.get(n)), default))

        world = first("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", default="1")
        rank = first("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", default="0")
        if world > 1 and not 0 <= rank < world:
            raise ValueError(f"RANK={rank} is outside WORLD_SIZE={world}")
        return cls(rank, world, first("LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", default="0"),
                   # without it: one process per machine
                   first("LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", default="1"),
                   env.get("GENRE_RUN_ID") or env.get("TORCHELASTIC_RUN_ID") or env.get("SLURM_JOB_ID") or "")

    def _dist(self):
        try:
            import torch.distributed as dist
        except ImportError:
            return None
        return dist if dist.is_available() else None

    def start(self, warn: Callable[[str], None]) -> None:
        """Join the launcher's rendezvous with a gloo group (CPU; enough for a barrier), if it gave one."""
        if self.world == 1:
            return
        dist = self._dist()
        if dist is None:
            return
        if not dist.is_initialized() and os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT"):
            try:
                dist.init_process_group("gloo", rank=self.rank, world_size=self.world, timeout=BARRIER_TIMEOUT)
                self.created_group = True
            except Exception as err:  # no group: the done-markers still synchronise the merge
                warn(f"no process group ({err}); waiting for the other processes' done-markers instead")
        self.barrier()

    def barrier(self) -> None:
        dist = self._dist()
        if self.world > 1 and dist is not None and dist.is_initialized():
            dist.barrier()

    def stop(self) -> None:
        dist = self._dist()
        if self.created_group and dist is not None and dist.is_initialized():
            dist.destroy_process_group()


def write_marker(path: Path, shard: Shard, summary: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"run": shard.run_id, "rank": shard.rank, "world": shard.world, **summary}))
    os.replace(tmp, path)


def wait_for_markers(final: TableSet, shard: Shard, say: Callable[[str], None]) -> None:
    """Until every process of this run has written its done-marker (no timeout: under torchrun a
    dead process ends the others; under another launcher, rerun with --resume)."""
    started, last_said = time.monotonic(), 0.0
    while True:
        missing = []
        for r in range(shard.world):
            marker = final.marker(r, shard.world)
            try:
                ok = json.loads(marker.read_text()).get("run") == shard.run_id
            except (OSError, ValueError):
                ok = False
            if not ok:
                missing.append(r)
        if not missing:
            return
        if time.monotonic() - last_said > 60:
            last_said = time.monotonic()
            waited = int(time.monotonic() - started)
            say(f"waiting for process(es) {', '.join(map(str, missing))} to finish ({waited} s so far)")
        time.sleep(MARKER_POLL_SECONDS)


# ---------------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


class Progress:
    """Files done/total, songs per minute and ETA on one redrawn stderr line (a TTY only); rows to
    stdout and notes to stderr go around it. A summary line at the end, TTY or not."""

    def __init__(self, total: int, skipped: int, prefix: str = "", out: TextIO | None = None,
                 err: TextIO | None = None):
        self.total, self.skipped, self.prefix = total, skipped, prefix
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.tty = bool(getattr(self.err, "isatty", lambda: False)())
        self.done = self.failed = 0
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._shown = False

    def _clear(self) -> None:
        if self._shown:
            self.err.write("\r\033[K")
            self._shown = False

    def note(self, message: str) -> None:
        self._clear()
        print(f"{self.prefix}{message}", file=self.err, flush=True)

    def row(self, line: str) -> None:
        self._clear()
        print(line, file=self.out, flush=True)

    def rate(self) -> float:
        """Songs per minute in this run so far."""
        minutes = (time.monotonic() - self.started) / 60
        return self.done / minutes if minutes > 0 else 0.0

    def advance(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        if self.tty and (time.monotonic() - self._drawn_at >= PROGRESS_EVERY_SECONDS or self.done == self.total):
            self._drawn_at = time.monotonic()
            rate = self.rate()
            eta = _duration((self.total - self.done) / rate * 60) if rate > 0 else "?"
            failed_txt = f", {self.failed} failed" if self.failed else ""
            self.err.write(f"\r\033[K{self.prefix}{self.done}/{self.total} files{failed_txt} | {rate:.1f} songs/min"
                           f" | ETA {eta}")
            self.err.flush()
            self._shown = True

    def summary(self) -> str:
        self._clear()
        took = time.monotonic() - self.started
        skipped = f", {self.skipped} already done" if self.skipped else ""
        return (f"{self.done} file(s) done in {_duration(took)}: {self.done - self.failed} scored, {self.failed} failed"
                f"{skipped} ({self.rate():.1f} songs/min)")


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------

@dataclass
class LibraryOptions:
    paths: list[Path]
    out: Path | None = None  # --csv: a .csv or .parquet
    windows_out: Path | None = None
    recursive: bool = False
    jobs: int = 1
    resume: bool = False
    retry_errors: bool = False
    models: ModelSpec = ModelSpec()
    settings: ScoreSettings = ScoreSettings()
    metadata: TrackMetadata = field(default_factory=TrackMetadata)  # for every file
    metadata_csv: Path | None = None  # per file
    device: str = "auto"


def run_library(opts: LibraryOptions, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Score every file; 0 when all were scored, 1 when any is listed as an error (this run or,
    with ``resume``, an earlier one). Raises ``ValueError`` for a model that cannot be loaded or
    a bad option (the CLI's exit status 2)."""
    out, err = out or sys.stdout, err or sys.stderr
    shard = Shard.from_env()
    prefix = f"[process {shard.rank}/{shard.world}] " if shard.world > 1 else ""

    def warn(message: str) -> None:
        print(f"{prefix}{message}", file=err, flush=True)

    if opts.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if opts.out is None and (opts.resume or shard.world > 1):
        raise ValueError("--resume and several processes need --csv (the table to continue, or to merge into)")
    if opts.retry_errors and not opts.resume:
        raise ValueError("--retry-errors goes with --resume")
    ensemble = opts.models.load()
    for problem in ensemble.problems:  # only the default ensemble is lenient; named models are strict
        warn(f"warning: {problem}")
    groups = ensemble.groups()
    labels = [list(g[0].model.labels) for g in groups]
    if len(groups) > 1 and shard.rank == 0:
        for k, group in enumerate(groups):
            warn(f"# label set {k + 1}: " + ", ".join(m.model.name for m in group))
    listed = find_audio(opts.paths, recursive=opts.recursive,  # every process walks; process 0 tells
                        warn=warn if shard.rank == 0 else lambda message: None)
    mine = sorted(listed, key=str)[shard.rank::shard.world] if shard.world > 1 else listed
    layout = Layout(opts.out, opts.windows_out, labels, opts.settings.wide_genres, opts.settings.disagreements)
    final = layout.final()
    own = final if shard.world == 1 else final.part(shard.rank, shard.world)
    columns = {**layout.columns(final), **layout.columns(own)}

    shard.start(warn)
    try:
        if shard.world > 1:
            final.marker(shard.rank, shard.world).unlink(missing_ok=True)
        if not opts.resume and shard.rank == 0:  # a fresh table: earlier parts of other world sizes go
            for r, w in final.parts_on_disk():
                if w != shard.world:
                    final.part(r, w).remove()
                    final.marker(r, w).unlink(missing_ok=True)
            if shard.world > 1:
                final.remove()
        writer = Writer(own, columns)
        writer.open(resume=opts.resume)
        done, known_errors = _already_done(opts, final, own, shard)
        shard.barrier()  # every process has read the tables before process 0 may touch them
        todo = [f for f in mine if str(f) not in done and (opts.retry_errors or str(f) not in known_errors)]
        skipped = len(mine) - len(todo)
        failed_before = sum(1 for f in mine if str(f) in known_errors and not opts.retry_errors)
        if opts.resume and skipped:
            warn(f"{skipped} of {len(mine)} file(s) already done ({failed_before} listed as errors); "
                 f"{len(todo)} to go")
        progress = Progress(len(todo), skipped, prefix, out, err)
        per_file = read_metadata_csv(opts.metadata_csv) if opts.metadata_csv else {}
        tasks = (Task(str(f), _metadata(f, per_file, opts.metadata)) for f in todo)
        stdout_rows = shard.world == 1 and not opts.settings.disagreements  # the report goes there instead
        seen_rows: list[list[dict[str, str]]] = [[] for _ in groups]  # for the report, without --csv
        spools = [tempfile.TemporaryFile("w+", encoding="utf-8", errors="surrogateescape") for _ in groups] \
            if stdout_rows and len(groups) > 1 else []
        if stdout_rows and len(groups) == 1:
            progress.row(",".join(table_columns(labels[0], opts.settings.wide_genres)))
        failed = 0
        try:
            for result in _results(ensemble, tasks, opts, shard, len(todo)):
                writer.write(result)
                if result.error is not None:
                    failed += 1
                    progress.note(f"{result.path}: {result.error}")
                for note in result.notes:
                    progress.note(f"{result.path}: {note}")
                for k, row in enumerate(result.rows):
                    if row is not None and opts.settings.disagreements and final.tables[k] is None:
                        seen_rows[k].append(row)
                    if row is not None and stdout_rows:
                        line = ",".join(row.values())
                        if spools:
                            spools[k].write(line + "\n")
                        else:
                            progress.row(line)
                progress.advance(result.error is not None)
        except KeyboardInterrupt:
            warn("interrupted; the rows written so far are kept: rerun with --resume to go on")
            return 130
        finally:
            writer.close()
        warn(progress.summary())
        for k, spool in enumerate(spools):  # one block per label set, after all files
            spool.seek(0)
            progress.row(f"\n# label set {k + 1}\n" + ",".join(table_columns(labels[k], opts.settings.wide_genres)))
            for line in spool:
                out.write(line)
            out.flush()
            spool.close()

        if shard.world > 1:
            write_marker(final.marker(shard.rank, shard.world), shard,
                         {"scored": progress.done, "failed": failed, "skipped": skipped})
            shard.barrier()
            if shard.rank != 0:
                return 0  # process 0 reports for the whole run (a non-zero exit here would stop the others)
            wait_for_markers(final, shard, warn)
        if final.ledger is None:
            if opts.settings.disagreements:
                for k in range(len(groups)):
                    out.write((f"# label set {k + 1}\n" if len(groups) > 1 else "")
                              + disagreement_report(seen_rows[k], opts.settings.confidence))
                out.flush()
            return 1 if failed else 0
        _finish(final, layout, columns, shard, warn)
        if opts.settings.disagreements:
            for k in range(len(groups)):
                rows = seen_rows[k] if final.tables[k] is None else _table_rows(final.tables[k])
                report = disagreement_report(rows, opts.settings.confidence)
                out.write((f"# label set {k + 1}\n" if len(groups) > 1 else "") + report)
            out.flush()
        errors = read_errors(final.errors)
        n_failed = sum(1 for f in listed if str(f) in errors)
        if n_failed and opts.out is not None:
            warn(f"{n_failed} file(s) could not be scored: see {final.errors}")
        return 1 if n_failed else 0
    finally:
        shard.stop()


def _table_rows(path: Path) -> list[dict[str, str]]:
    header, rows = journal.read_table(path)
    return [dict(zip(header, row)) for row in rows] if header else []


def disagreement_report(rows: Sequence[dict[str, str]], confidence: float = 0.5) -> str:
    """The songs whose genre tag the model contradicts at least ``confidence`` sure, most confident
    first: ``path: tag says Rock; sounds like Jazz, 92 %`` (``--disagreements``)."""
    found = []
    for row in rows:
        if row.get("disagrees") != "yes":
            continue
        p = float(row.get(row["genre"], "nan"))
        found.append((p, row["path"], row["tag"], row["genre"]))
    found.sort(key=lambda f: (-f[0], f[1]))
    sure = [f for f in found if f[0] >= confidence]
    compared = sum(1 for row in rows if row.get("disagrees") in ("yes", "no"))
    lines = [f"# {len(sure)} of {compared} song(s) whose tag names one of the model's labels: the model is at least "
             f"{confidence:.0%} sure of another, most confident first"
             + (f" ({len(found) - len(sure)} more disagree less surely: see the disagrees column)"
                if len(found) > len(sure) else "")]
    lines += [f"{path}: tag says {tag}; sounds like {genre}, {p:.0%}" for p, path, tag, genre in sure]
    return "\n".join(lines) + "\n"


def _metadata(path: Path, per_file: dict[str, TrackMetadata], shared: TrackMetadata) -> TrackMetadata | None:
    metadata = metadata_for_file(path, per_file) if per_file else None
    metadata = metadata or shared
    return metadata if metadata.given() else None


def _already_done(opts: LibraryOptions, final: TableSet, own: TableSet, shard: Shard) -> tuple[set[str], set[str]]:
    """Files with a complete row, and files listed as errors, in every table this run continues:
    the output, this process's part and parts left by runs with another number of processes."""
    if not opts.resume or final.ledger is None:
        return set(), set()
    sets = [final, own] + [final.part(r, w) for r, w in final.parts_on_disk() if w != shard.world]
    done: set[str] = set()
    errors: set[str] = set()
    for tset in sets:
        if tset.ledger is not None and tset.ledger.is_file():
            done |= journal.paths_in(tset.ledger)
        errors |= set(read_errors(tset.errors))
    return done, errors - done


def _results(ensemble: Ensemble, tasks: Iterator[Task], opts: LibraryOptions, shard: Shard,
             n: int) -> Iterator[FileResult]:
    local_workers = shard.local_world * opts.jobs
    if opts.jobs == 1 or n <= 1:
        place(ensemble, opts.device, shard.local_rank,
              threads_per_worker(shard.local_world) if shard.world > 1 else None)
        for task in tasks:
            yield score_file(ensemble, task, opts.settings)
        return
    threads = threads_per_worker(local_workers)
    counter = mp.get_context("spawn").Value("i", 0)
    with thread_env(threads):
        initargs = (opts.models, opts.settings, threads, opts.device, shard.local_rank * opts.jobs, counter,
                    os.getpid())
        for _, result in pool_map(_work, tasks, min(opts.jobs, n), initializer=_init_worker, initargs=initargs,
                                  on_death=lambda task: FileResult(task.path, error=WORKER_DIED)):
            yield result


def _finish(final: TableSet, layout: Layout, columns: dict[Path, list[str]], shard: Shard,
            warn: Callable[[str], None]) -> None:
    """Process 0 (or the only one): merge the part files into the output, then write the Parquet."""
    parts = final.parts_on_disk()
    if parts:
        recover(final)
        for r, w in sorted(parts, key=lambda rw: (rw[1] != shard.world, rw[1], rw[0])):
            added = merge(final.part(r, w), final, columns)
            if w != shard.world:
                warn(f"merged {added} file(s) left by an earlier run of {w} processes")
        for r, w in parts:
            final.part(r, w).remove()
            final.marker(r, w).unlink(missing_ok=True)
    else:
        recover(final)  # errors: one per file, none for a file retried and scored
    if final.errors is not None and final.errors.is_file() and not read_errors(final.errors):
        final.errors.unlink()  # no errors, no errors file
    for src, target in layout.parquet_targets():
        try:
            journal.csv_to_parquet(src, target)
        except Exception as err:  # the journal holds every row; say why the Parquet could not be made
            warn(f"could not write {target} ({type(err).__name__}: {err}); the rows are in {src}")
