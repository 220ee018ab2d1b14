"""A short version of ``benchmarks/bench_app_load.py``: concurrent users on a local app, 0 failures.

The full run (20 clients, 2 minutes) is in docs/robustness.md; this one (4 clients, 15 s, 5-s clips, at
most 16 requests) proves the queue serves every concurrent user and reports sane figures.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_app_load import run_load  # noqa: E402


def test_four_clients_for_fifteen_seconds(tmp_path):
    res = run_load(clients=4, duration=15, max_requests=16, clip_seconds=5.0, log=tmp_path / "app.log")
    report = res.report()
    assert res.failures == [], report
    assert sorted(res.per_client) == [0, 1, 2, 3], report  # every client ran ...
    for client, counts in res.per_client.items():  # ... and every one of them was answered, each time
        assert counts["served"] >= 1 and counts["served"] == counts["sent"] and counts["failed"] == 0, (client, report)
    assert res.served == sum(c["served"] for c in res.per_client.values()) <= 16  # the request budget holds
    assert 0 < res.percentile(50) <= res.percentile(95) < 60 and not math.isnan(res.percentile(95)), report
    assert 100 < res.peak_rss_mb < 4000, report
    assert "served" in report and "p95" in report
    assert "Traceback" not in (tmp_path / "app.log").read_text()
