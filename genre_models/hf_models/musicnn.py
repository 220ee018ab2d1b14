"""musicnn (Pons & Serra 2019) in PyTorch, as a transformers model: a music backbone that works offline.

Why: every pretrained audio model transformers could give us lives on the Hugging Face Hub (out of
reach offline), and speech models never heard music. The ``musicnn`` PyPI package (ISC licence)
ships TensorFlow-1 checkpoints trained on the Million Song Dataset and MagnaTagATune; this module
is our own PyTorch implementation of that architecture, and ``finetune/convert_musicnn.py`` turns
the checkpoints into folders this module loads (``genre_models/pretrained/msd-musicnn``).

Architecture (the package's ``build_musicnn``; BatchNorm always *after* the ReLU, as there):

* input: a 3-s patch of 187 frames × 96 mel bands, ``log10(10000·mel + 1)`` at 16 kHz;
* front end: input BatchNorm; *timbral* convs spanning 7 frames × 38 / 67 bands (204 filters each,
  time zero-padded by 3, valid over frequency) and *temporal* convs spanning 128 / 64 / 32 frames ×
  1 band (51 filters each, ``same`` padding); each ReLU → BN → max over frequency → 561 channels;
* mid end: three 1-D convs over time (kernel 7, 64 filters, ReLU → BN), the 2nd and 3rd residual;
  the front end and the three outputs are concatenated (dense connection) → 753 channels;
* back end: max and mean over time (interleaved per channel, as TF's flatten lays them out:
  1506 values) → BN → dropout → dense 200 + ReLU → BN (the *penultimate* embedding) → dropout →
  dense to the tags (sigmoid: multi-label).

A long input is cut into consecutive non-overlapping ``patch_frames`` patches (the package's
default), each scored alone; a clip's logits are the mean of its patches' logits.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import librosa
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration import REQUIRES
from .feature_extraction import _FramedAudioFeatureExtractor
from .modeling import init_batch_norm

# The package's configuration.MSD_LABELS / MTT_LABELS, in the order of the checkpoints' outputs.
MSD_TAGS = [
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening",
    "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House",
    "happy",
]
MTT_TAGS = [
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano", "ambient",
    "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals", "no vocals",
    "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
]
PATCH_FRAMES = 187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1, as the package computes


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
class MusiCNNConfig(PreTrainedConfig):
    """musicnn's sizes (defaults: ``MSD_musicnn`` / ``MTT_musicnn``; ``MSD_musicnn_big`` is 512 / 500).

    Args:
        num_mel_bins: mel bands of the input (96); the timbral kernels span 40 % and 70 % of them.
        timbral_filters, temporal_filters: front-end filters per conv (``int(1.6·128)``, ``int(1.6·32)``).
        temporal_kernels: time spans of the temporal convs (frames).
        midend_filters: channels of the three mid-end convs.
        backend_units: width of the penultimate dense layer (the embedding).
        patch_frames: frames per patch (187 ≈ 3 s); None scores the whole input as one patch.
        dropout: before both dense layers (0.5 in the original training).
        classifier_input: what the output layer reads: ``"penultimate"`` (the 200-d embedding, as the
            package's taggers do) or ``"pooled"`` (the 1506 max/mean-pooled mid-end values before the
            dense layer; a genre head there keeps more of what the backbone heard).
        tag_labels: a genre model may keep the tagger's output layer beside its own (these are its
            tags, e.g. the 50 MSD tags): one pass then gives the genre and the tags (``tagger``;
            ``output_hidden_states=True`` returns the mean tag logits third).
        batch_norm_eps: TensorFlow's default (1e-3), which the checkpoints were trained with.
        problem_type: ``multi_label_classification`` for tags (sigmoid, BCE), else softmax/cross-entropy.
    """

    model_type = "genre_musicnn"

    num_mel_bins: int = 96
    timbral_filters: int = 204
    temporal_filters: int = 51
    temporal_kernels: list[int] | tuple[int, ...] = (128, 64, 32)
    midend_filters: int = 64
    backend_units: int = 200
    patch_frames: int | None = PATCH_FRAMES
    dropout: float = 0.5
    classifier_input: str = "penultimate"
    tag_labels: list[str] | None = None
    batch_norm_eps: float = 1e-3
    feature_extractor_type: str = "MusiCNNFeatureExtractor"
    requires: str = REQUIRES


# ---------------------------------------------------------------------------------------------
# feature extractor
# ---------------------------------------------------------------------------------------------
class MusiCNNFeatureExtractor(_FramedAudioFeatureExtractor):
    """musicnn's input: ``log10(10000·mel + 1)`` of a 16-kHz clip, ``(frames, 96)`` per example.

    Reproduces the package's ``extractor.batch_data``: ``librosa.feature.melspectrogram`` (power 2,
    Slaney mel, n_fft 512, hop 256, centred frames), the mel power rounded to float16 and the log
    taken in float16. Two deliberate choices, both measured by ``finetune/convert_musicnn.py``:

    * ``pad_mode="reflect"``: the STFT edge padding of librosa < 0.10, which the checkpoints were
      trained with (librosa 0.11 pads with zeros; only the first and last frame differ).
    * float16 overflow: ``10000·mel`` overflows float16 (→ ``inf``) where mel power > 6.55, which loud
      music reaches in ~1 % of bins; those bins are computed in float32 instead (4.8–7.0 rather than inf).
      Every other value equals the package's bit for bit.

    Clips shorter than one patch are repeated to fill it (the training's ``repeat-pad``).
    Batched ``input_features``: ``(batch, frames, 96)``; ``attention_mask``: ``(batch, frames)``.
    Audio must already be at 16 kHz (``genre_models.audio.load_audio(path, sr=16000)``).
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        sampling_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int = 256,
        n_mels: int = 96,
        pad_mode: str = "reflect",
        patch_frames: int | None = PATCH_FRAMES,
        chunk_seconds: float | None = None,
        crop_position: str = "center",
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs: Any,
    ):
        kwargs.pop("feature_size", None)  # derived from n_mels; present in saved configs
        self.n_fft = int(n_fft)
        self.n_mels = int(n_mels)
        self.pad_mode = pad_mode
        self.patch_frames = None if patch_frames is None else int(patch_frames)
        super().__init__(
            feature_size=self.n_mels,
            sampling_rate=int(sampling_rate),
            padding_value=float(padding_value),  # log10(1) = 0: padding looks like silence
            hop_length=hop_length,
            chunk_seconds=chunk_seconds,
            crop_position=crop_position,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )

    def mel_power(self, clip: np.ndarray) -> np.ndarray:
        """``(frames, n_mels)`` mel power, exactly as the package computes it (librosa)."""
        return librosa.feature.melspectrogram(
            y=clip, sr=self.sampling_rate, hop_length=self.hop_length, n_fft=self.n_fft, n_mels=self.n_mels,
            pad_mode=self.pad_mode,
        ).T

    def _features(self, clip: np.ndarray) -> np.ndarray:
        if self.patch_frames and self.num_frames(clip.size) < self.patch_frames:
            clip = np.resize(clip, (self.patch_frames - 1) * self.hop_length + 1)  # repeat-pad to one patch
        return log_compress(self.mel_power(clip))


def log_compress(mel_power: np.ndarray) -> np.ndarray:
    """``log10(10000·x + 1)`` in float16 as the package does, with float32 where float16 overflows."""
    half = mel_power.astype(np.float16)
    with np.errstate(over="ignore"):
        out = np.log10(10000 * half + 1).astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        out[bad] = np.log10(10000 * half[bad].astype(np.float32) + 1)
    return out


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
class _ConvReluBN(nn.Module):
    """conv → ReLU → BatchNorm: musicnn's order (BN after the activation)."""

    def __init__(self, conv: nn.Module, channels: int, eps: float):
        super().__init__()
        self.conv = conv
        self.bn = (nn.BatchNorm2d if isinstance(conv, nn.Conv2d) else nn.BatchNorm1d)(channels, eps=eps, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))

    def forward_max_over_freq(self, x: torch.Tensor) -> torch.Tensor:
        """``max over frequency of bn(relu(conv(x)))`` → ``(n, channels, time)``.

        In eval mode BN is a per-channel affine map ``a·v + b``, monotone, so the max commutes with
        it (taking the min where ``a < 0``) and with the ReLU: reducing the conv output first skips
        three passes over the largest tensor of the network (~3x faster on CPU, same values).
        Training mode needs BN's batch statistics over every bin, so it takes the plain path.
        """
        if self.training:
            return self(x).amax(dim=3)
        low, high = self.conv(x).aminmax(dim=3)
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        picked = torch.where((scale >= 0)[None, :, None], high, low)
        return F.batch_norm(F.relu(picked), bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


class MusiCNNPreTrainedModel(PreTrainedModel):
    """Common init for the backbone and the classifier."""

    config_class = MusiCNNConfig
    main_input_name = "input_features"
    input_modalities = ("audio",)
    base_model_prefix = "musicnn"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Glorot-uniform weights and zero biases (tf.layers' defaults); BN at identity. Through
        ``transformers.initialization`` so weights that ``from_pretrained`` loads are kept."""
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init_batch_norm(module)


class MusiCNNModel(MusiCNNPreTrainedModel):
    """The backbone: one patch ``(n, frames, mels)`` → ``(penultimate (n, 200), pooled (n, 1506))``."""

    def __init__(self, config: MusiCNNConfig):
        super().__init__(config)
        eps, mels = config.batch_norm_eps, config.num_mel_bins
        self.input_bn = nn.BatchNorm2d(1, eps=eps, momentum=0.01)
        self.timbral = nn.ModuleList(
            _ConvReluBN(nn.Conv2d(1, config.timbral_filters, (7, int(share * mels))), config.timbral_filters, eps)
            for share in (0.4, 0.7)
        )
        self.temporal = nn.ModuleList(
            _ConvReluBN(nn.Conv2d(1, config.temporal_filters, (int(k), 1)), config.temporal_filters, eps)
            for k in config.temporal_kernels
        )
        front = 2 * config.timbral_filters + len(config.temporal_kernels) * config.temporal_filters
        self.midend = nn.ModuleList(
            _ConvReluBN(nn.Conv1d(c_in, config.midend_filters, 7), config.midend_filters, eps)
            for c_in in (front, config.midend_filters, config.midend_filters)
        )
        self.pooled_size = 2 * (front + 3 * config.midend_filters)
        self.pool_bn = nn.BatchNorm1d(self.pooled_size, eps=eps, momentum=0.01)
        self.dropout = nn.Dropout(config.dropout)
        self.dense = nn.Linear(self.pooled_size, config.backend_units)
        self.dense_bn = nn.BatchNorm1d(config.backend_units, eps=eps, momentum=0.01)
        self.post_init()

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``patches``: ``(n, frames, mels)`` log-mel patches. Returns the penultimate embedding
        ``(n, backend_units)`` (BN'd, as the package's ``penultimate``) and the pooled mid-end
        ``(n, pooled_size)`` (max/mean interleaved per channel)."""
        if patches.dim() != 3 or patches.shape[-1] != self.config.num_mel_bins:
            raise ValueError(f"expected (patches, frames, {self.config.num_mel_bins}), got {tuple(patches.shape)}")
        x = self.input_bn(patches[:, None])  # (n, 1, time, freq)
        padded = F.pad(x, (0, 0, 3, 3))  # time only: 'same' in time, 'valid' in frequency
        feats = [block.forward_max_over_freq(padded) for block in self.timbral]  # (n, c, time)
        for block in self.temporal:
            k = block.conv.kernel_size[0]
            feats.append(block.forward_max_over_freq(F.pad(x, (0, 0, (k - 1) // 2, k // 2))))  # TF 'same' split
        front = torch.cat(feats, dim=1)  # (n, 561, time)
        mid1 = self.midend[0](F.pad(front, (3, 3)))
        mid2 = self.midend[1](F.pad(mid1, (3, 3))) + mid1
        mid3 = self.midend[2](F.pad(mid2, (3, 3))) + mid2
        features = torch.cat([front, mid1, mid2, mid3], dim=1)  # (n, 753, time)
        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        hidden = self.dense_bn(F.relu(self.dense(self.dropout(self.pool_bn(pooled)))))
        return hidden, pooled


class MusiCNNForAudioClassification(MusiCNNPreTrainedModel):
    """musicnn with its output layer: 50 tags (sigmoid) from the checkpoints, or a new head (genres).

    ``forward`` takes the extractor's ``input_features`` ``(batch, frames, mels)`` and optional
    ``attention_mask`` ``(batch, frames)``; each example is cut into ``patch_frames`` patches
    (those that lie in its real frames; at least one), and its logits are the mean of its patches'.
    ``labels``: class ids (cross-entropy) or, for ``multi_label_classification``, 0/1 vectors (BCE).
    ``output_hidden_states=True`` adds ``hidden_states = (pooled, penultimate)`` (and, with a kept
    ``tagger``, the mean tag logits), each averaged
    over the example's patches: the embeddings a genre head can be trained on (:meth:`embed`).
    """

    def __init__(self, config: MusiCNNConfig):
        super().__init__(config)
        self.musicnn = MusiCNNModel(config)
        self.dropout = nn.Dropout(config.dropout)
        if config.classifier_input not in ("penultimate", "pooled"):
            raise ValueError(f"classifier_input must be 'penultimate' or 'pooled', got {config.classifier_input!r}")
        width = config.backend_units if config.classifier_input == "penultimate" else self.musicnn.pooled_size
        self.classifier = nn.Linear(width, config.num_labels)
        self.tagger = nn.Linear(config.backend_units, len(config.tag_labels)) if config.tag_labels else None
        self.post_init()

    def _classifier_input(self, hidden: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        return hidden if self.config.classifier_input == "penultimate" else pooled

    def _patches(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch·P, patch, mels)`` patches and a ``(batch, P)`` weight (1 = a real patch)."""
        if input_features.dim() != 3:
            raise ValueError(f"expected input_features (batch, frames, mels), got {tuple(input_features.shape)}")
        batch, frames, mels = input_features.shape
        size = self.config.patch_frames or frames
        if frames < size:  # shorter than one patch: repeat, as the training's repeat-pad did
            reps = -(-size // frames)
            input_features = input_features.repeat(1, reps, 1)[:, :size]
            if attention_mask is not None:
                attention_mask = attention_mask.repeat(1, reps)[:, :size]
            frames = size
        n = frames // size
        patches = input_features[:, : n * size].reshape(batch * n, size, mels)
        if attention_mask is None:
            weight = input_features.new_ones(batch, n)
        else:
            real = attention_mask.to(input_features.device).sum(dim=1)  # real frames per example
            weight = (torch.arange(n, device=real.device)[None, :] < (real // size).clamp(min=1)[:, None])
            weight = weight.to(input_features.dtype)
        return patches, weight

    @staticmethod
    def _mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Weighted mean over patches of ``(batch·P, d)`` → ``(batch, d)``."""
        batch, n = weight.shape
        values = values.reshape(batch, n, -1)
        return (values * weight[..., None]).sum(dim=1) / weight.sum(dim=1, keepdim=True)

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
        hidden, pooled = self.musicnn(patches)
        logits = self._mean(self.classifier(self.dropout(self._classifier_input(hidden, pooled))), weight)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            if self.config.problem_type == "multi_label_classification":
                loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
            else:
                loss = F.cross_entropy(logits.view(-1, self.config.num_labels), labels.view(-1))
        hidden_states = None
        if output_hidden_states:
            hidden_states = (self._mean(pooled, weight), self._mean(hidden, weight))
            if self.tagger is not None:
                hidden_states += (self._mean(self.tagger(hidden), weight),)
        if return_dict is False or (return_dict is None and not self.config.return_dict):
            out = (logits,) + ((hidden_states,) if hidden_states is not None else ())
            return (loss, *out) if loss is not None else out
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)

    @torch.inference_mode()
    def embed(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None,
              layer: str = "penultimate") -> torch.Tensor:
        """Per-example embedding (mean over its patches): ``"penultimate"`` (200) or ``"pooled"`` (1506)."""
        if layer not in ("penultimate", "pooled"):
            raise ValueError(f"layer must be 'penultimate' or 'pooled', got {layer!r}")
        patches, weight = self._patches(input_features, attention_mask)
        hidden, pooled = self.musicnn(patches)
        return self._mean(hidden if layer == "penultimate" else pooled, weight)

    @torch.inference_mode()
    def patch_logits(self, patches: torch.Tensor) -> torch.Tensor:
        """Logits of each ``(n, patch_frames, mels)`` patch on its own (the package's taggram rows)."""
        return self.classifier(self._classifier_input(*self.musicnn(patches)))


def register() -> None:
    """Make ``genre_musicnn`` folders load through the Auto classes (idempotent)."""
    AutoConfig.register(MusiCNNConfig.model_type, MusiCNNConfig, exist_ok=True)
    AutoModel.register(MusiCNNConfig, MusiCNNModel, exist_ok=True)
    AutoModelForAudioClassification.register(MusiCNNConfig, MusiCNNForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(MusiCNNConfig, MusiCNNFeatureExtractor, exist_ok=True)


register()


def musicnn_tags_config(tags: Sequence[str], **overrides: Any) -> MusiCNNConfig:
    """A tagging config (multi-label) with ``tags`` as ``id2label``; used by the converter and tests."""
    tags = list(tags)
    return MusiCNNConfig(
        id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)},
        problem_type="multi_label_classification", **overrides,
    )


__all__ = [
    "MSD_TAGS", "MTT_TAGS", "MusiCNNConfig", "MusiCNNFeatureExtractor", "MusiCNNForAudioClassification",
    "MusiCNNModel", "MusiCNNPreTrainedModel", "PATCH_FRAMES", "log_compress", "musicnn_tags_config", "register",
]
