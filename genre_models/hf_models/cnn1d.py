"""1-D CNN over the MFCC sequence, coefficients as channels (config + model).

The source's model: two blocks of conv → max-pool → batch norm → dropout with L2-regularised
kernels, flattened into a dense head. Flattening needs a fixed number of time steps, which a
model meant for any clip length (the pipeline, whole songs cut into windows) does not have, so the
last block's output is first averaged into ``time_bins_out`` equal spans of the clip — of its real
frames only (:func:`masked_adaptive_avg_pool`) — and those are flattened. The head still sees
*where* in the window things happen, as a flatten does, at a fixed size.

Input is the lstm's MFCC extractor (``MFCCFeatureExtractor``: 20 MFCCs per 23-ms frame,
standardised with training-set statistics).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedConfig
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration import REQUIRES
from .modeling import GenrePreTrainedModel, _pool_mask, check_frames


class GenreCNN1DConfig(PreTrainedConfig):
    """Conv blocks over ``(batch, frames, input_size)`` MFCC frames.

    Args:
        input_size: MFCCs per frame (the conv's input channels; ``MFCCFeatureExtractor.feature_size``).
        channels: output channels of the conv blocks (conv → ReLU → max-pool → BatchNorm → dropout).
        kernel_size: conv width in frames (odd: same padding).
        pool_size: max-pool factor over time in every block.
        time_bins_out: time spans the last block is averaged into before flattening.
        hidden_size: dense layer between the flattened features and the output (0: none).
        dropout: in the conv blocks; head_dropout: before each dense layer of the head.
        l2_regularization: coefficient of the L2 penalty ``λ·Σ w²`` on conv and dense weights,
            added to the loss in training mode (as Keras' ``kernel_regularizer=l2(λ)``); eval loss is
            plain cross-entropy, comparable with the other models.
    """

    model_type = "genre_cnn1d"
    input_size_field = "input_size"

    input_size: int = 20
    channels: list[int] | tuple[int, ...] = (64, 128)
    kernel_size: int = 5
    pool_size: int = 2
    time_bins_out: int = 8
    hidden_size: int = 128
    dropout: float = 0.3
    head_dropout: float = 0.5
    l2_regularization: float = 1e-3
    feature_extractor_type: str = "MFCCFeatureExtractor"
    requires: str = REQUIRES


def masked_adaptive_avg_pool(x: torch.Tensor, mask: torch.Tensor | None, bins: int) -> torch.Tensor:
    """``nn.AdaptiveAvgPool1d(bins)`` of ``(batch, channels, time)`` over each clip's real frames only.

    Bin ``i`` of a clip with ``L`` real frames averages frames ``[floor(i·L/bins), ceil((i+1)·L/bins))``,
    PyTorch's rule, so with no padding this is exactly the adaptive pool.
    """
    batch, _, steps = x.shape
    lengths = (mask.sum(dim=1).long().clamp(min=1) if mask is not None
               else torch.full((batch,), steps, dtype=torch.long, device=x.device))
    i = torch.arange(bins, device=x.device)[None, :]
    start = (i * lengths[:, None]) // bins  # (batch, bins)
    end = ((i + 1) * lengths[:, None] + bins - 1) // bins
    t = torch.arange(steps, device=x.device)[None, None, :]
    weights = ((t >= start[..., None]) & (t < end[..., None])).to(x.dtype)  # (batch, bins, time)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    return torch.einsum("bct,bnt->bcn", x, weights)


class Conv1DBlock(nn.Module):
    """conv → ReLU → max-pool → BatchNorm → dropout, padded frames zeroed so they never leak in."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, pool: int, dropout: float):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.pool_size = pool
        self.bn = nn.BatchNorm1d(out_channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        # ReLU outputs are >= 0, so zeroed padding never wins the max-pool over real frames.
        x = F.relu(self.conv(x))
        if mask is not None:
            x = x * mask[:, None, :].to(x.dtype)
        x = F.max_pool1d(x, self.pool_size, self.pool_size, ceil_mode=True) if self.pool_size > 1 else x
        if mask is not None:
            mask = _pool_mask(mask, self.pool_size)
        x = self.dropout(self.bn(x))
        if mask is not None:  # BatchNorm shifted the padded frames off zero
            x = x * mask[:, None, :].to(x.dtype)
        return x, mask


class CNN1DForAudioClassification(GenrePreTrainedModel):
    """Conv1D blocks over MFCC frames → ``time_bins_out`` spans → flatten → dense → linear."""

    config_class = GenreCNN1DConfig

    def __init__(self, config: GenreCNN1DConfig):
        super().__init__(config)
        channels = [int(c) for c in config.channels]
        if not channels or config.time_bins_out < 1 or config.pool_size < 1:
            raise ValueError("cnn1d needs >= 1 conv block, time_bins_out >= 1 and pool_size >= 1")
        self.blocks = nn.ModuleList(
            Conv1DBlock(c_in, c_out, config.kernel_size, config.pool_size, config.dropout)
            for c_in, c_out in zip([config.input_size] + channels[:-1], channels)
        )
        width = channels[-1] * config.time_bins_out
        head: list[nn.Module] = []
        if config.hidden_size:
            head += [nn.Dropout(config.head_dropout), nn.Linear(width, config.hidden_size), nn.ReLU()]
            width = config.hidden_size
        self.head = nn.Sequential(*head)
        self.dropout = nn.Dropout(config.head_dropout)
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    def l2_penalty(self) -> torch.Tensor:
        """``Σ w²`` over the conv and dense weights (not biases, not BatchNorm)."""
        return sum((m.weight**2).sum() for m in self.modules() if isinstance(m, (nn.Conv1d, nn.Linear)))

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
        x = input_features.transpose(1, 2)  # coefficients as channels
        mask = attention_mask
        if mask is not None:
            if mask.shape != input_features.shape[:2]:
                raise ValueError(f"attention_mask shape {tuple(mask.shape)} does not match (batch, frames)")
            mask = None if bool(mask.all()) else mask
            if mask is not None:
                x = x * mask[:, None, :].to(x.dtype)
        for block in self.blocks:
            x, mask = block(x, mask)
        flat = masked_adaptive_avg_pool(x, mask, self.config.time_bins_out).flatten(1)
        logits = self.classifier(self.dropout(self.head(flat)))
        output = self._output(logits, labels, return_dict)
        if labels is not None and self.training and self.config.l2_regularization:
            penalty = self.config.l2_regularization * self.l2_penalty()
            if isinstance(output, tuple):
                output = (output[0] + penalty, *output[1:])
            else:
                output.loss = output.loss + penalty
        return output
