"""Which tracks a model learned from: recorded beside every model we write, checked before it is scored.

A figure means something only if no scored track was trained or validated on. Every model this
project writes therefore carries a **track record** (key :data:`RECORD_KEY`): the ids of the tracks
it was trained on, validated on (early stopping, choices) and, where there is one, held out for
test, each list with its sha256, and the rule that made the split (dataset, split name, seed, fold
fingerprint). ``finetune/evaluate.py`` and ``finetune/ensemble.py`` refuse to score a model on a
track it learned from (:func:`check_no_overlap`).

**One identity per track, across datasets**: the GTZAN stem, ``blues.00010`` (:func:`canonical_id`).
The 30-s clip ``audio/blues.00010.wav``, the excerpt ``snippets/blues.00010.wav``, the table row
``blues.00010.wav`` of ``features_30_sec.csv`` and the split-list line ``blues/blues.00010.wav`` are
all the same track: an excerpt of a song the features model was fit on is *not* unseen audio.
For other datasets the id is the file name without folder and audio extension (FMA: ``000123``),
so two files of the same name in different genre folders count as one track (overlap checks err
on the side of refusing).

Where the record lives: ``metrics.json`` of a ``finetune/train.py`` folder; ``config.json``
``training`` of the features model; ``genre_head.json`` (and ``config.json`` ``genre_head``) of a
musicnn genre head.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RECORD_KEY = "track_record"
SPLITS = ("train", "valid", "test")
LEARNED_FROM = ("train", "valid")  # validation tracks chose the epoch / the setting: not unseen either
IDENTITY = ("GTZAN stem (blues.00010): file name without genre folder or audio extension; a clip, an excerpt "
            "and a table row of one track share it")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm", ".aiff", ".aif")
REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "genre_models" / "pretrained"


class TrainOverlapError(ValueError):
    """A model would be scored on tracks it was trained or validated on."""


class SplitMismatchError(ValueError):
    """A split rebuilt from its rule is not the split the model recorded."""


def canonical_id(track_id: str) -> str:
    """``"blues/blues.00010"``, ``"blues.00010.wav"``, ``"snippets/blues.00010.wav"`` -> ``"blues.00010"``."""
    name = str(track_id).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if dot and stem and f".{ext.lower()}" in AUDIO_SUFFIXES:
        name = stem
    return name


def ids_sha256(ids: Iterable[str]) -> str:
    """sha256 of the sorted, de-duplicated ids, one per line (the same list gives the same hash anywhere)."""
    return hashlib.sha256("\n".join(sorted(set(ids))).encode()).hexdigest()


def track_record(splits: Mapping[str, Iterable[str]], rule: Mapping[str, Any],
                 skipped: Iterable[str] = ()) -> dict[str, Any]:
    """The record of a model: per split the sorted canonical ids and their sha256, the rule, one sha256 of it all.

    ``splits`` maps ``train``/``valid``/``test`` to track ids (any form :func:`canonical_id` reads);
    ``skipped``: ids that were in a split but could not be decoded (so were not used).
    """
    out: dict[str, Any] = {"identity": IDENTITY, "rule": dict(rule)}
    for name in SPLITS:
        ids = sorted({canonical_id(t) for t in splits.get(name, ())})
        out[f"{name}_tracks"] = len(ids)
        out[f"{name}_tracks_sha256"] = ids_sha256(ids)
        out[f"{name}_tracks_ids"] = ids
    if skipped:
        out["skipped_tracks_ids"] = sorted({canonical_id(t) for t in skipped})
    body = {k: v for k, v in out.items() if k != "identity"}
    out["sha256"] = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return out


def learned_from(record: Mapping[str, Any]) -> set[str]:
    """Canonical ids of the tracks a model was trained or validated on."""
    return {t for name in LEARNED_FROM for t in record.get(f"{name}_tracks_ids", ())}


# --------------------------------------------------------------------------------------- reading
def _find(data: Any) -> dict[str, Any] | None:
    """The record inside one parsed JSON file, wherever our writers put it."""
    if not isinstance(data, dict):
        return None
    for where in (data, data.get("training"), data.get("genre_head"), data.get("head")):
        if isinstance(where, dict) and isinstance(where.get(RECORD_KEY), dict):
            return where[RECORD_KEY]
    return None


def model_folder(name_or_path: str | Path) -> Path | None:
    """The local folder of a model name: a folder, or a shipped model's name (``gtzan-features``)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    shipped = PRETRAINED / str(name_or_path)
    return shipped if shipped.is_dir() and "/" not in str(name_or_path) else None


def read_record(name_or_path: str | Path) -> dict[str, Any] | None:
    """A model's track record (``None`` when it has none). Local folders; Hub ids are tried, offline-safe."""
    files = ("metrics.json", "genre_head.json", "config.json")
    folder = model_folder(name_or_path)
    if folder is not None:
        for name in files:
            f = folder / name
            if f.is_file():
                try:
                    found = _find(json.loads(f.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    continue
                if found is not None:
                    return found
        return None
    try:  # a Hub id: what the repo has, if it can be fetched at all
        from huggingface_hub import hf_hub_download

        for name in files:
            try:
                found = _find(json.loads(Path(hf_hub_download(str(name_or_path), name)).read_text()))
            except Exception:  # noqa: BLE001  missing file, offline, private: no record from there
                continue
            if found is not None:
                return found
    except ImportError:  # pragma: no cover
        pass
    return None


# --------------------------------------------------------------------------------------- checking
def overlap(record: Mapping[str, Any], track_ids: Iterable[str]) -> list[str]:
    """Canonical ids among ``track_ids`` that the model was trained or validated on (sorted)."""
    seen = learned_from(record)
    return sorted({canonical_id(t) for t in track_ids} & seen)


def check_no_overlap(models: Sequence[str], track_ids_by_split: Mapping[str, Iterable[str]],
                     allow: bool = False, records: Mapping[str, dict | None] | None = None) -> dict[str, Any]:
    """Refuse (``TrainOverlapError``) to score any model on tracks it was trained or validated on.

    ``track_ids_by_split``: the tracks each scored split holds (e.g. ``{"valid": [...], "test": [...]}``).
    With ``allow`` the overlap is reported instead (loudly: a warning per model, and in the returned
    summary, which callers write into their JSON). A model without a record is warned about: its
    overlap cannot be checked. Returns ``{"checked": [...], "unchecked": [...], "overlap": {model: {split: n}},
    "allowed": allow}``.
    """
    summary: dict[str, Any] = {"checked": [], "unchecked": [], "overlap": {}, "allowed": bool(allow)}
    problems = []
    ids = {split: list(v) for split, v in track_ids_by_split.items()}
    for model in models:
        record = records[model] if records is not None and model in records else read_record(model)
        if record is None:
            summary["unchecked"].append(str(model))
            logger.warning("WARNING: %s has no track record (%s): whether it was trained on the scored tracks "
                           "cannot be checked", model, RECORD_KEY)
            continue
        summary["checked"].append(str(model))
        for split, tracks in ids.items():
            common = overlap(record, tracks)
            if not common:
                continue
            summary["overlap"].setdefault(str(model), {})[split] = len(common)
            rule = record.get("rule", {})
            shown = ", ".join(f"{k}={v}" for k, v in rule.items() if k in ("dataset", "split", "seed", "fold"))
            problems.append(f"{model} was trained or validated on {len(common)} of the "
                            f"{len(set(map(canonical_id, tracks)))} {split} tracks (e.g. {', '.join(common[:5])}; "
                            f"its record: {shown})")
    if problems and not allow:
        raise TrainOverlapError("refusing to score a model on tracks it learned from:\n  " + "\n  ".join(problems)
                                + "\nscore it on other tracks, or pass --allow_train_overlap to do it anyway "
                                  "(the output then says so)")
    for p in problems:
        logger.warning("WARNING (--allow_train_overlap): %s; these figures are NOT held-out figures", p)
    summary["problems"] = problems
    return summary


def check_rebuilt_split(model: str, record: Mapping[str, Any], rebuilt: Mapping[str, Iterable[str]],
                        splits: Sequence[str] = ("valid", "test"), limited: bool = False) -> None:
    """A split rebuilt from a seed must be the one the model recorded (``SplitMismatchError`` if not).

    A file added to or removed from the data folder reshuffles a seeded split, and the "test"
    tracks of the rebuilt split may then be training tracks of the model. Tracks the record lists
    as skipped (undecodable) are ignored. With ``limited`` (``--max_eval_tracks``) the rebuilt
    split may be a subset of the recorded one.
    """
    skipped = set(record.get("skipped_tracks_ids", ()))
    problems = []
    for split in splits:
        key = f"{split}_tracks_ids"
        if key not in record:
            continue
        want = set(record[key])
        got = {canonical_id(t) for t in rebuilt.get(split, ())} - skipped
        extra, missing = sorted(got - want), sorted(want - got)
        if extra or (missing and not limited):
            problems.append(f"{split}: {len(extra)} track(s) not in the recorded {split} split (e.g. "
                            f"{', '.join(extra[:3]) or '-'}), {len(missing)} recorded track(s) missing (e.g. "
                            f"{', '.join(missing[:3]) or '-'})")
    if problems:
        rule = record.get("rule", {})
        raise SplitMismatchError(
            f"the split rebuilt for {model} is not the one it was trained with "
            f"(recorded rule: {json.dumps(rule, sort_keys=True, default=str)}):\n  " + "\n  ".join(problems)
            + "\nsame seed and fractions? a file added to or removed from the data reshuffles a seeded split; "
              "score on a fixed split list (--split filtered) or on data the model never saw")
