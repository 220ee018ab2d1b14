"""Genre and artist tags of audio files (read with mutagen), and one label per genre however it is spelt.

Why: a music library already says what its owner calls each song — ID3 ``TCON`` in MP3 (and WAV/AIFF),
Vorbis ``GENRE`` in FLAC/OGG/Opus, MP4 ``©gen`` — but rarely consistently: "Hip-Hop", "hip hop" and
"HipHop" are one genre. ``teach`` learns from these tags and ``predict --disagreements`` compares its
answers with them, both through this module, so the two read a tag the same way.

* :func:`read_tags`: the genre values and the artist of a file (mutagen's easy interfaces; ID3v1
  numeric genres such as ``(17)`` come back as their names). A file mutagen cannot parse has no tags
  (its audio may still be fine); the reason is kept.
* :func:`label_key`: the spelling-blind key of a label — case, accents, spaces, hyphens and other
  punctuation ignored, ``&``/``'n'`` read as "and" — so "Hip-Hop", "hip hop" and "HipHop" share ``hiphop``
  and "Drum & Bass" meets "drum and bass".
* :class:`LabelMerger`: splits tag values on separators (``;`` and ``|`` by default: "Rock; Pop" is two
  genres, "Pop/Rock" one), drops placeholders ("Unknown", "Genre", ...) and user-ignored labels, merges
  user-given aliases (``RnB=R&B``) and names each merged label by its most common spelling. Its JSON
  form (:meth:`LabelMerger.as_dict`) goes into a taught model's config.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SEPARATORS = ";|"
# what taggers write when they know nothing (compared by label_key)
PLACEHOLDERS = frozenset({"", "unknown", "unknowngenre", "genre", "none", "na", "null", "undefined", "notag", "blank",
                          "untitled", "default", "nogenre"})


@dataclass
class FileTags:
    """What a file's tags say: its genre values (as written, split into one value per genre later),
    the artist (else the album artist), and why the tags could not be read (None when they could)."""

    genres: list[str] = field(default_factory=list)
    artist: str | None = None
    error: str | None = None


def _first(values) -> str | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    for v in values:
        text = str(v).strip()
        if text:
            return text
    return None


def read_tags(path: str | Path) -> FileTags:
    """The genre values and artist of ``path`` (never raises for a bad file: see ``FileTags.error``)."""
    import mutagen
    from mutagen.id3 import ID3

    try:
        audio = mutagen.File(path, easy=True)
    except Exception as err:  # mutagen raises many kinds for broken headers; a file's trouble, not ours
        return FileTags(error=f"its tags could not be read ({type(err).__name__}: {err})")
    if audio is None:
        return FileTags(error="mutagen does not know this format (no tags read)")
    tags = audio.tags
    if tags is None:
        return FileTags()
    if isinstance(tags, ID3):  # WAV and AIFF carry plain ID3 (no easy interface)
        genres = [g for frame in tags.getall("TCON") for g in frame.genres]
        artist = _first(tags["TPE1"].text if "TPE1" in tags else None) or _first(
            tags["TPE2"].text if "TPE2" in tags else None)
        return FileTags([str(g) for g in genres], artist)
    try:
        genres = list(tags.get("genre", []) or [])
        artist = _first(tags.get("artist")) or _first(tags.get("albumartist"))
    except Exception as err:  # an odd tag container
        return FileTags(error=f"its tags could not be read ({type(err).__name__}: {err})")
    return FileTags([str(g) for g in genres], artist)


_AND = re.compile(r"\s*&\s*|\s*['’]n['’]?\s*|\s+n\s+", re.IGNORECASE)
_NOT_WORD = re.compile(r"[\W_]+")


def label_key(text: str) -> str:
    """The spelling-blind key of a label: "Hip-Hop", "hip hop", "HipHop" → ``hiphop``."""
    t = unicodedata.normalize("NFKD", str(text)).casefold()
    t = "".join(c for c in t if not unicodedata.combining(c))
    t = _AND.sub(" and ", t)
    return _NOT_WORD.sub("", t)


_FEAT = re.compile(r"\s+(?:feat\.?|ft\.?|featuring|with|vs\.?)\s+.*$", re.IGNORECASE)


def artist_key(artist: str | None) -> str | None:
    """A grouping key for an artist: "Artist feat. X", "ARTIST" and "Artist, Other" are one group."""
    if not artist:
        return None
    first = re.split(r"[;,/|]", artist)[0]
    key = label_key(_FEAT.sub("", first))
    return key or None


@dataclass
class LabelMerger:
    """How tag values become labels (see the module docstring). ``aliases``: spelling key → the key it
    merges into (from ``--merge "R&B=RnB,Rhythm and Blues"``); ``ignored``: keys never used as labels."""

    separators: str = DEFAULT_SEPARATORS
    aliases: dict[str, str] = field(default_factory=dict)
    ignored: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)  # key -> label name (fit, a --merge target, or a model's)

    @classmethod
    def from_options(cls, separators: str = DEFAULT_SEPARATORS, merges: Iterable[str] = (),
                     ignore: Iterable[str] = ()) -> LabelMerger:
        """``merges``: ``"Label=Spelling,Spelling"`` (the spellings become ``Label``, which names it)."""
        aliases, names = {}, {}
        for rule in merges:
            target, sep, rest = rule.partition("=")
            if not sep or not label_key(target) or not any(label_key(s) for s in rest.split(",")):
                raise ValueError(f"--merge {rule!r}: expected LABEL=SPELLING[,SPELLING...]")
            names[label_key(target)] = target.strip()
            for spelling in rest.split(","):
                if label_key(spelling) and label_key(spelling) != label_key(target):
                    aliases[label_key(spelling)] = label_key(target)
        return cls(separators, aliases, {label_key(x) for x in ignore if label_key(x)}, names)

    def split(self, values: Iterable[str]) -> list[str]:
        """Tag values → one stripped spelling per genre, in order, each key once."""
        out, seen = [], set()
        pattern = f"[{re.escape(self.separators)}\\x00]" if self.separators else "\\x00"
        for value in values:
            for part in re.split(pattern, str(value)):
                part = part.strip()
                key = self.key(part)
                if key is not None and key not in seen:
                    seen.add(key)
                    out.append(part)
        return out

    def key(self, spelling: str) -> str | None:
        """The merged key of one spelling; None for a placeholder or an ignored label."""
        k = label_key(spelling)
        k = self.aliases.get(k, k)
        return None if k in PLACEHOLDERS or k in self.ignored else k

    def keys(self, values: Iterable[str]) -> list[str]:
        """The merged keys of a file's tag values (each once, in order)."""
        return list(dict.fromkeys(k for k in (self.key(s) for s in self.split(values)) if k is not None))

    def fit(self, per_file: Iterable[Sequence[str]]) -> Counter:
        """Name every key by its most common spelling over ``per_file`` tag values (ties: the spelling
        met first); returns songs per key."""
        spellings: dict[str, Counter] = {}
        songs: Counter = Counter()
        for values in per_file:
            parts = self.split(values)
            for k in dict.fromkeys(self.key(s) for s in parts):
                songs[k] += 1
            for s in parts:
                spellings.setdefault(self.key(s), Counter())[s] += 1
        given = dict(self.names)  # --merge targets keep the name they were given
        self.names = {k: given.get(k) or c.most_common(1)[0][0] for k, c in spellings.items()}
        return songs

    def spellings(self, per_file: Iterable[Sequence[str]]) -> dict[str, Counter]:
        """key → how often each spelling occurs (for the report of merged spellings)."""
        out: dict[str, Counter] = {}
        for values in per_file:
            for s in self.split(values):
                out.setdefault(self.key(s), Counter())[s] += 1
        return out

    def labels(self, values: Iterable[str]) -> list[str]:
        """The label names of a file's tag values (a key never seen in :meth:`fit` keeps its spelling)."""
        spellings = {self.key(s): s for s in self.split(values)}
        return [self.names.get(k, spellings[k]) for k in self.keys(values)]

    def as_dict(self) -> dict:
        return {"separators": self.separators, "aliases": dict(sorted(self.aliases.items())),
                "ignored": sorted(self.ignored), "names": dict(sorted(self.names.items())),
                "key": "genre_models.filetags.label_key"}

    @classmethod
    def from_dict(cls, d: Mapping) -> LabelMerger:
        return cls(str(d.get("separators", DEFAULT_SEPARATORS)), dict(d.get("aliases", {})),
                   set(d.get("ignored", [])), dict(d.get("names", {})))


__all__ = ["DEFAULT_SEPARATORS", "FileTags", "LabelMerger", "PLACEHOLDERS", "artist_key", "label_key", "read_tags"]
