"""Library throughput: songs per hour of ``python -m genre_models predict DIR --jobs J`` with the
default ensemble, peak memory per worker, and what 100 000 songs would take.

Makes N 3-minute MP3s in a temp dir from the project's own examples (``examples/``, CC0): each song
is the examples back to back in a rotated order, shifted and scaled differently, looped to 3
minutes (so every file differs and decodes like a real MP3). Then, for each J, runs the CLI in a
subprocess on all N files and samples its process tree every 0.2 s.

Run: ``python benchmarks/bench_library.py`` (N=200, J=1 and 2; on a quiet machine: it takes a while).
``--songs 6`` for a quick check. Figures printed:

- wall: the whole command, model loading and worker start-up included;
- steady: songs per hour between the first and the last row written (start-up excluded);
- peak RSS of the main process and of the largest worker (J > 1), MB;
- the projection for 100 000 songs on this machine (best J) and on a cluster of ``--nodes`` such
  machines, assuming: the steady rate holds (songs like these: 3-min MP3s), nodes are identical
  to this one and score their shard independently (linear scaling), start-up is paid once per
  node, and the shared output folder and the final merge (seconds for 100 000 rows) cost nothing.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genre_models.audio import load_audio  # noqa: E402

SR = 22050
EXAMPLES = REPO / "examples"


def make_songs(folder: Path, n: int, seconds: float, fmt: str) -> None:
    clips = [load_audio(p, SR) for p in sorted(EXAMPLES.iterdir()) if p.suffix in (".mp3", ".ogg", ".flac")]
    if not clips:
        raise SystemExit(f"no example audio in {EXAMPLES}")
    length = int(seconds * SR)
    rng = np.random.default_rng(0)
    for i in range(n):
        k = i % len(clips)
        y = np.concatenate(clips[k:] + clips[:k])
        y = np.roll(np.resize(y, length), int(rng.integers(0, length)))
        y = (y * rng.uniform(0.5, 1.0) + 0.003 * rng.standard_normal(length)).astype(np.float32)
        sf.write(folder / f"song{i:05d}.{fmt}", np.clip(y, -1, 1), SR, format=fmt.upper())


@dataclass
class Run:
    jobs: int
    songs: int
    wall_s: float = 0.0
    first_row_s: float | None = None
    last_row_s: float | None = None
    rows: int = 0
    main_peak_mb: float = 0.0
    worker_peak_mb: dict[int, float] = field(default_factory=dict)
    code: int = 0

    @property
    def steady_per_hour(self) -> float | None:
        if self.first_row_s is None or self.last_row_s is None or self.rows < 2 \
                or self.last_row_s <= self.first_row_s:
            return None
        return (self.rows - 1) / (self.last_row_s - self.first_row_s) * 3600

    @property
    def startup_s(self) -> float:
        """Until the first song would have been done at the steady rate."""
        rate = self.steady_per_hour
        if rate is None or self.first_row_s is None:
            return self.wall_s
        return max(0.0, self.first_row_s - 3600 / rate)


def rows_in(path: Path) -> int:
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except OSError:
        return 0


def run(folder: Path, out: Path, jobs: int, songs: int) -> Run:
    import psutil

    result = Run(jobs, songs)
    cmd = [sys.executable, "-m", "genre_models", "predict", str(folder), "--csv", str(out), "--jobs", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    main = psutil.Process(proc.pid)
    seen = 0
    while proc.poll() is None:
        try:
            result.main_peak_mb = max(result.main_peak_mb, main.memory_info().rss / 2**20)
            for child in main.children(recursive=True):
                try:
                    if "spawn_main" in " ".join(child.cmdline()):  # a worker (not the resource tracker)
                        rss = child.memory_info().rss / 2**20
                        result.worker_peak_mb[child.pid] = max(result.worker_peak_mb.get(child.pid, 0.0), rss)
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        n = rows_in(out)
        now = time.perf_counter() - t0
        if n > seen:
            if seen == 0:
                result.first_row_s = now
            result.last_row_s, seen = now, n
        time.sleep(0.2)
    result.wall_s = time.perf_counter() - t0
    result.code = proc.returncode
    result.rows = rows_in(out)
    if result.rows > seen:
        result.last_row_s = result.wall_s
    if result.code != 0:
        print(proc.stderr.read()[-2000:], file=sys.stderr)
    return result


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=180.0, help="length of each song")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--format", choices=["mp3", "wav"], default="mp3")
    parser.add_argument("--nodes", type=int, default=10, help="cluster size for the projection")
    parser.add_argument("--target", type=int, default=100_000, help="songs in the projected library")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.songs} songs of {args.seconds:.0f} s ({args.format.upper()}, made from examples/), default ensemble;"
          f" {cores} cores, load average {load:.2f} at the start")
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        folder = Path(tmp) / "songs"
        folder.mkdir()
        t0 = time.perf_counter()
        make_songs(folder, args.songs, args.seconds, args.format)
        print(f"made the songs in {time.perf_counter() - t0:.0f} s")
        for jobs in args.jobs:
            r = run(folder, Path(tmp) / f"jobs{jobs}.csv", jobs, args.songs)
            runs.append(r)
            steady = f"{r.steady_per_hour:.0f} songs/h" if r.steady_per_hour else "n/a (too few rows)"
            workers = (f", largest worker {max(r.worker_peak_mb.values()):.0f} MB ({len(r.worker_peak_mb)} workers)"
                       if r.worker_peak_mb else "")
            print(f"--jobs {jobs}: exit {r.code}, {r.rows}/{args.songs} rows, wall {r.wall_s:.1f} s "
                  f"({args.songs / r.wall_s * 3600:.0f} songs/h with start-up), steady {steady}, "
                  f"start-up {r.startup_s:.1f} s; peak RSS main process {r.main_peak_mb:.0f} MB{workers}")
        with open(Path(tmp) / f"jobs{args.jobs[0]}.csv", newline="") as fh:
            genres = [row["genre"] for row in csv.DictReader(fh)]
    print(f"answers: {', '.join(f'{g} {genres.count(g)}' for g in sorted(set(genres)))}")
    best = max((r for r in runs if r.steady_per_hour), key=lambda r: r.steady_per_hour, default=None)
    if best is None:
        print("no projection: too few rows for a steady rate (use more --songs)")
        return
    one = best.startup_s + args.target / best.steady_per_hour * 3600
    many = best.startup_s + args.target / args.nodes / best.steady_per_hour * 3600
    print(f"projection for {args.target} songs with --jobs {best.jobs} ({best.steady_per_hour:.0f} songs/h per "
          f"machine): one machine {hours(one)}; {args.nodes} such machines (torchrun, one process per machine) "
          f"{hours(many)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} at the end")


if __name__ == "__main__":
    main()
