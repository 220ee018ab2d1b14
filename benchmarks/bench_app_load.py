"""Concurrent users against a local app: N gradio_client users send clips for a while; latency figures.

Loopback only (the app listens on 127.0.0.1) and a bounded number of requests (``--max-requests``).
Starts ``app.py`` on a free port with the default configuration (or the environment's
``GENRE_MODELS``), lets ``--clients`` users send a clip back to back for ``--duration`` seconds, then
prints requests served, failures, p50/p95/max latency, throughput and the peak memory (RSS) of the
app process and its children (ffmpeg decoders), sampled every 0.2 s.

    python benchmarks/bench_app_load.py --clients 20 --duration 120
    python benchmarks/bench_app_load.py --clients 8 --requests 1      # one request per user
"""
from __future__ import annotations

import argparse
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO.parent / "shared" / "data" / "gtzan" / "audio"


VARIANTS = 12  # distinct uploads, sent in turn: more than the shared backbone passes kept (8), so none is reused


def make_clips(folder: Path, seconds: float = 30.0, n: int = VARIANTS) -> tuple[list[Path], str]:
    """``n`` MP3s of one clip, each at its own level (0.5-1.0): the app computes every request's backbone
    passes (``genre_models.embeddings.SHARED_PASSES`` keeps the last few; the same upload again would
    reuse them, which is real but would time the cache, not the models)."""
    paths = [folder / f"clip{i:02d}.mp3" for i in range(n)]
    what = ""
    for i, path in enumerate(paths):
        what = make_clip(path, seconds, gain=1.0 - 0.5 * i / max(n - 1, 1))
    return paths, f"{what}, {n} levels sent in turn"


def make_clip(path: Path, seconds: float = 30.0, gain: float = 1.0) -> str:
    """A GTZAN rock clip when the shared data is there, else a synthetic signal; written as MP3."""
    clip = AUDIO / "rock.00000.wav"
    if clip.is_file() and seconds >= 30:
        y, sr = sf.read(clip, dtype="float32")
        what = "rock.00000 (GTZAN, 30 s)"
    else:
        sr = 22050
        t = np.arange(int(seconds * sr)) / sr
        y = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
        what = f"a synthetic {seconds:g}-s signal"
    sf.write(path, gain * y, sr, format="MP3")
    return what


def tree_cpu_s(pid: int, user_only: bool = False) -> float:
    """CPU seconds (user + system, or user only) used so far by a process and its live descendants (0 once
    it is gone). User time leaves out the kernel's work (e.g. page faults, which depend on the allocator's state)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + (0.0 if user_only else t.system)
        except psutil.Error:
            continue
    return total


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants, in MB (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


@dataclass
class LoadResult:
    """What one load run measured."""

    clients: int
    duration: float
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    failures: list[str] = field(default_factory=list)  # one message per failed request
    per_client: dict[int, dict[str, int]] = field(default_factory=dict)  # client -> {"sent", "served", "failed"}
    wall: float = 0.0
    peak_rss_mb: float = 0.0
    clip: str = ""
    single: float = float("inf")  # seconds, one request alone (best of 2 after the warm-up): no queueing
    pair: float = float("nan")  # seconds, the slowest of 2 requests sent at once (2 rounds): service time when sharing
    rss_before_mb: float = 0.0  # app + children after the warm-up and the single request
    rss_after_mb: float = 0.0  # ... and once the load has ended
    cpu_s: float = 0.0  # CPU seconds the app (and its children) used during the load
    cpu_user_s: float = 0.0  # ... of which in user space

    @property
    def served(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")

    def report(self) -> str:
        lines = [f"clip: {self.clip}; {self.clients} concurrent clients for {self.duration:.0f} s; "
                 "queue: 2 workers, 32 waiting at most; loopback",
                 f"served {self.served}, failed {len(self.failures)}, wall {self.wall:.1f} s, "
                 f"throughput {self.served / max(self.wall, 1e-9):.2f} req/s"]
        if self.latencies:
            lines.append(f"latency p50 {self.percentile(50):.2f} s, p95 {self.percentile(95):.2f} s, "
                         f"max {max(self.latencies):.2f} s")
        lines.append(f"one request alone {self.single:.2f} s, two at once {self.pair:.2f} s; "
                     f"app CPU time {self.cpu_s / max(self.served, 1):.2f} s per request under load "
                     f"({self.cpu_user_s / max(self.served, 1):.2f} s user)")
        lines.append(f"app RSS (with children) before the load {self.rss_before_mb:.0f} MB, after it "
                     f"{self.rss_after_mb:.0f} MB, peak {self.peak_rss_mb:.0f} MB")
        if self.per_client:
            lines.append("answers per client: " + ", ".join(
                f"#{c} {v['served']}/{v['sent']}" for c, v in sorted(self.per_client.items())))
        lines += [f"failure: {f}" for f in self.failures[:5]]
        return "\n".join(lines)


def run_load(clients: int, duration: float, max_requests: int, requests_per_client: int | None = None,
             clip_seconds: float = 30.0, env: dict[str, str] | None = None, log: Path | None = None,
             running: tuple[str, int] | None = None, warmup: int = 1) -> LoadResult:
    """Start the app, run the users, stop the app. A user sends its next request as soon as the
    last one is answered, until ``duration`` has passed (or it has sent ``requests_per_client``);
    no more than ``max_requests`` are sent in all. Before the users start: ``warmup`` requests at
    once (not counted; 2+ also warm the app's concurrent workers), then two requests alone, the
    faster of which is ``single``, then twice two requests at once, the slowest of which is ``pair``.
    ``running``: ``(url, pid)`` of an app already running, used (and left running) instead of
    starting one; ``env`` and ``log`` are then unused."""
    from gradio_client import Client, handle_file

    app = None
    if running is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        app_env = {**(os.environ if env is None else env), "GRADIO_SERVER_PORT": str(port),
                   "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False",
                   "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
        out = open(log, "w") if log else subprocess.DEVNULL
        app = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=app_env, stdout=out,
                               stderr=subprocess.STDOUT)
        url, pid = f"http://127.0.0.1:{port}/", app.pid
    else:
        (url, pid), log = running, None
    result = LoadResult(clients, duration)
    stop = threading.Event()
    budget = threading.Semaphore(max_requests)
    lock = threading.Lock()

    def watch() -> None:
        while not stop.is_set():
            result.peak_rss_mb = max(result.peak_rss_mb, tree_rss_mb(pid))
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    try:
        for _ in range(480 if app is not None else 0):
            if app.poll() is not None:
                raise RuntimeError("the app exited during start-up")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            clips, result.clip = make_clips(Path(tmp), clip_seconds)
            in_turn = itertools.cycle(clips)

            def next_clip() -> str:
                with lock:
                    return str(next(in_turn))

            first = Client(url, verbose=False)
            with ThreadPoolExecutor(warmup) as pool:  # warm-up
                list(pool.map(lambda c: c.predict(handle_file(next_clip()), api_name="/classify"),
                              [first, *(Client(url, verbose=False) for _ in range(warmup - 1))]))
            for _ in range(2):
                t0 = time.perf_counter()
                first.predict(handle_file(next_clip()), api_name="/classify")
                result.single = min(result.single, time.perf_counter() - t0)
            second = Client(url, verbose=False)

            def timed(client) -> float:
                t0 = time.perf_counter()
                client.predict(handle_file(next_clip()), api_name="/classify")
                return time.perf_counter() - t0

            with ThreadPoolExecutor(2) as pool:  # as many at once as the app has workers, twice
                result.pair = max(max(pool.map(timed, [first, second])) for _ in range(2))
            result.rss_before_mb = tree_rss_mb(pid)
            cpu_before, user_before = tree_cpu_s(pid), tree_cpu_s(pid, user_only=True)
            t_end = time.perf_counter() + duration

            def user(i: int) -> None:
                counts = {"sent": 0, "served": 0, "failed": 0}
                with lock:
                    result.per_client[i] = counts
                client = Client(url, verbose=False)
                sent = 0
                while time.perf_counter() < t_end and (requests_per_client is None or sent < requests_per_client):
                    if not budget.acquire(blocking=False):
                        return
                    sent += 1
                    counts["sent"] += 1
                    t0 = time.perf_counter()
                    try:
                        label = client.predict(handle_file(next_clip()), api_name="/classify")[0]
                        if not label or not label.get("confidences"):
                            raise RuntimeError(f"empty answer: {label!r}")
                    except Exception as err:  # noqa: BLE001  counted, reported
                        with lock:
                            result.failures.append(f"client {i}: {type(err).__name__}: {err}"[:300])
                            counts["failed"] += 1
                    else:
                        with lock:
                            result.latencies.append(time.perf_counter() - t0)
                            counts["served"] += 1

            t0 = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(user, range(clients)))
            result.wall = time.perf_counter() - t0
            result.rss_after_mb = tree_rss_mb(pid)
            result.cpu_s = tree_cpu_s(pid) - cpu_before
            result.cpu_user_s = tree_cpu_s(pid, user_only=True) - user_before
    finally:
        stop.set()
        if app is not None:
            app.terminate()
            try:
                app.wait(timeout=30)
            except subprocess.TimeoutExpired:
                app.kill()
            if log:
                out.close()
    result.latencies.sort()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (after one warm-up request)")
    parser.add_argument("--max-requests", type=int, default=2000, help="at most this many requests in all")
    parser.add_argument("--requests", type=int, default=None, help="stop each client after this many requests")
    parser.add_argument("--clip-seconds", type=float, default=30.0)
    args = parser.parse_args()
    res = run_load(args.clients, args.duration if args.requests is None else 1e9, args.max_requests,
                   args.requests, args.clip_seconds)
    print(res.report())


if __name__ == "__main__":
    main()
