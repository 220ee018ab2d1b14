"""Our genre classifiers as ``PreTrainedModel`` s, so they save/load/pipeline like any transformers model.

All three take ``input_features`` (from the matching feature extractor) and an optional frame-level
``attention_mask`` (1 = real frame), return :class:`SequenceClassifierOutput` with a cross-entropy
``loss`` when ``labels`` are given, and pool over time so any clip length works. Padded frames
are zeroed after every conv block, packed out of the RNNs and excluded from time pooling, so in
eval mode a clip padded inside a batch gets the same logits as alone. (In training mode the
input BatchNorm's batch statistics still include padded frames; negligible when clips are
equal-length chunks, as ``chunk_seconds`` makes them.)
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration import GenreCRNNConfig, GenreLSTMConfig, GenreMelCNNConfig


# ---------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------
class ConvBlock(nn.Module):
    """conv-BN-ReLU-maxpool: the standard, well-behaved unit of small audio CNNs."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, pool: tuple[int, int]):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.pool_size = pool
        self.pool = nn.MaxPool2d(pool, ceil_mode=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x``: ``(batch, channels, bins, frames)``; ``mask``: ``(batch, frames)`` or None.

        Padded frames are zeroed before pooling, so (in eval mode) a clip padded inside a batch
        gets the same outputs as alone: the next conv sees zeros past its end either way.
        """
        x = F.relu(self.bn(self.conv(x)))
        if mask is not None:
            x = x * mask[:, None, None, :].to(x.dtype)
            mask = _pool_mask(mask, self.pool_size[1])
        return self.pool(x), mask


def _pool_mask(mask: torch.Tensor, factor: int) -> torch.Tensor:
    """Frame mask after a ``factor`` time max-pool (ceil mode): a pooled frame is real if any input was."""
    if factor == 1:
        return mask
    return F.max_pool1d(mask[:, None, :].float(), factor, factor, ceil_mode=True)[:, 0, :]


def masked_time_pool(x: torch.Tensor, mask: torch.Tensor | None, mode: str) -> torch.Tensor:
    """Pool ``(batch, time, dims)`` over time ignoring padded frames; ``mode`` mean/max/meanmax."""
    if mask is None:
        mask = x.new_ones(x.shape[:2])
    mask = mask.to(x.dtype)[..., None]
    lengths = mask.sum(dim=1).clamp(min=1.0)
    mean = (x * mask).sum(dim=1) / lengths
    if mode == "mean":
        return mean
    maxed = x.masked_fill(mask == 0, torch.finfo(x.dtype).min).amax(dim=1)
    if mode == "max":
        return maxed
    return torch.cat([mean, maxed], dim=-1)


def check_frames(input_features: torch.Tensor, input_size: int) -> None:
    """Frame-sequence models (lstm, cnn1d, lstm_meta) take ``(batch, frames, input_size)``."""
    if input_features.dim() != 3 or input_features.shape[-1] != input_size:
        raise ValueError(f"expected input_features (batch, frames, {input_size}), got {tuple(input_features.shape)}")


def init_batch_norm(module: nn.BatchNorm1d | nn.BatchNorm2d) -> None:
    """A BatchNorm at identity with fresh running statistics (through ``transformers.initialization``)."""
    init.ones_(module.weight)
    init.zeros_(module.bias)
    init.zeros_(module.running_mean)
    init.ones_(module.running_var)
    init.zeros_(module.num_batches_tracked)


def _check_pooling(pooling: str, allowed: set[str]) -> None:
    if pooling not in allowed:
        raise ValueError(f"pooling must be one of {sorted(allowed)}, got {pooling!r}")


def _as_spectrogram(input_features: torch.Tensor) -> torch.Tensor:
    """Accept ``(batch, bins, frames)`` or ``(batch, 1, bins, frames)``; return the 4-D form."""
    if input_features.dim() == 3:
        return input_features[:, None]
    if input_features.dim() == 4 and input_features.shape[1] == 1:
        return input_features
    raise ValueError(f"expected input_features of shape (batch, bins, frames), got {tuple(input_features.shape)}")


def _mask_input(x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Zero the (normalised) padded frames of a ``(batch, 1, bins, frames)`` input; drop an all-ones mask."""
    if mask is None:
        return x, None
    if mask.shape != (x.shape[0], x.shape[-1]):
        raise ValueError(f"attention_mask shape {tuple(mask.shape)} does not match (batch, frames) "
                         f"{(x.shape[0], x.shape[-1])}")
    if bool(mask.all()):
        return x, None
    return x * mask[:, None, None, :].to(x.dtype), mask


class _InputNorm(nn.Module):
    """Per-frequency-bin BatchNorm of a ``(batch, 1, bins, frames)`` spectrogram."""

    def __init__(self, num_bins: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(num_bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != self.bn.num_features:
            raise ValueError(f"model expects {self.bn.num_features} frequency bins, got {x.shape[2]}")
        return self.bn(x[:, 0])[:, None]


# ---------------------------------------------------------------------------------------------
# shared base
# ---------------------------------------------------------------------------------------------
class GenrePreTrainedModel(PreTrainedModel):
    """Common init, head and output for our models; not used directly."""

    main_input_name = "input_features"
    input_modalities = ("audio",)
    base_model_prefix = "genre"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """He init for ReLU convs, Xavier for linear layers, orthogonal recurrent weights, LSTM forget bias 1.

        Goes through ``transformers.initialization`` so weights loaded by ``from_pretrained`` are kept.
        """
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init_batch_norm(module)
        elif isinstance(module, (nn.LSTM, nn.GRU)):
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    init.orthogonal_(param)
                elif isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                    bias = torch.zeros_like(param)
                    bias[module.hidden_size : 2 * module.hidden_size] = 1.0  # remember by default
                    init.copy_(param, bias)
                else:
                    init.zeros_(param)

    def _output(
        self, logits: torch.Tensor, labels: torch.Tensor | None, return_dict: bool | None
    ) -> SequenceClassifierOutput | tuple:
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.config.num_labels), labels.view(-1).to(logits.device))
        if return_dict is False or (return_dict is None and not self.config.return_dict):
            return (logits,) if loss is None else (loss, logits)
        return SequenceClassifierOutput(loss=loss, logits=logits)


class ConvFrontEnd(nn.Module):
    """Shared by the CNN and the CRNN: input norm → conv blocks → frequency averaged to a few rows.

    Returns frame features ``(batch, time, channels * freq_bins_out)`` and the pooled frame mask.
    """

    def __init__(self, num_mel_bins: int, channels: list[int], kernel_size: int, time_pools: list[int],
                 freq_bins_out: int, input_norm: bool):
        super().__init__()
        if freq_bins_out < 1:
            raise ValueError(f"freq_bins_out must be >= 1, got {freq_bins_out}")
        self.input_norm = _InputNorm(num_mel_bins) if input_norm else None
        self.blocks = nn.ModuleList(
            ConvBlock(c_in, c_out, kernel_size, (2, int(tp)))
            for c_in, c_out, tp in zip([1] + channels[:-1], channels, time_pools)
        )
        self.freq_pool = nn.AdaptiveAvgPool2d((freq_bins_out, None))
        self.out_features = channels[-1] * freq_bins_out

    def forward(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None):
        x = _as_spectrogram(input_features)
        if self.input_norm is not None:
            x = self.input_norm(x)
        x, mask = _mask_input(x, attention_mask)
        for block in self.blocks:
            x, mask = block(x, mask)
        x = self.freq_pool(x)  # (batch, channels, freq_bins_out, time)
        return x.flatten(1, 2).transpose(1, 2), mask


# ---------------------------------------------------------------------------------------------
# the models
# ---------------------------------------------------------------------------------------------
class MelCNNForAudioClassification(GenrePreTrainedModel):
    """conv blocks → frequency averaged to ``freq_bins_out`` rows → masked mean/max over time → dropout → linear."""

    config_class = GenreMelCNNConfig

    def __init__(self, config: GenreMelCNNConfig):
        super().__init__(config)
        _check_pooling(config.pooling, {"mean", "max", "meanmax"})
        channels = list(config.channels)
        self.front = ConvFrontEnd(config.num_mel_bins, channels, config.kernel_size, [2] * len(channels),
                                  config.freq_bins_out, config.input_norm)
        width = self.front.out_features * (2 if config.pooling == "meanmax" else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        """``input_features``: ``(batch, n_mels, frames)``; ``attention_mask``: ``(batch, frames)``."""
        x, mask = self.front(input_features, attention_mask)
        pooled = masked_time_pool(x, mask, self.config.pooling)
        return self._output(self.classifier(self.dropout(pooled)), labels, return_dict)


class LSTMForAudioClassification(GenrePreTrainedModel):
    """(bi-)LSTM over feature frames → masked mean or last state → dropout → linear."""

    config_class = GenreLSTMConfig

    def __init__(self, config: GenreLSTMConfig):
        super().__init__(config)
        _check_pooling(config.pooling, {"mean", "last"})
        self.input_norm = nn.BatchNorm1d(config.input_size) if config.input_norm else None
        self.lstm = nn.LSTM(
            config.input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.lstm_dropout if config.num_layers > 1 else 0.0,
        )
        width = config.hidden_size * (2 if config.bidirectional else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        """``input_features``: ``(batch, frames, input_size)``; ``attention_mask``: ``(batch, frames)``."""
        check_frames(input_features, self.config.input_size)
        x = input_features
        if self.input_norm is not None:
            x = self.input_norm(x.transpose(1, 2)).transpose(1, 2)
        pooled = run_rnn(self.lstm, x, attention_mask, self.config.pooling)
        return self._output(self.classifier(self.dropout(pooled)), labels, return_dict)


class CRNNForAudioClassification(GenrePreTrainedModel):
    """conv blocks → frequency squeezed to ``freq_bins_out`` rows → (bi-)GRU over time → pool → linear."""

    config_class = GenreCRNNConfig

    def __init__(self, config: GenreCRNNConfig):
        super().__init__(config)
        _check_pooling(config.pooling, {"mean", "last"})
        channels, time_pools = list(config.channels), list(config.time_pools)
        if len(time_pools) != len(channels):
            raise ValueError(f"time_pools ({len(time_pools)}) must have one entry per conv block ({len(channels)})")
        self.front = ConvFrontEnd(config.num_mel_bins, channels, config.kernel_size, time_pools,
                                  config.freq_bins_out, config.input_norm)
        self.gru = nn.GRU(
            self.front.out_features,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
        )
        width = config.hidden_size * (2 if config.bidirectional else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        """``input_features``: ``(batch, n_mels, frames)``; ``attention_mask``: ``(batch, frames)``."""
        x, mask = self.front(input_features, attention_mask)
        pooled = run_rnn(self.gru, x, mask, self.config.pooling)
        return self._output(self.classifier(self.dropout(pooled)), labels, return_dict)


def run_rnn(rnn: nn.LSTM | nn.GRU, x: torch.Tensor, mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """Run a batch-first RNN, packing by length when a mask is given (so padding never enters a
    state), and pool: masked mean of outputs, or the last real state of each direction."""
    lengths = None
    if mask is not None:
        lengths = mask.sum(dim=1).long().clamp(min=1).cpu()
        if bool((lengths == x.shape[1]).all()):
            lengths = None  # nothing padded: skip packing
    if lengths is None:
        out, hidden = rnn(x)
    else:
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, hidden = rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    if pooling == "last":
        h_n = hidden[0] if isinstance(hidden, tuple) else hidden  # (layers * dirs, batch, hidden)
        dirs = 2 if rnn.bidirectional else 1
        return torch.cat([h_n[-dirs + d] for d in range(dirs)], dim=-1)
    step_mask = None
    if lengths is not None:
        step_mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).to(x.device)
    return masked_time_pool(out, step_mask, "mean")
