"""``lstm_meta``: one model over a track's audio, its play statistics and its names.

The FMA-small system this reproduces combined three branches: an LSTM over MFCC frames; the
track's listens, comments and favorites through dense layers; title and artist name as characters
through a character-level GRU. Their outputs are concatenated and go through dense layers with
leaky ReLU to a softmax (Adam at 1e-4). It reported 45 % with audio alone and 40 % combined on
FMA-small, concluding that the metadata did not help; ``--meta_branches`` drops any branch to
repeat that comparison.

* :class:`GenreLSTMMetaConfig` says which branches exist (``branches``); a dropped branch has no
  weights at all, so an ablation is a genuinely smaller model, saved and loaded like any other.
* :class:`MetadataMFCCFeatureExtractor` is the MFCC extractor of the ``lstm`` family plus the
  metadata encoding of :mod:`genre_models.metadata` (its ``log1p`` statistics are fitted on the
  training tracks and saved in ``preprocessor_config.json``), so training, ``finetune/evaluate.py``,
  the CLI and the app all featurise ``(audio, metadata)`` through one call.
* :class:`LSTMMetaForAudioClassification` takes ``input_features``/``attention_mask`` (audio) and
  ``char_ids``/``char_mask``/``stats``/``stats_mask`` (metadata) and refuses, with a clear message, a
  batch without the metadata its branches read.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedConfig
from transformers.feature_extraction_utils import BatchFeature
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import TensorType

from ..metadata import BRANCH_FIELDS, CHAR_VOCAB_SIZE, STAT_FIELDS, TrackMetadata, as_metadata, encode_batch, fit_stats
from .configuration import REQUIRES
from .feature_extraction import MFCCFeatureExtractor
from .modeling import GenrePreTrainedModel, _check_pooling, check_frames, run_rnn

BRANCHES = ("audio", "stats", "names")
MetadataInput = Mapping[str, Any] | TrackMetadata | None


def parse_branches(value: str | Sequence[str]) -> list[str]:
    """``"audio,stats"`` or a list → the branches in canonical order; unknown or none refused."""
    items = [b.strip() for b in (value.split(",") if isinstance(value, str) else value) if b and b.strip()]
    unknown = sorted(set(items) - set(BRANCHES))
    if unknown or not items:
        raise ValueError(f"branches must be a non-empty subset of {', '.join(BRANCHES)}, got {value!r}")
    return [b for b in BRANCHES if b in items]


class GenreLSTMMetaConfig(PreTrainedConfig):
    """Audio LSTM + statistics MLP + character GRU, concatenated, then a leaky-ReLU MLP head.

    Args:
        branches: which of ``audio``, ``stats``, ``names`` exist (ablations drop some).
        input_size, hidden_size, num_layers, bidirectional, pooling, lstm_dropout: the audio LSTM,
            as in :class:`~genre_models.hf_models.GenreLSTMConfig`.
        stats_hidden: widths of the dense layers over the 3 standardised ``log1p`` counts and their
            3 known-flags.
        char_vocab_size: ``genre_models.metadata.CHAR_VOCAB_SIZE`` (UTF-8 bytes + 3 special ids).
        char_embed_dim, char_hidden_size, char_bidirectional: the character GRU (masked mean over chars).
        head_hidden: dense layers after the concatenation; leaky ReLU with ``negative_slope``.
        dropout: on the concatenated branch outputs and after each head layer.
    """

    model_type = "genre_lstm_meta"

    branches: list[str] | tuple[str, ...] = BRANCHES
    input_size: int = 20
    hidden_size: int = 128
    num_layers: int = 2
    bidirectional: bool = True
    pooling: str = "mean"
    lstm_dropout: float = 0.2
    num_stats: int = len(STAT_FIELDS)
    stats_hidden: list[int] | tuple[int, ...] = (32, 32)
    char_vocab_size: int = CHAR_VOCAB_SIZE
    char_embed_dim: int = 32
    char_hidden_size: int = 64
    char_bidirectional: bool = True
    head_hidden: list[int] | tuple[int, ...] = (128,)
    negative_slope: float = 0.01
    dropout: float = 0.3
    feature_extractor_type: str = "MetadataMFCCFeatureExtractor"
    requires: str = REQUIRES


def metadata_fields(branches: Sequence[str]) -> tuple[str, ...]:
    """The metadata fields the given branches read (title/artist for names, the counts for stats)."""
    return tuple(f for b in branches for f in BRANCH_FIELDS[b])


class MetadataMFCCFeatureExtractor(MFCCFeatureExtractor):
    """MFCC frames of the audio plus the encoded metadata of each clip, in one call.

    ``fe(clips, sampling_rate=sr, metadata=...)``: ``metadata`` is one mapping /
    :class:`~genre_models.metadata.TrackMetadata` for every clip (the windows of one track), or a
    list with one per clip; ``None`` entries mean "nothing known". Without ``metadata`` only the
    audio features are returned (a model with metadata branches then refuses the batch).

    Args (beyond :class:`MFCCFeatureExtractor`'s):
        max_chars: characters of ``title ␞ artist`` kept (UTF-8 bytes).
        lowercase: case-fold names before encoding.
        stats_mean, stats_std: per-count statistics of ``log1p`` listens/comments/favorites, fitted
            on training tracks (:meth:`fit_metadata`) and saved with the extractor.
    """

    model_input_names = ["input_features", "attention_mask", "char_ids", "char_mask", "stats", "stats_mask"]
    reads_metadata = True

    def __init__(
        self,
        max_chars: int = 128,
        lowercase: bool = True,
        stats_mean: list[float] | None = None,
        stats_std: list[float] | None = None,
        **kwargs: Any,
    ):
        """The metadata options; every other argument is :class:`MFCCFeatureExtractor`'s."""
        if max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {max_chars}")
        for name, values in (("stats_mean", stats_mean), ("stats_std", stats_std)):
            if values is not None and len(values) != len(STAT_FIELDS):
                raise ValueError(f"{name} needs {len(STAT_FIELDS)} values ({', '.join(STAT_FIELDS)}), "
                                 f"got {len(values)}")
        self.max_chars = int(max_chars)
        self.lowercase = bool(lowercase)
        self.stats_mean = None if stats_mean is None else [float(v) for v in stats_mean]
        self.stats_std = None if stats_std is None else [float(v) for v in stats_std]
        super().__init__(**kwargs)

    def fit_metadata(self, records: Sequence[MetadataInput]) -> MetadataMFCCFeatureExtractor:
        """Set ``stats_mean``/``stats_std`` from the training tracks' metadata; returns ``self``."""
        self.stats_mean, self.stats_std = fit_stats(as_metadata(r) for r in records)
        return self

    def encode_metadata(self, metadata: MetadataInput | Sequence[MetadataInput], n_clips: int) -> dict[str, np.ndarray]:
        """The four metadata arrays for ``n_clips`` clips (one record broadcast, or one per clip)."""
        if metadata is None or isinstance(metadata, (Mapping, TrackMetadata)):
            records = [as_metadata(metadata)] * n_clips
        else:
            records = [as_metadata(m) for m in metadata]
            if len(records) != n_clips:
                raise ValueError(f"{len(records)} metadata records for {n_clips} clips: "
                                 "give one per clip, or one for all")
        return encode_batch(records, self.max_chars, self.lowercase, self.stats_mean, self.stats_std)

    def __call__(self, raw_speech: Any, sampling_rate: int | None = None,
                 return_tensors: str | TensorType | None = None, metadata: Any = None, **kwargs: Any) -> BatchFeature:
        """As :meth:`MFCCFeatureExtractor.__call__`, plus ``char_ids``, ``char_mask``, ``stats``,
        ``stats_mask`` when ``metadata`` is given (see the class docstring)."""
        audio = super().__call__(raw_speech, sampling_rate=sampling_rate, return_tensors=None, **kwargs)
        data = dict(audio)
        if metadata is not None:
            data.update(self.encode_metadata(metadata, len(data["input_features"])))
        return BatchFeature(data, tensor_type=return_tensors)


class LSTMMetaForAudioClassification(GenrePreTrainedModel):
    """Branches → concatenation → dropout → [linear → leaky ReLU → dropout]* → linear (softmax in the loss)."""

    config_class = GenreLSTMMetaConfig

    def __init__(self, config: GenreLSTMMetaConfig):
        super().__init__(config)
        self.branches = parse_branches(config.branches)
        width = 0
        if "audio" in self.branches:
            _check_pooling(config.pooling, {"mean", "last"})
            self.lstm = nn.LSTM(config.input_size, config.hidden_size, num_layers=config.num_layers,
                                batch_first=True, bidirectional=config.bidirectional,
                                dropout=config.lstm_dropout if config.num_layers > 1 else 0.0)
            width += config.hidden_size * (2 if config.bidirectional else 1)
        if "stats" in self.branches:
            layers, size = [], 2 * config.num_stats  # values and known-flags
            for h in config.stats_hidden:
                layers += [nn.Linear(size, h), nn.LeakyReLU(config.negative_slope)]
                size = h
            self.stats_mlp = nn.Sequential(*layers)
            width += size
        if "names" in self.branches:
            self.char_embed = nn.Embedding(config.char_vocab_size, config.char_embed_dim, padding_idx=0)
            self.char_gru = nn.GRU(config.char_embed_dim, config.char_hidden_size, batch_first=True,
                                   bidirectional=config.char_bidirectional)
            width += config.char_hidden_size * (2 if config.char_bidirectional else 1)
        layers = [nn.Dropout(config.dropout)]
        for h in config.head_hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(config.negative_slope), nn.Dropout(config.dropout)]
            width = h
        self.head = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    @property
    def metadata_fields(self) -> tuple[str, ...]:
        """Metadata this model reads (empty for the audio-only ablation)."""
        return metadata_fields(self.branches)

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        char_ids: torch.Tensor | None = None,
        char_mask: torch.Tensor | None = None,
        stats: torch.Tensor | None = None,
        stats_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        """``input_features`` ``(batch, frames, input_size)``; ``char_ids``/``char_mask`` ``(batch, chars)``;
        ``stats``/``stats_mask`` ``(batch, 3)``; only the inputs of the enabled branches are needed."""
        parts = []
        if "audio" in self.branches:
            if input_features is None:
                raise ValueError("this model has an audio branch: pass input_features")
            check_frames(input_features, self.config.input_size)
            parts.append(run_rnn(self.lstm, input_features, attention_mask, self.config.pooling))
        missing = [n for n, v in (("stats", stats), ("stats_mask", stats_mask)) if v is None] \
            if "stats" in self.branches else []
        missing += [n for n, v in (("char_ids", char_ids), ("char_mask", char_mask)) if v is None] \
            if "names" in self.branches else []
        if missing:
            raise ValueError(f"this model reads track metadata ({', '.join(self.metadata_fields)}) "
                             f"but the batch has no {', '.join(missing)}: call its feature extractor with metadata=...")
        if "stats" in self.branches:
            dtype = self.classifier.weight.dtype
            parts.append(self.stats_mlp(torch.cat([stats.to(dtype), stats_mask.to(dtype)], dim=-1)))
        if "names" in self.branches:
            x = self.char_embed(char_ids.long())
            parts.append(run_rnn(self.char_gru, x, char_mask, "mean"))
        hidden = self.head(torch.cat(parts, dim=-1))
        return self._output(self.classifier(hidden), labels, return_dict)
