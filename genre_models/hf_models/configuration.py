"""Configurations of our three genre models (transformers 5 dataclass-style configs).

Every field is a plain JSON value, so ``config.json`` fully describes the architecture. Defaults
are sized for GTZAN-scale training (0.4-1 M parameters); tests build tiny ones by overriding
``channels``/``hidden_size``. ``num_labels``/``id2label``/``label2id`` come from
:class:`~transformers.PreTrainedConfig`.

``config.json`` has no ``auto_map`` (the checkpoints ship no code, and our app must never need
``trust_remote_code``); instead ``model_type`` is namespaced (``genre_*``), ``architectures`` names
the class, ``feature_extractor_type`` names the input, and ``requires`` tells a person without
our package what to install and import.
"""
from __future__ import annotations

from transformers import PreTrainedConfig

REQUIRES = (
    "genre-models (pip install genre-models); run `import genre_models.hf_models` before "
    "AutoModelForAudioClassification/AutoFeatureExtractor/pipeline(...).from_pretrained - no trust_remote_code"
)


class GenreMelCNNConfig(PreTrainedConfig):
    """2-D CNN over a (log-)mel spectrogram ``(batch, n_mels, frames)``.

    Args:
        num_mel_bins: frequency bins of the input (the per-bin input BatchNorm needs it).
        channels: output channels of the conv blocks; each block is conv3x3-BN-ReLU-maxpool2x2.
        kernel_size: conv kernel size (odd).
        freq_bins_out: frequency rows left after the conv blocks (adaptive average pooling), each
            pooled over time and concatenated for the head. 1 = global pooling over frequency
            (pitch/key-shift invariant, fewest parameters); 2-4 keep *where* energy sits (bass-heavy
            vs bright), which 4 blocks of 3x3 convs cannot see on their own (receptive field ~31 bins).
        pooling: global pooling over time: "mean", "max" or "meanmax" (concatenation; mean captures
            texture, max catches short salient events).
        input_norm: learnable per-frequency BatchNorm on the input, which standardises the
            fixed-reference dB values (see the feature extractor) without stored statistics.
        dropout: before the linear head.
    """

    model_type = "genre_mel_cnn"
    input_size_field = "num_mel_bins"  # set from the extractor's feature_size by build_model

    num_mel_bins: int = 128
    channels: list[int] | tuple[int, ...] = (32, 64, 128, 256)
    kernel_size: int = 3
    freq_bins_out: int = 4
    pooling: str = "meanmax"
    input_norm: bool = True
    dropout: float = 0.3
    feature_extractor_type: str = "LogMelFeatureExtractor"
    requires: str = REQUIRES


class GenreLSTMConfig(PreTrainedConfig):
    """Stacked (bi-)LSTM over MFCC frames ``(batch, frames, input_size)``.

    Args:
        input_size: features per frame (``MFCCFeatureExtractor.feature_size``).
        hidden_size: LSTM units per direction.
        num_layers: stacked LSTM layers.
        bidirectional: read the clip both ways (genre cues are not causal).
        pooling: "mean" (masked mean of all outputs; robust for 30-s clips) or "last" (final states).
        input_norm: learnable BatchNorm over features; off by default because the extractor
            normalises with stored statistics.
        lstm_dropout: between LSTM layers; dropout: before the head.
    """

    model_type = "genre_lstm"
    input_size_field = "input_size"  # set from the extractor's feature_size by build_model

    input_size: int = 20
    hidden_size: int = 128
    num_layers: int = 2
    bidirectional: bool = True
    pooling: str = "mean"
    input_norm: bool = False
    lstm_dropout: float = 0.2
    dropout: float = 0.3
    feature_extractor_type: str = "MFCCFeatureExtractor"
    requires: str = REQUIRES


class GenreCRNNConfig(PreTrainedConfig):
    """CNN front end over the spectrogram, then a (bi-)GRU over time.

    Args:
        num_mel_bins: frequency bins of the input (per-bin input BatchNorm).
        channels: conv blocks (conv3x3-BN-ReLU-maxpool); frequency is halved in every block.
        time_pools: time pooling per block (1 keeps the frame rate, so the GRU sees more steps).
        freq_bins_out: frequency rows kept (adaptive average pooling) and flattened into each GRU
            step, so the GRU input size does not depend on ``num_mel_bins``.
        hidden_size, num_layers, bidirectional: the GRU.
        pooling: "mean" (masked) or "last" over the GRU outputs.
        input_norm, dropout: as in :class:`GenreMelCNNConfig`.
    """

    model_type = "genre_crnn"
    input_size_field = "num_mel_bins"  # set from the extractor's feature_size by build_model

    num_mel_bins: int = 128
    channels: list[int] | tuple[int, ...] = (32, 64, 128)
    time_pools: list[int] | tuple[int, ...] = (2, 2, 2)
    kernel_size: int = 3
    freq_bins_out: int = 4
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "mean"
    input_norm: bool = True
    dropout: float = 0.3
    feature_extractor_type: str = "LogMelFeatureExtractor"
    requires: str = REQUIRES
