"""Several checkpoints as one answer, without ever averaging across different label sets.

An ensemble is a list of model folders or Hub ids (from ``--model``, ``GENRE_MODELS`` or an
``ensemble.json``), each with an optional weight and temperature. Models are grouped by their
label set (GTZAN's 10 genres, FMA's 8 or 16, ...); probabilities are combined only inside a group.
A model that cannot be loaded is reported and left out; with none left, the embedded features
model answers. With nothing configured, the shipped default ensemble (:data:`DEFAULT_ENSEMBLE_FILE`)
is used. Members are scored side by side in threads, each decoding the audio at its own rate.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .metadata import MetadataRequiredError, TrackMetadata, as_metadata
from .prediction import Prediction, combine, predict
from .registry import WindowClassifier, load_model

# The shipped default ensemble (the musicnn and YAMNet genre models, with weights and temperatures
# learned by cross-fitting over artist-grouped folds of 380 real tracks; see its "fitted_on"); what
# the app and the CLI use when nothing else is configured.
DEFAULT_ENSEMBLE_FILE = Path(__file__).resolve().parent / "pretrained" / "ensemble.json"
MAX_PARALLEL_MEMBERS = 4  # members scored at once per call (each decodes and scores on its own)


@dataclass
class Member:
    model: WindowClassifier
    weight: float = 1.0
    temperature: float = 1.0
    max_windows: int | None = None  # spread at most this many windows over a long song (costly models)


@dataclass
class Ensemble:
    members: list[Member]
    problems: list[str] = field(default_factory=list)  # one line per model left out, for the UI
    # read "is this music?" and the wider genres (genre_models.audioset) with every answer: from a member
    # that scores AudioSet's classes in its own pass (the YAMNet genre model), else from a separate
    # pass of the shipped AudioSet model
    music_check: bool = True
    _reader: list = field(default_factory=list, repr=False)  # [AudioSetReader or None], loaded on first need
    _reader_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, specs: Sequence[str | dict] | None = None, *, strict: bool = False) -> Ensemble:
        """Load each spec (a path/Hub id, or ``{"model": ..., "weight": ..., "temperature": ...,
        "max_windows": ...}``).

        The app passes ``strict=False``: a model that cannot be loaded is reported and left out. The
        CLI passes ``strict=True``: a model the user named explicitly must load, or it is an error.
        """
        members, problems = [], []
        for spec in specs or []:
            entry = {"model": spec} if isinstance(spec, (str, os.PathLike)) else dict(spec)
            name = str(entry.get("model", ""))
            try:
                max_windows = entry.get("max_windows")
                members.append(Member(load_model(name), float(entry.get("weight", 1.0)),
                                      float(entry.get("temperature", 1.0)),
                                      int(max_windows) if max_windows else None))
            except Exception as err:  # a broken or unreachable model must not take the rest down
                if strict:
                    raise ValueError(f"model {name!r} could not be loaded: {err}") from err
                problems.append(f"model `{name}` could not be loaded ({err}); it is left out")
        if not members:
            members.append(Member(load_model(None)))
        return cls(members, problems)

    @classmethod
    def default(cls) -> Ensemble:
        """The shipped default ensemble (:data:`DEFAULT_ENSEMBLE_FILE`); a member that cannot be
        loaded (e.g. without torch) is reported and the rest answer, down to the features model."""
        return cls.from_file(DEFAULT_ENSEMBLE_FILE)

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> Ensemble:
        """``GENRE_ENSEMBLE`` (an ensemble.json) or ``GENRE_MODELS`` (comma-separated), else the default."""
        env = dict(os.environ if env is None else env)
        if env.get("GENRE_ENSEMBLE"):
            return cls.from_file(env["GENRE_ENSEMBLE"])
        names = [s.strip() for s in env.get("GENRE_MODELS", "").split(",") if s.strip()]
        return cls.load(names) if names else cls.default()

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, strict: bool = False) -> Ensemble:
        """``{"models": ["dir", {"model": "owner/name", "weight": 2.0, "temperature": 1.5}]}``.

        Relative folder paths are taken relative to the file, so a Space or a repo can ship both.
        """
        try:
            specs = json.loads(Path(path).read_text())["models"]
            specs = [{"model": s} if isinstance(s, str) else dict(s) for s in specs]
        except (OSError, ValueError, KeyError, TypeError) as err:
            if strict:
                raise ValueError(f"ensemble file {str(path)!r} could not be read: {err}") from err
            ens = cls.load([])
            ens.problems.append(f"ensemble file `{path}` could not be read ({err}); using the default model")
            return ens
        for spec in specs:
            local = Path(path).parent / str(spec.get("model", ""))
            if not Path(str(spec.get("model", ""))).is_absolute() and local.is_dir():
                spec["model"] = str(local)
        return cls.load(specs, strict=strict)

    def groups(self) -> list[list[Member]]:
        """Members grouped by label set, in the order their first member was listed."""
        out: dict[tuple[str, ...], list[Member]] = {}
        for m in self.members:
            out.setdefault(tuple(m.model.labels), []).append(m)
        return list(out.values())

    def predict(self, source, *, max_seconds: float | None = None, hop_seconds: float | None = None,
                metadata: TrackMetadata | Mapping | None = None) -> list[Prediction]:
        """One combined :class:`Prediction` per label-set group (each keeps its members' answers).

        ``metadata`` (title, artist, listens, comments, favorites) reaches the models that read it.
        Such a model given none of its fields is left out of this answer, and says so in the first
        answer's ``problems`` (per call: the ensemble is shared by concurrent app users); when no
        model is left at all, :class:`~genre_models.metadata.MetadataRequiredError` is raised.
        """
        metadata = as_metadata(metadata)
        groups = self.groups()

        def run(m: Member) -> Prediction | str:
            try:
                return predict(source, m.model, hop_seconds=hop_seconds, max_seconds=max_seconds,
                               metadata=metadata, max_windows=m.max_windows)
            except MetadataRequiredError as err:  # raised before any audio is read
                return f"{err}; it is left out"

        members = [m for group in groups for m in group]
        if len(members) == 1:
            results = [run(members[0])]
        else:  # members run side by side: numpy feature code and torch models keep both cores busy
            with ThreadPoolExecutor(max_workers=min(len(members), MAX_PARALLEL_MEMBERS)) as pool:
                futures = [pool.submit(run, m) for m in members]
            results = [f.result() for f in futures]  # bad input: the first member's AudioLoadError
        by_member = {id(m): r for m, r in zip(members, results)}
        answers = []
        left_out = [r for r in results if isinstance(r, str)]
        for group in groups:
            done = [(m, by_member[id(m)]) for m in group if not isinstance(by_member[id(m)], str)]
            if done:
                answers.append(combine([_with_temperature(p, m.temperature) for m, p in done],
                                       [m.weight for m, _ in done]))
        if not answers:
            raise MetadataRequiredError(" ".join(left_out))
        answers[0].problems = left_out + answers[0].problems
        if self.music_check:
            reading = self.read_audioset(answers, source, max_seconds)
            for answer in answers:
                answer.audioset = reading
        return answers

    def read_audioset(self, answers: Sequence[Prediction], source, max_seconds: float | None = None):
        """The :class:`~genre_models.audioset.AudioSetReading` of a track: from the answers' own AudioSet
        scores when a member computed them, else from the shipped AudioSet model (None if it cannot load)."""
        from .audioset import AudioSetReader, reading_of

        for answer in answers:
            reading = reading_of(answer)
            if reading is not None:
                return reading
        with self._reader_lock:  # concurrent app requests share one reader
            if not self._reader:
                try:
                    self._reader.append(AudioSetReader.load())
                except Exception as err:  # an extra: never let it take the genre answer down
                    self.problems.append(f"the music check is off: the AudioSet model could not be loaded ({err})")
                    self._reader.append(None)
        return self._reader[0].read(source, max_seconds) if self._reader[0] is not None else None



def _with_temperature(pred: Prediction, temperature: float) -> Prediction:
    """Soften (T > 1) or sharpen (T < 1) a model's probabilities before they are mixed."""
    if temperature == 1.0:
        return pred

    def scale(p: np.ndarray) -> np.ndarray:
        z = np.log(np.clip(p, 1e-12, 1.0)) / temperature
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)

    window_probs = scale(pred.window_probs)
    return Prediction(pred.labels, window_probs.mean(axis=0), pred.window_spans, window_probs,
                      pred.duration, pred.model, problems=list(pred.problems), extras=pred.extras,
                      extras_labels=pred.extras_labels)
