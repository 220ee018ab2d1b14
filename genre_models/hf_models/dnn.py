"""Dense network on a window's mean MFCCs (config + model): the cheapest audio model here.

Input is ``MFCCMeanFeatureExtractor``: the 20 ``mfccN_mean`` values of the GTZAN feature table,
computed by the features model's own code and standardised. Two ReLU layers with 50 % dropout, as in
the source. It sees no time structure and no spectral shape beyond the cepstrum, which is why it is
a baseline: it shows what timbre averages alone are worth, at a few microseconds per window on top
of the MFCCs.
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedConfig
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration import REQUIRES
from .modeling import GenrePreTrainedModel


class GenreDNNConfig(PreTrainedConfig):
    """Dense layers over ``(batch, input_size)`` MFCC means.

    Args:
        input_size: MFCC means per window (``MFCCMeanFeatureExtractor.feature_size``).
        hidden_sizes: units of each ReLU layer (two in the source).
        dropout: after each ReLU layer (0.5 in the source).
    """

    model_type = "genre_dnn"
    input_size_field = "input_size"

    input_size: int = 20
    hidden_sizes: list[int] | tuple[int, ...] = (256, 128)
    dropout: float = 0.5
    feature_extractor_type: str = "MFCCMeanFeatureExtractor"
    requires: str = REQUIRES


class DNNForAudioClassification(GenrePreTrainedModel):
    """(linear → ReLU → dropout) per hidden layer → linear."""

    config_class = GenreDNNConfig

    def __init__(self, config: GenreDNNConfig):
        super().__init__(config)
        layers: list[nn.Module] = []
        width = config.input_size
        for units in config.hidden_sizes:
            layers += [nn.Linear(width, int(units)), nn.ReLU(), nn.Dropout(config.dropout)]
            width = int(units)
        self.hidden = nn.Sequential(*layers)
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
        """``input_features``: ``(batch, input_size)``. ``attention_mask`` is accepted and unused
        (a window is one vector of means, so nothing is ever padded)."""
        if input_features.dim() != 2 or input_features.shape[-1] != self.config.input_size:
            raise ValueError(
                f"expected input_features (batch, {self.config.input_size}), got {tuple(input_features.shape)}"
            )
        return self._output(self.classifier(self.hidden(input_features)), labels, return_dict)
