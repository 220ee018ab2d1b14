"""CPU cost of the whisper-base encoder per 30 s of audio: the 30-s encoder against encoders cut to 10 s and 3 s.

    python benchmarks/bench_whisper.py [--threads 1 2] [--repeats 5] [--seconds 30 10 3]

Whisper pads every input to 30 s; :func:`genre_models.hf_models.whisper_base.load_whisper_encoder`
cuts the encoder to N-s inputs. For each N and thread count this prints the median wall time (and
the process's CPU time, all threads) of one N-s window through the whole encoder (6 blocks) and of
the 30/N windows that cover 30 s of audio, as one batch; plus the log-mel extraction of those
windows. First, the load times of the whole model and of what the genre use loads (a classifier
on the 30-s folder reads only the encoder's tensors; the cut encoder alone). The audio is this
project's own example (``examples/metal_riff.mp3``, looped to 30 s). The first run converts the
PyPI wheels into the cache (``$GENRE_MODELS_CACHE``) if that was not done yet. On a shared machine
the figures depend on the load (printed with them).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from genre_models.audio import load_audio  # noqa: E402
from genre_models.hf_models.whisper_base import load_whisper_encoder, whisper_feature_extractor  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=int, nargs="+", default=[30, 10, 3])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from transformers import AutoModelForAudioClassification, WhisperForConditionalGeneration
    from transformers.utils import logging as hf_logging

    from genre_models.hf_models.whisper_base import whisper_base_folder

    folder = whisper_base_folder()  # converted from the wheels here if not cached yet
    hf_logging.set_verbosity_error()  # the classifier's load report lists the decoder's (unread) tensors
    torch.set_num_threads(1)
    loads = {"whole model (WhisperForConditionalGeneration)":
                 lambda: WhisperForConditionalGeneration.from_pretrained(folder),
             "encoder + new head (AutoModelForAudioClassification)":
                 lambda: AutoModelForAudioClassification.from_pretrained(folder),
             "10-s encoder alone (load_whisper_encoder)": lambda: load_whisper_encoder(10)}
    for name, load in loads.items():
        print(f"load {name}: {timed(load, 3)[0] * 1000:.0f} ms (median of 3)")
    y = np.resize(load_audio(REPO / "examples" / "metal_riff.mp3", sr=16000), 30 * 16000).astype(np.float32)
    print(f"whisper-base encoder on 30 s of examples/metal_riff.mp3 (looped); median of {args.repeats} after a "
          f"warm-up; {os.cpu_count()} CPUs, 1-min load average {os.getloadavg()[0]:.1f}")
    print("| input | torch threads | ms per window | windows per 30 s | ms per 30 s of audio (CPU ms) "
          "| log-mel ms per 30 s |")
    print("|---|---|---|---|---|---|")
    for seconds in args.seconds:
        encoder = load_whisper_encoder(seconds)
        fe = whisper_feature_extractor(seconds)
        windows = [y[i * seconds * 16000:(i + 1) * seconds * 16000] for i in range(30 // seconds)]
        mel = fe(windows, sampling_rate=16000, return_tensors="pt")["input_features"]
        for threads in args.threads:
            torch.set_num_threads(threads)
            with torch.inference_mode():
                one, _ = timed(lambda e=encoder, m=mel: e(m[:1]), args.repeats)
                batch, batch_cpu = timed(lambda e=encoder, m=mel: e(m), args.repeats)
            feats, _ = timed(lambda f=fe, w=windows: f(w, sampling_rate=16000, return_tensors="pt"), args.repeats)
            print(f"| {seconds} s | {threads} | {one * 1000:.0f} | {len(windows)} | {batch * 1000:.0f} "
                  f"({batch_cpu * 1000:.0f}) | {feats * 1000:.0f} |")


if __name__ == "__main__":
    main()
