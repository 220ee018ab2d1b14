"""Track metadata (title, artist, play statistics) as a metadata model reads it.

Kept free of torch and transformers, so the CLI, the app and the training data code can build and
check metadata without loading a model. The encoding lives here too, because training and
inference must turn metadata into numbers in exactly one way:

* **names**: ``"<title>␞<artist>"`` as UTF-8 bytes (a fixed 256-symbol alphabet: nothing to fit, no
  unknown characters, any script), case-folded, each byte shifted past the special ids below,
  truncated to ``max_chars``. With neither title nor artist the sequence is the single
  :data:`MISSING_ID`, which the character GRU learns to read as "no names".
* **statistics**: ``log1p`` of listens, comments and favorites (counts span 0 to 10^5; the log keeps
  one viral track from dominating), standardised with training-set statistics, plus one flag per
  count (1 = known). An unknown count is 0 after standardisation (the training mean) with flag 0,
  so the model can tell "average" from "not given".
"""
from __future__ import annotations

import csv
import math
import os
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

STAT_FIELDS = ("listens", "comments", "favorites")
NAME_FIELDS = ("title", "artist")
METADATA_FIELDS = (*NAME_FIELDS, *STAT_FIELDS)
# which inputs each branch of a metadata model reads ("audio" reads none)
BRANCH_FIELDS = {"audio": (), "stats": STAT_FIELDS, "names": NAME_FIELDS}

PAD_ID, MISSING_ID, SEP_ID = 0, 1, 2
BYTE_OFFSET = 3
CHAR_VOCAB_SIZE = BYTE_OFFSET + 256


class MetadataRequiredError(ValueError):
    """A model reads track metadata and the caller gave none of the fields it reads."""


@dataclass(frozen=True)
class TrackMetadata:
    """What a user (or FMA's ``tracks.csv``) knows about a track besides its audio; ``None`` = unknown."""

    title: str | None = None
    artist: str | None = None
    listens: float | None = None
    comments: float | None = None
    favorites: float | None = None

    def __post_init__(self) -> None:
        for name in NAME_FIELDS:
            object.__setattr__(self, name, _clean_text(getattr(self, name)))
        for name in STAT_FIELDS:
            object.__setattr__(self, name, _clean_count(getattr(self, name), name))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | TrackMetadata | None) -> TrackMetadata:
        """From a dict (unknown keys refused, so a typo such as ``listen`` is not silently ignored)."""
        if values is None:
            return cls()
        if isinstance(values, TrackMetadata):
            return values
        unknown = set(values) - set(METADATA_FIELDS)
        if unknown:
            raise ValueError(f"unknown metadata field(s) {sorted(unknown)}; known: {', '.join(METADATA_FIELDS)}")
        return cls(**{k: values[k] for k in METADATA_FIELDS if k in values})

    def given(self) -> tuple[str, ...]:
        """The fields that are known."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _clean_count(value: Any, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(number):
        return None
    if number < 0 or math.isinf(number):
        raise ValueError(f"{name} must be a non-negative count, got {value!r}")
    return number


def as_metadata(value: Mapping[str, Any] | TrackMetadata | None) -> TrackMetadata | None:
    """``None`` stays ``None`` (nothing given); a dict or :class:`TrackMetadata` becomes one."""
    return None if value is None else TrackMetadata.from_mapping(value)


def check_metadata(model_name: str, fields_read: Sequence[str], metadata: TrackMetadata | None) -> list[str]:
    """Raise :class:`MetadataRequiredError` if the model reads metadata and none of its fields is given.

    Returns the fields it reads that are unknown (the model treats them as missing), so callers can
    say so. A model that reads no metadata (``fields_read`` empty) always passes.
    """
    if not fields_read:
        return []
    given = set(metadata.given()) if metadata is not None else set()
    if not given & set(fields_read):
        raise MetadataRequiredError(
            f"model `{model_name}` needs track metadata ({', '.join(fields_read)}) and none was given; "
            "pass --title/--artist/--listens/--comments/--favorites (command line) or fill in "
            "'Track details' (app)")
    return [f for f in fields_read if f not in given]


def read_metadata_csv(path: str | os.PathLike) -> dict[str, TrackMetadata]:
    """Per-file metadata for the CLI: a CSV with a ``path`` column and any of ``title, artist,
    listens, comments, favorites`` (blank = unknown). Keys are the ``path`` cells as written."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or [])
        if "path" not in columns:
            raise ValueError(f"{path}: a metadata CSV needs a 'path' column (and any of {', '.join(METADATA_FIELDS)})")
        unknown = columns - {"path", *METADATA_FIELDS}
        if unknown:
            raise ValueError(f"{path}: unknown column(s) {sorted(unknown)}; known: path, {', '.join(METADATA_FIELDS)}")
        out = {}
        for line, row in enumerate(reader, start=2):
            try:
                out[row["path"]] = TrackMetadata(**{k: row.get(k) for k in METADATA_FIELDS})
            except ValueError as err:
                raise ValueError(f"{path}, line {line}: {err}") from None
    return out


def metadata_for_file(file: str | os.PathLike, table: Mapping[str, TrackMetadata]) -> TrackMetadata | None:
    """The row of ``table`` for ``file``: by the path as given, then the same file, then its name."""
    file = Path(file)
    if str(file) in table:
        return table[str(file)]
    for key, value in table.items():
        if Path(key).resolve() == file.resolve():
            return value
    by_name = [v for k, v in table.items() if Path(k).name == file.name]
    return by_name[0] if len(by_name) == 1 else None


# ---------------------------------------------------------------------------------------------
# encoding (the one path used by training and inference)
# ---------------------------------------------------------------------------------------------
def encode_names(meta: TrackMetadata | None, max_chars: int, lowercase: bool = True) -> np.ndarray:
    """Character ids (int64, length 1..``max_chars``) of ``title ␞ artist``; ``[MISSING_ID]`` when neither is known."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    parts = [] if meta is None else [getattr(meta, f) for f in NAME_FIELDS]
    if not any(parts):
        return np.array([MISSING_ID], dtype=np.int64)
    ids: list[int] = []
    for i, text in enumerate(parts):
        if i:
            ids.append(SEP_ID)
        if text:
            text = unicodedata.normalize("NFC", text)
            ids.extend(BYTE_OFFSET + b for b in (text.casefold() if lowercase else text).encode("utf-8"))
    return np.asarray(ids[:max_chars], dtype=np.int64)


def log_counts(meta: TrackMetadata | None) -> tuple[np.ndarray, np.ndarray]:
    """``(log1p counts, known flags)``, float32 of length 3; unknown counts are 0 with flag 0."""
    values = np.zeros(len(STAT_FIELDS), dtype=np.float32)
    known = np.zeros(len(STAT_FIELDS), dtype=np.float32)
    for i, name in enumerate(STAT_FIELDS):
        v = None if meta is None else getattr(meta, name)
        if v is not None:
            values[i], known[i] = math.log1p(v), 1.0
    return values, known


def fit_stats(records: Iterable[TrackMetadata | None], min_std: float = 1e-3) -> tuple[list[float], list[float]]:
    """Per-count mean and std of the ``log1p`` values over the records where each is known (0/1 if never)."""
    rows = [log_counts(r) for r in records]
    mean, std = [], []
    for i in range(len(STAT_FIELDS)):
        vals = np.array([v[i] for v, k in rows if k[i]], dtype=np.float64)
        mean.append(float(vals.mean()) if vals.size else 0.0)
        std.append(float(max(vals.std(), min_std)) if vals.size > 1 else 1.0)
    return mean, std


def encode_batch(records: Sequence[TrackMetadata | None], max_chars: int, lowercase: bool,
                 stats_mean: Sequence[float] | None, stats_std: Sequence[float] | None) -> dict[str, np.ndarray]:
    """``char_ids``/``char_mask`` ``(batch, longest)`` and ``stats``/``stats_mask`` ``(batch, 3)``."""
    names = [encode_names(r, max_chars, lowercase) for r in records]
    width = max(len(n) for n in names)
    char_ids = np.full((len(names), width), PAD_ID, dtype=np.int64)
    char_mask = np.zeros((len(names), width), dtype=np.int64)
    for i, n in enumerate(names):
        char_ids[i, :len(n)], char_mask[i, :len(n)] = n, 1
    mean = np.zeros(len(STAT_FIELDS), np.float32) if stats_mean is None else np.asarray(stats_mean, np.float32)
    std = np.ones(len(STAT_FIELDS), np.float32) if stats_std is None else np.asarray(stats_std, np.float32)
    stats, masks = zip(*(log_counts(r) for r in records))
    stats_mask = np.stack(masks)
    stats = (np.stack(stats) - mean) / std * stats_mask  # unknown: 0 (the mean), flagged
    return {"char_ids": char_ids, "char_mask": char_mask, "stats": stats.astype(np.float32),
            "stats_mask": stats_mask.astype(np.float32)}


__all__ = ["BRANCH_FIELDS", "CHAR_VOCAB_SIZE", "METADATA_FIELDS", "MetadataRequiredError", "STAT_FIELDS",
           "TrackMetadata", "as_metadata", "check_metadata", "encode_batch", "encode_names", "fit_stats",
           "log_counts", "metadata_for_file", "read_metadata_csv"]
