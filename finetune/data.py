"""Tracks, splits, decoding and the torch datasets that the training loop reads.

Three rules hold everywhere here:

* A split is a set of **tracks**, made before any chunking; chunks and scoring windows are cut
  from the tracks of one split only (:func:`check_disjoint` is asserted whenever splits or datasets
  are built), so no song leaks from training into evaluation through its other 3-s pieces.
* Audio is decoded once, by :func:`genre_models.audio.load_audio` at the model's sampling rate,
  the same function the CLI and the app use, so training sees exactly the samples prediction sees.
* A file that cannot be decoded is skipped, logged and counted (``DataSplits.skipped``), never fatal.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from genre_models.audio import SUPPORTED_EXTENSIONS, AudioLoadError, load_audio
from genre_models.labels import GTZAN_GENRES
from genre_models.metadata import TrackMetadata
from genre_models.windows import plan_windows

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
# how a --split random is made (recorded in the rule of every model trained on one): the seed
# rebuilds the split only with the same method
SPLIT_METHOD = "sklearn.model_selection.train_test_split(stratify=genre), test then valid"
# GTZAN's jazz.00054 is corrupt in most copies (it does not decode); it is dropped wherever it appears.
GTZAN_CORRUPT = frozenset({"jazz.00054"})
REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPLIT_DIR = REPO.parent / "shared" / "data" / "gtzan" / "splits"


# ---------------------------------------------------------------------------------------------
# tracks and splits
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubAudio:
    """One row of a Hub dataset whose audio column was cast with ``Audio(decode=False)``.

    The bytes are fetched only when the row is decoded (once, into the audio store), so a whole
    Hub dataset never sits in memory as encoded audio.
    """

    dataset: Any = field(compare=False, hash=False, repr=False)
    index: int = 0
    column: str = "audio"
    fingerprint: str = ""

    def read(self) -> bytes | str:
        value = self.dataset[self.index][self.column]
        if value.get("bytes"):
            return value["bytes"]
        if value.get("path") and Path(value["path"]).is_file():
            return value["path"]
        raise AudioLoadError("missing", f"row {self.index} of the dataset has no audio bytes or readable path")


@dataclass(frozen=True)
class Track:
    """A song: the unit that is split (never its chunks). ``track_id`` is unique in a dataset.

    ``metadata`` (title, artist, play counts; FMA only) travels with every example of the track and
    is turned into model inputs only by extractors that read it (``lstm_meta``).
    """

    track_id: str
    label: int
    source: str | HubAudio
    metadata: TrackMetadata | None = field(default=None, compare=False)

    def cache_key(self, sampling_rate: int) -> str:
        """Identifies the decoded audio: the file (path, size, mtime) or the Hub row, and the rate."""
        if isinstance(self.source, HubAudio):
            what = f"hub|{self.source.fingerprint}|{self.source.index}"
        else:
            path = Path(self.source).resolve()
            try:
                st = path.stat()
                what = f"file|{path}|{st.st_size}|{st.st_mtime_ns}"
            except OSError:
                what = f"file|{path}|missing"
        return hashlib.sha1(f"{what}|{sampling_rate}".encode()).hexdigest()

    def read_source(self) -> bytes | str:
        return self.source.read() if isinstance(self.source, HubAudio) else self.source


@dataclass
class DataSplits:
    """Labels, the tracks of each split, and every file that was left out (with why)."""

    labels: list[str]
    splits: dict[str, list[Track]]
    split_name: str
    dataset: str
    skipped: list[dict[str, str]] = field(default_factory=list)
    # how the split was made, beyond its name (seed and fractions of a random split, the list folder,
    # a fold's fingerprint): recorded with every model trained on it (finetune.provenance)
    rule: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_disjoint(self.splits)

    def counts(self) -> dict[str, int]:
        return {name: len(tracks) for name, tracks in self.splits.items()}


def check_disjoint(splits: dict[str, Sequence[Track]] | dict[str, Sequence[str]]) -> None:
    """Raise ``AssertionError`` if any track id is in two splits (or twice in one)."""
    seen: dict[str, str] = {}
    for name, tracks in splits.items():
        for t in tracks:
            tid = t.track_id if isinstance(t, Track) else str(t)
            if tid in seen:  # not a bare `assert`: this must hold under `python -O` too
                raise AssertionError(f"track {tid!r} is in split {seen[tid]!r} and in split {name!r}: "
                                     "splits must be per track")
            seen[tid] = name


def scan_audio_folder(root: str | os.PathLike, skip: frozenset[str] = GTZAN_CORRUPT,
                      flat_gtzan: bool = False) -> list[tuple[str, str, str]]:
    """``(track_id, genre, path)`` for every ``<root>/<genre>/<file>`` audio file, sorted.

    A Kaggle-style ``<root>/genres_original/`` is entered automatically. ``track_id`` is
    ``"<genre>/<file stem>"`` (the form of the GTZAN split lists, without extension); stems in
    ``skip`` are left out and logged. With ``flat_gtzan``, a folder of ``<genre>.000NN.wav`` files
    without genre subfolders (like ``shared/data/gtzan/audio``) is read too, the genre taken from
    the name.
    """
    root = Path(root)
    if (root / "genres_original").is_dir():
        root = root / "genres_original"
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")

    def audio_files(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                      and p.suffix.lower() in SUPPORTED_EXTENSIONS)

    found = [(d.name, f) for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
             for f in audio_files(d)]
    if not found and flat_gtzan:
        found = [(f.name.split(".")[0], f) for f in audio_files(root) if f.name.count(".") >= 2]
    out = []
    for genre, path in found:
        if path.stem in skip:
            logger.info("skipping %s (known corrupt file)", path)
            continue
        out.append((f"{genre}/{path.stem}", genre, str(path)))
    if not out:
        raise FileNotFoundError(f"no audio files in {root}/<genre>/ (expected e.g. {root}/blues/blues.00000.wav)")
    return out


def label_names(genres: Sequence[str]) -> list[str]:
    """GTZAN's canonical order when every genre is a GTZAN genre (so ids match other checkpoints), else sorted."""
    present = set(genres)
    if present <= set(GTZAN_GENRES):
        return [g for g in GTZAN_GENRES if g in present]
    return sorted(present)


def stratified_split(
    tracks: Sequence[Track], valid_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[Track]]:
    """Seeded split of *tracks* (train/valid/test), stratified by genre by scikit-learn's
    ``train_test_split(stratify=...)``: test is drawn first, then valid from the rest.

    Each genre with at least 3 tracks contributes ``max(1, round(n · fraction))`` tracks to the size of
    each non-empty split, and scikit-learn shares those sizes out among the genres in proportion:
    a balanced dataset gets exactly that many of every genre; in an unbalanced one a genre of 3-4
    tracks may get none (its share rounds to 0). Genres with fewer than 3 tracks stay in train.
    Deterministic for a given seed and track list (its order does not matter). Recorded as
    :data:`SPLIT_METHOD` in a model's track record: splits made before it (a hand-written per-genre
    shuffle) are rebuilt from the record's ids instead (:func:`recorded_split`).
    """
    from sklearn.model_selection import train_test_split

    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1 and valid_fraction + test_fraction < 1):
        raise ValueError(f"bad split fractions valid={valid_fraction}, test={test_fraction}")
    ordered = sorted(tracks, key=lambda t: t.track_id)
    sizes = Counter(t.label for t in ordered)
    rest = [t for t in ordered if sizes[t.label] >= 3]
    out: dict[str, list[Track]] = {"train": [t for t in ordered if sizes[t.label] < 3], "valid": [], "test": []}
    for name, fraction in (("test", test_fraction), ("valid", valid_fraction)):
        left = Counter(t.label for t in rest)
        pool = [t for t in rest if left[t.label] >= 2]  # scikit-learn stratifies genres of 2 or more
        out["train"] += [t for t in rest if left[t.label] < 2]
        size = sum(max(1, round(n * fraction)) for n in sizes.values() if n >= 3) if fraction > 0 else 0
        size = min(size, len(pool) - len({t.label for t in pool}))  # every genre keeps a track for train
        if size <= 0:
            rest = pool
            continue
        rest, out[name] = train_test_split(pool, test_size=size, random_state=seed, stratify=[t.label for t in pool])
    out["train"] += rest
    for name in out:
        out[name].sort(key=lambda t: t.track_id)
    check_disjoint(out)
    return out


def recorded_split(data: DataSplits, record: dict[str, Any], args: Any = None) -> DataSplits:
    """*data* split as a model's track record lists it (its ``<split>_tracks_ids``), for random splits
    made before :data:`SPLIT_METHOD`, which the seed no longer rebuilds. Tracks are matched by file
    stem (the record's ids); recorded tracks absent from the data are ``missing`` skips."""
    tracks = [t for ts in data.splits.values() for t in ts]
    lists = {name: list(record.get(f"{name}_tracks_ids", ())) for name in SPLITS}
    splits, skipped = apply_split_lists(tracks, lists)
    rule = {**data.rule, "rebuilt_from": "the model's track record (split made before " + SPLIT_METHOD + ")"}
    return _limit(replace(data, splits=splits, skipped=[*data.skipped, *skipped], rule=rule), args)


def read_split_lists(split_dir: str | os.PathLike, name: str) -> dict[str, list[str]]:
    """``{train,valid,test}_<name>.txt`` (lines like ``blues/blues.00029.wav``) as track ids without extension."""
    split_dir = Path(split_dir)
    lists = {}
    for split in SPLITS:
        path = split_dir / f"{split}_{name}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"split list {path} not found (set --split_dir)")
        ids = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line)
                ids.append(f"{p.parent.name}/{p.stem}" if p.parent.name else p.stem)
        lists[split] = ids
    check_disjoint(lists)
    return lists


def apply_split_lists(
    tracks: Sequence[Track], lists: dict[str, list[str]]
) -> tuple[dict[str, list[Track]], list[dict[str, str]]]:
    """Put each track in the split its list names; tracks in no list are dropped (logged).

    Tracks match by ``genre/stem`` or, failing that, by ``stem`` alone. Listed tracks absent from
    the data are reported as ``missing`` skips (e.g. GTZAN's jazz.00054, or a partial copy).
    """
    by_id = {t.track_id: t for t in tracks}
    by_stem = {t.track_id.rsplit("/", 1)[-1]: t for t in tracks}
    out: dict[str, list[Track]] = {name: [] for name in SPLITS}
    skipped, used = [], set()
    for split, ids in lists.items():
        for tid in ids:
            t = by_id.get(tid) or by_stem.get(tid.rsplit("/", 1)[-1])
            if t is None:
                skipped.append({"track_id": tid, "split": split,
                                "reason": "missing: listed in the split but not in the data"})
                continue
            out[split].append(t)
            used.add(t.track_id)
    unlisted = [t.track_id for t in tracks if t.track_id not in used]
    if unlisted:
        logger.info("%d track(s) are in no split list and are not used (e.g. %s)", len(unlisted), unlisted[0])
    check_disjoint(out)
    return out, skipped


# ---------------------------------------------------------------------------------------------
# dataset sources
# ---------------------------------------------------------------------------------------------
def gtzan_from_hub(
    name: str, config: str | None = None, cache_dir: str | None = None, token: str | None = None
) -> list[tuple[str, str, HubAudio]]:
    """``(track_id, genre, HubAudio)`` rows of a GTZAN dataset on the Hub (e.g. ``sanchit-gandhi/gtzan``).

    The audio column is cast to ``Audio(decode=False)``: the encoded bytes go through our own
    decoder (:func:`genre_models.audio.load_audio`) like every other input, not through datasets'.
    """
    from datasets import Audio, ClassLabel, load_dataset

    ds = load_dataset(name, config, split="train", cache_dir=cache_dir, token=token)
    audio_col = next((c for c, f in ds.features.items() if isinstance(f, Audio)), "audio")
    label_col = next((c for c in ("genre", "label", "genre_top") if c in ds.column_names), None)
    if label_col is None:
        raise ValueError(f"{name}: no genre/label column among {ds.column_names}")
    ds = ds.cast_column(audio_col, Audio(decode=False))
    feature = ds.features[label_col]
    names = feature.names if isinstance(feature, ClassLabel) else None
    files = ds["file"] if "file" in ds.column_names else [None] * len(ds)
    fingerprint = f"{name}|{config}|{getattr(ds, '_fingerprint', '')}"
    rows = []
    for i, (label, file) in enumerate(zip(ds[label_col], files)):
        genre = names[label] if names is not None else str(label)
        stem = Path(file).stem if file else f"row{i:05d}"
        if stem in GTZAN_CORRUPT:
            continue
        rows.append((f"{genre}/{stem}", genre, HubAudio(ds, i, audio_col, fingerprint)))
    return rows


FMA_SUBSETS = {"fma_small": ("small",), "fma_medium": ("small", "medium")}
FMA_SPLITS = {"training": "train", "validation": "valid", "test": "test"}


def fma_rows(table: Any) -> list[tuple[int, str, str]]:
    """``(track_id, split, genre_top)`` of a :func:`read_fma_table` table (split names as ours)."""
    return [(int(r.track_id), FMA_SPLITS.get(r.split, r.split), str(r.genre)) for r in table.itertuples()]


# tracks.csv columns of what lstm_meta reads: (two-row header name, flat CSV names)
FMA_METADATA_COLUMNS = {
    "title": (("track", "title"), ("title", "track_title")),
    "artist": (("artist", "name"), ("artist_name", "artist")),
    "listens": (("track", "listens"), ("listens", "track_listens")),
    "comments": (("track", "comments"), ("comments", "track_comments")),
    "favorites": (("track", "favorites"), ("favorites", "track_favorites")),
}


def fma_track_metadata(table: Any) -> dict[int, TrackMetadata]:
    """Each track's title, artist name and listens/comments/favorites from a :func:`read_fma_table`
    table; missing cells (NaN, blank) become ``None`` (unknown), which the model sees as flagged."""
    cols = {name: table[name].tolist() if name in table else [None] * len(table) for name in FMA_METADATA_COLUMNS}
    return {int(tid): TrackMetadata(**{name: cols[name][i] for name in FMA_METADATA_COLUMNS})
            for i, tid in enumerate(table["track_id"].tolist())}


def read_fma_table(path: str | os.PathLike, dataset: str) -> Any:
    """The tracks of an FMA subset that have a top genre, as a DataFrame: ``track_id, split, subset,
    genre`` plus whichever of ``title, artist, listens, comments, favorites`` the file has (the
    official file has them all; see :data:`FMA_METADATA_COLUMNS`). Read once for both uses."""
    import pandas as pd

    if dataset not in FMA_SUBSETS:
        raise ValueError(f"unknown FMA subset {dataset!r}")
    with open(path, newline="") as fh:
        first = fh.readline()
    if first.lstrip().startswith(",") or first.split(",")[1:2] == ["album"]:
        df = pd.read_csv(path, index_col=0, header=[0, 1], low_memory=False)
        table = pd.DataFrame({
            "track_id": df.index.astype(int),
            "split": df[("set", "split")].astype(str).to_numpy(),
            "subset": df[("set", "subset")].astype(str).to_numpy(),
            "genre": df[("track", "genre_top")].to_numpy(),
            **{name: df[two].to_numpy() for name, (two, _) in FMA_METADATA_COLUMNS.items() if two in df.columns},
        })
    else:
        df = pd.read_csv(path, low_memory=False)
        table = pd.DataFrame({
            "track_id": df["track_id"].astype(int),
            "split": df["split"].astype(str),
            "subset": df["subset"].astype(str),
            "genre": df["genre_top"],
            **{name: df[next(f for f in flats if f in df.columns)] for name, (_, flats) in FMA_METADATA_COLUMNS.items()
               if any(f in df.columns for f in flats)},
        })
    return table[table["subset"].isin(FMA_SUBSETS[dataset]) & table["genre"].notna()]


def fma_audio_path(audio_dir: str | os.PathLike, track_id: int) -> Path:
    """FMA's layout: ``<audio_dir>/000/000002.mp3``."""
    tid = f"{track_id:06d}"
    return Path(audio_dir) / tid[:3] / f"{tid}.mp3"


# ---------------------------------------------------------------------------------------------
# from arguments to splits
# ---------------------------------------------------------------------------------------------
def _tracks(rows: Sequence[tuple[str, str, Any]], labels: list[str]) -> list[Track]:
    index = {name: i for i, name in enumerate(labels)}
    return [Track(tid, index[genre], source) for tid, genre, source in rows]


def load_splits(args: Any, seed: int, token: str | None = None) -> DataSplits:
    """The tracks of each split for ``args`` (a :class:`finetune.arguments.DataArguments`)."""
    dataset = args.dataset
    if dataset in FMA_SUBSETS:
        if not args.fma_metadata or not args.fma_audio_dir:
            raise ValueError(f"--dataset {dataset} needs --fma_metadata (tracks.csv) and --fma_audio_dir")
        table = read_fma_table(args.fma_metadata, dataset)
        meta, info = fma_rows(table), fma_track_metadata(table)
        labels = sorted({genre for _, _, genre in meta})
        splits: dict[str, list[Track]] = {name: [] for name in SPLITS}
        skipped = []
        for tid, split, genre in meta:
            path = fma_audio_path(args.fma_audio_dir, tid)
            if not path.is_file():
                skipped.append({"track_id": f"{tid:06d}", "split": split, "reason": f"missing: {path} not found"})
                continue
            if split in splits:
                splits[split].append(Track(f"{tid:06d}", labels.index(genre), str(path), info.get(tid)))
        split_name = args.split or "official"
        if split_name not in ("official", "random"):
            raise ValueError("FMA datasets use --split official (the FMA train/validation/test split) or random")
        rule: dict[str, Any] = {"fma_metadata": str(args.fma_metadata)}
        if split_name == "random":
            all_tracks = [t for ts in splits.values() for t in ts]
            splits = stratified_split(all_tracks, args.valid_fraction, args.test_fraction, seed)
            rule.update(seed=seed, valid_fraction=args.valid_fraction, test_fraction=args.test_fraction,
                        method=SPLIT_METHOD)
        return _limit(DataSplits(labels, splits, split_name, dataset, skipped, rule), args)

    if dataset == "gtzan" and not args.data_dir:
        rows = gtzan_from_hub(args.dataset_name, args.dataset_config_name, args.hf_cache_dir, token)
        source = f"{args.dataset_name} (Hugging Face Hub)"
    elif dataset in ("gtzan", "audiofolder"):
        if not args.data_dir:
            raise ValueError("--dataset audiofolder needs --data_dir (a folder of <genre>/<file> audio)")
        rows = scan_audio_folder(args.data_dir, flat_gtzan=dataset == "gtzan")
        source = f"{dataset} folder {args.data_dir}"
    else:
        raise ValueError(f"unknown dataset {dataset!r}")
    labels = label_names([genre for _, genre, _ in rows])
    tracks = _tracks(rows, labels)
    split_name = args.split or "random"
    if split_name == "random":
        splits, skipped = stratified_split(tracks, args.valid_fraction, args.test_fraction, seed), []
        rule: dict[str, Any] = {"seed": seed, "valid_fraction": args.valid_fraction,
                                "test_fraction": args.test_fraction, "method": SPLIT_METHOD}
    else:
        split_dir = args.split_dir or DEFAULT_SPLIT_DIR
        splits, skipped = apply_split_lists(tracks, read_split_lists(split_dir, split_name))
        rule = {"split_dir": str(split_dir)}
    return _limit(DataSplits(labels, splits, split_name, source, skipped, rule), args)


def _limit(data: DataSplits, args: Any) -> DataSplits:
    """``--max_train_tracks`` / ``--max_eval_tracks``: a quick look on a subset (tracks evenly spaced
    over the id-sorted list, so the genres stay mixed)."""
    limits = {"train": getattr(args, "max_train_tracks", None), "valid": getattr(args, "max_eval_tracks", None),
              "test": getattr(args, "max_eval_tracks", None)}
    splits = dict(data.splits)
    for name, limit in limits.items():
        tracks = splits.get(name, [])
        if limit is not None and len(tracks) > limit:
            step = len(tracks) / limit
            splits[name] = [tracks[int(i * step)] for i in range(limit)]
    rule = dict(data.rule)
    for key in ("max_train_tracks", "max_eval_tracks"):
        if getattr(args, key, None) is not None:
            rule[key] = getattr(args, key)
    return replace(data, splits=splits, rule=rule)


# ---------------------------------------------------------------------------------------------
# decoded audio
# ---------------------------------------------------------------------------------------------
class AudioStore:
    """Decoded mono float32 audio of tracks at one sampling rate: in memory, or as ``.npy`` files.

    With a ``cache_dir`` each track is decoded once ever (keyed by file path, size and mtime, or
    Hub row, plus rate), written atomically, and read back memory-mapped, so a crop reads only its
    own samples and FMA-sized datasets do not need the RAM. A file that fails to decode is
    remembered as such (``.bad.json``) and skipped again without retrying.
    """

    def __init__(self, sampling_rate: int, cache_dir: str | os.PathLike | None = None):
        self.sampling_rate = int(sampling_rate)
        self.cache_dir = None if cache_dir in (None, "", "none") else Path(cache_dir) / f"sr{self.sampling_rate}"
        self._arrays: dict[str, np.ndarray] = {}
        self._lengths: dict[str, int] = {}

    # -- decoding --------------------------------------------------------------------------------
    def _paths(self, key: str) -> tuple[Path, Path]:
        assert self.cache_dir is not None
        folder = self.cache_dir / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.bad.json"

    def _decode(self, track: Track) -> tuple[str, int | None, str | None]:
        """``(key, n_samples, None)`` or ``(key, None, reason)``."""
        key = track.cache_key(self.sampling_rate)
        if key in self._lengths:
            return key, self._lengths[key], None
        if self.cache_dir is not None:
            npy, bad = self._paths(key)
            if npy.is_file():
                return key, int(np.load(npy, mmap_mode="r").shape[0]), None
            if bad.is_file():
                return key, None, json.loads(bad.read_text())["reason"]
        try:
            y = load_audio(track.read_source(), self.sampling_rate)
        except AudioLoadError as err:
            reason = f"{err.kind}: {err}"
        except Exception as err:  # noqa: BLE001  any decoder failure: skip the file, keep training
            reason = f"error: {type(err).__name__}: {err}"
        else:
            if self.cache_dir is None:
                self._arrays[key] = y
            else:
                _atomic_write(npy, lambda fh: np.save(fh, y))
            return key, len(y), None
        if self.cache_dir is not None:
            _atomic_write(bad, lambda fh: fh.write(json.dumps({"track_id": track.track_id, "reason": reason}).encode()))
        return key, None, reason

    def prepare(self, data: DataSplits, num_workers: int = 1, progress: bool = True) -> DataSplits:
        """Decode every track of every split; returns the splits without the tracks that failed,
        which are logged and appended to ``skipped``."""
        from tqdm.auto import tqdm

        todo = [(name, t) for name, tracks in data.splits.items() for t in tracks]
        with ThreadPoolExecutor(max(1, num_workers)) as pool:
            results = list(tqdm(pool.map(lambda item: self._decode(item[1]), todo), total=len(todo),
                                desc=f"decoding audio at {self.sampling_rate} Hz", disable=not progress, leave=False))
        keep: dict[str, list[Track]] = {name: [] for name in data.splits}
        skipped = list(data.skipped)
        for (name, track), (key, n, reason) in zip(todo, results):
            if n is None:
                logger.warning("skipping %s (%s split): %s", track.track_id, name, reason)
                skipped.append({"track_id": track.track_id, "split": name, "reason": str(reason)})
                continue
            self._lengths[key] = n
            keep[name].append(track)
        bad = sum(1 for s in skipped if not s["reason"].startswith("missing"))
        if skipped:
            logger.warning("%d file(s) skipped (%d undecodable, %d missing)", len(skipped), bad, len(skipped) - bad)
        return replace(data, splits=keep, skipped=skipped)

    # -- reading ---------------------------------------------------------------------------------
    def num_samples(self, track: Track) -> int:
        key = track.cache_key(self.sampling_rate)
        if key not in self._lengths:
            _, n, reason = self._decode(track)
            if n is None:
                raise AudioLoadError("not_audio", f"{track.track_id}: {reason}")
            self._lengths[key] = n
        return self._lengths[key]

    def read(self, track: Track, start: int = 0, end: int | None = None) -> np.ndarray:
        """Samples ``[start, end)`` of the decoded track (a copy)."""
        key = track.cache_key(self.sampling_rate)
        if self.cache_dir is None:
            if key not in self._arrays:
                self._decode(track)
            y = self._arrays[key]
        else:
            y = np.load(self._paths(key)[0], mmap_mode="r")
        return np.array(y[start:end], dtype=np.float32)


def _atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    """Write to a temp file beside ``path`` and rename: a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        write(fh)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# torch datasets
# ---------------------------------------------------------------------------------------------
class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch, yielding ``epoch * n + i`` keys.

    The epoch travels inside the key, so a dataset item (its random crop included) is a pure
    function of ``(seed, epoch, i)``: the same in a resumed run as in an uninterrupted one, in
    any DataLoader worker, without any global random state.
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        base = self.epoch * self.n
        return iter([base + int(i) for i in order])


class TrainDataset(Dataset):
    """Training examples: whole tracks, or random ``chunk_samples`` crops of them.

    With chunking, each track gives ``chunks_per_track`` crops per epoch (default: as many as fit
    in the track, so an epoch covers about all the audio once), each at a fresh random offset.
    Items: ``{"audio": float32 array, "label": int, "track": position in tracks}``.
    """

    def __init__(self, store: AudioStore, tracks: Sequence[Track], chunk_samples: int | None = None,
                 chunks_per_track: int | None = None, seed: int = 0):
        self.store, self.tracks, self.chunk_samples, self.seed = store, list(tracks), chunk_samples, seed
        self.items: list[tuple[int, int]] = []
        for pos, t in enumerate(self.tracks):
            n = store.num_samples(t)
            k = 1 if not chunk_samples else (chunks_per_track or max(1, math.ceil(n / chunk_samples)))
            self.items += [(pos, j) for j in range(k)]

    def __len__(self) -> int:
        return len(self.items)

    def crop(self, key: int) -> tuple[int, int, int]:
        """``(track position, start, end)`` of item ``key`` (an :class:`EpochSampler` key)."""
        epoch, i = divmod(int(key), len(self.items))
        pos, _ = self.items[i]
        n = self.store.num_samples(self.tracks[pos])
        if not self.chunk_samples or n <= self.chunk_samples:
            return pos, 0, n
        start = int(np.random.default_rng([self.seed, epoch, i]).integers(0, n - self.chunk_samples + 1))
        return pos, start, start + self.chunk_samples

    def __getitem__(self, key: int) -> dict[str, Any]:
        pos, start, end = self.crop(key)
        item = {"audio": self.store.read(self.tracks[pos], start, end), "label": self.tracks[pos].label, "track": pos}
        return _with_metadata(item, self.tracks[pos])


class WindowDataset(Dataset):
    """Every scoring window of every track, laid out as the CLI lays them out.

    Windows are ``window_samples`` long with no overlap and an end-aligned last one
    (:func:`genre_models.windows.plan_windows`, which ``python -m genre_models predict`` uses), so
    track-level scores here are the scores a user gets. Items carry ``track`` for averaging.
    """

    def __init__(self, store: AudioStore, tracks: Sequence[Track], window_samples: int):
        self.store, self.tracks = store, list(tracks)
        self.windows: list[tuple[int, int, int]] = []
        for pos, t in enumerate(self.tracks):
            self.windows += [(pos, s, e) for s, e in plan_windows(store.num_samples(t), window_samples, window_samples)]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        pos, start, end = self.windows[i]
        return _with_metadata({"audio": self.store.read(self.tracks[pos], start, end),
                               "label": self.tracks[pos].label, "track": pos, "index": i}, self.tracks[pos])

    def batches(self, batch_size: int, shard: int = 0, num_shards: int = 1) -> list[list[int]]:
        """Batches of equal-length windows (no padding, as in the CLI), this process's share."""
        by_len: dict[int, list[int]] = defaultdict(list)
        for i, (_, s, e) in enumerate(self.windows):
            by_len[e - s].append(i)
        out = [idx[j:j + batch_size] for _, idx in sorted(by_len.items(), reverse=True)
               for j in range(0, len(idx), batch_size)]
        return out[shard::num_shards]


def assert_per_track(train: TrainDataset, evals: dict[str, WindowDataset]) -> None:
    """The invariant, checked on the datasets themselves: no track gives examples to two splits."""
    check_disjoint({"train": list({t.track_id for t in train.tracks}),
                    **{name: list({t.track_id for t in ds.tracks}) for name, ds in evals.items()}})


def _with_metadata(item: dict[str, Any], track: Track) -> dict[str, Any]:
    """Add the track's metadata to a dataset item when it has any (FMA), for :func:`collate_meta`."""
    if track.metadata is not None:
        item["metadata"] = track.metadata
    return item


def collate_meta(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Lists of audio plus label/track/index tensors; the feature extractor runs in the collator."""
    out: dict[str, Any] = {"audio": [it["audio"] for it in items],
                           "labels": torch.tensor([it["label"] for it in items], dtype=torch.long),
                           "track": torch.tensor([it["track"] for it in items], dtype=torch.long)}
    if any("metadata" in it for it in items):  # FMA tracks' title/artist/counts (None where unknown)
        out["metadata"] = [it.get("metadata") for it in items]
    if "index" in items[0]:
        out["index"] = torch.tensor([it["index"] for it in items], dtype=torch.long)
    return out
