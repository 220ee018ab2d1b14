"""Music-genre classification: audio loading, GTZAN features, models, ensembling and prediction.

The two calls most people need::

    from genre_models import load_model, predict
    pred = predict("song.mp3", load_model())      # the embedded default model, offline
    pred.genre, pred.top(3), pred.window_probs     # answer, runners-up, timeline

Names are imported lazily, so ``import genre_models.audio`` does not pay for librosa or xgboost.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "AudioLoadError": "audio", "audio_info": "audio", "load_audio": "audio", "stream_audio": "audio",
    "FEATURE_NAMES": "features", "SAMPLE_RATE": "features", "extract_features": "features",
    "GTZAN_GENRES": "labels",
    "MetadataRequiredError": "metadata", "TrackMetadata": "metadata",
    "Prediction": "prediction", "combine": "prediction", "predict": "prediction",
    "WindowClassifier": "registry", "load_model": "registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'genre_models' has no attribute {name!r}")
