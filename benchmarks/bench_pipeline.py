"""Our windowed prediction vs ``transformers.pipeline("audio-classification")`` on one 3-minute MP3.

    python benchmarks/bench_pipeline.py [--family mel_cnn] [--repeats 5] [--threads 2]

Both sides use the same checkpoint: a randomly initialised, full-size model of our ``--family``
with 3-s windows, saved in HF format (timing does not depend on the weights; nothing is
downloaded). Three ways to get per-window genre probabilities for the whole song, timed in one
run, median of ``--repeats`` after a warm-up:

* **ours**: ``genre_models.predict(path, model)`` — decodes the file once (streaming, one
  resampler), cuts 3-s windows and scores them in batches of 8.
* **pipeline, windows**: what a pipeline user writes for a timeline — decode the file (the
  pipeline's own ``ffmpeg_read`` at the model's rate), cut the same windows and call
  ``pipe(windows, top_k=None)``, once with the pipeline's default ``batch_size=1`` and once with
  ``batch_size=8`` (our batch size).
* **pipeline, file**: ``pipe(path, top_k=None)`` — printed for reference only: the extractor crops
  its input to the model's 3-s window, so this scores the first 3 s of the song, not the song.

Prints the times and the speed-up of ours over "pipeline, windows"; also checks that both give
the same window probabilities (they share the feature extractor and the model).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import torch  # noqa: E402
from bench_predict import make_song  # noqa: E402

import genre_models.hf_models  # noqa: E402,F401  (registers our model types)
from genre_models import load_model, predict  # noqa: E402
from genre_models.hf_models import build_model, count_parameters  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402
from genre_models.windows import plan_windows  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="mel_cnn")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import pipeline
    from transformers.pipelines.audio_utils import ffmpeg_read

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model, fe = build_model(args.family, GTZAN_GENRES, extractor_kwargs={"chunk_seconds": 3.0})
        model.config.window_seconds = 3.0
        ckpt = Path(tmp) / f"random-{args.family}"
        model.save_pretrained(ckpt)
        fe.save_pretrained(ckpt)
        song = Path(tmp) / "song.mp3"
        source = make_song(song)

        ours = load_model(ckpt)
        sr, window = ours.sample_rate, int(3.0 * ours.sample_rate)
        pipe = pipeline("audio-classification", model=str(ckpt), device="cpu")

        def with_pipeline_windows(batch_size: int) -> np.ndarray:
            y = ffmpeg_read(song.read_bytes(), sr)
            wins = [y[s:e] for s, e in plan_windows(len(y), window, window)]
            out = pipe(wins, batch_size=batch_size, top_k=None)
            return np.array([[{d["label"]: d["score"] for d in o}[g] for g in GTZAN_GENRES] for o in out])

        t_ours, pred = timed(lambda: predict(song, ours), args.repeats)
        t_pipe_one, _ = timed(lambda: with_pipeline_windows(1), args.repeats)
        t_pipe_win, pipe_probs = timed(lambda: with_pipeline_windows(8), args.repeats)
        t_pipe_file, _ = timed(lambda: pipe(str(song), top_k=None), args.repeats)

        n = min(len(pipe_probs), len(pred.window_probs))
        diff = float(np.abs(pipe_probs[:n] - pred.window_probs[:n]).max())
        print(f"input: 3-min MP3 ({source}); {args.family} with random weights, {count_parameters(model) / 1e3:.0f} k "
              f"parameters, 3-s windows at {sr} Hz; torch threads {args.threads}; median of {args.repeats}")
        print(f"ours (genre_models.predict):           {t_ours:6.2f} s  ({len(pred.window_probs)} windows)")
        print(f"pipeline, same windows, batch_size=1: {t_pipe_one:6.2f} s  (the pipeline's default)")
        print(f"pipeline, same windows, batch_size=8: {t_pipe_win:6.2f} s  ({len(pipe_probs)} windows)")
        print(f"pipeline on the file path:            {t_pipe_file:6.2f} s  (reference: scores only the first 3 s)")
        print(f"speed-up, ours vs pipeline default:   {t_pipe_one / t_ours:6.2f}x")
        print(f"speed-up, ours vs pipeline batched:   {t_pipe_win / t_ours:6.2f}x")
        print(f"max |p_ours - p_pipeline| over windows: {diff:.1e} (decoders differ: libsndfile+soxr vs ffmpeg)")


if __name__ == "__main__":
    main()
