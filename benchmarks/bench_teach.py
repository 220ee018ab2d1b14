"""``teach`` speed: songs per minute of a first ``teach`` on a tagged library, and the seconds of a second
``teach`` on the same library with changed labels (issue N's targets: 1 000 songs in ≤ 20 min on a 2-core
machine, a second teach in ≤ 30 s).

Makes N songs in a temp dir from the project's own examples (``examples/``, CC0): song i is one example
(its genre: the tag) looped to ``--seconds`` from a random point, its level and a little noise its own,
written as MP3 with genre and artist tags (mutagen; "Hip-Hop" spelt three ways, eight artists per
genre). Then runs the real command in a subprocess, as a user would:

1. ``teach DIR --labels-from-tags --out M --jobs J`` with an empty cache: wall time, and the embedding
   rate the command prints (songs/min, worker start-up excluded);
2. the same with other labels (``--ignore disco --merge "Classical=classical piano,classical strings"``):
   everything from the cache;
3. after retagging 5 % of the songs (their files change; their audio does not): those are decoded once to
   check their audio, nothing is embedded.

    python benchmarks/bench_teach.py                 # 1 000 three-minute songs (long: the embedding)
    python benchmarks/bench_teach.py --songs 200     # what was run for the README, with the projection

Printed: each run's wall time and what it did; the projection for 1 000 songs assumes the printed
embedding rate holds (the songs are alike: 3-min MP3s) plus the first run's fixed costs.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genre_models.audio import load_audio  # noqa: E402

SR = 22050
EXAMPLES = REPO / "examples"
EMBED_LINE = r"^\s+\d+ cached, \d+ embedded.*$"
FIT_LINE = r"head fit with CV in [\d.]+ s"
SPELLINGS = {"hiphop": ["Hip-Hop", "hip hop", "HipHop"], "classical": ["classical piano", "classical strings"]}


def make_library(folder: Path, n: int, seconds: float, seed: int = 0) -> dict[str, int]:
    """N tagged MP3s; returns songs per genre tag."""
    import mutagen

    clips = {p.stem: load_audio(p, SR) for p in sorted(EXAMPLES.iterdir()) if p.suffix in (".mp3", ".ogg", ".flac")}
    names = sorted(clips)
    rng = np.random.default_rng(seed)
    length = int(seconds * SR)
    counts: dict[str, int] = {}
    for i in range(n):
        name = names[i % len(names)]
        genre = name.split("_")[0]
        y = np.roll(np.resize(clips[name], length), int(rng.integers(0, length)))
        y = (y * rng.uniform(0.5, 1.0) + 0.003 * rng.standard_normal(length)).astype(np.float32)
        path = folder / f"{genre}-{i:05d}.mp3"
        sf.write(path, np.clip(y, -1, 1), SR, format="MP3")
        tag = (SPELLINGS[genre][i // len(names) % 3] if genre == "hiphop" else
               "classical " + name.split("_")[1] if genre == "classical" else genre.capitalize())
        audio = mutagen.File(path, easy=True)
        if audio.tags is None:
            audio.add_tags()
        audio.tags["genre"] = [tag]
        audio.tags["artist"] = [f"{genre} artist {i // len(names) % 8}"]
        audio.save()
        counts[tag] = counts.get(tag, 0) + 1
    return counts


def teach(lib: Path, out: Path, cache: Path, jobs: int, extra: list[str]) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "genre_models", "teach", str(lib), "--labels-from-tags", "--out", str(out),
           "--cache", str(cache), "--jobs", str(jobs), *extra]
    started = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    took = time.perf_counter() - started
    if res.returncode != 0:
        raise SystemExit(f"teach failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return took, res.stdout


def line(stdout: str, pattern: str) -> str:
    m = re.search(pattern, stdout, re.MULTILINE)
    return m.group(0).strip() if m else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="make the library here (kept) instead of a temp dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-teach-") as tmp:
        root = args.keep or Path(tmp)
        lib, cache = root / "library", root / "cache"
        lib.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        counts = make_library(lib, args.songs, args.seconds)
        print(f"made {args.songs} tagged {args.seconds:g}-s MP3s in {time.perf_counter() - started:.0f} s: {counts}",
              flush=True)

        first, out1 = teach(lib, root / "m1", cache, args.jobs, [])
        embedded = line(out1, EMBED_LINE)
        rate = float(re.search(r"\(([\d.]+) songs/min\)", embedded).group(1)) if "songs/min" in embedded else 0.0
        cv = line(out1, r"^CV accuracy.*$")
        fit = line(out1, FIT_LINE)
        print(f"\n1. first teach, {args.songs} songs, --jobs {args.jobs}: {first:.0f} s wall "
              f"({args.songs / first * 60:.1f} songs/min overall); {embedded}; {fit}; {cv}", flush=True)

        second, out2 = teach(lib, root / "m2", cache, args.jobs,
                             ["--ignore", "disco", "--merge", "Classical=classical piano,classical strings"])
        print(f"2. second teach, other labels (--ignore disco, --merge Classical=...): {second:.1f} s wall; "
              f"{line(out2, r'^  labels .*$')}; {line(out2, EMBED_LINE)}; {line(out2, FIT_LINE)}", flush=True)

        import mutagen

        files = sorted(lib.glob("*.mp3"))
        retag = files[:: 20]
        for path in retag:
            audio = mutagen.File(path, easy=True)
            audio.tags["genre"] = ["Disco"] if "disco" not in path.name else ["Metal"]
            audio.save()
        third, out3 = teach(lib, root / "m3", cache, args.jobs, [])
        print(f"3. after retagging {len(retag)} songs (5 %): {third:.1f} s wall; "
              f"{line(out3, EMBED_LINE)}", flush=True)

        fixed = first - (args.songs / rate * 60 if rate else 0.0)
        if rate:
            projected = fixed + 1000 / rate * 60
            print(f"\nprojection for 1 000 such songs on this machine: {projected / 60:.1f} min (fixed costs "
                  f"{fixed:.0f} s of the first run + 1 000 songs at {rate:.1f} songs/min)")


if __name__ == "__main__":
    main()
