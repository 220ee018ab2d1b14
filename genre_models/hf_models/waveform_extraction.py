"""Raw-audio input for the WaveNet: the waveform itself, resampled to a lower model rate.

The extractor takes audio at ``sampling_rate`` (22 050 Hz, like every other family here, so the app,
the CLI and ``pipeline("audio-classification")`` feed it the same decode) and resamples it to
``target_sampling_rate`` (8 kHz by default) inside, with soxr HQ as ``genre_models.audio`` does.
Unlike a silent resample this is part of the saved preprocessing config, and the input rate is still
checked, so audio at the wrong rate is an error, not a quietly wrong answer. The point of the lower
rate is cost: a WaveNet's work grows with the number of samples, and 8 kHz keeps what genre needs
(pitch, timbre below 4 kHz, rhythm) at 36 % of the samples.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import soxr

from .feature_extraction import CropPosition, _FramedAudioFeatureExtractor


class WaveformFeatureExtractor(_FramedAudioFeatureExtractor):
    """Mono audio → ``input_values`` ``(batch, samples)`` at ``target_sampling_rate`` (+ ``attention_mask``).

    Args:
        sampling_rate: rate the audio must have when it is passed in (checked, 22 050 Hz).
        target_sampling_rate: rate the model reads; audio is resampled to it (soxr HQ). Equal rates
            skip resampling.
        do_normalize: scale each clip to zero mean and unit variance over its own samples (as
            ``Wav2Vec2FeatureExtractor`` does): recordings differ in level by 20 dB and more, which a
            raw-audio network would otherwise have to learn to ignore.
        chunk_seconds, crop_position: as in :class:`~.feature_extraction.LogMelFeatureExtractor`;
            one "frame" here is one sample at ``target_sampling_rate``.
        padding_value: 0.0 (silence) for padded samples; ``attention_mask`` marks them.
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        sampling_rate: int = 22050,
        target_sampling_rate: int = 8000,
        do_normalize: bool = True,
        chunk_seconds: float | None = None,
        crop_position: CropPosition = "center",
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs: Any,
    ):
        kwargs.pop("feature_size", None)  # always 1 (mono); present in saved configs
        kwargs.pop("hop_length", None)
        if target_sampling_rate <= 0 or target_sampling_rate > sampling_rate:
            raise ValueError(f"target_sampling_rate must be in (0, {sampling_rate}], got {target_sampling_rate}")
        self.target_sampling_rate = int(target_sampling_rate)
        self.do_normalize = bool(do_normalize)
        super().__init__(
            feature_size=1,
            sampling_rate=int(sampling_rate),
            padding_value=float(padding_value),
            hop_length=1,
            chunk_seconds=chunk_seconds,
            crop_position=crop_position,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )

    @property
    def max_frames(self) -> int | None:
        """Model-rate samples in a ``chunk_seconds`` clip, or None."""
        if self.chunk_seconds is None:
            return None
        return max(1, int(round(self.chunk_seconds * self.target_sampling_rate)))

    def num_frames(self, n_samples: int) -> int:
        """Samples at ``target_sampling_rate`` for ``n_samples`` input samples (at least 1)."""
        return max(1, int(round(n_samples * self.target_sampling_rate / self.sampling_rate)))

    def resample(self, clip: np.ndarray) -> np.ndarray:
        """One clip at ``sampling_rate`` → ``target_sampling_rate``, exactly :meth:`num_frames` long."""
        n = self.num_frames(clip.size)
        if self.target_sampling_rate != self.sampling_rate:
            clip = soxr.resample(clip, self.sampling_rate, self.target_sampling_rate, quality="HQ")
        if clip.size < n:  # soxr gives nothing for a 1-sample input
            clip = np.pad(clip, (0, n - clip.size))
        return np.ascontiguousarray(clip[:n], dtype=np.float32)

    def _features(self, clip: np.ndarray) -> np.ndarray:
        y = self.resample(clip)
        if self.do_normalize:
            y = (y - y.mean()) / np.sqrt(y.var() + 1e-7)
        return y.astype(np.float32)[:, None]  # (samples, 1)

    def _layout(self, feats: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(feats[:, 0])  # (samples,)
