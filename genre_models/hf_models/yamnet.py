"""YAMNet (Plakal & Ellis, Google; Apache-2.0) in PyTorch, as a transformers model: an AudioSet
event classifier (521 classes: speech, music, ~60 music genres, instruments, noise ...) whose
1024-d embedding is a general-purpose audio backbone that works offline.

Why: the only copy of YAMNet available offline is a TensorFlow Lite file (int8 weights, waveform in,
scores out); the app and the tests must never need TFLite. ``finetune/convert_yamnet.py`` reads every
tensor of that file and writes ``genre_models/pretrained/yamnet-audioset``, which this module loads.

What the TFLite graph really computes (read out of the file, op by op), and what this port does:

* **log-mel** (:class:`YAMNetFeatureExtractor`): 16-kHz samples → 25-ms frames (400 samples) every
  10 ms (160), no centring; periodic Hann window; each frame zero-padded to 512 (56 zeros each side);
  ``|DFT|`` by two matrix products with int8 cos/sin matrices (``round(127·cos)``, scale 1/127);
  64 HTK mel bands 125-7500 Hz (``tf.signal.linear_to_mel_weight_matrix``, int8 with scale
  ``max/127``); ``log(mel + 0.001)`` (glibc's ``logf``, reproduced). Both products are TFLite *hybrid*
  fully-connected ops, which quantise their float input to int8 **per frame** on the fly (symmetric:
  ``max|x|/127`` per row) and dequantise the int32 sums; the extractor emulates that exactly
  (``quantized_stft=True``; ``False`` gives the original float log-mel of the YAMNet paper code).
* **network** (:class:`YAMNetModel`): a 96-frame patch (0.96 s) as a ``(96, 64)`` image → a float
  3×3 conv (stride 2, 32 filters) → 13 depthwise-separable blocks (3×3 depthwise + ReLU, 1×1
  pointwise + ReLU; strides 1,2,1,2,1,2,1,1,1,1,1,2,1; 64 … 1024 filters; TensorFlow ``same`` padding,
  which pads only after the data when the stride is 2) → global average pool = the **1024-d
  embedding** (not an output of the file; exposed here). BatchNorm is folded into every conv in the
  file, so the port has convs with biases and no BatchNorm.
* **weights**: the 1×1 convs, the depthwise convs of YAMNet's layers 4-14 and the classifier are int8
  with one scale per tensor; they are stored that way (``weight`` holds the int8 values, ``weight_scale``
  the scale, per output channel), and ``model.train()`` folds the scales into plain float weights (so
  Adam sees ordinary weights; fine-tuned checkpoints are float32; a folded model computes the same
  network, no longer bit for bit like TFLite).
* **activations** (``config.emulation``): the 1×1 convs and the classifier are hybrid ops too: their
  input is quantised to int8 per patch (symmetric, ``max|x|/127``). The port does the same
  (straight-through gradients in training). Because every such rounding turns a last-bit float
  difference into a whole int8 step, the float ops must also be summed in the order the reference
  runtime (XNNPACK, TFLite's default CPU delegate) uses, fused multiply-adds included, or the
  difference grows layer by layer to a few 1e-2 in the scores: ``emulation="exact"`` does that (and
  on a CPU gives the same numbers on any machine), ``"int8"`` keeps only the quantisation, ``"none"`` is
  a plain float network; the last two are faster.
* **classifier** (:class:`YAMNetForAudioClassification`): dense 1024 → 521 + sigmoid (multi-label),
  or a new softmax head. A long input is cut into 96-frame patches every 48 frames (0.96 s every
  0.48 s, YAMNet's own framing); an example's logits are the mean of its real patches' logits.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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

LOG_OFFSET = 0.001
SILENCE = math.log(LOG_OFFSET)  # log-mel of digital silence: the padding value
# (stride, filters) of YAMNet's 14 layers (yamnet.py's _YAMNET_LAYER_DEFS): a full conv, then separable convs
LAYER_STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
LAYER_FILTERS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
EMULATIONS = ("exact", "int8", "none")  # YAMNetConfig.emulation


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
class YAMNetConfig(PreTrainedConfig):
    """YAMNet's sizes (defaults: the AudioSet model).

    Args:
        num_mel_bins: mel bands of the input (64).
        patch_frames, patch_hop_frames: 96-frame patches (0.96 s) every 48 frames (0.48 s).
        layer_strides, layer_filters: the 14 layers (a 3×3 conv, then 13 depthwise-separable blocks).
        emulation: how closely to follow the TFLite file's arithmetic (see :data:`EMULATIONS`):
            ``"exact"`` (the converted folder's: int8 activations where TFLite quantises them, and
            XNNPACK's summation order in the float convs and the pooling; needed to equal the file,
            whose int8 roundings make tiny float differences grow layer by layer), ``"int8"`` (int8
            activations, PyTorch's own float convs: faster, same kind of quantisation noise but not the
            file's own), ``"none"`` (a plain float network). Training always runs as ``"int8"``
            (straight-through gradients) or ``"none"``.
        silence_value: log-mel of digital silence (``log(0.001)``); pads inputs shorter than a patch.
        classifier_dropout: before the classifier (0: YAMNet has none).
        problem_type: ``multi_label_classification`` for AudioSet (sigmoid, BCE), else softmax.
    """

    model_type = "genre_yamnet"
    input_size_field = "num_mel_bins"

    num_mel_bins: int = 64
    patch_frames: int = 96
    patch_hop_frames: int = 48
    layer_strides: list[int] | tuple[int, ...] = LAYER_STRIDES
    layer_filters: list[int] | tuple[int, ...] = LAYER_FILTERS
    emulation: str = "exact"
    silence_value: float = SILENCE
    classifier_dropout: float = 0.0
    feature_extractor_type: str = "YAMNetFeatureExtractor"
    requires: str = REQUIRES


# ---------------------------------------------------------------------------------------------
# TFLite's on-the-fly int8 quantisation (numpy, for the extractor)
# ---------------------------------------------------------------------------------------------
def round_half_away(x: np.ndarray) -> np.ndarray:
    """C's ``round`` (TFLite's ``TfLiteRound``): halves go away from zero (numpy's go to even)."""
    a = np.abs(x).astype(np.float64)
    return np.copysign(np.floor(a + 0.5), x)


def symmetric_quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's ``SymmetricQuantizeFloats`` on each row of ``x`` (float32, ``(rows, n)``): the int8
    values (as float32, in [-127, 127]) and the scales ``max|row| / 127`` (float32); an all-zero row
    gets scale 1."""
    rng = np.abs(x).max(axis=1).astype(np.float32)
    flat = rng == 0
    rng = np.where(flat, np.float32(1.0), rng).astype(np.float32)
    inv = np.float32(127.0) / rng
    q = np.clip(round_half_away(x.astype(np.float32) * inv[:, None]), -127, 127).astype(np.float32)
    return q, np.where(flat, np.float32(1.0), rng / np.float32(127.0)).astype(np.float32)


def hybrid_matmul(x: np.ndarray, weight_int8: np.ndarray, weight_scale: float, bias: float = 0.0) -> np.ndarray:
    """A TFLite hybrid FULLY_CONNECTED: ``x`` (float32 ``(rows, n)``) quantised per row, times the int8
    ``weight_int8`` (``(n, out)``, integer-valued float32), dequantised: ``bias + dot · (s_x · s_w)``.

    The int32 dot products are exact in float32 here (|sum| ≤ n·127² < 2**24 for n ≤ 1040)."""
    q, scale = symmetric_quantize_rows(x)
    dot = q @ weight_int8
    return (np.float32(bias) + dot * (scale * np.float32(weight_scale))[:, None]).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# the log-mel front end
# ---------------------------------------------------------------------------------------------
def hertz_to_mel(f: np.ndarray) -> np.ndarray:
    """HTK mel scale, as ``tf.signal`` computes it (float32)."""
    f = np.asarray(f, dtype=np.float32)
    return np.float32(1127.0) * np.log(np.float32(1.0) + f / np.float32(700.0))


def tf_mel_matrix(n_mels: int, n_bins: int, sr: int, fmin: float, fmax: float) -> np.ndarray:
    """``tf.signal.linear_to_mel_weight_matrix`` in float32: ``(n_bins, n_mels)`` triangles on the HTK
    mel scale, DC bin excluded, unnormalised (peak 1)."""
    f32 = np.float32
    bins_mel = hertz_to_mel(np.linspace(0.0, sr / 2.0, n_bins).astype(f32)[1:])[:, None]
    edges = np.linspace(hertz_to_mel(f32(fmin)), hertz_to_mel(f32(fmax)), n_mels + 2).astype(f32)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    return np.pad(np.maximum(f32(0.0), np.minimum(rising, falling)), [(1, 0), (0, 0)]).astype(f32)


def symmetric_int8(w: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """TFLite's per-tensor weight quantisation: ``round(w · 127 / max|w|)`` and the scale ``max|w| / 127``."""
    rng = np.float32(np.abs(w).max())
    return round_half_away(w * (np.float32(127.0) / rng)).astype(np.float32), np.float32(rng / np.float32(127.0))


# glibc's (and musl's) logf: Arm optimized-routines, Copyright (c) 2017-2018, Arm Limited, MIT licence.
# TFLite's LOG op calls it; numpy's float32 log differs from it in the last bit on ~20 % of inputs, and
# a correctly rounded log on ~0.6 %, either of which the network's int8 roundings would amplify.
_LOGF_TABLE = np.array([[float.fromhex(invc), float.fromhex(logc)] for invc, logc in (  # 1/c, log(c)
    ("0x1.661ec79f8f3bep+0", "-0x1.57bf7808caadep-2"), ("0x1.571ed4aaf883dp+0", "-0x1.2bef0a7c06ddbp-2"),
    ("0x1.49539f0f010bp+0", "-0x1.01eae7f513a67p-2"), ("0x1.3c995b0b80385p+0", "-0x1.b31d8a68224e9p-3"),
    ("0x1.30d190c8864a5p+0", "-0x1.6574f0ac07758p-3"), ("0x1.25e227b0b8eap+0", "-0x1.1aa2bc79c81p-3"),
    ("0x1.1bb4a4a1a343fp+0", "-0x1.a4e76ce8c0e5ep-4"), ("0x1.12358f08ae5bap+0", "-0x1.1973c5a611cccp-4"),
    ("0x1.0953f419900a7p+0", "-0x1.252f438e10c1ep-5"), ("0x1p+0", "0x0p+0"),
    ("0x1.e608cfd9a47acp-1", "0x1.aa5aa5df25984p-5"), ("0x1.ca4b31f026aap-1", "0x1.c5e53aa362eb4p-4"),
    ("0x1.b2036576afce6p-1", "0x1.526e57720db08p-3"), ("0x1.9c2d163a1aa2dp-1", "0x1.bc2860d22477p-3"),
    ("0x1.886e6037841edp-1", "0x1.1058bc8a07ee1p-2"), ("0x1.767dcf5534862p-1", "0x1.4043057b6ee09p-2"),
)])
_LOGF_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_LOGF_POLY = [float.fromhex(v) for v in ("-0x1.00ea348b88334p-2", "0x1.5575b0be00b6ap-2", "-0x1.ffffef20a4123p-2")]


def glibc_logf(x: np.ndarray) -> np.ndarray:
    """``logf`` of glibc ≥ 2.28 / musl for positive normal float32 ``x`` (what TFLite's LOG computes on
    Linux): ``x = 2^k·z``, ``log(x) = k·ln2 + log(c) + log1p(z/c - 1)`` with a 16-entry table and a
    cubic, in float64, rounded to float32. Other inputs fall back to numpy's log."""
    x = np.asarray(x, dtype=np.float32)
    ix = x.view(np.uint32)
    tmp = ix - np.uint32(0x3F330000)
    i = (tmp >> np.uint32(19)) % np.uint32(16)
    k = tmp.view(np.int32) >> 23  # arithmetic shift
    z = (ix - (tmp & np.uint32(0xFF800000))).view(np.float32).astype(np.float64)
    invc, logc = _LOGF_TABLE[i, 0], _LOGF_TABLE[i, 1]
    r = z * invc - 1.0
    y0 = logc + k.astype(np.float64) * _LOGF_LN2
    r2 = r * r
    y = _LOGF_POLY[1] * r + _LOGF_POLY[2]
    y = _LOGF_POLY[0] * r2 + y
    y = (y * r2 + (y0 + r)).astype(np.float32)
    normal = (x >= np.float32(1.1754944e-38)) & np.isfinite(x)
    if not normal.all():
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(normal, y, np.log(x))
    return np.where(x == 1, np.float32(0.0), y).astype(np.float32)


class YAMNetFeatureExtractor(_FramedAudioFeatureExtractor):
    """YAMNet's input: ``log(mel + 0.001)`` frames of a 16-kHz clip, ``(frames, 64)`` per example.

    Reproduces the TFLite file's front end (see the module docstring), including its int8 DFT and mel
    matrices and the per-frame int8 quantisation of their inputs (``quantized_stft=True``). The int8
    matrices are regenerated here (equal to the file's, checked by the converter); ``mel_scale`` is the
    file's scale of the mel matrix, kept as a number because TensorFlow's float32 ``log`` put the peak
    of its float mel matrix at 0.9961893 where numpy's gives 0.9961924 (the int8 values are the same).

    Padding (``pad_end=True``, YAMNet's ``features.pad_waveform``): a clip is zero-padded at its end to
    at least one patch (15 600 samples = 0.975 s: 0.96 s of frames plus the last frame's tail) and then
    to a whole number of 0.48-s hops, so the frames are exactly ``96 + 48·k`` and the last patch may
    end in silence. With ``pad_end=False`` only clips shorter than one patch are padded (to one patch)
    and a trailing partial patch is left out by the model.

    Batched ``input_features``: ``(batch, frames, 64)``; ``attention_mask``: ``(batch, frames)``.
    Audio must already be at 16 kHz (``genre_models.audio.load_audio(path, sr=16000)``).
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        sampling_rate: int = 16000,
        window_length: int = 400,
        hop_length: int = 160,
        fft_length: int = 512,
        n_mels: int = 64,
        fmin: float = 125.0,
        fmax: float = 7500.0,
        log_offset: float = LOG_OFFSET,
        quantized_stft: bool = True,
        mel_scale: float | None = None,
        patch_frames: int = 96,
        patch_hop_frames: int = 48,
        pad_end: bool = True,
        chunk_seconds: float | None = None,
        crop_position: str = "center",
        padding_value: float | None = None,
        return_attention_mask: bool = True,
        **kwargs: Any,
    ):
        kwargs.pop("feature_size", None)  # derived from n_mels; present in saved configs
        self.window_length = int(window_length)
        self.fft_length = int(fft_length)
        self.n_mels = int(n_mels)
        self.fmin = float(fmin)
        self.fmax = float(fmax)
        self.log_offset = float(log_offset)
        self.quantized_stft = bool(quantized_stft)
        self.mel_scale = None if mel_scale is None else float(mel_scale)
        self.patch_frames = int(patch_frames)
        self.patch_hop_frames = int(patch_hop_frames)
        self.pad_end = bool(pad_end)
        super().__init__(
            feature_size=self.n_mels,
            sampling_rate=int(sampling_rate),
            padding_value=float(math.log(self.log_offset)) if padding_value is None else float(padding_value),
            hop_length=hop_length,
            chunk_seconds=chunk_seconds,
            crop_position=crop_position,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self._matrices: tuple | None = None

    # -- framing ---------------------------------------------------------------------------------
    def padded_length(self, n_samples: int) -> int:
        """Samples after padding (see the class docstring)."""
        one_patch = (self.patch_frames - 1) * self.hop_length + self.window_length  # 15 600
        if n_samples <= one_patch:
            return one_patch
        if not self.pad_end:
            return n_samples
        hop = self.patch_hop_frames * self.hop_length  # 7 680
        return one_patch + hop * -(-(n_samples - one_patch) // hop)

    def num_frames(self, n_samples: int) -> int:
        """Frames (10 ms each) the extractor gives for ``n_samples`` samples."""
        return 1 + (self.padded_length(n_samples) - self.window_length) // self.hop_length

    # -- the spectrum ----------------------------------------------------------------------------
    def matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.float32, np.ndarray, np.float32]:
        """Window ``(400,)``, DFT ``(400, 2·bins)`` (cos | sin, of the frame as padded into the FFT
        length), its scale, mel ``(bins, n_mels)`` and its scale. Quantised (integer-valued float32 with
        the TFLite scales) when ``quantized_stft``, else float (scales 1)."""
        if self._matrices is None:
            n, bins = self.window_length, self.fft_length // 2 + 1
            window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic Hann
            start = (self.fft_length - n) // 2  # the graph pads each frame with 56 zeros on both sides
            angle = 2 * np.pi * np.outer(np.arange(start, start + n), np.arange(bins)) / self.fft_length
            dft = np.concatenate([np.cos(angle), np.sin(angle)], axis=1)
            mel = tf_mel_matrix(self.n_mels, bins, self.sampling_rate, self.fmin, self.fmax)
            if self.quantized_stft:
                dft_q = round_half_away(127.0 * dft).astype(np.float32)  # max |cos| = 1: scale 1/127
                mel_q, mel_scale = symmetric_int8(mel)
                if self.mel_scale is not None:
                    mel_scale = np.float32(self.mel_scale)
                self._matrices = (window, dft_q, np.float32(1.0) / np.float32(127.0), mel_q, mel_scale)
            else:
                self._matrices = (window, dft.astype(np.float32), np.float32(1.0), mel, np.float32(1.0))
        return self._matrices

    def log_mel(self, frames: np.ndarray) -> np.ndarray:
        """``(n, 400)`` raw frames → ``(n, n_mels)`` log-mel, as the TFLite graph computes it."""
        window, dft, dft_scale, mel, mel_scale = self.matrices()
        frames = frames.astype(np.float32) * window
        bins = dft.shape[1] // 2
        if self.quantized_stft:
            spec = hybrid_matmul(frames, dft, dft_scale)
            magnitude = np.sqrt(spec[:, :bins] * spec[:, :bins] + spec[:, bins:] * spec[:, bins:])
            return glibc_logf(hybrid_matmul(magnitude, mel, mel_scale, bias=self.log_offset))
        spec = frames @ dft
        magnitude = np.sqrt(spec[:, :bins] ** 2 + spec[:, bins:] ** 2)
        return glibc_logf(magnitude @ mel + np.float32(self.log_offset))

    def _features(self, clip: np.ndarray) -> np.ndarray:
        clip = np.pad(clip.astype(np.float32), (0, self.padded_length(clip.size) - clip.size))
        n = 1 + (clip.size - self.window_length) // self.hop_length
        frames = np.lib.stride_tricks.sliding_window_view(clip, self.window_length)[:: self.hop_length][:n]
        return self.log_mel(frames)


# ---------------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------------
def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """``TfLiteRound`` (halves away from zero) without float32 rounding of ``|x| + 0.5``."""
    a = x.abs()
    low = a.floor()
    return torch.copysign(low + (a - low >= 0.5).to(x.dtype), x)


def symmetric_quantize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """TFLite's ``SymmetricQuantizeFloats`` over each example of ``x`` (all dims after the first): the
    int8 values (as float, in [-127, 127]) and the scales ``max|x| / 127`` ``(n,)`` (1 for an all-zero
    example). With gradients on, the values pass the gradient straight through (``x · 127/max``)."""
    rng = x.detach().abs().flatten(1).amax(dim=1)
    flat = rng == 0
    rng = torch.where(flat, torch.ones_like(rng), rng)
    inv = torch.full_like(rng, 127.0) / rng  # a true division (``127.0 / rng`` is ``rng.reciprocal() * 127``)
    scaled = x * inv.view(-1, *([1] * (x.dim() - 1)))
    q = _round_half_away(scaled.detach()).clamp(-127, 127)
    if scaled.requires_grad:  # a straight-through estimator: round forward, identity backward
        q = scaled + (q - scaled).detach()
    return q, torch.where(flat, torch.ones_like(rng), rng / 127.0)


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``same`` padding (before, after) of one axis: the extra pixel goes after."""
    total = max(kernel - (size % stride if size % stride else stride), 0)
    return total // 2, total - total // 2


@functools.cache
def _addcmul_is_fused() -> bool:
    """Whether ``torch.addcmul`` on float32 CPU tensors rounds once (a fused multiply-add, as PyTorch's
    vectorised kernels do where the CPU has FMA), checked on values where one and two roundings differ."""
    rng = np.random.default_rng(0)
    a, b, c = (torch.from_numpy(rng.standard_normal(4099).astype(np.float32)) for _ in range(3))
    fused = (c.double() + a.double() * b.double()).float()
    return bool(torch.equal(torch.addcmul(c, a, b), fused)) and not torch.equal(c + a * b, fused)


def fma_taps(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int,
             column_major: bool) -> torch.Tensor:
    """A conv with one input channel per output channel (a depthwise conv, or the 1-channel first
    conv), computed as XNNPACK does: each output starts at its bias and takes one fused multiply-add
    per tap, rounded to float32 each time, taps in row-major (``ky`` outer: its igemm) or column-major
    (``kx`` outer: its depthwise kernel) order. ``x`` is already padded, ``(n, 1 or C, H, W)``;
    ``weight`` ``(C, 1, k, k)``. Uses ``torch.addcmul`` where it is fused, else float64 (the product
    is exact there, so each step is one float32 rounding, up to a double rounding of probability ~2**-29)."""
    n, _, height, width = x.shape
    c, _, k, _ = weight.shape
    out_h, out_w = (height - k) // stride + 1, (width - k) // stride + 1
    fused = x.device.type == "cpu" and _addcmul_is_fused()
    if not fused:
        x, weight = x.double(), weight.double()
    acc = bias.view(1, c, 1, 1).expand(n, c, out_h, out_w).contiguous()
    taps = [(ky, kx) for ky in range(k) for kx in range(k)]
    if column_major:
        taps.sort(key=lambda tap: (tap[1], tap[0]))
    for ky, kx in taps:
        window = x[:, :, ky: ky + stride * (out_h - 1) + 1: stride, kx: kx + stride * (out_w - 1) + 1: stride]
        w = weight[:, 0, ky, kx].view(1, c, 1, 1)
        acc = torch.addcmul(acc, window, w) if fused else (acc.double() + window * w).float()
    return acc


def xnnpack_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean over the last two dims as XNNPACK's 7-row global average pooling sums them,
    ``((r0 + r1) + r6) + ((r2 + r3) + (r4 + r5))`` (missing rows are zeros), times ``float32(1/rows)``;
    ``x.mean`` for more than 7 rows."""
    rows = x.flatten(2)
    n = rows.shape[-1]
    if n > 7:
        return rows.mean(dim=-1)
    r = F.pad(rows, (0, 7 - n)).unbind(-1)
    total = ((r[0] + r[1]) + r[6]) + ((r[2] + r[3]) + (r[4] + r[5]))
    return total * float(np.float32(1.0) / np.float32(n))


class _ScaledWeight:
    """Mixin for a conv/linear whose weight is ``weight · weight_scale`` (one scale per output channel).

    The converted checkpoint stores TFLite's int8 values in ``weight`` and the scales in
    ``weight_scale``, so the int8 products can be computed exactly; :meth:`fold_scale` multiplies the
    scale in (a plain float weight, scale 1), which training does first."""

    weight: nn.Parameter
    weight_scale: torch.Tensor

    def _init_scale(self, out_channels: int) -> None:
        self.register_buffer("weight_scale", torch.ones(out_channels))

    def _scale_shape(self) -> tuple[int, ...]:
        return (-1,) + (1,) * (self.weight.dim() - 1)

    def scaled_weight(self) -> torch.Tensor:
        """The float weight (``int8 · scale`` in float32: what TFLite's DEQUANTIZE gives)."""
        return self.weight * self.weight_scale.view(self._scale_shape())

    @torch.no_grad()
    def fold_scale(self) -> None:
        if not torch.all(self.weight_scale == 1):
            self.weight.copy_(self.scaled_weight())
            self.weight_scale.fill_(1.0)


class _ScaledConv2d(nn.Conv2d, _ScaledWeight):
    """A conv with TensorFlow ``same`` padding and a scaled weight. ``hybrid=True`` (the 1×1 convs):
    TFLite's hybrid CONV_2D, whose input is quantised to int8 per example; otherwise a float conv,
    summed in XNNPACK's order in ``exact`` mode."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, hybrid: bool = False,
                 column_major: bool = True):
        super().__init__(c_in, c_out, kernel, stride=stride, groups=groups, bias=True)
        self._init_scale(c_out)
        self.hybrid = hybrid
        self.column_major = column_major

    def forward(self, x: torch.Tensor, emulation: str = "none") -> torch.Tensor:  # type: ignore[override]
        k, s = self.kernel_size[0], self.stride[0]
        if k > 1:
            top, bottom = tf_same_padding(x.shape[2], k, s)
            left, right = tf_same_padding(x.shape[3], k, s)
            x = F.pad(x, (left, right, top, bottom))
        if self.hybrid and emulation != "none":
            # int8 input · int8 weight (exact integer sums in float32: |sum| ≤ 1024·127² < 2**24),
            # dequantised by (input scale · weight scale), then the bias, as TFLite's hybrid kernel does
            q, input_scale = symmetric_quantize(x)
            y = F.conv2d(q, self.weight, None, self.stride, 0, 1, self.groups)
            return y * (input_scale[:, None] * self.weight_scale[None, :])[:, :, None, None] + self.bias[:, None, None]
        if emulation == "exact" and not self.training and (self.groups == self.out_channels or self.in_channels == 1):
            return fma_taps(x, self.scaled_weight(), self.bias, s, self.column_major)
        return F.conv2d(x, self.scaled_weight(), self.bias, self.stride, 0, 1, self.groups)


class _ScaledLinear(nn.Linear, _ScaledWeight):
    """The classifier: TFLite's hybrid FULLY_CONNECTED (input quantised to int8 per row) unless
    ``emulation == "none"``."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__(d_in, d_out)
        self._init_scale(d_out)

    def forward(self, x: torch.Tensor, emulation: str = "none") -> torch.Tensor:  # type: ignore[override]
        if emulation == "none":
            return F.linear(x, self.scaled_weight(), self.bias)
        shape = x.shape
        q, input_scale = symmetric_quantize(x.reshape(-1, shape[-1]))
        y = (q @ self.weight.T) * (input_scale[:, None] * self.weight_scale[None, :]) + self.bias
        return y.reshape(*shape[:-1], -1)


class _SeparableBlock(nn.Module):
    """3×3 depthwise conv + ReLU, then 1×1 pointwise conv + ReLU (BatchNorm folded into both)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.depthwise = _ScaledConv2d(c_in, c_in, 3, stride=stride, groups=c_in, column_major=True)
        self.pointwise = _ScaledConv2d(c_in, c_out, 1, hybrid=True)

    def forward(self, x: torch.Tensor, emulation: str) -> torch.Tensor:
        return F.relu(self.pointwise(F.relu(self.depthwise(x, emulation)), emulation))


class _ConvBlock(nn.Module):
    """YAMNet's first layer: a float 3×3 conv + ReLU (XNNPACK's igemm: row-major taps)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv = _ScaledConv2d(c_in, c_out, 3, stride=stride, column_major=False)

    def forward(self, x: torch.Tensor, emulation: str) -> torch.Tensor:
        return F.relu(self.conv(x, emulation))


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
class YAMNetPreTrainedModel(PreTrainedModel):
    """Common init, and the scales folded into the weights when training starts."""

    config_class = YAMNetConfig
    main_input_name = "input_features"
    input_modalities = ("audio",)
    base_model_prefix = "yamnet"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Glorot-uniform weights and zero biases (Keras' defaults), weight scales 1; through
        ``transformers.initialization`` so weights that ``from_pretrained`` loads are kept."""
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        if isinstance(module, _ScaledWeight):
            init.ones_(module.weight_scale)

    def train(self, mode: bool = True):
        """Entering training folds the int8 scales into float weights (see :class:`_ScaledWeight`);
        the network computes the same values, and the optimiser sees ordinary weights."""
        if mode:
            self.fold_weight_scales()
        return super().train(mode)

    def fold_weight_scales(self) -> None:
        for module in self.modules():
            if isinstance(module, _ScaledWeight):
                module.fold_scale()

    def save_pretrained(self, save_directory, *args, **kwargs):
        """As transformers saves, but the weights that still hold TFLite's int8 values (their scale not
        folded in) are written as int8: exact, and a quarter of the size (a genre model on YAMNet is
        ~4 MB, not 15); ``from_pretrained`` reads them back as float32."""
        if kwargs.get("state_dict") is None:
            state = self.state_dict()
            for name, module in self.named_modules():
                if isinstance(module, _ScaledWeight) and not torch.all(module.weight_scale == 1):
                    key = f"{name}.weight"
                    as_int = state[key].round().to(torch.int8)
                    if torch.equal(as_int.to(state[key].dtype), state[key]):
                        state[key] = as_int
            kwargs["state_dict"] = state
        return super().save_pretrained(save_directory, *args, **kwargs)


class YAMNetModel(YAMNetPreTrainedModel):
    """The backbone: patches ``(n, 96, 64)`` → 1024-d embeddings ``(n, 1024)`` (global average pool)."""

    def __init__(self, config: YAMNetConfig):
        super().__init__(config)
        strides, filters = list(config.layer_strides), list(config.layer_filters)
        if config.emulation not in EMULATIONS:
            raise ValueError(f"emulation must be one of {EMULATIONS}, got {config.emulation!r}")
        if len(strides) != len(filters) or not strides:
            raise ValueError("layer_strides and layer_filters must be equally long and non-empty")
        layers: list[nn.Module] = [_ConvBlock(1, filters[0], strides[0])]
        for c_in, c_out, stride in zip(filters[:-1], filters[1:], strides[1:]):
            layers.append(_SeparableBlock(c_in, c_out, stride))
        self.layers = nn.ModuleList(layers)
        self.post_init()

    def feature_map(self, patches: torch.Tensor) -> torch.Tensor:
        """The last layer's output ``(n, 1024, 3, 2)`` (time × frequency) of ``(n, 96, 64)`` patches."""
        if patches.dim() != 3 or patches.shape[-1] != self.config.num_mel_bins:
            raise ValueError(f"expected (patches, frames, {self.config.num_mel_bins}), got {tuple(patches.shape)}")
        x = patches[:, None]
        for layer in self.layers:
            x = layer(x, self.config.emulation)
        return x

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """``(n, 96, 64)`` log-mel patches → ``(n, 1024)`` embeddings."""
        x = self.feature_map(patches)
        return xnnpack_mean(x) if self.config.emulation == "exact" and not self.training else x.mean(dim=(2, 3))


def masked_patch_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real patches of ``(batch, P, d)`` → ``(batch, d)`` (``mask``: ``(batch, P)``, False for
    the padding patches of a short clip in a batch): how a clip's logits, scores and embeddings are pooled."""
    weight = mask.to(values.dtype)[..., None]
    return (values * weight).sum(dim=1) / weight.sum(dim=1)


@dataclass
class YAMNetPatchOutput:
    """Per-patch outputs of one forward pass: ``embeddings`` ``(batch, P, 1024)``, ``logits``
    ``(batch, P, num_labels)``, ``mask`` ``(batch, P)`` (True = a real patch; padding patches are
    False). Patch ``p`` covers ``[0.48·p, 0.48·p + 0.96)`` s of the clip."""

    embeddings: torch.Tensor
    logits: torch.Tensor
    mask: torch.Tensor

    @property
    def scores(self) -> torch.Tensor:
        """Per-patch sigmoid scores (AudioSet's multi-label probabilities)."""
        return torch.sigmoid(self.logits)


def patch_grid(input_features: torch.Tensor, attention_mask: torch.Tensor | None, config: YAMNetConfig
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch·P, 96, 64)`` patches and a ``(batch, P)`` mask (True = a real patch)."""
    if input_features.dim() != 3 or input_features.shape[-1] != config.num_mel_bins:
        raise ValueError(f"expected input_features (batch, frames, {config.num_mel_bins}), "
                         f"got {tuple(input_features.shape)}")
    batch, frames, mels = input_features.shape
    size, hop = config.patch_frames, config.patch_hop_frames
    if frames < size:  # shorter than one patch: pad with silence, as YAMNet pads the waveform
        input_features = F.pad(input_features, (0, 0, 0, size - frames), value=config.silence_value)
        frames = size
    n = 1 + (frames - size) // hop
    patches = input_features.unfold(1, size, hop).transpose(2, 3).reshape(batch * n, size, mels)
    if attention_mask is None:
        real = torch.full((batch,), frames, device=input_features.device)
    else:
        real = attention_mask.to(input_features.device).sum(dim=1)
    per_example = (1 + (real - size).clamp(min=0) // hop).clamp(max=n)
    mask = torch.arange(n, device=real.device)[None, :] < per_example[:, None]
    return patches, mask


class YAMNetForAudioClassification(YAMNetPreTrainedModel):
    """YAMNet with its classifier: the 521 AudioSet classes (sigmoid) of the file, or a new head.

    ``forward`` takes the extractor's ``input_features`` ``(batch, frames, 64)`` and optional
    ``attention_mask`` ``(batch, frames)``; each example is cut into 96-frame patches every 48 frames
    (those within its real frames; at least one), and its logits are the mean of its patches'.
    ``labels``: class ids (cross-entropy) or, for ``multi_label_classification``, 0/1 vectors (BCE).
    ``output_hidden_states=True`` adds ``hidden_states = (embedding,)``: the 1024-d embedding averaged
    over the example's real patches. Per patch: :meth:`patch_outputs` (embeddings and scores of every
    patch from one pass), :meth:`patch_embeddings`, :meth:`patch_scores`.
    """

    def __init__(self, config: YAMNetConfig):
        super().__init__(config)
        self.yamnet = YAMNetModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = _ScaledLinear(int(config.layer_filters[-1]), config.num_labels)
        self.post_init()

    # -- patching -------------------------------------------------------------------------------
    def _patches(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        return patch_grid(input_features, attention_mask, self.config)

    def patch_outputs(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None
                      ) -> YAMNetPatchOutput:
        """Embedding and logits of every patch, from one pass through the network."""
        patches, mask = self._patches(input_features, attention_mask)
        batch, n = mask.shape
        embeddings = self.yamnet(patches)
        logits = self.classifier(self.dropout(embeddings), self.config.emulation)
        return YAMNetPatchOutput(embeddings.reshape(batch, n, -1), logits.reshape(batch, n, -1), mask)

    @torch.inference_mode()
    def patch_embeddings(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, P, 1024)`` embeddings of every patch and the ``(batch, P)`` real-patch mask."""
        out = self.patch_outputs(input_features, attention_mask)
        return out.embeddings, out.mask

    @torch.inference_mode()
    def patch_scores(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, P, num_labels)`` sigmoid scores of every patch (YAMNet's own per-patch output)
        and the ``(batch, P)`` real-patch mask."""
        out = self.patch_outputs(input_features, attention_mask)
        return out.scores, out.mask

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        out = self.patch_outputs(input_features, attention_mask)
        logits = masked_patch_mean(out.logits, out.mask)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            if self.config.problem_type == "multi_label_classification":
                loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
            else:
                loss = F.cross_entropy(logits.view(-1, self.config.num_labels), labels.view(-1))
        hidden_states = (masked_patch_mean(out.embeddings, out.mask),) if output_hidden_states else None
        if return_dict is False or (return_dict is None and not self.config.return_dict):
            result = (logits,) + ((hidden_states,) if hidden_states is not None else ())
            return (loss, *result) if loss is not None else result
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)


@functools.lru_cache(maxsize=4)
def _band_widths(n_mels: int, sr: int = 16000, fmin: float = 125.0, fmax: float = 7500.0) -> torch.Tensor:
    """Each mel band's total weight over the FFT bins (YAMNet's front end: 512-point FFT)."""
    return torch.from_numpy(tf_mel_matrix(n_mels, 257, sr, fmin, fmax).sum(axis=0).astype(np.float32))


def spectral_flatness(input_features: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``(batch,)``: the median over an example's audible real frames of the spectral flatness (geometric
    over arithmetic mean) of its mel magnitudes per FFT bin. White noise is ~0.93; music rarely
    passes 0.8 (distorted metal guitars come closest), speech and tones are far below.

    Why: YAMNet's int8 arithmetic (the file's, and this port's) mistakes loud white noise for speech
    (measured: *Speech* 0.5-0.7 at RMS 0.3), so the music check also asks how flat the spectrum is."""
    mel = (input_features.exp() - LOG_OFFSET).clamp(min=0.0)  # (batch, frames, mels)
    psd = (mel / _band_widths(mel.shape[-1]).to(mel.device)).clamp(min=1e-8)
    flat = psd.log().mean(dim=-1).exp() / psd.mean(dim=-1)
    energy = mel.sum(dim=-1)
    real = torch.ones_like(energy, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    audible = real & (energy > 1e-3 * energy.masked_fill(~real, 0.0).amax(dim=1, keepdim=True)) & (energy > 1e-4)
    out = []
    for row, keep in zip(flat, audible):
        out.append(row[keep].median() if keep.any() else row.new_zeros(()))
    return torch.stack(out)


class YAMNetGenreConfig(YAMNetConfig):
    """A genre model on YAMNet: a head on the window's pooled embeddings, mixed with a reading of
    YAMNet's own AudioSet genre classes (the *AudioSet prior*).

    Args (beside :class:`YAMNetConfig`'s):
        pooling: how a window's patch embeddings become one vector: ``"mean"`` (1024) or
            ``"meanmax"`` (mean ‖ max over the window's real patches, 2048).
        audioset_labels: the 521 AudioSet class names of the kept AudioSet classifier, in its order.
        prior_classes: genre → the AudioSet classes that name it (e.g. rock → "Rock music",
            "Punk rock", ...); a genre's prior score is the highest mean score of its classes.
        prior_scale, prior_bias: the prior's calibration, ``log p ∝ scale·log(score + 1e-4) + bias``
            (one bias per genre: AudioSet rates "Pop music" far more often than "Disco").
        head_weight, prior_weight: the log-linear mix, ``logits = head_weight·log p_head +
            prior_weight·log p_prior`` (a weighted geometric mean of the two distributions).
    """

    model_type = "genre_yamnet_genres"

    pooling: str = "meanmax"
    audioset_labels: list[str] | None = None
    prior_classes: dict[str, list[str]] | None = None
    prior_scale: float = 1.0
    prior_bias: list[float] | None = None
    head_weight: float = 0.5
    prior_weight: float = 0.5


class YAMNetGenreForAudioClassification(YAMNetPreTrainedModel):
    """Genres from YAMNet in one pass: every patch gives its 1024-d embedding and its 521 AudioSet
    scores; the window's pooled embedding goes through a linear genre head, the window's mean
    AudioSet scores through the genre prior, and the two log-distributions are mixed
    (:class:`YAMNetGenreConfig`).

    Why both: a head fit to GTZAN learns GTZAN's artists as much as their genres, while the AudioSet
    prior (YAMNet heard ~2 M YouTube clips) knows genres of music GTZAN never had, so the mix holds up
    better on songs from elsewhere. ``output_hidden_states=True`` returns ``(pooled embedding, mean
    AudioSet scores)`` per example, so the same pass also answers "is this music?" and "which wider
    genre?" (:mod:`genre_models.audioset`), with each window's :func:`spectral_flatness` third.
    """

    config_class = YAMNetGenreConfig

    def __init__(self, config: YAMNetGenreConfig):
        super().__init__(config)
        if config.pooling not in ("mean", "meanmax"):
            raise ValueError(f"pooling must be 'mean' or 'meanmax', got {config.pooling!r}")
        self.yamnet = YAMNetModel(config)
        width = int(config.layer_filters[-1])
        audioset_labels = list(config.audioset_labels or [])
        self.audioset = _ScaledLinear(width, len(audioset_labels)) if audioset_labels else None
        self.classifier = nn.Linear(width * (2 if config.pooling == "meanmax" else 1), config.num_labels)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        index = {name: i for i, name in enumerate(audioset_labels)}
        # per genre label, the AudioSet class indices that name it (plain lists: config, not weights)
        self.prior_index: list[list[int]] = [[] for _ in labels]
        for genre, names in (config.prior_classes or {}).items():
            unknown = [n for n in names if n not in index]
            if genre not in labels or unknown:
                raise ValueError(f"prior_classes: {genre!r} is not a label or names unknown AudioSet classes {unknown}")
            self.prior_index[labels.index(genre)] = [index[n] for n in names]
        if config.prior_weight and (self.audioset is None or not all(self.prior_index)):
            raise ValueError("prior_weight > 0 needs audioset_labels and prior_classes for every genre")
        self.post_init()

    def _pooled(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean = masked_patch_mean(embeddings, mask)
        if self.config.pooling == "mean":
            return mean
        return torch.cat([mean, embeddings.masked_fill(~mask[..., None], float("-inf")).amax(dim=1)], dim=-1)

    def window_outputs(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per example: the pooled embedding ``(batch, 1024·k)`` and the mean AudioSet scores over its
        real patches ``(batch, 521)`` (None without the AudioSet classifier)."""
        patches, mask = patch_grid(input_features, attention_mask, self.config)
        batch, n = mask.shape
        embeddings = self.yamnet(patches)
        scores = None
        if self.audioset is not None:
            patch_scores = torch.sigmoid(self.audioset(embeddings, self.config.emulation)).reshape(batch, n, -1)
            scores = masked_patch_mean(patch_scores, mask)
        return self._pooled(embeddings.reshape(batch, n, -1), mask), scores

    def prior_log_probs(self, scores: torch.Tensor) -> torch.Tensor:
        """``(batch, genres)`` log-probabilities of the calibrated AudioSet prior from mean scores."""
        mapped = torch.stack([scores[:, idx].amax(dim=-1) for idx in self.prior_index], dim=-1)
        bias = torch.tensor(self.config.prior_bias or [0.0] * self.config.num_labels, dtype=scores.dtype,
                            device=scores.device)
        return F.log_softmax(self.config.prior_scale * torch.log(mapped + 1e-4) + bias, dim=-1)

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        pooled, scores = self.window_outputs(input_features, attention_mask)
        logits = self.config.head_weight * F.log_softmax(self.classifier(pooled), dim=-1)
        if self.config.prior_weight:
            logits = logits + self.config.prior_weight * self.prior_log_probs(scores)
        loss = None if labels is None else F.cross_entropy(logits, labels.to(logits.device).view(-1))
        hidden_states = None
        if output_hidden_states:
            hidden_states = (pooled, scores, spectral_flatness(input_features, attention_mask))
        if return_dict is False or (return_dict is None and not self.config.return_dict):
            result = (logits,) + ((hidden_states,) if hidden_states is not None else ())
            return (loss, *result) if loss is not None else result
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)


def register() -> None:
    """Make ``genre_yamnet`` and ``genre_yamnet_genres`` folders load through the Auto classes (idempotent)."""
    AutoConfig.register(YAMNetConfig.model_type, YAMNetConfig, exist_ok=True)
    AutoModel.register(YAMNetConfig, YAMNetModel, exist_ok=True)
    AutoModelForAudioClassification.register(YAMNetConfig, YAMNetForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(YAMNetConfig, YAMNetFeatureExtractor, exist_ok=True)
    AutoConfig.register(YAMNetGenreConfig.model_type, YAMNetGenreConfig, exist_ok=True)
    AutoModelForAudioClassification.register(YAMNetGenreConfig, YAMNetGenreForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(YAMNetGenreConfig, YAMNetFeatureExtractor, exist_ok=True)


register()


def yamnet_classes_config(classes: Sequence[str], **overrides: Any) -> YAMNetConfig:
    """A multi-label config with ``classes`` as ``id2label`` (AudioSet's 521); converter and tests."""
    classes = list(classes)
    return YAMNetConfig(
        id2label=dict(enumerate(classes)), label2id={c: i for i, c in enumerate(classes)},
        problem_type="multi_label_classification", **overrides,
    )


__all__ = [
    "EMULATIONS", "LAYER_FILTERS", "LAYER_STRIDES", "YAMNetConfig", "YAMNetFeatureExtractor",
    "YAMNetForAudioClassification", "YAMNetGenreConfig", "YAMNetGenreForAudioClassification", "patch_grid",
    "spectral_flatness", "YAMNetModel", "YAMNetPatchOutput", "YAMNetPreTrainedModel", "fma_taps",
    "glibc_logf", "masked_patch_mean", "register", "symmetric_quantize", "symmetric_quantize_rows", "tf_mel_matrix",
    "xnnpack_mean", "yamnet_classes_config",
]
