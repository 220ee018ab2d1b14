"""A WaveNet-style genre classifier over raw audio (config + model).

WaveNet's building block: a dilated *causal* 1-D convolution (output at sample t sees only samples
≤ t) whose output is split into a tanh "filter" and a sigmoid "gate" multiplied together, then a
1×1 convolution back onto the residual path and another into a skip path. Dilations double layer by
layer (1, 2, 4, ...), so ``n`` layers see ``2**n`` samples at the cost of ``n``.

At audio rate that is expensive: 16 full-rate layers of 32 channels cost ~3 GMAC per 3 s of 8-kHz
audio. So the layers are grouped into stacks, and between stacks the signal is max-pooled by
``pool_size`` (each pooled step covers a block of samples and is stamped with the block's end, so
causality is kept) while the channels grow. Each stack's skip outputs are summed and passed through
ReLU, as in WaveNet, and that is what the next stack (or the head) reads. The head is a 1×1 conv,
then mean+max pooling over time of the real (unpadded) steps, dropout and a linear layer. Padding is
at the end of a clip and every layer is causal, so a clip padded inside a batch gets the same
logits as alone.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedConfig
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration import REQUIRES
from .modeling import GenrePreTrainedModel, _check_pooling, _pool_mask, masked_time_pool


class GenreWaveNetConfig(PreTrainedConfig):
    """WaveNet stacks over the waveform ``(batch, samples)`` from ``WaveformFeatureExtractor``.

    Args:
        stack_channels: residual (= skip) channels of each stack; one stack per entry.
        stack_layers: gated residual layers of each stack (dilations ``1 .. 2**(layers - 1)``). The
            first stack runs at the full model rate, so it is kept thin and short; the later ones,
            on 4×, 16×, 64× fewer steps, carry the depth and the width.
        kernel_size: width of the dilated causal convolutions (WaveNet: 2).
        pool_size: causal max-pool factor between stacks (time resolution drops by it per stack).
        head_channels: 1×1 conv after the last stack, before pooling over time.
        stack_norm: BatchNorm on each stack's output. Without it the gated units (tanh·sigmoid,
            |z| < 1) shrink the signal stack after stack and a 4-stack net barely moves from chance
            in its first hundred steps; in eval mode it is a per-channel affine map, so still causal.
        pooling: "mean", "max" or "meanmax" over time.
        dropout: before the linear head.
    """

    model_type = "genre_wavenet"
    input_size_field = None  # mono waveform: nothing to take from the extractor

    stack_channels: list[int] | tuple[int, ...] = (8, 16, 32, 64)
    stack_layers: list[int] | tuple[int, ...] = (4, 6, 6, 6)
    kernel_size: int = 2
    pool_size: int = 4
    head_channels: int = 128
    stack_norm: bool = True
    pooling: str = "meanmax"
    dropout: float = 0.3
    feature_extractor_type: str = "WaveformFeatureExtractor"
    requires: str = REQUIRES


class CausalConv1d(nn.Conv1d):
    """``nn.Conv1d`` padded on the left only, so output t depends on inputs ≤ t; same length out."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_pad, 0)))


class GatedResidualLayer(nn.Module):
    """dilated causal conv → tanh(filter)·sigmoid(gate) → 1×1 to the residual path and to the skip path."""

    def __init__(self, channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.conv = CausalConv1d(channels, 2 * channels, kernel_size, dilation)
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        filt, gate = self.conv(x).chunk(2, dim=1)
        z = torch.tanh(filt) * torch.sigmoid(gate)
        return (x + self.residual(z)) * math.sqrt(0.5), self.skip(z)  # sqrt(.5) keeps the variance steady


class WaveNetStack(nn.Module):
    """A causal input conv, then gated residual layers with doubling dilation; returns ReLU(Σ skips)."""

    def __init__(self, in_channels: int, channels: int, layers: int, kernel_size: int):
        super().__init__()
        self.inp = CausalConv1d(in_channels, channels, kernel_size)
        self.layers = nn.ModuleList(GatedResidualLayer(channels, kernel_size, 2**i) for i in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        skips = 0
        for layer in self.layers:
            x, skip = layer(x)
            skips = skips + skip
        return F.relu(skips)


class WaveNetForAudioClassification(GenrePreTrainedModel):
    """WaveNet stacks (causally pooled between) → 1×1 conv → masked mean/max over time → linear."""

    config_class = GenreWaveNetConfig
    main_input_name = "input_values"

    def __init__(self, config: GenreWaveNetConfig):
        super().__init__(config)
        _check_pooling(config.pooling, {"mean", "max", "meanmax"})
        channels, layers = [int(c) for c in config.stack_channels], [int(n) for n in config.stack_layers]
        if not channels or len(layers) != len(channels) or min(layers) < 1:
            raise ValueError(f"stack_layers ({layers}) needs one entry >= 1 per stack ({channels})")
        if config.kernel_size < 2 or config.pool_size < 1:
            raise ValueError("wavenet needs kernel_size >= 2 and pool_size >= 1")
        self.stacks = nn.ModuleList(
            WaveNetStack(c_in, c_out, n, config.kernel_size)
            for c_in, c_out, n in zip([1] + channels[:-1], channels, layers)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(c) if config.stack_norm else nn.Identity() for c in channels)
        self.head_conv = nn.Conv1d(channels[-1], config.head_channels, 1)
        width = config.head_channels * (2 if config.pooling == "meanmax" else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    @property
    def hop_length(self) -> int:
        """Input samples per output step of :meth:`frame_features`."""
        return self.config.pool_size ** (len(self.stacks) - 1)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Xavier for the gated (tanh/sigmoid) and 1×1 convs; the base class for the rest."""
        if isinstance(module, nn.Conv1d):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            super()._init_weights(module)

    def frame_features(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(batch, samples)`` → ``(batch, steps, head_channels)`` and the step mask (None = all real).

        Step ``j`` covers input samples up to ``(j + 1) * hop_length - 1`` and no later one.
        """
        if input_values.dim() == 3 and input_values.shape[1] == 1:
            input_values = input_values[:, 0]
        if input_values.dim() != 2:
            raise ValueError(f"expected input_values of shape (batch, samples), got {tuple(input_values.shape)}")
        mask = attention_mask
        if mask is not None:
            if mask.shape != input_values.shape:
                raise ValueError(f"attention_mask shape {tuple(mask.shape)} does not match input_values "
                                 f"{tuple(input_values.shape)}")
            if bool(mask.all()):
                mask = None
        x = input_values[:, None, :]
        for i, (stack, norm) in enumerate(zip(self.stacks, self.norms)):
            if i:
                x, mask = self._causal_pool(x, mask)
            x = norm(stack(x))
        return F.relu(self.head_conv(x)).transpose(1, 2), mask

    def _causal_pool(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Max over blocks of ``pool_size`` steps (a partial last block too); padded steps never win,
        and padded output steps are zeroed so no extreme value flows on."""
        p = self.config.pool_size
        if p == 1:
            return x, mask
        if mask is not None:
            x = x.masked_fill(mask[:, None, :] == 0, torch.finfo(x.dtype).min)
        x = F.max_pool1d(x, p, p, ceil_mode=True)
        if mask is not None:
            mask = _pool_mask(mask, p)
            x = x * mask[:, None, :].to(x.dtype)
        return x, mask

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        """``input_values``: ``(batch, samples)``; ``attention_mask``: ``(batch, samples)`` (1 = real)."""
        x, mask = self.frame_features(input_values, attention_mask)
        pooled = masked_time_pool(x, mask, self.config.pooling)
        return self._output(self.classifier(self.dropout(pooled)), labels, return_dict)
