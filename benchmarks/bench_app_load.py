"""Concurrent users against a local app: N gradio_client users each send a 30-s clip; latency figures.

Loopback only, a bounded number of requests. Starts ``app.py`` on a free port with the default
configuration (or the environment's ``GENRE_MODELS``), then prints requests served, failures,
p50/p95/max latency and the app's peak memory (RSS, from /proc).

    python benchmarks/bench_app_load.py --clients 8 --requests 1
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO.parent / "shared" / "data" / "gtzan" / "audio"


def make_clip(path: Path) -> str:
    clip = AUDIO / "rock.00000.wav"
    if clip.is_file():
        y, sr = sf.read(clip, dtype="float32")
        what = "rock.00000 (GTZAN, 30 s)"
    else:
        sr = 22050
        t = np.arange(30 * sr) / sr
        y = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
        what = "a synthetic 30-s signal"
    sf.write(path, y, sr, format="MP3")
    return what


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1, help="requests per client")
    args = parser.parse_args()
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    from gradio_client import Client, handle_file

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb(app.pid))
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    try:
        for _ in range(240):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp) / "clip.mp3"
            what = make_clip(clip)
            url = f"http://127.0.0.1:{port}/"
            Client(url, verbose=False).predict(handle_file(str(clip)), api_name="/classify")  # warm-up

            def user(_: int) -> list[tuple[float, bool]]:
                client = Client(url, verbose=False)
                out = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    try:
                        client.predict(handle_file(str(clip)), api_name="/classify")
                        out.append((time.perf_counter() - t0, True))
                    except Exception:
                        out.append((time.perf_counter() - t0, False))
                return out

            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = [r for rs in pool.map(user, range(args.clients)) for r in rs]
            wall = time.perf_counter() - t0
    finally:
        stop.set()
        app.terminate()
        app.wait(timeout=30)
    ok = sorted(t for t, good in results if good)
    failed = sum(1 for _, good in results if not good)
    print(f"clip: {what}; {args.clients} concurrent clients x {args.requests} request(s); queue: 2 workers")
    print(f"served {len(ok)}, failed {failed}, wall {wall:.1f} s")
    if ok:
        print(f"latency p50 {np.percentile(ok, 50):.2f} s, p95 {np.percentile(ok, 95):.2f} s, max {ok[-1]:.2f} s")
    print(f"app peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
