"""Shared fixtures: where the real data lives, and skipping cleanly when it does not."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GENRE_SHARED_DATA", REPO.parent / "shared" / "data"))
GTZAN = SHARED_DATA / "gtzan"


@pytest.fixture(scope="session")
def gtzan_dir() -> Path:
    """The read-only GTZAN material beside the checkout; skipped on a fresh clone without it."""
    if not (GTZAN / "features_30_sec.csv").is_file():
        pytest.skip(f"real GTZAN data not found at {GTZAN} (set GENRE_SHARED_DATA to its parent folder)")
    return GTZAN
