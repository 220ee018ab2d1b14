#!/usr/bin/env python
"""The cross-validation folds of the real GTZAN audio, defined once and fingerprinted.

    python -m finetune.folds                    # the summary: tracks per fold per genre, clips/excerpts, artists
    python finetune/folds.py --kinds clip       # the 70 clips only

Why one module: every real-audio figure (``benchmarks/train_real_audio.py``,
``benchmarks/ensemble_real_audio.py``, ``benchmarks/genre_heads.py``) and every fold model
they write must use the *same* folds, and a fold model scored on another fold set would be scored
on its own training tracks. So the folds are built here only, and each fold model records
:func:`folds_fingerprint` and its fold number (:func:`fold_rule`); :func:`check_fold_model`
refuses a model whose record does not match the folds in use.

The tracks (:func:`real_audio_tracks`): the 70 clips of ``audio/`` (30 s; jazz.00009 18 s) and the
310 excerpts of ``snippets/`` (2-3 s, one from each of 310 *other* tracks): 380 tracks, one per
GTZAN track, with ids ``genre/genre.000NN`` (:attr:`finetune.data.Track.track_id`'s form).

The folds (:func:`artist_folds`): GTZAN repeats artists heavily (28 of the 38 reggae tracks here
are Bob Marley), and a model that heard an artist in training recognises the artist, not the
genre. Tracks are grouped by artist (``artists.csv``, Sturm 2012; a track with no artist listed is
its own group) and the groups dealt into folds by scikit-learn's ``StratifiedGroupKFold``
(shuffled, seeded), as stratified by genre as the groups allow. Fold k: test = fold k, valid =
fold k+1, train = the other folds. No artist is in two of {train, valid, test}.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import csv  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from finetune.data import GTZAN_CORRUPT, SPLITS, Track, check_disjoint  # noqa: E402
from finetune.provenance import canonical_id, ids_sha256, read_record  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GTZAN_DIR = Path(os.environ.get("GENRE_SHARED_DATA", REPO.parent / "shared" / "data")) / "gtzan"
KINDS = ("clip", "excerpt")
DATASET = "GTZAN real audio (shared/data/gtzan: audio/ clips, snippets/ excerpts)"  # the `dataset` models record
ASSIGNMENT = "fold k: test = fold k, valid = fold k+1 (mod n), train = the other folds"


class FoldMismatchError(ValueError):
    """A fold model was trained on other folds than the ones in use."""


@dataclass(frozen=True)
class RealTrack(Track):
    """A :class:`~finetune.data.Track` of the real GTZAN audio, with what the folds and reports need.

    ``kind``: ``clip`` (a 30-s clip of ``audio/``) or ``excerpt`` (a 2-3 s piece of ``snippets/``);
    ``artist``: from ``artists.csv`` (``None`` where Sturm lists none). Training code sees a plain
    ``Track`` (the extra fields have defaults and are not read there).
    """

    kind: str = "clip"
    artist: str | None = None
    seconds: float | None = None

    @property
    def stem(self) -> str:
        """The canonical GTZAN id, ``blues.00010`` (see :mod:`finetune.provenance`)."""
        return canonical_id(self.track_id)

    @property
    def group(self) -> str:
        """The unit the folds keep together: the artist, or the track itself when no artist is known."""
        return f"artist:{self.artist}" if self.artist else f"track:{self.stem}"


def read_artists(gtzan_dir: str | os.PathLike) -> dict[str, str | None]:
    """``artists.csv`` as canonical id -> artist (``None`` where blank)."""
    path = Path(gtzan_dir) / "artists.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the artist groups come from it (Sturm 2012)")
    with path.open(newline="", encoding="utf-8") as fh:
        return {canonical_id(r["filename"]): (r["artist"].strip() or None) for r in csv.DictReader(fh)}


def _duration(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def real_audio_tracks(gtzan_dir: str | os.PathLike | None = None, kinds: Sequence[str] = KINDS) -> list[RealTrack]:
    """The real GTZAN audio as tracks, sorted by id: the clips of ``audio/`` and the excerpts of
    ``snippets/`` (label and length from ``snippets.csv``), each with its kind and artist.

    Raises if a track appears twice (a clip and an excerpt of one track would be one track in two
    places) or a snippet's listed label disagrees with its file name.
    """
    root = Path(gtzan_dir or GTZAN_DIR)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; use {KINDS}")
    artists = read_artists(root)
    tracks: list[RealTrack] = []
    if "clip" in kinds:
        for path in sorted((root / "audio").glob("*.wav")):
            genre = path.name.split(".")[0]
            if genre in GTZAN_GENRES and path.stem not in GTZAN_CORRUPT:
                tracks.append(RealTrack(f"{genre}/{path.stem}", GTZAN_GENRES.index(genre), str(path), None,
                                        "clip", artists.get(path.stem), round(_duration(path), 3)))
    if "excerpt" in kinds:
        listing = next((p for p in (root / "snippets" / "snippets.csv", root / "snippets.csv") if p.is_file()), None)
        if listing is None:
            raise FileNotFoundError(f"no snippets.csv in {root / 'snippets'} or {root}")
        with listing.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                stem, genre = canonical_id(row["filename"]), row["label"].strip()
                if stem.split(".")[0] != genre or genre not in GTZAN_GENRES:
                    raise ValueError(f"{listing}: {row['filename']} is listed as {genre!r}")
                if stem in GTZAN_CORRUPT:
                    continue
                path = root / "snippets" / row["filename"]
                if not path.is_file():
                    raise FileNotFoundError(f"{path} is listed in {listing} but missing")
                tracks.append(RealTrack(f"{genre}/{stem}", GTZAN_GENRES.index(genre), str(path), None,
                                        "excerpt", artists.get(stem), float(row["seconds"])))
    tracks.sort(key=lambda t: t.track_id)
    twice = [tid for tid, n in Counter(t.stem for t in tracks).items() if n > 1]
    if twice:
        raise ValueError(f"tracks present both as a clip and as an excerpt: {twice[:5]}")
    if not tracks:
        raise FileNotFoundError(f"no GTZAN audio in {root}/audio or {root}/snippets")
    return tracks


# ---------------------------------------------------------------------------------------------
# the folds
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Folds(Sequence):
    """The n splits ``{"train", "valid", "test"}`` (fold k at index k-1), the rule that made them,
    and their fingerprint. Iterates like the list of split dicts the benchmarks loop over."""

    splits: tuple[dict[str, list[Track]], ...]
    rule: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, k):  # type: ignore[override]
        return self.splits[k]

    def __len__(self) -> int:
        return len(self.splits)

    def __iter__(self) -> Iterator[dict[str, list[Track]]]:
        return iter(self.splits)

    @property
    def fingerprint(self) -> str:
        return folds_fingerprint(self)


def _group(t: Track, artists: Mapping[str, str | None] | None) -> str:
    if artists is not None:
        artist = artists.get(canonical_id(t.track_id))
        return f"artist:{artist}" if artist else f"track:{canonical_id(t.track_id)}"
    return getattr(t, "group", None) or f"track:{canonical_id(t.track_id)}"


def artist_folds(tracks: Sequence[Track], n_folds: int = 5, seed: int = 42,
                 artists: Mapping[str, str | None] | None = None) -> Folds:
    """Folds grouped by artist, stratified by genre as far as the groups allow (see the module doc).

    ``tracks``: :class:`RealTrack` s (their ``group``), or plain tracks with ``artists`` (canonical
    id -> artist). Deterministic for a track list and seed. Checks that no track and no artist is
    in two of {train, valid, test}, and that each fold holds every kind of track present.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    if n_folds < 3:
        raise ValueError("at least 3 folds are needed (one test fold, one validation fold, the rest to train on)")
    tracks = sorted(tracks, key=lambda t: t.track_id)
    groups = [_group(t, artists) for t in tracks]
    labels = np.array([t.label for t in tracks])
    splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
    parts = [sorted(test) for _, test in splitter.split(np.zeros(len(tracks)), labels, groups)]
    kinds_present = sorted({getattr(t, "kind", "clip") for t in tracks})
    for k, part in enumerate(parts):
        have = {getattr(tracks[i], "kind", "clip") for i in part}
        if set(kinds_present) - have:
            raise AssertionError(f"fold {k + 1} has no {sorted(set(kinds_present) - have)} tracks (seed {seed}): "
                                 "choose another seed or fewer folds")
    splits = []
    for k in range(n_folds):
        test, valid = set(parts[k]), set(parts[(k + 1) % n_folds])
        split = {"train": [t for i, t in enumerate(tracks) if i not in test and i not in valid],
                 "valid": [tracks[i] for i in sorted(valid)], "test": [tracks[i] for i in sorted(test)]}
        check_disjoint(split)
        check_disjoint({name: sorted({_group(t, artists) for t in ts}) for name, ts in split.items()})  # artists too
        splits.append(split)
    rule = {"folds": "finetune.folds.artist_folds", "n_folds": n_folds, "seed": seed,
            "grouping": "artist (artists.csv, Sturm 2012; a track with no artist listed is its own group)",
            "splitter": "sklearn StratifiedGroupKFold(shuffle=True), stratified by genre",
            "assignment": ASSIGNMENT, "kinds": kinds_present, "tracks": len(tracks)}
    return Folds(tuple(splits), rule)


def folds_fingerprint(folds: Sequence[Mapping[str, Sequence[Track]]]) -> str:
    """sha256 of the rule and, per fold, its sorted canonical test-track ids (which fix every split)."""
    rule = dict(getattr(folds, "rule", {}) or {"assignment": ASSIGNMENT})
    parts = [sorted(canonical_id(t.track_id) for t in split["test"]) for split in folds]
    return hashlib.sha256(json.dumps({"rule": rule, "folds": parts}, sort_keys=True).encode()).hexdigest()


def fold_rule(folds: Folds, k: int) -> dict[str, Any]:
    """What a model trained on fold ``k`` (0-based) records beside its tracks: the folds' fingerprint,
    its fold number (1-based, as the ``fold<k>`` folders) and the rule."""
    return {"split": f"fold{k + 1}of{len(folds)}", "fold": k + 1, "fold_fingerprint": folds_fingerprint(folds),
            **{f"folds_{key}": value for key, value in folds.rule.items()}}


def check_fold_model(folder: str | os.PathLike, folds: Folds, k: int) -> dict[str, Any]:
    """Raise :class:`FoldMismatchError` unless the model in ``folder`` recorded exactly fold ``k``
    (0-based) of ``folds``: same fingerprint, same fold number, same train/valid/test tracks."""
    record = read_record(folder)
    want = fold_rule(folds, k)
    if record is None:
        raise FoldMismatchError(f"{folder} has no track record, so which folds it was trained on is unknown "
                                f"(written before folds were recorded?): retrain it on fold {k + 1} of these folds")
    rule = record.get("rule", {})
    if rule.get("fold_fingerprint") != want["fold_fingerprint"] or rule.get("fold") != want["fold"]:
        raise FoldMismatchError(
            f"{folder} was trained on fold {rule.get('fold')} of folds {str(rule.get('fold_fingerprint'))[:12]}..., "
            f"but it is being used as fold {k + 1} of folds {want['fold_fingerprint'][:12]}... "
            f"({folds.rule.get('tracks')} tracks, seed {folds.rule.get('seed')}, kinds {folds.rule.get('kinds')}): "
            "retrain it with these folds (same --folds, --seed and --kinds)")
    skipped = set(record.get("skipped_tracks_ids", ()))  # undecodable: in the fold, not in the record
    for name in SPLITS:
        ids = {canonical_id(t.track_id) for t in folds[k][name]} - skipped
        if record.get(f"{name}_tracks_sha256", ids_sha256(ids)) != ids_sha256(ids):
            raise FoldMismatchError(f"{folder}: its recorded {name} tracks are not fold {k + 1}'s {name} tracks")
    return record


# ---------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------
def kind_of(track: Track) -> str:
    return getattr(track, "kind", "clip")


def summary(folds: Folds) -> str:
    """Markdown: tracks per fold per genre (the test part of each fold), clips vs excerpts, artists."""
    head = ["fold", *GTZAN_GENRES, "tracks", "clips", "excerpts", "artists", "tracks without artist"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    totals = Counter()
    for k, split in enumerate(folds):
        test = split["test"]
        per_genre = Counter(t.label for t in test)
        kinds = Counter(kind_of(t) for t in test)
        artists = {t.artist for t in test if getattr(t, "artist", None)}
        no_artist = sum(1 for t in test if not getattr(t, "artist", None))
        row = [str(k + 1), *(str(per_genre.get(i, 0)) for i in range(len(GTZAN_GENRES))), str(len(test)),
               str(kinds.get("clip", 0)), str(kinds.get("excerpt", 0)), str(len(artists)), str(no_artist)]
        totals.update({"tracks": len(test), "clip": kinds.get("clip", 0), "excerpt": kinds.get("excerpt", 0),
                       "artists": len(artists), "no_artist": no_artist})
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| all | " + " | ".join(str(sum(1 for s in folds for t in s["test"] if t.label == i))
                                         for i in range(len(GTZAN_GENRES)))
                 + f" | {totals['tracks']} | {totals['clip']} | {totals['excerpt']} | {totals['artists']} | "
                   f"{totals['no_artist']} |")
    sizes = ", ".join(f"fold {k + 1}: {len(s['train'])}/{len(s['valid'])}/{len(s['test'])}"
                      for k, s in enumerate(folds))
    lines += ["", f"train/valid/test tracks per fold ({ASSIGNMENT}): {sizes}",
              f"rule: {json.dumps(folds.rule, sort_keys=True)}", f"fingerprint: {folds_fingerprint(folds)}"]
    return "\n".join(lines)


KIND_COLUMNS = ("clip", "excerpt", "pooled")


def accuracy_by_kind(tracks: Sequence[Track], predicted: Sequence[int]) -> dict[str, tuple[int, int]]:
    """``(right, tracks)`` on the clips, on the excerpts and on both (``pooled``) of one scored split."""
    out = {k: [0, 0] for k in KIND_COLUMNS}
    for t, p in zip(tracks, predicted, strict=True):
        for k in (kind_of(t), "pooled"):
            out[k][0] += int(int(p) == t.label)
            out[k][1] += 1
    return {k: (r, n) for k, (r, n) in out.items()}


def kinds_table(results: Mapping[str, Sequence[Mapping[str, tuple[int, int]]]]) -> str:
    """Markdown, one row per model: per kind, the mean ± std over folds of test-fold track accuracy
    (folds with no track of that kind left out) and, in brackets, right/total over all folds."""
    import statistics

    def cell(per_fold: Sequence[Mapping[str, tuple[int, int]]], kind: str) -> str:
        accs = [f[kind][0] / f[kind][1] for f in per_fold if f[kind][1]]
        right, total = sum(f[kind][0] for f in per_fold), sum(f[kind][1] for f in per_fold)
        if not total:
            return "–"
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        return f"{statistics.mean(accs):.3f} ± {std:.3f} ({right}/{total})"

    lines = ["| model | clips | excerpts | pooled |", "|---|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(cell(folds, k) for k in KIND_COLUMNS) + " |"
              for name, folds in results.items()]
    return "\n".join(lines)


@dataclass
class FoldArguments:
    """Which real audio, how many folds, which seed."""

    gtzan_dir: str = field(default=str(GTZAN_DIR), metadata={"help": "folder with audio/, snippets/, artists.csv"})
    folds: int = field(default=5)
    seed: int = field(default=42)
    kinds: str = field(default="clip,excerpt", metadata={"help": "comma-separated: clip (30-s clips), excerpt (2-3 s)"})


def parse_kinds(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(",") if k.strip())


def main(argv: Sequence[str] | None = None) -> Folds:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(FoldArguments).parse_args_into_dataclasses(args=argv)
    tracks = real_audio_tracks(args.gtzan_dir, parse_kinds(args.kinds))
    folds = artist_folds(tracks, args.folds, args.seed)
    kinds = Counter(kind_of(t) for t in tracks)
    print(f"{len(tracks)} tracks ({kinds.get('clip', 0)} clips, {kinds.get('excerpt', 0)} excerpts), "
          f"{len({t.group for t in tracks})} groups; test part of each fold:\n")
    print(summary(folds))
    return folds


if __name__ == "__main__":
    main()
