"""Each augmentation does what its name says, no more, and the same seed gives the same audio."""
from __future__ import annotations

import numpy as np
import pytest

from finetune.augment import AUGMENTATIONS, augment, colored_noise

SR = 16000


def tone(freq: float = 440.0, seconds: float = 4.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / SR)[spec.argmax()])


@pytest.mark.parametrize("kind", AUGMENTATIONS)
def test_reproducible_new_finite_audio(kind):
    y = tone() + 0.05 * np.random.default_rng(0).standard_normal(4 * SR).astype(np.float32)
    a, b, c = augment(y, SR, kind, 1), augment(y, SR, kind, 1), augment(y, SR, kind, 2)
    assert a.dtype == np.float32 and a.ndim == 1 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)
    assert len(a) != len(y) or not np.allclose(a, y)
    assert np.abs(y).max() <= 1.0


def test_unknown_augmentation_is_refused():
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(tone(), SR, "reverse", 0)


def test_crop_moves_the_window_grid_or_trims_a_short_clip():
    long = np.arange(30 * SR, dtype=np.float32)
    out = augment(long, SR, "crop", 3)
    dropped = len(long) - len(out)
    assert 0.5 * SR <= dropped <= 2.5 * SR and out[0] == long[dropped]
    short = np.arange(int(2.5 * SR), dtype=np.float32)
    out = augment(short, SR, "crop", 3)
    assert 0.80 * len(short) <= len(out) <= 0.95 * len(short)
    assert np.array_equal(out, short[int(out[0]):int(out[0]) + len(out)])  # one contiguous piece


def test_pitch_moves_the_tone_by_one_or_two_semitones_and_keeps_the_length():
    y = tone(440.0)
    out = augment(y, SR, "pitch", 5)
    semitones = 12 * np.log2(peak_hz(out) / 440.0)
    assert len(out) == len(y)
    assert min(abs(semitones - s) for s in (-2, -1, 1, 2)) < 0.3, semitones


def test_stretch_changes_the_length_not_the_pitch():
    y = tone(440.0)
    out = augment(y, SR, "stretch", 7)
    assert 1 / 1.12 - 0.01 <= len(out) / len(y) <= 1 / 0.88 + 0.01 and abs(len(out) - len(y)) > 0.01 * len(y)
    assert abs(12 * np.log2(peak_hz(out) / 440.0)) < 0.2


def test_gain_eq_never_clips_and_tilts_the_spectrum():
    rng = np.random.default_rng(1)
    y = (0.9 * rng.standard_normal(4 * SR) / 3).clip(-1, 1).astype(np.float32)
    ratios = []
    for seed in range(6):
        out = augment(y, SR, "gain_eq", seed)
        assert np.abs(out).max() <= 0.99 + 1e-6
        low = lambda z: np.abs(np.fft.rfft(z))[: len(z) // 2 * 100 // (SR // 2)].mean()  # noqa: E731  under 100 Hz
        high = lambda z: np.abs(np.fft.rfft(z))[-len(z) // 4:].mean()  # noqa: E731  the top quarter (6-8 kHz)
        ratios.append((low(out) / high(out)) / (low(y) / high(y)))
    assert max(ratios) / min(ratios) > 2.0  # the shelves really change the balance of lows and highs


def test_mp3_is_a_lossy_copy_of_the_signal():
    y = tone(440.0) + tone(3000.0, amp=0.1)
    out = augment(y, SR, "mp3", 0)
    assert abs(len(out) - len(y)) < 0.1 * SR
    lag = int(np.argmax(np.correlate(out[: SR // 2 + 2000], y[: SR // 2], mode="valid")))
    part = out[lag:lag + 3 * SR]
    assert np.corrcoef(part, y[: len(part)])[0, 1] > 0.95
    assert not np.allclose(part, y[: len(part)], atol=1e-3)


def test_noise_is_added_at_10_to_25_db_snr():
    y = tone()
    for seed in range(4):
        out = augment(y, SR, "noise", seed)
        snr = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((out - y).astype(np.float64) ** 2))
        assert 9.5 <= snr <= 25.5, snr
    assert np.array_equal(augment(np.zeros(SR, np.float32), SR, "noise", 0), np.zeros(SR, np.float32))


def test_colored_noise_slopes():
    rng = np.random.default_rng(0)
    slopes = {}
    for color in ("white", "pink", "brown"):
        n = colored_noise(2**16, color, rng)
        assert abs(np.sqrt(np.mean(n**2)) - 1) < 1e-6
        power = np.abs(np.fft.rfft(n)) ** 2
        f = np.fft.rfftfreq(len(n))
        band = (f > 0.001) & (f < 0.4)
        slopes[color] = np.polyfit(np.log10(f[band]), np.log10(power[band]), 1)[0]
    assert abs(slopes["white"]) < 0.2 and abs(slopes["pink"] + 1) < 0.2 and abs(slopes["brown"] + 2) < 0.2
