"""What YAMNet's 521 AudioSet classes say about an upload: is it music at all, and which genre in a
wider sense than GTZAN's ten.

Why: a genre classifier trained on GTZAN answers "classical 82 %" for 25 minutes of white noise and
"hiphop" for a podcast, and it cannot say that a techno track is techno. YAMNet (AudioSet, ~2 M
YouTube clips) was trained to tell music from speech, silence and noise, and knows ~50 music genres,
so the same pass that feeds the genre model (:class:`genre_models.hf_models.yamnet.YAMNetGenreForAudioClassification`)
also answers these two questions. Everything here works on per-window mean AudioSet scores
``(windows, 521)`` (sigmoid, independent) and the class names, in the model's order.

* :func:`music_check`: each window is put in the category whose score is highest (music, speech,
  silence, noise, tones); a window whose music score reaches :data:`MUSIC_FLOOR`, or half its best
  other category's (:data:`MUSIC_RATIO`), is music (rap and singing make *Speech* fire too); one that
  is not music and has a white-noise-flat spectrum (:data:`NOISE_FLATNESS`), or a flattish one without
  sure speech (:data:`NOISY_FLATNESS`), is noise; the track is music when at least half of its
  analysed time is.
* :func:`wide_genres`: AudioSet's music-genre classes (:data:`GTZAN_COUNTERPART` maps each to a GTZAN
  genre or to none), averaged over the windows; when the best of them has no GTZAN counterpart (techno,
  house, funk, soul, folk, latin, ...) the track lies outside the ten genres.
* :class:`AudioSetReader`: the scores of a file from the shipped AudioSet model, for ensembles that
  have no YAMNet genre member to read them from.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import AudioSource, load_audio

AUDIOSET_DIR = Path(__file__).resolve().parent / "pretrained" / "yamnet-audioset"

# GTZAN genre -> the AudioSet classes that name it (a genre and its sub-genres in AudioSet's ontology).
# The YAMNet genre model reads these as its prior; the wider-genre reading maps them back.
PRIOR_CLASSES: dict[str, list[str]] = {
    "blues": ["Blues"], "classical": ["Classical music", "Opera"], "country": ["Country", "Bluegrass"],
    "disco": ["Disco"], "hiphop": ["Hip hop music", "Beatboxing"], "jazz": ["Jazz", "Swing music"],
    "metal": ["Heavy metal"], "pop": ["Pop music"], "reggae": ["Reggae", "Ska"],
    "rock": ["Rock music", "Punk rock", "Grunge", "Progressive rock", "Rock and roll", "Psychedelic rock"],
}
# AudioSet's "Music genre" subtree, in the model's order (indices 211-260 of YAMNet's class map)
GENRE_CLASSES: tuple[str, ...] = (
    "Pop music", "Hip hop music", "Beatboxing", "Rock music", "Heavy metal", "Punk rock", "Grunge",
    "Progressive rock", "Rock and roll", "Psychedelic rock", "Rhythm and blues", "Soul music", "Reggae", "Country",
    "Swing music", "Bluegrass", "Funk", "Folk music", "Middle Eastern music", "Jazz", "Disco", "Classical music",
    "Opera", "Electronic music", "House music", "Techno", "Dubstep", "Drum and bass", "Electronica",
    "Electronic dance music", "Ambient music", "Trance music", "Music of Latin America", "Salsa music", "Flamenco",
    "Blues", "Music for children", "New-age music", "Vocal music", "A capella", "Music of Africa", "Afrobeat",
    "Christian music", "Gospel music", "Music of Asia", "Carnatic music", "Music of Bollywood", "Ska",
    "Traditional music", "Independent music",
)
GTZAN_COUNTERPART: dict[str, str | None] = {
    name: next((g for g, names in PRIOR_CLASSES.items() if name in names), None) for name in GENRE_CLASSES
}
# what else a window can be, beside music (the classes of each category; a category scores its best class)
CATEGORIES: dict[str, tuple[str, ...]] = {
    "music": ("Music", "Singing", "Choir", "Rapping", "Chant", "Yodeling", "Humming", "Child singing",
              "Synthetic singing"),
    "speech": ("Speech", "Child speech, kid speaking", "Conversation", "Narration, monologue", "Babbling",
               "Speech synthesizer", "Whispering"),
    "silence": ("Silence",),
    "noise": ("Noise", "Environmental noise", "Static", "White noise", "Pink noise", "Hum", "Mains hum",
              "Wind noise (microphone)", "Rain", "Rain on surface", "Waterfall", "Stream", "Vehicle", "Engine",
              "Air conditioning", "Mechanical fan", "Cacophony", "Field recording"),
    "tones": ("Sine wave", "Harmonic", "Chirp tone", "Beep, bleep", "Dial tone", "Pulse", "Busy signal"),
}
# a window whose music score reaches this is music whatever else it scores (sung or rapped vocals make
# YAMNet's Speech fire too; rap over a beat is music), and so is one whose music score is at least
# MUSIC_RATIO times its best other category's (music under a voice is still music)
MUSIC_FLOOR = 0.5
MUSIC_RATIO = 0.5
MUSIC_SHARE = 0.5  # a track is music when at least this share of its analysed time is
# a window whose spectrum is this flat and whose Music score is under MUSIC_FLOOR is noise, whatever
# YAMNet says: its int8 arithmetic takes loud white noise (flatness ~0.93) for speech. The flattest real
# music among the 380 GTZAN tracks here (distorted metal) has a median flatness of 0.81.
NOISE_FLATNESS = 0.88
# ... and a window at least this flat (brown or pink noise, wind) that is neither music nor sure speech
# (YAMNet's Speech score under SPEECH_SURE; real speech scores 0.8 and more) is noise too
NOISY_FLATNESS = 0.5
SPEECH_SURE = 0.5
WIDE_MIN_SCORE = 0.05  # a wider genre below this mean score is too faint to name


@dataclass
class MusicCheck:
    """Is the upload music? ``verdict``: ``music`` or the non-music category that dominates
    (``speech``, ``silence``, ``noise``, ``tones``, ``other``); ``shares``: the share of the analysed
    time each category leads; ``music_score``: the mean AudioSet *Music* score."""

    verdict: str
    shares: dict[str, float]
    music_score: float

    @property
    def is_music(self) -> bool:
        return self.verdict == "music"

    @property
    def music_share(self) -> float:
        return self.shares.get("music", 0.0)

    def message(self) -> str:
        """One sentence for people (empty when it is music)."""
        if self.is_music:
            return ""
        what = {"speech": "mostly speech", "silence": "mostly silence", "noise": "mostly noise",
                "tones": "mostly test tones or beeps", "other": "mostly sounds that are not music"}[self.verdict]
        share = self.shares.get(self.verdict, 1.0 - self.music_share)
        return (f"This does not sound like music: {what} ({share:.0%} of the audio; music {self.music_share:.0%}). "
                "A genre for it means little.")


@dataclass
class WideGenres:
    """AudioSet's music genres for the track: ``scores`` (mean over windows, independent sigmoid scores,
    by name), the ``top`` ones, and whether the best lies outside GTZAN's ten genres."""

    scores: dict[str, float]
    top: list[tuple[str, float]] = field(default_factory=list)

    @property
    def best(self) -> tuple[str, float] | None:
        return self.top[0] if self.top else None

    @property
    def outside_gtzan(self) -> bool:
        """The strongest wider genre has no GTZAN counterpart (and is not too faint to name)."""
        return self.best is not None and GTZAN_COUNTERPART.get(self.best[0]) is None

    def summary(self, nearest: Sequence[str] = ()) -> str:
        """``Wider genres (AudioSet): Techno 41 %, House music 22 %, ...`` plus, when outside the ten,
        a sentence naming the nearest GTZAN genres (``nearest``: the genre model's top answers)."""
        if not self.top:
            return ""
        line = "**Wider genres** (YAMNet, AudioSet; independent scores): " + ", ".join(
            f"{name} {score:.0%}" for name, score in self.top)
        if self.outside_gtzan:
            line += (f"\n\nThis song seems to lie outside the ten GTZAN genres: it sounds most like "
                     f"**{self.best[0]}**" + (f"; the nearest of the ten are {', '.join(nearest)}" if nearest else "")
                     + ".")
        return line


def _index(labels: Sequence[str], names: Sequence[str]) -> list[int]:
    where = {name: i for i, name in enumerate(labels)}
    return [where[n] for n in names if n in where]


def _weights(spans: np.ndarray | None, n: int) -> np.ndarray:
    """Each window's share of the analysed time (equal shares without spans)."""
    if spans is None or len(spans) != n:
        return np.full(n, 1.0 / max(n, 1))
    length = np.maximum(np.asarray(spans, dtype=np.float64)[:, 1] - np.asarray(spans, dtype=np.float64)[:, 0], 1e-9)
    return length / length.sum()


def music_check(scores: np.ndarray, labels: Sequence[str], spans: np.ndarray | None = None,
                flatness: np.ndarray | None = None) -> MusicCheck:
    """The verdict for a track from its windows' mean AudioSet scores ``(windows, len(labels))`` and,
    when known, their spectral flatness ``(windows,)``
    (:func:`genre_models.hf_models.yamnet.spectral_flatness`)."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    cats = list(CATEGORIES)
    by_cat = np.stack([scores[:, _index(labels, CATEGORIES[c])].max(axis=1) for c in cats], axis=1)
    music, noise, other = cats.index("music"), cats.index("noise"), len(cats)
    lead = by_cat.argmax(axis=1)
    lead[by_cat.max(axis=1) < 0.1] = other  # no category scores: "other" (footsteps, a door, ...)
    others = np.delete(by_cat, music, axis=1).max(axis=1)
    heard = by_cat[:, music] >= 0.05  # the ratio rule needs some music at all (silence scores ~0 everywhere)
    is_music = (by_cat[:, music] >= MUSIC_FLOOR) | (heard & (by_cat[:, music] >= MUSIC_RATIO * others))
    lead[is_music] = music
    if flatness is not None:
        flat = np.asarray(flatness, dtype=np.float64)
        unsure_speech = by_cat[:, cats.index("speech")] < SPEECH_SURE
        lead[~is_music & ((flat >= NOISE_FLATNESS) | ((flat >= NOISY_FLATNESS) & unsure_speech))] = noise
    weights = _weights(spans, len(scores))
    shares = {c: float(weights[lead == i].sum()) for i, c in enumerate([*cats, "other"])}
    if shares["music"] >= MUSIC_SHARE:
        verdict = "music"
    else:
        verdict = max((c for c in shares if c != "music"), key=lambda c: shares[c])
    return MusicCheck(verdict, shares, float(weights @ by_cat[:, music]))


def wide_genres(scores: np.ndarray, labels: Sequence[str], spans: np.ndarray | None = None, k: int = 3) -> WideGenres:
    """AudioSet's music genres for a track (time-weighted mean of its windows' scores), the ``k`` best."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    mean = _weights(spans, len(scores)) @ scores
    where = {name: i for i, name in enumerate(labels)}
    by_name = {name: float(mean[where[name]]) for name in GENRE_CLASSES if name in where}
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:k]
    return WideGenres(by_name, [(n, s) for n, s in top if s >= WIDE_MIN_SCORE])


@dataclass
class AudioSetReading:
    """Both readings of one track and the windows they came from."""

    check: MusicCheck
    wide: WideGenres
    windows: int


def read_scores(scores: np.ndarray, labels: Sequence[str], spans: np.ndarray | None = None,
                flatness: np.ndarray | None = None) -> AudioSetReading:
    """Both readings from per-window scores (and flatness); a track that is not music gets no wider genres."""
    check = music_check(scores, labels, spans, flatness)
    wide = wide_genres(scores, labels, spans) if check.is_music else WideGenres({})
    return AudioSetReading(check, wide, len(np.atleast_2d(scores)))


def reading_of(pred) -> AudioSetReading | None:
    """The reading carried by a :class:`~genre_models.prediction.Prediction` (or one of its members)
    whose model also scored AudioSet's classes; None when no member did."""
    from .prediction import with_extra

    member = with_extra(pred, "audioset")
    if member is None:
        return None
    return read_scores(member.extras["audioset"], member.extras_labels["audioset"], member.window_spans,
                       member.extras.get("flatness"))


class AudioSetReader:
    """AudioSet scores of a file from the shipped YAMNet model, window by window (``window_seconds``,
    at most ``max_windows`` spread over a long track), for ensembles without a YAMNet genre member."""

    def __init__(self, model, feature_extractor, window_seconds: float = 3.0, max_windows: int | None = 12):
        self.model = model.eval()
        self.fe = feature_extractor
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.window_seconds = window_seconds
        self.max_windows = max_windows
        self.sample_rate = int(feature_extractor.sampling_rate)

    @classmethod
    def load(cls, folder: str | os.PathLike = AUDIOSET_DIR, **kwargs) -> AudioSetReader:
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        import genre_models.hf_models  # noqa: F401  (registers genre_yamnet)

        model = AutoModelForAudioClassification.from_pretrained(folder, use_safetensors=True, emulation="int8")
        return cls(model, AutoFeatureExtractor.from_pretrained(folder), **kwargs)

    def scores(self, source: AudioSource, max_seconds: float | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(windows, 521)`` mean scores, ``(windows, 2)`` spans in seconds, ``(windows,)`` flatness."""
        import torch

        from .hf_models.yamnet import masked_patch_mean, spectral_flatness
        from .windows import plan_windows

        y = load_audio(source, sr=self.sample_rate, max_seconds=max_seconds)
        size = int(round(self.window_seconds * self.sample_rate))
        spans = plan_windows(len(y), size, size)
        if self.max_windows and len(spans) > self.max_windows:
            keep = np.linspace(0, len(spans) - 1, self.max_windows).round().astype(int)
            spans = [spans[i] for i in keep]
        inputs = self.fe([y[s:e] for s, e in spans], sampling_rate=self.sample_rate, return_tensors="pt")
        with torch.inference_mode():
            out = self.model.patch_outputs(inputs["input_features"], inputs["attention_mask"])
            flatness = spectral_flatness(inputs["input_features"], inputs["attention_mask"]).numpy()
        mean = masked_patch_mean(out.scores, out.mask).numpy().astype(np.float64)
        return mean, np.asarray(spans, dtype=np.float64) / self.sample_rate, flatness.astype(np.float64)

    def read(self, source: AudioSource, max_seconds: float | None = None) -> AudioSetReading:
        scores, spans, flatness = self.scores(source, max_seconds)
        return read_scores(scores, self.labels, spans, flatness)


__all__ = ["AUDIOSET_DIR", "AudioSetReader", "AudioSetReading", "CATEGORIES", "GENRE_CLASSES", "GTZAN_COUNTERPART",
           "MusicCheck", "NOISE_FLATNESS", "PRIOR_CLASSES", "WideGenres", "music_check", "read_scores", "reading_of",
           "wide_genres"]
