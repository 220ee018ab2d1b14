"""How long musicnn takes to tag a 3-minute song on this machine (CPU), decode excluded and included.

    python benchmarks/bench_musicnn.py [--threads 2] [--repeats 5]

The song is ``bench_predict.py``'s 3-minute MP3 (GTZAN clips back to back when ../shared is there,
else a synthetic signal), made in a temp dir and never kept. Reported, each the median of
``--repeats`` runs after a warm-up: the log-mel patches alone, the network alone (all 60 3-s
patches), both, both plus decoding the MP3 at 16 kHz, and the app's setting (at most
``GENRE_TAG_MAX_PATCHES``=20 patches spread over the song, with decoding). On a shared machine
the figures depend on the load (printed with them).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import torch  # noqa: E402
from bench_predict import make_song  # noqa: E402

from genre_models.audio import load_audio  # noqa: E402
from genre_models.tagging import MusicTagger  # noqa: E402

CPU_SECONDS: dict[str, float] = {}


def timed(fn, repeats: int, name: str = "") -> tuple[float, object]:
    """Median wall time after a warm-up; the median CPU time (all threads) goes to CPU_SECONDS[name]:
    on a shared machine wall time grows with the others' load, CPU time much less."""
    fn()  # warm-up
    runs, cpu, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        runs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU_SECONDS[name] = statistics.median(cpu)
    return statistics.median(runs), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    full = MusicTagger.load()
    app = MusicTagger.load(max_patches=int(os.environ.get("GENRE_TAG_MAX_PATCHES", 20)))
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "song.mp3"
        source = make_song(song)
        y = load_audio(song, sr=16000)
        fe = full.fe
        t_feats, feats = timed(lambda: torch.from_numpy(fe(y, sampling_rate=16000,
                                                           return_tensors="np")["input_features"]),
                               args.repeats)
        patches, _ = full.model._patches(feats, None)
        t_net, _ = timed(lambda: full.model.patch_logits(patches), args.repeats, "net")
        t_tags, tags = timed(lambda: full.tag_audio(y), args.repeats)
        t_file, _ = timed(lambda: full.tag_file(song), args.repeats)
        t_decode, _ = timed(lambda: load_audio(song, sr=16000), args.repeats)
        t_app, _ = timed(lambda: app.tag_file(song), args.repeats)
    load = os.getloadavg()[0]
    print(f"input: 3-min MP3 ({source}), {len(y) / 16000:.1f} s at 16 kHz, {len(patches)} patches of 3 s; "
          f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, 1-min load average {load:.1f}")
    print(f"log-mel patches:                 {t_feats:.2f} s")
    print(f"network, all {len(patches)} patches:        {t_net:.2f} s "
          f"({CPU_SECONDS['net']:.2f} CPU-seconds over all threads)")
    print(f"tags from samples (both):        {t_tags:.2f} s")
    print(f"decode MP3 at 16 kHz:            {t_decode:.2f} s")
    print(f"tags from the MP3 (all):         {t_file:.2f} s")
    print(f"tags from the MP3, app setting ({app.max_patches} patches): {t_app:.2f} s")
    print("top tags:", ", ".join(f"{t} {p:.2f}" for t, p in tags.top(5)))


if __name__ == "__main__":
    main()
