"""Whole-track prediction: stream the audio, score each window, keep the per-window answers.

The track-level answer is the mean of the window probabilities; the windows themselves are kept
because the app draws them as a timeline of the genre along the song.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .audio import AudioLoadError, AudioSource, audio_info, check_duration, stream_audio
from .metadata import TrackMetadata, as_metadata, check_metadata
from .registry import WindowClassifier
from .windows import Window, iter_windows

BATCH_WINDOWS = 8


@dataclass
class Prediction:
    """One model's (or one ensemble's) answer for one track."""

    labels: list[str]
    probs: np.ndarray  # (n_labels,) mean over windows
    window_spans: np.ndarray  # (n_windows, 2) start/end in seconds
    window_probs: np.ndarray  # (n_windows, n_labels)
    duration: float  # seconds of audio analysed
    model: str = ""
    members: list[Prediction] = field(default_factory=list)  # per-model answers, for an ensemble
    problems: list[str] = field(default_factory=list)  # models left out of / limited in this answer, for people
    # what else the model's pass said about each window, e.g. {"audioset": (n_windows, 521)} mean AudioSet
    # scores from the YAMNet genre model (genre_models.audioset reads them); labels in extras_labels
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    extras_labels: dict[str, list[str]] = field(default_factory=dict)
    # an ensemble's answer: is the track music, and its wider genres (genre_models.audioset.AudioSetReading)
    audioset: Any = None

    @property
    def genre(self) -> str:
        return self.labels[int(np.argmax(self.probs))]

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(self.probs)[::-1][:k]
        return [(self.labels[i], float(self.probs[i])) for i in order]

    def as_dict(self) -> dict[str, float]:
        return {label: float(p) for label, p in zip(self.labels, self.probs)}


def predict_windows(
    model: WindowClassifier,
    windows: Iterable[Window],
    on_window: Callable[[Window], None] | None = None,
    metadata: TrackMetadata | None = None,
    extras: dict[str, list[np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Score an iterable of windows in small batches; returns spans (samples), probs, samples seen.

    ``metadata`` goes to models that read it (``metadata_fields``) and to no other. A model with a
    ``score_windows`` method also says more about each window (e.g. AudioSet scores); those arrays
    are appended, batch by batch, to ``extras`` when it is given."""
    spans, probs, batch = [], [], []
    end = 0
    extra = {"metadata": metadata} if getattr(model, "metadata_fields", ()) else {}
    scorer = getattr(model, "score_windows", None) if extras is not None else None

    def flush() -> None:
        if batch:
            samples = [w.samples for w in batch]
            if scorer is not None:
                p, more = scorer(samples, **extra)
                for key, value in more.items():
                    extras.setdefault(key, []).append(np.asarray(value))
            else:
                p = model.predict_windows(samples, **extra)
            probs.append(np.asarray(p, dtype=np.float64))
            batch.clear()

    for win in windows:
        spans.append((win.start, win.end))
        end = max(end, win.end)
        batch.append(win)
        if on_window is not None:
            on_window(win)
        if len(batch) >= BATCH_WINDOWS:
            flush()
    flush()
    window_probs = np.concatenate(probs) if probs else np.zeros((0, len(model.labels)))
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2), window_probs, end


def _refuse_too_short(windows: Iterable[Window], window: int, sr: int) -> Iterator[Window]:
    """A window shorter than a full one is the whole track: refuse a too-short one before a model sees it."""
    for win in windows:
        if win.end - win.start < window:
            check_duration(win.end - win.start, sr)
        yield win


def predict(
    source: AudioSource,
    model: WindowClassifier,
    *,
    hop_seconds: float | None = None,
    max_seconds: float | None = None,
    on_window: Callable[[Window], None] | None = None,
    metadata: TrackMetadata | Mapping[str, Any] | None = None,
    max_windows: int | None = None,
) -> Prediction:
    """Score the whole track window by window (hop defaults to the window: no overlap).

    ``max_windows`` bounds the work of a costly model on a long song: when no hop is given and the
    header says the track holds more windows than that, the hop grows so that ``max_windows``
    windows are spread evenly from the start to the end (the timeline gets sparser, never shorter).
    Default: the model's ``max_windows`` attribute (a taught head's), else every window.

    ``on_window`` sees each window as it is scored (e.g. to draw or store the audio as it streams;
    the app decodes its spectrogram separately, beside the models).
    Raises :class:`~genre_models.audio.AudioLoadError` for bad input.
    ``metadata`` (title, artist, listens, comments, favorites) is for models that read it; such a
    model given none of its fields raises :class:`~genre_models.metadata.MetadataRequiredError`
    before any audio is decoded.
    """
    metadata = as_metadata(metadata)
    if max_windows is None:  # the model's own (a taught embedding head's config.max_windows), if any
        max_windows = getattr(model, "max_windows", None)
    unknown = check_metadata(model.name, getattr(model, "metadata_fields", ()), metadata)
    sr = model.sample_rate
    window = int(round(model.window_seconds * sr))
    if hop_seconds is None and max_windows:
        hop_seconds = spread_hop(source, model.window_seconds, max_windows)
    hop = int(round((hop_seconds or model.window_seconds) * sr))
    blocks = stream_audio(source, sr, max_seconds=max_seconds)
    windows = _refuse_too_short(iter_windows(blocks, window, hop), window, sr)
    more: dict[str, list[np.ndarray]] = {}
    spans, probs, n = predict_windows(model, windows, on_window, metadata, more)
    check_duration(n, sr)
    notes = [f"model `{model.name}` was not given {', '.join(unknown)}; it treats them as unknown"] if unknown else []
    return Prediction(
        labels=list(model.labels),
        probs=probs.mean(axis=0),
        window_spans=spans / sr,
        window_probs=probs,
        duration=n / sr,
        model=model.name,
        problems=notes,
        extras={key: np.concatenate(parts) for key, parts in more.items()},
        extras_labels={key: list(getattr(model, attr)) for key, attr in (("audioset", "audioset_labels"),
                                                                          ("tag_logits", "tag_labels"))
                       if key in more},
    )


def with_extra(pred: Prediction, key: str) -> Prediction | None:
    """The prediction (itself or one of its members) that carries the per-window extra ``key``
    (``"audioset"``, ``"tag_logits"``), if any."""
    for p in (pred, *pred.members):
        if key in p.extras:
            return p
    return None


def spread_hop(source: AudioSource, window_seconds: float, max_windows: int) -> float | None:
    """The hop that spreads ``max_windows`` windows over the track (None: the window itself is
    fine, or the header does not tell the duration and decoding will say what is wrong)."""
    if max_windows < 2:
        raise ValueError("max_windows must be at least 2")
    try:
        duration = audio_info(source).duration
    except AudioLoadError:
        return None
    if not duration or duration <= window_seconds * max_windows:
        return None
    return (duration - window_seconds) / (max_windows - 1)


def _on_grid(pred: Prediction, spans: np.ndarray) -> np.ndarray:
    """``pred``'s window probabilities at each of ``spans``: the window whose centre is nearest the
    span's centre (its own windows when the grids are equal)."""
    if np.array_equal(pred.window_spans, spans):
        return pred.window_probs
    centres = pred.window_spans.mean(axis=1)
    nearest = np.abs(spans.mean(axis=1)[:, None] - centres[None, :]).argmin(axis=1)
    return pred.window_probs[nearest]


def combine(predictions: Sequence[Prediction], weights: Sequence[float] | None = None) -> Prediction:
    """Weighted mean of predictions that share one label set (in the same order): the track's
    probabilities, and a timeline on the finest member's windows."""
    if not predictions:
        raise ValueError("nothing to combine")
    labels = predictions[0].labels
    for p in predictions[1:]:
        if p.labels != labels:
            raise ValueError(f"models {predictions[0].model!r} and {p.model!r} have different label sets")
    w = np.ones(len(predictions)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    probs = sum(wi * p.probs for wi, p in zip(w, predictions))
    if len(predictions) == 1:
        return predictions[0]
    # the timeline: on the grid of the member with the most windows, each member contributing the
    # window that covers that moment (models of different window lengths mix along the song too)
    grid = max(predictions, key=lambda p: len(p.window_spans))
    window_probs = sum(wi * _on_grid(p, grid.window_spans) for wi, p in zip(w, predictions))
    return Prediction(
        labels=list(labels),
        probs=probs,
        window_spans=grid.window_spans,
        window_probs=window_probs,
        duration=max(p.duration for p in predictions),
        model="ensemble of " + ", ".join(p.model for p in predictions),
        members=list(predictions),
        problems=[q for p in predictions for q in p.problems],
    )
