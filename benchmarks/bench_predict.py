"""Time to answer for a 3-minute MP3 with the default ensemble, as the app does it (upload to answer).

Builds the MP3 in a temp dir from real GTZAN clips when ../shared is there (never kept), else
from a synthetic signal; prints the measured figures.  Run: ``python benchmarks/bench_predict.py``.
``--max_windows 6,12,24`` also times the default ensemble with each member scoring at most that many
windows (coverage against speed; the shipped ``ensemble.json`` says how many the app scores).
Backbone passes the members share (``genre_models.embeddings.SHARED_PASSES``) are forgotten before
every timing, so a repeat of the same song is timed as a new one.
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

from genre_models import load_audio, predict  # noqa: E402
from genre_models.embeddings import SHARED_PASSES  # noqa: E402
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
    import argparse
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max_windows", default="", help="comma-separated window counts to time the ensemble at")
    parser.add_argument("--ensemble", default=None, help="an ensemble.json to time instead of the shipped default "
                                                          "(the app reads it through GENRE_ENSEMBLE)")
    args = parser.parse_args()
    if args.ensemble:
        os.environ["GENRE_ENSEMBLE"] = str(Path(args.ensemble).resolve())

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "song.mp3"
        source = make_song(song)
        t0 = time.perf_counter()
        ensemble = Ensemble.from_file(args.ensemble) if args.ensemble else Ensemble.default()
        ensemble_load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        import app  # the app's own classify(): ensemble (with the music check and wider genres), spectrogram,
        # timeline; the musicnn tags come from the ensemble's musicnn member, else from the tagger

        if not app.members_give_tags():
            app.tagger()
        app_load_s = time.perf_counter() - t0
        app.classify(str(song))  # warm-up (numba JIT, caches, oneDNN kernels)
        [answer] = ensemble.predict(song)
        singles: dict[str, list[float]] = {m.model.name: [] for m in ensemble.members}
        ens, full = [], []
        for _ in range(3):
            for member in ensemble.members:
                SHARED_PASSES.clear()  # every timing computes its backbone passes (none kept from the last)
                t0 = time.perf_counter()
                predict(song, member.model, max_windows=member.max_windows)
                singles[member.model.name].append(time.perf_counter() - t0)
            SHARED_PASSES.clear()
            t0 = time.perf_counter()
            [answer] = ensemble.predict(song)
            ens.append(time.perf_counter() - t0)
            SHARED_PASSES.clear()
            t0 = time.perf_counter()
            app.classify(str(song))
            full.append(time.perf_counter() - t0)
        print(f"input: 3-min MP3 ({source}), {answer.duration:.1f} s; torch threads {torch.get_num_threads()}, "
              f"{os.cpu_count()} CPUs, 1-min load average at start {load:.1f}; median of 3 after a warm-up")
        print(f"default ensemble loads in {ensemble_load_s:.2f} s; the app (its own ensemble and extras) "
              f"in {app_load_s:.2f} s more (once per process)")
        for name, times in singles.items():
            print(f"  {name} alone (decode + model, its max_windows): {statistics.median(times):.2f} s")
        print(f"default ensemble, warm (Ensemble.default().predict; members side by side): "
              f"{statistics.median(ens):.2f} s")
        print(f"app's whole answer (classify(): ensemble + music check + wider genres + tags + spectrogram "
              f"+ timeline): {statistics.median(full):.2f} s")
        print(f"answer: {answer.genre} {[(g, round(p, 3)) for g, p in answer.top(3)]}; "
              f"1-min load average at end {os.getloadavg()[0]:.1f}")
        shipped = {m.model.name: m.max_windows for m in ensemble.members}
        for n in [int(x) for x in args.max_windows.split(",") if x.strip()]:
            for member in ensemble.members:
                member.max_windows = n
            ensemble.predict(song)  # warm-up at this size
            times = []
            for _ in range(3):
                SHARED_PASSES.clear()
                t0 = time.perf_counter()
                ensemble.predict(song)
                times.append(time.perf_counter() - t0)
            print(f"default ensemble with at most {n} windows per member: {statistics.median(times):.2f} s "
                  f"(shipped: {shipped})")


if __name__ == "__main__":
    main()
