"""Time to answer for a 3-minute MP3 with the default ensemble, as the app does it (upload to answer).

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

import torch  # noqa: E402

from genre_models import load_audio, load_model, predict  # noqa: E402
from genre_models.ensemble import Ensemble  # noqa: E402

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
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "song.mp3"
        source = make_song(song)
        t0 = time.perf_counter()
        features = load_model()
        ensemble = Ensemble.default()
        import app  # the app's own classify(): ensemble, spectrogram, timeline, tags

        app.tagger()
        load_s = time.perf_counter() - t0
        app.classify(str(song))  # warm-up (numba JIT, caches, oneDNN kernels)
        single, ens, full = [], [], []
        for _ in range(3):
            t0 = time.perf_counter()
            pred = predict(song, features)
            single.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            [answer] = ensemble.predict(song)
            ens.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            app.classify(str(song))
            full.append(time.perf_counter() - t0)
        print(f"input: 3-min MP3 ({source}), {pred.duration:.1f} s; torch threads {torch.get_num_threads()}; "
              "median of 3 after a warm-up")
        print(f"models load (features, musicnn genre, musicnn tagger): {load_s:.2f} s (once per process)")
        print(f"features model alone (decode + features + model): {statistics.median(single):.2f} s")
        print(f"default ensemble ({', '.join(m.model.name for m in ensemble.members)}): {statistics.median(ens):.2f} s")
        print(f"app's classify() - ensemble + spectrogram + timeline + musicnn tags: {statistics.median(full):.2f} s")
        print(f"answer: {answer.genre} {answer.top(3)}")


if __name__ == "__main__":
    main()
