"""Per-window MFCC means for the dense network, computed by the features model's own code.

The 57-column features model (``genre_models.features``) already reproduces the GTZAN table's
``mfcc1..20_mean`` columns exactly. This extractor calls the same function
(:func:`genre_models.features.mfcc_frames`) and averages over time, so the DNN's input *is* those
columns for the window it is given, and a fix to one is a fix to both. Only the standardisation
(mean/std fitted on training audio, saved in ``preprocessor_config.json``) is added, because the
coefficients differ in scale by two orders of magnitude (c1 around -100 to -400, c20 around ±5).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import features
from .feature_extraction import CropPosition, _FramedAudioFeatureExtractor, _Standardized


class MFCCMeanFeatureExtractor(_Standardized, _FramedAudioFeatureExtractor):
    """Mono audio → ``input_features`` ``(batch, n_mfcc)``: the mean of each MFCC over the clip.

    A clip is one "frame" (its mean), so clips of any length batch without padding or a mask.

    Args:
        sampling_rate, n_fft, hop_length, n_mels, n_mfcc: passed to
            :func:`genre_models.features.mfcc_frames`; the defaults (22 050 Hz, 2048, 512, 128, 20)
            are the GTZAN table's. Clips shorter than ``n_fft`` are zero-padded to ``n_fft``.
        do_normalize: apply the stored ``mean``/``std`` (a no-op until :meth:`fit_normalization`).
        mean, std: per-coefficient statistics of the training set, or None.
        chunk_seconds, crop_position: accepted like the other extractors' (the trainer sets them);
            they do not change the output, which is one mean per clip.
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        sampling_rate: int = features.SAMPLE_RATE,
        n_fft: int = features.N_FFT,
        hop_length: int = features.HOP_LENGTH,
        n_mels: int = features.N_MELS,
        n_mfcc: int = features.N_MFCC,
        do_normalize: bool = True,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        chunk_seconds: float | None = None,
        crop_position: CropPosition = "center",
        padding_value: float = 0.0,
        return_attention_mask: bool = False,
        **kwargs: Any,
    ):
        kwargs.pop("feature_size", None)  # derived from n_mfcc; present in saved configs
        self.n_fft = int(n_fft)
        self.n_mels = int(n_mels)
        self.n_mfcc = int(n_mfcc)
        self.do_normalize = bool(do_normalize)
        self._set_statistics(mean, std, self.n_mfcc, "n_mfcc")
        super().__init__(
            feature_size=self.n_mfcc,
            sampling_rate=int(sampling_rate),
            padding_value=float(padding_value),
            hop_length=hop_length,
            chunk_seconds=chunk_seconds,
            crop_position=crop_position,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )

    def num_frames(self, n_samples: int) -> int:
        """Always 1: a clip becomes one vector of means."""
        return 1

    def raw_features(self, clip: np.ndarray) -> np.ndarray:
        """Un-normalised ``(1, n_mfcc)`` MFCC means of one clip at ``sampling_rate``."""
        if clip.size < self.n_fft:
            clip = np.pad(clip, (0, self.n_fft - clip.size))
        mfcc = features.mfcc_frames(clip, self.sampling_rate, self.n_fft, self.hop_length, self.n_mels, self.n_mfcc)
        return mfcc.mean(axis=1, dtype=np.float64)[None, :].astype(np.float32)

    def _layout(self, feats: np.ndarray) -> np.ndarray:
        return feats[0]  # (n_mfcc,)
