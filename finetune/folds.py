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

The tracks (:func:`real_audio_tracks`), by *kind*: the 70 ``clip`` s of ``gtzan/audio/`` (30 s;
jazz.00009 18 s) and the 310 ``excerpt`` s of ``gtzan/snippets/`` (2-3 s, one from each of 310 *other*
tracks): 380 tracks, one per GTZAN track, with ids ``genre/genre.000NN``
(:attr:`finetune.data.Track.track_id`'s form); and the 240 ``allmusic`` previews of ``allmusic4q/``
(30 s, 198 artists none of whom is in GTZAN, ids ``allmusic/MT<id>``), whose label is the *set* of
GTZAN genres their AllMusic genres allow (``metal|pop|rock`` for Pop/Rock): :attr:`RealTrack.allowed`.
A model is right on such a track when its answer is in the set (:func:`is_right`); ``label`` is -1
unless the set has one genre. GTZAN tracks have ``allowed == (label,)``.

The folds (:func:`artist_folds`): GTZAN repeats artists heavily (25 of the 38 reggae tracks here
are Bob Marley), and a model that heard an artist in training recognises the artist, not the
genre. Tracks are grouped by artist (``artists.csv``, Sturm 2012) and the groups dealt into folds
by scikit-learn's ``StratifiedGroupKFold`` (shuffled, seeded), as stratified by genre as the groups
allow. Fold k: test = fold k, valid = fold k+1, train = the other folds. No artist is in two of
{train, valid, test}.

Artist groups (:func:`artist_groups`) are the connected components of names that denote one
performer: names are compared after folding case, accents, ``&``/``and`` and punctuation
("Earth, Wind & Fire" = "Earth Wind and Fire", "Rage Against the/The Machine"), and a
collaboration ("Lauryn Hill and Bob Marley"; "Aretha Franklin, Celine Dion, Mariah Carey, Shania
Twain & Gloria Estefan") joins the groups of every participant who is also credited alone
elsewhere. A band name that merely contains "and" ("KC and The Sunshine Band") is not split: its
parts are credited nowhere alone. Band-member relations the credits do not show (Mick Jagger and
The Rolling Stones) are not linked. A track with no artist listed is its own group; a track missing
from ``artists.csv`` is too, with a warning.
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
import re  # noqa: E402
import unicodedata  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from finetune.data import GTZAN_CORRUPT, SPLITS, Track, check_disjoint  # noqa: E402
from finetune.provenance import canonical_id, ids_sha256, read_record  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GENRE_SHARED_DATA", REPO.parent / "shared" / "data"))
GTZAN_DIR = SHARED_DATA / "gtzan"
ALLMUSIC_DIR = SHARED_DATA / "allmusic4q"
KINDS = ("clip", "excerpt", "allmusic")
GTZAN_KINDS = ("clip", "excerpt")
DATASET = "GTZAN real audio (shared/data/gtzan: audio/ clips, snippets/ excerpts)"  # the `dataset` models record
DATASET_WITH_ALLMUSIC = DATASET + " + AllMusic 4Q previews (shared/data/allmusic4q, set-valued labels)"
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
    artist_group: str | None = None
    allowed: tuple[int, ...] = ()

    @property
    def stem(self) -> str:
        """The canonical GTZAN id, ``blues.00010`` (see :mod:`finetune.provenance`)."""
        return canonical_id(self.track_id)

    @property
    def group(self) -> str:
        """The unit the folds keep together: the artist group (:func:`artist_groups`), or the track
        itself when no artist is known."""
        return self.artist_group or f"track:{self.stem}"

    @property
    def allowed_labels(self) -> tuple[int, ...]:
        """The genres this track can be: its set-valued label, or ``(label,)``."""
        return self.allowed or (self.label,)


def allowed_labels(track: Track) -> tuple[int, ...]:
    """:attr:`RealTrack.allowed_labels` of any track (a plain :class:`Track`: ``(label,)``)."""
    return getattr(track, "allowed", ()) or (track.label,)


def is_right(track: Track, predicted: int) -> bool:
    """The answer is one of the genres the track can be (its label, or its set's members)."""
    return int(predicted) in allowed_labels(track)


def stratum(track: Track) -> str:
    """What the folds stratify on: the genre, or for a set-valued track its set (``allmusic:jazz|blues``)."""
    if getattr(track, "allowed", ()):
        return f"{kind_of(track)}:" + "|".join(GTZAN_GENRES[i] for i in sorted(track.allowed))
    return GTZAN_GENRES[track.label] if 0 <= track.label < len(GTZAN_GENRES) else str(track.label)


def read_artists(gtzan_dir: str | os.PathLike) -> dict[str, str | None]:
    """``artists.csv`` as canonical id -> artist (``None`` where blank)."""
    path = Path(gtzan_dir) / "artists.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the artist groups come from it (Sturm 2012)")
    with path.open(newline="", encoding="utf-8") as fh:
        return {canonical_id(r["filename"]): (r["artist"].strip() or None) for r in csv.DictReader(fh)}


_COLLABORATION = re.compile(r"\s*(?:,|&|\band\b|\bfeat\.?|\bfeaturing\b|\bwith\b|\bvs\.?)\s*", re.IGNORECASE)


def normalise_artist(name: str) -> str:
    """The form two spellings of one name share: case, accents, ``&``/``and`` and punctuation folded,
    a leading "The" dropped (``"Earth, Wind & Fire"`` and ``"Earth Wind and Fire"`` ->
    ``"earth wind and fire"``)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    text = re.sub(r"[^\w\s]", " ", text.replace("&", " and "))
    text = " ".join(text.split())
    return text[4:] if text.startswith("the ") else text


def artist_groups(artists: Mapping[str, str | None]) -> dict[str, str]:
    """Track id -> artist group (``"artist:<name>[+<name>...]"``) for every track with an artist.

    The groups are the connected components of: tracks whose names are equal after
    :func:`normalise_artist`, and each collaboration's participants who are credited alone on some
    track (see the module docstring). Deterministic: a group is named by its sorted names.
    """
    names = {tid: normalise_artist(a) for tid, a in artists.items() if a and normalise_artist(a)}
    alone = set(names.values())
    parent: dict[str, str] = {n: n for n in alone}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for raw in {a for a in artists.values() if a}:
        whole = normalise_artist(raw)
        if not whole:
            continue
        for part in _COLLABORATION.split(raw):
            part = normalise_artist(part)
            if part and part != whole and part in alone:
                parent[find(part)] = find(whole)
    members: dict[str, list[str]] = {}
    for n in alone:
        members.setdefault(find(n), []).append(n)
    label = {root: "artist:" + "+".join(sorted(ns)) for root, ns in members.items()}
    return {tid: label[find(n)] for tid, n in names.items()}


def _duration(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def read_allmusic(allmusic_dir: str | os.PathLike) -> list[dict[str, str]]:
    """``allmusic4q/tracks.csv`` rows (filename, artist, title, allmusic_genres, genres)."""
    path = Path(allmusic_dir) / "tracks.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (the AllMusic 4Q previews' list)")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def real_audio_tracks(gtzan_dir: str | os.PathLike | None = None, kinds: Sequence[str] = GTZAN_KINDS,
                      allmusic_dir: str | os.PathLike | None = None) -> list[RealTrack]:
    """The real audio as tracks, sorted by id: GTZAN's clips of ``audio/`` and excerpts of
    ``snippets/`` (label and length from ``snippets.csv``) and, with ``"allmusic"`` in ``kinds``, the
    AllMusic previews with their set-valued labels; each with its kind, artist and artist group
    (:func:`artist_groups` over both corpora's credits).

    Raises if a track appears twice (a clip and an excerpt of one track would be one track in two
    places) or a snippet's listed label disagrees with its file name.
    """
    root = Path(gtzan_dir or GTZAN_DIR)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; use {KINDS}")
    artists = read_artists(root)
    allmusic = read_allmusic(allmusic_dir or ALLMUSIC_DIR) if "allmusic" in kinds else []
    credits = {**artists, **{canonical_id(r["filename"]): (r["artist"].strip() or None) for r in allmusic}}
    groups = artist_groups(credits)  # over every listed track, so a subset is grouped as the whole is
    tracks: list[RealTrack] = []
    if "clip" in kinds:
        for path in sorted((root / "audio").glob("*.wav")):
            genre = path.name.split(".")[0]
            if genre in GTZAN_GENRES and path.stem not in GTZAN_CORRUPT:
                tracks.append(RealTrack(f"{genre}/{path.stem}", GTZAN_GENRES.index(genre), str(path), None,
                                        "clip", artists.get(path.stem), round(_duration(path), 3),
                                        groups.get(path.stem)))
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
                                        "excerpt", artists.get(stem), float(row["seconds"]), groups.get(stem)))
    am_root = Path(allmusic_dir or ALLMUSIC_DIR)
    for row in allmusic:
        stem, path = canonical_id(row["filename"]), am_root / "audio" / row["filename"]
        allowed = tuple(sorted(GTZAN_GENRES.index(g) for g in row["genres"].split("|")))
        if not path.is_file():
            raise FileNotFoundError(f"{path} is listed in {am_root / 'tracks.csv'} but missing")
        tracks.append(RealTrack(f"allmusic/{stem}", allowed[0] if len(allowed) == 1 else -1, str(path), None,
                                "allmusic", credits.get(stem), None, groups.get(stem), allowed))
    tracks.sort(key=lambda t: t.track_id)
    missing = sorted(t.stem for t in tracks if t.stem not in credits)
    if missing:
        warnings.warn(f"{len(missing)} tracks are not in {root / 'artists.csv'} ({', '.join(missing[:5])}"
                      f"{', ...' if len(missing) > 5 else ''}): each is its own group, so an artist they share "
                      "with other tracks may be on both sides of a split", stacklevel=2)
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


def _group(t: Track, groups: Mapping[str, str] | None) -> str:
    if groups is not None:
        return groups.get(canonical_id(t.track_id)) or f"track:{canonical_id(t.track_id)}"
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
    by_id = artist_groups(artists) if artists is not None else None
    groups = [_group(t, by_id) for t in tracks]
    labels = np.array([stratum(t) for t in tracks])
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
        check_disjoint({name: sorted({_group(t, by_id) for t in ts}) for name, ts in split.items()})  # artists too
        splits.append(split)
    rule = {"folds": "finetune.folds.artist_folds", "n_folds": n_folds, "seed": seed,
            "grouping": "artist groups (finetune.folds.artist_groups: normalised names, collaborations joined to "
                        "their credited participants, connected components; a track with no artist is its own group)",
            "splitter": "sklearn StratifiedGroupKFold(shuffle=True), stratified by genre (by genre set where "
                        "the label is a set)",
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


def label_sets(folds: Folds) -> Counter:
    """How many tracks of each set-valued label the folds hold (``metal|pop|rock``: 114, ...)."""
    return Counter(stratum(t) for s in folds for t in s["test"] if getattr(t, "allowed", ()))


def summary(folds: Folds) -> str:
    """Markdown: tracks per fold per genre (the test part of each fold), clips vs excerpts, artists."""
    present = [k for k in KINDS if any(kind_of(t) == k for s in folds for t in s["test"])]
    head = ["fold", *GTZAN_GENRES, "tracks", *(f"{k}s" if k != "allmusic" else "AllMusic" for k in present),
            "artist groups", "tracks without artist"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row_for(name: str, test: Sequence[Track]) -> str:
        # genre columns count GTZAN tracks (single label); AllMusic previews are counted in their own column
        per_genre = Counter(t.label for t in test if not getattr(t, "allowed", ()))
        kinds = Counter(kind_of(t) for t in test)
        groups = {t.group for t in test if getattr(t, "artist", None)}
        no_artist = sum(1 for t in test if not getattr(t, "artist", None))
        cells = [name, *(str(per_genre.get(i, 0)) for i in range(len(GTZAN_GENRES))), str(len(test)),
                 *(str(kinds.get(k, 0)) for k in present), str(len(groups)), str(no_artist)]
        return "| " + " | ".join(cells) + " |"

    for k, split in enumerate(folds):
        lines.append(row_for(str(k + 1), split["test"]))
    lines.append(row_for("all", [t for s in folds for t in s["test"]]))
    sizes = ", ".join(f"fold {k + 1}: {len(s['train'])}/{len(s['valid'])}/{len(s['test'])}"
                      for k, s in enumerate(folds))
    lines += ["", f"train/valid/test tracks per fold ({ASSIGNMENT}): {sizes}",
              f"rule: {json.dumps(folds.rule, sort_keys=True)}", f"fingerprint: {folds_fingerprint(folds)}"]
    return "\n".join(lines)


KIND_COLUMNS = ("clip", "excerpt", "gtzan", "allmusic", "pooled")
COLUMN_NAMES = {"clip": "GTZAN clips", "excerpt": "GTZAN excerpts", "gtzan": "GTZAN (clips + excerpts)",
                "allmusic": "AllMusic (answer in the set)", "pooled": "pooled"}


def accuracy_by_kind(tracks: Sequence[Track], predicted: Sequence[int]) -> dict[str, tuple[int, int]]:
    """``(right, tracks)`` on the GTZAN clips, the GTZAN excerpts, both (``gtzan``), the AllMusic
    previews (right: the answer is in the track's set) and all of them (``pooled``) of one scored split."""
    out = {k: [0, 0] for k in KIND_COLUMNS}
    for t, p in zip(tracks, predicted, strict=True):
        kind = kind_of(t)
        for k in (kind, "gtzan" if kind in GTZAN_KINDS else None, "pooled"):
            if k:
                out[k][0] += int(is_right(t, p))
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

    cols = [k for k in KIND_COLUMNS if any(f[k][1] for folds in results.values() for f in folds)]
    if "allmusic" not in cols:
        cols = [k for k in cols if k != "gtzan"]  # = pooled
    lines = ["| model | " + " | ".join(COLUMN_NAMES[k] for k in cols) + " |", "|---|" + "---|" * len(cols)]
    lines += [f"| {name} | " + " | ".join(cell(folds, k) for k in cols) + " |" for name, folds in results.items()]
    return "\n".join(lines)


@dataclass
class FoldArguments:
    """Which real audio, how many folds, which seed."""

    gtzan_dir: str = field(default=str(GTZAN_DIR), metadata={"help": "folder with audio/, snippets/, artists.csv"})
    allmusic_dir: str = field(default=str(ALLMUSIC_DIR), metadata={"help": "folder with tracks.csv and audio/"})
    folds: int = field(default=5)
    seed: int = field(default=42)
    kinds: str = field(default="clip,excerpt", metadata={
        "help": "comma-separated: clip (GTZAN 30-s clips), excerpt (GTZAN 2-3 s), allmusic (AllMusic previews)"})


def parse_kinds(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(",") if k.strip())


def main(argv: Sequence[str] | None = None) -> Folds:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(FoldArguments).parse_args_into_dataclasses(args=argv)
    tracks = real_audio_tracks(args.gtzan_dir, parse_kinds(args.kinds), args.allmusic_dir)
    folds = artist_folds(tracks, args.folds, args.seed)
    kinds = Counter(kind_of(t) for t in tracks)
    print(f"{len(tracks)} tracks ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), "
          f"{len({t.group for t in tracks})} groups; test part of each fold:\n")
    print(summary(folds))
    if label_sets(folds):
        print("\nset-valued labels (AllMusic): " + ", ".join(f"{k} {n}" for k, n in label_sets(folds).most_common()))
    return folds


if __name__ == "__main__":
    main()
