"""Songs' window vectors on disk, so a second ``teach`` on the same library embeds nothing again.

Why this design:

* **One folder per backbone recipe** (``<root>/<backbone>-<id>/``; the id hashes the backbone's
  weights, its settings, the window length and ``max_windows``: :func:`genre_models.embeddings.recipe`).
  Another set of backbones or windows never reads stale vectors, and adding a backbone to a taught
  model embeds with that backbone only.
* **One safetensors file per song** (every variant the backbone gives, and the window spans), written
  beside its place and renamed into it, then a row in ``index.csv``, an append-only journal
  (:mod:`genre_models.journal`): a row means "this file is complete". ``kill -9`` at any moment leaves
  at worst a torn last line (cut off on the next run) or an entry without a row (embedded again).
* **File identity** is the absolute path with its size and modification time (``stat``: no file is read
  to know it is unchanged, so a second ``teach`` on 1 000 songs checks them in milliseconds). A file
  whose size or time changed is decoded again and its audio hashed (:class:`~genre_models.embeddings.AudioDigest`,
  sha256 of the decoded 16-kHz samples): the same audio under new tags — retagging, the first thing a
  user does after ``--disagreements`` — reuses its vectors; new audio is embedded again. A file gone
  from the library is simply not asked for (its entry stays until the cache folder is deleted; the
  cache can always be deleted).
* ``errors.csv`` (same journal kind): files that could not be embedded, with the stat they had; not
  retried while unchanged (unless asked).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import journal
from .embeddings import FileEmbedding, recipe, recipe_id

INDEX_COLUMNS = ["path", "size", "mtime_ns", "digest", "entry", "windows"]
ERROR_COLUMNS = ["path", "size", "mtime_ns", "reason"]
COMPACT_WHEN = 2.0  # rewrite the index when it holds this many rows per live song (and 1000 more)


def default_root() -> Path:
    """``$GENRE_MODELS_CACHE/embeddings`` (default ``~/.cache/genre_models/embeddings``)."""
    env = os.environ.get("GENRE_MODELS_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "genre_models") / "embeddings"


def cache_key(path: str | os.PathLike) -> str:
    """A song's key: its absolute path (not resolved: a library reached through a link keeps its names)."""
    return os.path.abspath(os.fspath(path))


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileStat:
        st = os.stat(path)
        return cls(int(st.st_size), int(st.st_mtime_ns))


@dataclass(frozen=True)
class Entry:
    key: str
    stat: FileStat
    digest: str
    entry: str  # file name under entries/
    windows: int


class BackboneCache:
    """One backbone recipe's vectors of many songs (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, backbone: str, window_seconds: float, max_windows: int | None):
        self.backbone = backbone
        self.recipe = recipe(backbone, window_seconds, max_windows)
        self.dir = Path(root) / f"{backbone}-{recipe_id(self.recipe)}"
        (self.dir / "entries").mkdir(parents=True, exist_ok=True)
        meta = self.dir / "recipe.json"
        if not meta.is_file():
            tmp = self.dir / f".recipe.json.tmp-{os.getpid()}"
            tmp.write_text(json.dumps(self.recipe, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, meta)
        self.index_path = self.dir / "index.csv"
        self.entries: dict[str, Entry] = {}
        self._rows = 0
        header, rows = journal.read_table(self.index_path)
        if header is not None and header != INDEX_COLUMNS:
            raise ValueError(f"{self.index_path} is not an embedding index (columns {header}); delete {self.dir}")
        for row in rows:
            if len(row) == len(INDEX_COLUMNS):
                self._rows += 1
                try:
                    self.entries[row[0]] = Entry(row[0], FileStat(int(row[1]), int(row[2])), row[3], row[4],
                                                 int(row[5]))
                except ValueError:
                    continue  # a damaged row: that song is embedded again
        self._journal: journal.Journal | None = None

    def fresh(self, key: str, stat: FileStat) -> Entry | None:
        """The entry of ``key`` if it was made from the file as it is now (same size and time)."""
        e = self.entries.get(key)
        return e if e is not None and e.stat == stat and (self.dir / "entries" / e.entry).is_file() else None

    def stale(self, key: str) -> Entry | None:
        """The entry of ``key`` whatever its stat (its digest tells whether the audio changed)."""
        e = self.entries.get(key)
        return e if e is not None and (self.dir / "entries" / e.entry).is_file() else None

    def _append(self, e: Entry) -> None:
        if self._journal is None:
            self._journal = journal.Journal(self.index_path, INDEX_COLUMNS)
            self._journal.open(resume=True)  # a torn last line from a killed run is cut off here
        self._journal.append([{"path": e.key, "size": str(e.stat.size), "mtime_ns": str(e.stat.mtime_ns),
                               "digest": e.digest, "entry": e.entry, "windows": str(e.windows)}])
        self.entries[e.key] = e
        self._rows += 1

    def put(self, key: str, stat: FileStat, emb: FileEmbedding) -> Entry:
        """Store a song's vectors (atomically), then its index row."""
        from safetensors.numpy import save_file

        name = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()
        rel = f"{name[:2]}/{name}.safetensors"
        final = self.dir / "entries" / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        arrays = {f"v.{v}": np.ascontiguousarray(a, dtype=np.float32) for v, a in emb.vectors[self.backbone].items()}
        arrays["spans"] = np.ascontiguousarray(emb.spans, dtype=np.float64)
        save_file(arrays, str(tmp), metadata={"path": key, "digest": emb.digest, "duration": str(emb.duration)})
        os.replace(tmp, final)
        e = Entry(key, stat, emb.digest, rel, emb.n_windows)
        self._append(e)
        return e

    def relink(self, key: str, stat: FileStat, old: Entry) -> Entry:
        """The file changed on disk but not its audio: its vectors stand for the new stat too."""
        e = Entry(key, stat, old.digest, old.entry, old.windows)
        self._append(e)
        return e

    def load(self, e: Entry, variants: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The spans ``(windows, 2)`` and the asked variants ``(windows, width)`` of an entry (only those are read)."""
        from safetensors import safe_open

        with safe_open(str(self.dir / "entries" / e.entry), framework="numpy") as fh:
            return fh.get_tensor("spans"), {v: fh.get_tensor(f"v.{v}") for v in variants}

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        live = len(self.entries)
        if self._rows > COMPACT_WHEN * live + 1000:  # superseded rows of changed files: keep the last of each
            journal.rewrite(self.index_path, INDEX_COLUMNS, (
                {"path": e.key, "size": str(e.stat.size), "mtime_ns": str(e.stat.mtime_ns), "digest": e.digest,
                 "entry": e.entry, "windows": str(e.windows)} for e in self.entries.values()))
            self._rows = live


class ErrorList:
    """Files that could not be embedded (``errors.csv`` at the cache root), with the stat they had."""

    def __init__(self, root: str | os.PathLike):
        self.path = Path(root) / "errors.csv"
        self.errors: dict[str, tuple[FileStat, str]] = {}
        _, rows = journal.read_table(self.path)
        for row in rows:
            if len(row) == len(ERROR_COLUMNS):
                try:
                    self.errors[row[0]] = (FileStat(int(row[1]), int(row[2])), row[3])
                except ValueError:
                    continue
        self._journal: journal.Journal | None = None

    def known(self, key: str, stat: FileStat) -> str | None:
        """The reason ``key`` failed before, if it has not changed since."""
        hit = self.errors.get(key)
        return hit[1] if hit is not None and hit[0] == stat else None

    def add(self, key: str, stat: FileStat, reason: str) -> None:
        if self._journal is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._journal = journal.Journal(self.path, ERROR_COLUMNS)
            self._journal.open(resume=True)
        self._journal.append([{"path": key, "size": str(stat.size), "mtime_ns": str(stat.mtime_ns), "reason": reason}])
        self.errors[key] = (stat, reason)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None


class EmbeddingStore:
    """The caches of several backbones (one recipe each) and the error list, under one root."""

    def __init__(self, root: str | os.PathLike | None, backbones: Iterable[str], window_seconds: float,
                 max_windows: int | None):
        self.root = Path(root) if root is not None else default_root()
        self.window_seconds, self.max_windows = float(window_seconds), max_windows
        self.caches = {b: BackboneCache(self.root, b, window_seconds, max_windows) for b in dict.fromkeys(backbones)}
        self.errors = ErrorList(self.root)

    def load(self, key: str, stat: FileStat, features: Sequence) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
        """A song's spans and its vectors (backbone → variant → array) for ``features``; KeyError when
        any backbone has no fresh entry."""
        spans = None
        vectors: dict[str, dict[str, np.ndarray]] = {}
        by_backbone: dict[str, list[str]] = {}
        for f in features:
            by_backbone.setdefault(f.backbone, []).append(f.variant)
        for b, variants in by_backbone.items():
            e = self.caches[b].fresh(key, stat)
            if e is None:
                raise KeyError(key)
            s, vectors[b] = self.caches[b].load(e, variants)
            if spans is not None and not np.array_equal(s, spans):
                raise KeyError(key)  # the backbones saw different windows: embed again
            spans = s
        return spans, vectors

    def close(self) -> None:
        for c in self.caches.values():
            c.close()
        self.errors.close()


def stat_or_none(path: str | os.PathLike) -> FileStat | None:
    try:
        return FileStat.of(path)
    except OSError:
        return None


__all__ = ["BackboneCache", "EmbeddingStore", "Entry", "ErrorList", "FileStat", "cache_key", "default_root",
           "stat_or_none"]


def summary(counts: Mapping[str, int]) -> str:
    """``"800 cached, 140 embedded, 3 retagged (audio unchanged)"`` from non-zero counts."""
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n)
