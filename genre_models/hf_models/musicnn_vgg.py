"""The musicnn package's *vgg* taggers (``MSD_vgg``, ``MTT_vgg``) in PyTorch, as transformers models.

Why: the ``musicnn`` PyPI package (ISC licence, Pons & Serra 2019) ships, beside its musicnn
checkpoints (:mod:`genre_models.hf_models.musicnn`), a plain computer-vision-style baseline trained on
the same data and the same input: a second, differently built backbone that works offline, whose
embeddings a genre head can be trained on. ``finetune/convert_musicnn.py`` turns the TensorFlow-1
checkpoints into folders this module loads (``genre_models/pretrained/msd-vgg``, ``mtt-vgg``).

Architecture (the package's ``models.vgg`` with 128 filters; BatchNorm *after* the ReLU, as there):

* input: the musicnn input exactly (same ``extractor.batch_data``: a 3-s patch of 187 frames × 96
  mel bands, ``log10(10000·mel + 1)`` at 16 kHz), so :class:`MusiCNNFeatureExtractor` is reused;
* input BatchNorm, then five blocks of 3×3 conv (``same``) → ReLU → BN → max-pool (``valid``),
  with dropout 0.25 before blocks 2-5. Pools, (time, freq) size / stride: (4, 1) / (2, 2) — a
  frequency window of 1 with stride 2, i.e. every other mel band —, then (2, 2) / (2, 2) three times,
  then (4, 4) / (4, 4). On a 187 × 96 patch the maps are 92×48, 46×24, 23×12, 11×6 and 2×1;
* ``pool5`` flattened as TensorFlow lays it out (time, frequency, channel: 2 × 1 × 128 = 256) →
  dropout 0.5 → dense to the tags (sigmoid: multi-label). There is no other dense layer, so
  ``pool5`` is the *penultimate* embedding.

The last pool reads only time steps 0-7 of the 11 and frequency rows 0-3 of the 6 of the fifth
block's map (``valid`` pooling drops the rest: the top third of the mel range at that depth). The
``pooled`` embedding is therefore the max and the mean of that map over *all* its positions (128 +
128): it is not in the package, costs nothing extra, and is what a genre head may prefer.

The input must be exactly ``patch_frames`` long per patch (the dense layer's width depends on it):
a long input is cut into consecutive non-overlapping patches, each scored alone, and a clip's
logits are the mean of its patches' logits, as in :mod:`~genre_models.hf_models.musicnn`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    PreTrainedConfig,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration import REQUIRES
from .musicnn import (
    PATCH_FRAMES,
    MusiCNNFeatureExtractor,
    MusiCNNForAudioClassification,
    MusiCNNPreTrainedModel,
    _ConvReluBN,
)

# (time, freq) max-pool sizes and strides after each conv block (models.vgg)
POOLS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)),
)
EMBEDDINGS = ("penultimate", "pooled")


class MusiCNNVGGConfig(PreTrainedConfig):
    """The package's vgg sizes (defaults: ``MSD_vgg`` / ``MTT_vgg``).

    Args:
        num_mel_bins: mel bands of the input (96).
        num_filters: channels of every conv block (128 in both checkpoints).
        patch_frames: frames per patch (187 ≈ 3 s); fixed, since ``pool5`` is flattened into the dense layer.
        conv_dropout: before conv blocks 2-5 (0.25 in the original training).
        dropout: before the output layer (0.5).
        classifier_input: what the output layer reads: ``"penultimate"`` (the flattened ``pool5``,
            256 values, as the package's taggers do) or ``"pooled"`` (max and mean of the fifth
            block's map over all its positions, 256 values).
        tag_labels: a genre model may keep the tagger's output layer beside its own (``tagger``;
            ``output_hidden_states=True`` then returns the mean tag logits third).
        batch_norm_eps: TensorFlow's default (1e-3), which the checkpoints were trained with.
        problem_type: ``multi_label_classification`` for tags (sigmoid, BCE), else softmax/cross-entropy.
    """

    model_type = "genre_musicnn_vgg"

    num_mel_bins: int = 96
    num_filters: int = 128
    patch_frames: int = PATCH_FRAMES
    conv_dropout: float = 0.25
    dropout: float = 0.5
    classifier_input: str = "penultimate"
    tag_labels: list[str] | None = None
    batch_norm_eps: float = 1e-3
    feature_extractor_type: str = "MusiCNNFeatureExtractor"
    requires: str = REQUIRES


def pool5_grid(patch_frames: int, num_mel_bins: int) -> tuple[int, int]:
    """(time, freq) size of the last pool's output for a patch (``valid`` pooling: floor)."""
    time, freq = int(patch_frames), int(num_mel_bins)
    for (kt, kf), (st, sf) in POOLS:
        time, freq = (time - kt) // st + 1, (freq - kf) // sf + 1
        if time < 1 or freq < 1:
            raise ValueError(f"a {patch_frames} x {num_mel_bins} patch is too small for the vgg's five pools")
    return time, freq


class MusiCNNVGGPreTrainedModel(MusiCNNPreTrainedModel):
    """Common init (musicnn's: Glorot-uniform convs and dense layers, BN at identity)."""

    config_class = MusiCNNVGGConfig
    base_model_prefix = "vgg"


class MusiCNNVGGModel(MusiCNNVGGPreTrainedModel):
    """The backbone: patches ``(n, frames, mels)`` → ``(penultimate (n, 256), pooled (n, 256))``."""

    def __init__(self, config: MusiCNNVGGConfig):
        super().__init__(config)
        eps, width = config.batch_norm_eps, config.num_filters
        self.input_bn = nn.BatchNorm2d(1, eps=eps, momentum=0.01)
        self.blocks = nn.ModuleList(
            _ConvReluBN(nn.Conv2d(c_in, width, 3, padding=1), width, eps) for c_in in (1, width, width, width, width)
        )
        self.pools = nn.ModuleList(nn.MaxPool2d(size, stride) for size, stride in POOLS)
        self.conv_dropout = nn.Dropout(config.conv_dropout)
        time, freq = pool5_grid(config.patch_frames, config.num_mel_bins)
        self.penultimate_size = width * time * freq
        self.pooled_size = 2 * width
        self.post_init()

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``patches``: ``(n, patch_frames, mels)`` log-mel patches. Returns the flattened ``pool5``
        ``(n, penultimate_size)`` (time, frequency, channel order, as TensorFlow's flatten) and the
        max and mean of the fifth block's map ``(n, 2·num_filters)`` (all maxima, then all means)."""
        want = (self.config.patch_frames, self.config.num_mel_bins)
        if patches.dim() != 3 or tuple(patches.shape[1:]) != want:
            raise ValueError(f"expected (patches, {want[0]}, {want[1]}), got {tuple(patches.shape)}")
        x = self.input_bn(patches[:, None])  # (n, 1, time, freq)
        for i, (block, pool) in enumerate(zip(self.blocks, self.pools)):
            x = block(self.conv_dropout(x) if i else x)
            if i == len(self.blocks) - 1:
                pooled = torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1)
            x = pool(x)
        return x.permute(0, 2, 3, 1).flatten(1), pooled


class MusiCNNVGGForAudioClassification(MusiCNNVGGPreTrainedModel):
    """The vgg with its output layer: 50 tags (sigmoid) from the checkpoints, or a new head (genres).

    The same interface as :class:`~genre_models.hf_models.musicnn.MusiCNNForAudioClassification`
    (and the same patching code): ``forward`` takes the extractor's ``input_features``
    ``(batch, frames, mels)`` and optional ``attention_mask``; each example is cut into
    ``patch_frames`` patches (those in its real frames; at least one; a shorter input is repeated)
    and its logits are the mean of its patches'. ``output_hidden_states=True`` adds
    ``hidden_states = (pooled, penultimate)`` (and, with a kept ``tagger``, the mean tag logits),
    each averaged over the example's patches (:meth:`embed`).
    """

    # musicnn's patching and masked mean, shared rather than copied (they read only config.patch_frames)
    _patches = MusiCNNForAudioClassification._patches
    _mean = staticmethod(MusiCNNForAudioClassification._mean)

    def __init__(self, config: MusiCNNVGGConfig):
        super().__init__(config)
        self.vgg = MusiCNNVGGModel(config)
        self.dropout = nn.Dropout(config.dropout)
        if config.classifier_input not in EMBEDDINGS:
            raise ValueError(f"classifier_input must be one of {EMBEDDINGS}, got {config.classifier_input!r}")
        width = self.vgg.penultimate_size if config.classifier_input == "penultimate" else self.vgg.pooled_size
        self.classifier = nn.Linear(width, config.num_labels)
        self.tagger = nn.Linear(self.vgg.penultimate_size, len(config.tag_labels)) if config.tag_labels else None
        self.post_init()

    def _classifier_input(self, penultimate: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        return penultimate if self.config.classifier_input == "penultimate" else pooled

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        patches, weight = self._patches(input_features, attention_mask)
        penultimate, pooled = self.vgg(patches)
        logits = self._mean(self.classifier(self.dropout(self._classifier_input(penultimate, pooled))), weight)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            if self.config.problem_type == "multi_label_classification":
                loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
            else:
                loss = F.cross_entropy(logits.view(-1, self.config.num_labels), labels.view(-1))
        hidden_states = None
        if output_hidden_states:
            hidden_states = (self._mean(pooled, weight), self._mean(penultimate, weight))
            if self.tagger is not None:
                hidden_states += (self._mean(self.tagger(penultimate), weight),)
        if return_dict is False or (return_dict is None and not self.config.return_dict):
            out = (logits,) + ((hidden_states,) if hidden_states is not None else ())
            return (loss, *out) if loss is not None else out
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)

    @torch.inference_mode()
    def embed(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None,
              layer: str = "penultimate") -> torch.Tensor:
        """Per-example embedding (mean over its patches): ``"penultimate"`` (flattened ``pool5``, 256)
        or ``"pooled"`` (max and mean of the fifth block over all positions, 256)."""
        if layer not in EMBEDDINGS:
            raise ValueError(f"layer must be one of {EMBEDDINGS}, got {layer!r}")
        patches, weight = self._patches(input_features, attention_mask)
        penultimate, pooled = self.vgg(patches)
        return self._mean(penultimate if layer == "penultimate" else pooled, weight)

    @torch.inference_mode()
    def patch_logits(self, patches: torch.Tensor) -> torch.Tensor:
        """Logits of each ``(n, patch_frames, mels)`` patch on its own (the package's taggram rows)."""
        return self.classifier(self._classifier_input(*self.vgg(patches)))


def register() -> None:
    """Make ``genre_musicnn_vgg`` folders load through the Auto classes (idempotent); the input is
    musicnn's, so the feature extractor is :class:`MusiCNNFeatureExtractor`."""
    AutoConfig.register(MusiCNNVGGConfig.model_type, MusiCNNVGGConfig, exist_ok=True)
    AutoModel.register(MusiCNNVGGConfig, MusiCNNVGGModel, exist_ok=True)
    AutoModelForAudioClassification.register(MusiCNNVGGConfig, MusiCNNVGGForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(MusiCNNVGGConfig, MusiCNNFeatureExtractor, exist_ok=True)


register()


def vgg_tags_config(tags: Sequence[str], **overrides: Any) -> MusiCNNVGGConfig:
    """A tagging config (multi-label) with ``tags`` as ``id2label``; used by the converter and tests."""
    tags = list(tags)
    return MusiCNNVGGConfig(
        id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)},
        problem_type="multi_label_classification", **overrides,
    )


__all__ = [
    "EMBEDDINGS", "MusiCNNVGGConfig", "MusiCNNVGGForAudioClassification", "MusiCNNVGGModel",
    "MusiCNNVGGPreTrainedModel", "POOLS", "pool5_grid", "register", "vgg_tags_config",
]
