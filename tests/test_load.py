"""A short version of ``benchmarks/bench_app_load.py`` on the session's default app (conftest's
``default_app``): concurrent users, 0 failures, and checks that a slower app or a leak breaks.

The full run (20 clients, 2 minutes) is in docs/; this one (4 clients, 15 s, 5-s clips, at most 16
requests, after 4 warm-up requests at once) checks that the queue serves every concurrent user, and
judges speed and memory against baselines measured in the same test, so that a slower or busier
machine does not fail it: latency under load against 2 requests sent at once (the 2 workers' service
time when they share the CPU), the app's CPU time per request against a fixed reference workload's,
and the app's memory after the load against before it. Speed targets are the benchmarks'.

Measured on the 2-core dev machine (a KVM guest) while other jobs ran (load average 8-12), 5-s clip,
5 runs: one request alone 1.3-2.7 s; two at once (slowest of 2 rounds) 3.0-4.0 s; under the 4 clients
p50 1.2-2.3x and p95 1.4-2.7x that; the app's user CPU time per request 1.10-1.82 s = 15.5-20.7x the
reference workload's (0.071-0.092 s, median over the run); app RSS ~0.9-1.0 GB, changing by -1 to +55
MB over the 9-15 load requests (MALLOC_ARENA_MAX=2, see conftest.py). Deliberate bugs: every request
handled twice fails the CPU check; the ensemble reloaded and kept per request (+29 MB each) fails the
memory check.
"""
from __future__ import annotations

import math
import sys
import threading
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_app_load import run_load  # noqa: E402

P50_OVER_PAIR = 3.0  # 4 clients on 2 workers: each waits for one other request, ~2x the pair's time
P95_OVER_PAIR = 4.0
GROWTH_MB_PER_REQUEST = 12.0  # measured <= 4; a leak of a model (or a long song's audio) per request breaks it
CPU_OVER_REFERENCE = 30.0  # app user CPU s per request / the reference workload's; measured 15.5-20.7


class ReferenceWorkload(threading.Thread):
    """A fixed workload (one thread: a torch convolution like musicnn's front end, and numpy FFTs) run
    every second while the app is busy; its user CPU time is the unit in which the app's CPU time per
    request is judged. Measured at the same time as the app, it runs under the same conditions (the
    same host load and CPU contention: on this VM the same work takes 0.04-0.09 s of CPU depending on
    them); user time leaves out page faults, which depend on the allocator's state, not the code."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import resource

        import torch

        torch.set_num_threads(1)  # the convolution runs in this thread, so RUSAGE_THREAD counts it all
        g = torch.Generator().manual_seed(0)
        x, w = torch.randn(8, 1, 200, 96, generator=g), torch.randn(32, 1, 7, 38, generator=g)
        a = np.random.default_rng(0).standard_normal((960, 512)).astype(np.float32)
        while not self.stop.wait(1.0):
            t0 = resource.getrusage(resource.RUSAGE_THREAD).ru_utime
            with torch.inference_mode():
                for _ in range(3):
                    torch.nn.functional.conv2d(x, w)
            for _ in range(5):
                np.abs(np.fft.rfft(a, axis=1))
            self.samples.append(resource.getrusage(resource.RUSAGE_THREAD).ru_utime - t0)

    def median(self) -> float:
        return float(np.median(self.samples))


def test_four_clients_for_fifteen_seconds(default_app):
    import torch

    threads, reference = torch.get_num_threads(), ReferenceWorkload()
    reference.start()
    try:
        res = run_load(clients=4, duration=15, max_requests=16, clip_seconds=5.0, warmup=4,
                       running=(default_app.url, default_app.pid))
    finally:
        reference.stop.set()
        reference.join()
        torch.set_num_threads(threads)
    report = (res.report() + f"\nreference workload {reference.median():.3f} s user CPU (median of "
              f"{len(reference.samples)}: {min(reference.samples):.3f}-{max(reference.samples):.3f})")
    print(report)  # the figures, with pytest -rP
    assert res.failures == [], report
    assert sorted(res.per_client) == [0, 1, 2, 3], report  # every client ran ...
    for client, counts in res.per_client.items():  # ... and every one of them was answered, each time
        assert counts["served"] >= 1 and counts["served"] == counts["sent"] and counts["failed"] == 0, (client, report)
    assert res.served == sum(c["served"] for c in res.per_client.values()) <= 16, report  # the budget holds
    assert not math.isnan(res.percentile(95)) and 0 < res.single < res.percentile(95) < 60, report
    # no slower under load than waiting for the 2 workers explains: measured against 2 requests sent at
    # once in the same test (the service time when sharing the CPU; a loaded machine slows both alike)
    assert res.percentile(50) <= P50_OVER_PAIR * res.pair, report
    assert res.percentile(95) <= P95_OVER_PAIR * res.pair, report
    # memory: the models are loaded (not a dead watcher), and serving requests does not make it grow
    assert 300 < res.rss_before_mb < 2500 and res.peak_rss_mb < 2500, report
    assert res.rss_after_mb - res.rss_before_mb <= GROWTH_MB_PER_REQUEST * res.served, report
    # work per request: twice the CPU time (e.g. each song analysed twice) breaks this on any machine
    assert res.cpu_user_s / res.served <= CPU_OVER_REFERENCE * reference.median(), report
    assert "served" in report and "p95" in report
    assert "Traceback" not in default_app.log.read_text()
