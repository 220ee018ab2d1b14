"""Time to answer for a 3-minute MP3 with the default model (decode, features, model, pictures).

Builds the MP3 in a temp dir from real GTZAN clips when ../shared is there (never kept), else
from a synthetic signal; prints the measured figures.  Run: ``python benchmarks/bench_predict.py``.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genre_models import load_audio, load_model, predict  # noqa: E402
from genre_models.plots import SpectrogramAccumulator, timeline_figure, to_image  # noqa: E402

AUDIO = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan" / "audio"


def make_song(path: Path, seconds: float = 180.0) -> str:
    sr = 22050
    clips = sorted(AUDIO.glob("*.00000.wav"))
    if clips:
        y = np.concatenate([load_audio(c, sr) for c in clips])
        source = f"{len(clips)} GTZAN clips back to back"
    else:
        t = np.arange(int(seconds * sr)) / sr
        y = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
        source = "a synthetic signal"
    y = np.resize(y, int(seconds * sr))
    sf.write(path, y, sr, format="MP3")
    return source


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "song.mp3"
        source = make_song(song)
        t0 = time.perf_counter()
        model = load_model()
        load_s = time.perf_counter() - t0
        predict(song, model)  # warm-up (numba JIT, caches)
        runs, full = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            pred = predict(song, model)
            runs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            acc = SpectrogramAccumulator(model.sample_rate)
            pred = predict(song, model, on_window=acc.add)
            to_image(acc.figure())
            timeline_figure(pred)
            full.append(time.perf_counter() - t0)
        print(f"input: 3-min MP3 ({source}), {pred.duration:.1f} s, {len(pred.window_spans)} windows")
        print(f"model load: {load_s:.2f} s (once per process)")
        print(f"predict (decode + features + model), median of 3: {statistics.median(runs):.2f} s")
        print(f"predict + spectrogram + timeline (what the app does), median of 3: {statistics.median(full):.2f} s")
        print(f"answer: {pred.genre} {pred.top(3)}")


if __name__ == "__main__":
    main()
