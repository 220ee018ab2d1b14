"""One call from a model folder or Hub id to something that scores audio windows.

Every checkpoint is a Hugging Face-style folder whose ``config.json`` names its ``model_type``;
this module reads that and returns a :class:`WindowClassifier`, the small interface prediction
and ensembling need, whatever the model family behind it.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .features import SAMPLE_RATE, extract_features
from .features_model import DEFAULT_MODEL_DIR, FeaturesModel
from .metadata import TrackMetadata, check_metadata

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$", re.ASCII)  # owner/name, nothing else


class WindowClassifier(Protocol):
    """A model as prediction sees it: fixed-rate mono windows in, label probabilities out."""

    name: str
    labels: list[str]
    sample_rate: int
    window_seconds: float

    def predict_windows(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """``(len(windows), len(labels))`` probabilities, rows summing to 1.

        A model that also reads track metadata has a non-empty ``metadata_fields`` attribute and
        accepts ``predict_windows(windows, metadata=TrackMetadata(...))``; prediction checks it.
        """
        ...


class FeaturesClassifier:
    """The GTZAN 57-feature model: features per window, then the tabular classifier."""

    def __init__(self, model: FeaturesModel, name: str):
        self.model = model
        self.name = name
        self.labels = list(model.labels)
        self.sample_rate = int(model.sample_rate)
        self.window_seconds = float(model.window_seconds)

    def predict_windows(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        feats = np.stack([extract_features(w, self.sample_rate) for w in windows])
        return self.model.predict_proba(feats)


class TransformersClassifier:
    """Any transformers audio-classification checkpoint (ours, Whisper, HuBERT, Wav2Vec2, ...).

    The windows of one track have equal length, so a batch needs no padding; the scoring window is
    the ``window_seconds`` the training script wrote into ``config.json`` (Whisper: 30 s).
    """

    def __init__(self, where: str, name: str, config: dict):
        import torch
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        import genre_models.hf_models  # noqa: F401  (registers our model types)

        self._torch = torch
        self.feature_extractor = AutoFeatureExtractor.from_pretrained(where)
        self.model = AutoModelForAudioClassification.from_pretrained(where, use_safetensors=True).eval()
        self.name = name
        # track metadata the model reads (lstm_meta's stats/names branches); empty for audio-only models
        self.metadata_fields: tuple[str, ...] = tuple(getattr(self.model, "metadata_fields", ()))
        id2label = self.model.config.id2label
        self.labels = [id2label[i] for i in range(len(id2label))]
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        # what else one pass of the model scores: AudioSet's 521 classes (the YAMNet genre model) or
        # musicnn's 50 MSD tags (the musicnn genre model keeps the tagger's layer); empty for others
        self.audioset_labels: list[str] = list(getattr(self.model.config, "audioset_labels", None) or [])
        self.tag_labels: list[str] = list(getattr(self.model.config, "tag_labels", None) or [])
        # a model taught on a few windows spread over each song scores songs the same way (predict's max_windows)
        self.max_windows: int | None = int(config["max_windows"]) if config.get("max_windows") else None
        self.window_seconds = float(
            config.get("window_seconds")
            or getattr(self.feature_extractor, "chunk_seconds", None)
            or getattr(self.feature_extractor, "chunk_length", None)  # Whisper: 30
            or 10.0
        )

    def predict_windows(self, windows: Sequence[np.ndarray], metadata: TrackMetadata | None = None) -> np.ndarray:
        """Probabilities per window; ``metadata`` (the track's, shared by all its windows) is used by
        metadata models only, which raise :class:`~genre_models.metadata.MetadataRequiredError` without it."""
        return self.score_windows(windows, metadata)[0]

    def score_windows(self, windows: Sequence[np.ndarray], metadata: TrackMetadata | None = None
                      ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Probabilities per window, and what else the same pass says about each window: a model that
        also reads AudioSet's classes (the YAMNet genre model: ``config.audioset_labels``) gives its
        windows' mean AudioSet scores as ``{"audioset": (windows, 521)}``, for the music check and the
        wider genres (:mod:`genre_models.audioset`) at no extra cost, and their spectral flatness as
        ``{"flatness": (windows,)}`` (white noise fools YAMNet's int8 arithmetic); a musicnn genre model
        that kept the tagger (``config.tag_labels``) gives ``{"tag_logits": (windows, 50)}``."""
        extra = {}
        if self.metadata_fields:
            check_metadata(self.name, self.metadata_fields, metadata)
            extra["metadata"] = metadata
        inputs = self.feature_extractor(list(windows), sampling_rate=self.sample_rate, return_tensors="pt", **extra)
        inputs = inputs.to(self.model.device)  # a model moved to a GPU (library runs) gets its inputs there
        more = bool(self.audioset_labels or self.tag_labels)
        with self._torch.inference_mode():
            out = self.model(**inputs, **({"output_hidden_states": True} if more else {}))
        probs = self._torch.softmax(out.logits.float(), dim=-1).cpu().numpy().astype(np.float64)
        extras = {}

        def host(t):
            return t.float().cpu().numpy().astype(np.float64)

        if self.audioset_labels:  # (pooled embedding, mean AudioSet scores, spectral flatness) per window
            _, scores, flatness = out.hidden_states
            extras["audioset"], extras["flatness"] = host(scores), host(flatness)
        elif self.tag_labels:  # (pooled, penultimate, mean tag logits) per window
            extras["tag_logits"] = host(out.hidden_states[2])
        return probs, extras


def _read_config(name_or_path: str | os.PathLike) -> tuple[dict, str]:
    """``config.json`` of a local folder or, failing that, of a Hub repo (validated id)."""
    if not str(name_or_path).strip():
        raise ValueError("empty model name: give a model folder or a Hugging Face Hub id (owner/name)")
    path = Path(name_or_path)
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.is_file():
            raise ValueError(f"{path} is not a model folder: it has no config.json")
        return json.loads(cfg.read_text()), str(path)
    name = str(name_or_path)
    if not HUB_ID.match(name) or ".." in name:
        raise ValueError(f"{name!r} is neither a model folder nor a Hugging Face Hub id (owner/name)")
    from huggingface_hub import hf_hub_download

    try:
        cfg_file = hf_hub_download(name, "config.json")
    except Exception as err:  # offline, private, missing: say which model, keep the cause
        raise ValueError(f"could not fetch model {name!r} from the Hugging Face Hub: {err}") from err
    return json.loads(Path(cfg_file).read_text()), name


def load_model(name_or_path: str | os.PathLike | None = None) -> WindowClassifier:
    """Load a checkpoint folder or Hub id (``None``: the embedded default model, no network)."""
    if name_or_path is None:
        return FeaturesClassifier(FeaturesModel.from_pretrained(DEFAULT_MODEL_DIR), "gtzan-features (default)")
    config, where = _read_config(name_or_path)
    model_type = config.get("model_type")
    name = Path(where).name if Path(where).is_dir() else where
    if model_type == "gtzan-features":
        return FeaturesClassifier(FeaturesModel.from_pretrained(where), name)
    if config.get("problem_type") == "multi_label_classification":  # e.g. msd-musicnn: independent tag scores
        raise ValueError(f"model {name!r} is a tagger (independent multi-label scores), not a genre classifier; "
                         "the app shows such a model's tags with GENRE_TAGGER=<folder>")
    if config.get("architectures") and any(a.endswith(("ForAudioClassification", "ForSequenceClassification"))
                                         for a in config["architectures"]):
        return TransformersClassifier(where, name, config)
    raise ValueError(f"model {name!r} has model_type {model_type!r}, which this version cannot load")


__all__ = ["WindowClassifier", "FeaturesClassifier", "TransformersClassifier", "load_model", "SAMPLE_RATE"]
