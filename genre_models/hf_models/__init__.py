"""Our genre models as real transformers models: configs, models, feature extractors, registration.

Importing this package registers the three model types with ``AutoConfig``,
``AutoModelForAudioClassification`` and ``AutoFeatureExtractor``, so a saved folder loads and runs
with plain transformers calls and no ``trust_remote_code``::

    import genre_models.hf_models  # registers; must come first
    from transformers import pipeline
    pipe = pipeline("audio-classification", model="path/to/saved")
    pipe({"raw": y, "sampling_rate": 22050})   # y: mono float array at the extractor's rate

Fresh models for training: ``model, fe = build_model("mel_cnn", labels)``.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor

from .cnn1d import CNN1DForAudioClassification, GenreCNN1DConfig
from .configuration import GenreCRNNConfig, GenreLSTMConfig, GenreMelCNNConfig
from .dnn import DNNForAudioClassification, GenreDNNConfig

# a linear head on the shipped backbones' window embeddings (genre_models.embeddings; `genre_models teach`
# writes these): model_type genre_embedding_head, a folder holding only the head
from .embedding_head import EmbeddingHeadConfig, EmbeddingHeadForAudioClassification
from .feature_extraction import LogMelFeatureExtractor, MFCCFeatureExtractor
from .lstm_meta import GenreLSTMMetaConfig, LSTMMetaForAudioClassification, MetadataMFCCFeatureExtractor
from .mfcc_mean_extraction import MFCCMeanFeatureExtractor
from .modeling import (
    CRNNForAudioClassification,
    GenrePreTrainedModel,
    LSTMForAudioClassification,
    MelCNNForAudioClassification,
)

# musicnn is a pretrained backbone (genre_models/pretrained/msd-musicnn), not a from-scratch family, so it
# is not in MODEL_FAMILIES; importing the module registers model_type genre_musicnn with the Auto classes.
from .musicnn import MusiCNNConfig, MusiCNNFeatureExtractor, MusiCNNForAudioClassification, MusiCNNModel

# The same package's vgg taggers (genre_models/pretrained/msd-vgg, mtt-vgg; musicnn's input): model_type
# genre_musicnn_vgg.
from .musicnn_vgg import MusiCNNVGGConfig, MusiCNNVGGForAudioClassification, MusiCNNVGGModel
from .waveform_extraction import WaveformFeatureExtractor
from .wavenet import GenreWaveNetConfig, WaveNetForAudioClassification

# OpenAI whisper-base from two PyPI data wheels (whisper_base.py): importing registers model_type genre_whisper, a
# genre head whose folder holds no encoder; nothing is read or converted until a model is loaded.
from .whisper_base import GenreWhisperConfig, WhisperGenreForAudioClassification

# YAMNet likewise (genre_models/pretrained/yamnet-audioset, AudioSet's 521 classes): model_type genre_yamnet.
from .yamnet import (
    YAMNetConfig,
    YAMNetFeatureExtractor,
    YAMNetForAudioClassification,
    YAMNetGenreConfig,
    YAMNetGenreForAudioClassification,
    YAMNetModel,
)

__all__ = [
    "CRNNForAudioClassification", "GenreCRNNConfig", "GenreLSTMConfig", "GenreMelCNNConfig",
    "GenrePreTrainedModel", "LSTMForAudioClassification", "LogMelFeatureExtractor", "MFCCFeatureExtractor",
    "GenreLSTMMetaConfig", "LSTMMetaForAudioClassification", "MetadataMFCCFeatureExtractor",
    "CNN1DForAudioClassification", "DNNForAudioClassification", "GenreCNN1DConfig", "GenreDNNConfig",
    "GenreWaveNetConfig", "MFCCMeanFeatureExtractor", "WaveNetForAudioClassification", "WaveformFeatureExtractor",
    "MODEL_FAMILIES", "MelCNNForAudioClassification", "build_model", "count_parameters", "extractor_options",
    "MusiCNNConfig", "MusiCNNFeatureExtractor", "MusiCNNForAudioClassification", "MusiCNNModel",
    "MusiCNNVGGConfig", "MusiCNNVGGForAudioClassification", "MusiCNNVGGModel",
    "GenreWhisperConfig", "WhisperGenreForAudioClassification",
    "YAMNetConfig", "YAMNetFeatureExtractor", "YAMNetForAudioClassification", "YAMNetGenreConfig",
    "YAMNetGenreForAudioClassification", "YAMNetModel", "EmbeddingHeadConfig", "EmbeddingHeadForAudioClassification",
]

# family name -> (config class, model class, feature-extractor class, default extractor kwargs).
# The CNNs default to the log-frequency scale (reported 5-7 % better than mel for CNNs on genre);
# pass frequency_scale="mel" to build_model for the classic input.
MODEL_FAMILIES: dict[str, tuple[type, type, type, dict[str, Any]]] = {
    "mel_cnn": (GenreMelCNNConfig, MelCNNForAudioClassification, LogMelFeatureExtractor, {"frequency_scale": "log"}),
    "lstm": (GenreLSTMConfig, LSTMForAudioClassification, MFCCFeatureExtractor, {"n_mfcc": 20, "delta_order": 0}),
    "crnn": (GenreCRNNConfig, CRNNForAudioClassification, LogMelFeatureExtractor, {"frequency_scale": "log"}),
    # audio (MFCC LSTM) + play statistics + title/artist characters; needs track metadata (FMA's tracks.csv)
    "lstm_meta": (GenreLSTMMetaConfig, LSTMMetaForAudioClassification, MetadataMFCCFeatureExtractor,
                  {"n_mfcc": 20, "delta_order": 0}),
    # raw audio at 22.05 kHz, resampled to 8 kHz inside the extractor
    "wavenet": (GenreWaveNetConfig, WaveNetForAudioClassification, WaveformFeatureExtractor, {}),
    # the lstm's MFCC frames, coefficients as channels
    "cnn1d": (GenreCNN1DConfig, CNN1DForAudioClassification, MFCCFeatureExtractor, {"n_mfcc": 20, "delta_order": 0}),
    # the features model's mfcc1..20_mean columns of each window
    "dnn": (GenreDNNConfig, DNNForAudioClassification, MFCCMeanFeatureExtractor, {}),
}


def _register() -> None:
    """Idempotent (``exist_ok=True``), so re-imports and reloads do not raise."""
    for config_cls, model_cls, extractor_cls, _ in MODEL_FAMILIES.values():
        AutoConfig.register(config_cls.model_type, config_cls, exist_ok=True)
        AutoModelForAudioClassification.register(config_cls, model_cls, exist_ok=True)
        AutoFeatureExtractor.register(config_cls, extractor_cls, exist_ok=True)


_register()


def extractor_options(cls: type) -> set[str]:
    """Named ``__init__`` parameters of an extractor and of our extractors its ``**kwargs`` reach,
    so a subclass that adds a few options and forwards the rest (lstm_meta's) still gets them routed.
    The shared base's own (derived) arguments are not options."""
    from .feature_extraction import _FramedAudioFeatureExtractor

    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is _FramedAudioFeatureExtractor:
            break
        if "__init__" in vars(klass):
            names |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs"}
    return names


def build_model(
    family: str,
    labels: Sequence[str],
    extractor_kwargs: dict[str, Any] | None = None,
    **overrides: Any,
) -> tuple[GenrePreTrainedModel, SequenceFeatureExtractor]:
    """A fresh, randomly initialised model and its matching feature extractor.

    Args:
        family: a key of :data:`MODEL_FAMILIES` (``"mel_cnn"``, ``"lstm"``, ``"crnn"``, ``"wavenet"``, ...).
        labels: class names; their order is the id order in the checkpoint.
        extractor_kwargs: feature-extractor options on top of the family defaults
            (e.g. ``{"frequency_scale": "mel", "chunk_seconds": 3.0}``).
        **overrides: config fields (e.g. ``channels=(8, 16)``, ``hidden_size=32``). Options that
            belong to the extractor (``sampling_rate``, ``n_mels``, ``n_mfcc``, ``frequency_scale`` ...)
            are accepted here too and routed to it.

    The config's input size (the field :func:`input_size_field` names: ``num_mel_bins`` /
    ``input_size``) is taken from the extractor, so the pair always fits together.
    """
    if family not in MODEL_FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {sorted(MODEL_FAMILIES)}")
    labels = list(labels)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"labels must be at least two distinct names, got {labels}")
    config_cls, model_cls, extractor_cls, fe_defaults = MODEL_FAMILIES[family]
    fe_params = extractor_options(extractor_cls)
    fe_kwargs = {**fe_defaults, **(extractor_kwargs or {})}
    for key in [k for k in overrides if k in fe_params]:
        fe_kwargs[key] = overrides.pop(key)
    feature_extractor = extractor_cls(**fe_kwargs)

    field = input_size_field(config_cls)
    if field is not None:
        overrides[field] = feature_extractor.feature_size
    unknown = set(overrides) - {f for f in config_cls.__dataclass_fields__}
    if unknown:
        raise TypeError(f"unknown option(s) for {family}: {sorted(unknown)}")
    config = config_cls(
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        feature_extractor_type=extractor_cls.__name__,
        **overrides,
    )
    return model_cls(config), feature_extractor


def input_size_field(config_cls: type) -> str | None:
    """The config field that must equal the extractor's ``feature_size``, or None (e.g. a waveform).

    A config names it in a class attribute ``input_size_field``; otherwise it is the first of
    ``input_size`` (frame-wise models) and ``num_mel_bins`` (spectrogram models) that it declares.
    """
    if hasattr(config_cls, "input_size_field"):
        return config_cls.input_size_field
    fields = config_cls.__dataclass_fields__
    return next((f for f in ("input_size", "num_mel_bins") if f in fields), None)


def count_parameters(model: Any) -> int:
    """Trainable parameters (what "model size" means in our docs)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
