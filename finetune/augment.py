"""Audio augmentations for the genre heads on frozen backbones, each measured on its own.

Why: a head learns from ~600 tracks, and the songs it meets in use differ from them in key, tempo,
loudness, EQ, codec and background. Each augmentation here makes one more *view* of a training
track (the whole track is transformed, then cut into the usual windows and embedded), so the head
sees what a change of that kind does to the backbone's embedding. ``benchmarks/default_ensemble.py
--augment`` measures what each one adds on the artist folds; only training tracks are augmented.

Every function takes mono float32 audio at ``sr`` and a seeded ``numpy.random.Generator`` and returns
new audio (never in place); the same seed gives the same result.

* ``crop``: another window grid: drops a random 0.5-2.5 s from the start (a 30-s clip's 3-s windows
  then fall elsewhere in the bars); a clip of one window or less keeps a random 80-95 % of itself.
* ``pitch``: ±1 or ±2 semitones (librosa's phase-vocoder pitch shift, soxr resampling).
* ``stretch``: tempo ×0.88-1.12 without changing the pitch (phase vocoder).
* ``gain_eq``: gain −12 to +3 dB (never past full scale) and a random low and high shelf of ±6 dB.
* ``mp3``: MP3 encode and decode (libsndfile's LAME, constant bit rate, a random quality: roughly
  64-160 kbit/s), as a song bought or streamed reaches the app.
* ``noise``: white, pink or brown noise at a random 10-25 dB SNR.
"""
from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

AUGMENTATIONS = ("crop", "pitch", "stretch", "gain_eq", "mp3", "noise")


def crop(y: np.ndarray, sr: int, rng: np.random.Generator, window_seconds: float = 3.0) -> np.ndarray:
    if len(y) > 2 * window_seconds * sr:
        return y[int(rng.uniform(0.5, min(2.5, window_seconds - 0.5)) * sr):].copy()
    keep = int(len(y) * rng.uniform(0.80, 0.95))
    start = int(rng.integers(0, len(y) - keep + 1))
    return y[start:start + keep].copy()


def pitch(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    import librosa

    steps = float(rng.choice([-2, -1, 1, 2]))
    return librosa.effects.pitch_shift(y, sr=sr, n_steps=steps, res_type="soxr_hq").astype(np.float32)


def stretch(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    import librosa

    return librosa.effects.time_stretch(y, rate=float(rng.uniform(0.88, 1.12))).astype(np.float32)


def _shelf(y: np.ndarray, sr: int, freq: float, gain_db: float, high: bool) -> np.ndarray:
    """An RBJ-cookbook shelving biquad (slope 1)."""
    from scipy.signal import lfilter

    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / sr
    alpha = np.sin(w0) / 2 * np.sqrt(2)
    cos, root = np.cos(w0), 2 * np.sqrt(a) * alpha
    s = -1 if high else 1  # the high shelf is the low shelf with the cosine terms' signs flipped
    b = [a * ((a + 1) - s * (a - 1) * cos + root), s * 2 * a * ((a - 1) - s * (a + 1) * cos),
         a * ((a + 1) - s * (a - 1) * cos - root)]
    den = [(a + 1) + s * (a - 1) * cos + root, -s * 2 * ((a - 1) + s * (a + 1) * cos),
           (a + 1) + s * (a - 1) * cos - root]
    return lfilter(np.array(b) / den[0], np.array(den) / den[0], y)


def gain_eq(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = _shelf(y.astype(np.float64), sr, float(rng.uniform(100, 300)), float(rng.uniform(-6, 6)), high=False)
    out = _shelf(out, sr, float(rng.uniform(2500, 6000)), float(rng.uniform(-6, 6)), high=True)
    gain = 10 ** (rng.uniform(-12, 3) / 20)
    peak = float(np.abs(out).max()) or 1.0
    return (out * min(gain, 0.99 / peak)).astype(np.float32)


def mp3(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1, 1), sr, format="MP3", bitrate_mode="CONSTANT",
             compression_level=float(rng.uniform(0.3, 0.9)))
    buf.seek(0)
    out, _ = sf.read(buf, dtype="float32")
    return out if out.ndim == 1 else out.mean(axis=1)


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f^0 (white), 1/f (pink) or 1/f^2 (brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    spectrum /= f ** {"white": 0.0, "pink": 0.5, "brown": 1.0}[color]
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.sqrt(np.mean(noise**2)) or 1.0)


def noise(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    if rms == 0.0:
        return y.copy()
    snr = rng.uniform(10, 25)
    out = y + colored_noise(len(y), str(rng.choice(["white", "pink", "brown"])), rng) * rms / 10 ** (snr / 20)
    return np.clip(out, -1, 1).astype(np.float32)


FUNCTIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "crop": crop, "pitch": pitch, "stretch": stretch, "gain_eq": gain_eq, "mp3": mp3, "noise": noise}


def augment(y: np.ndarray, sr: int, kind: str, seed: int) -> np.ndarray:
    """One view of ``y`` under augmentation ``kind`` (:data:`AUGMENTATIONS`), reproducible from ``seed``."""
    if kind not in FUNCTIONS:
        raise ValueError(f"unknown augmentation {kind!r}; choose from {AUGMENTATIONS}")
    out = FUNCTIONS[kind](np.asarray(y, dtype=np.float32), sr, np.random.default_rng(seed))
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(f"augmentation {kind} produced non-finite samples")
    return out
