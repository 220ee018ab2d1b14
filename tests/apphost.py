"""Start ``app.py`` on a free loopback port for a test and stop it afterwards (one helper for all).

Tests that need the app with its default ensemble share one per session (``default_app`` in
conftest.py): each start costs model loading and the first request's warm-up."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """A running ``app.py``: its loopback port and URL, its process id (for memory figures) and its log."""

    port: int
    pid: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@contextlib.contextmanager
def app_server(log: Path, *, cwd: Path = REPO, python: str | os.PathLike = sys.executable,
               env: dict[str, str] | None = None, timeout: float = 120.0) -> Iterator[AppServer]:
    """Yield the app once it accepts connections; offline, no analytics; output goes to ``log``."""
    port = free_port()
    full_env = {**(os.environ if env is None else env), "GRADIO_SERVER_PORT": str(port),
                "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False",
                "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
    with log.open("w") as fh:
        proc = subprocess.Popen([str(python), "app.py"], cwd=cwd, env=full_env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited early:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"app did not start in {timeout:.0f} s:\n{log.read_text()}") from None
                time.sleep(0.3)
        yield AppServer(port, proc.pid, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def running_app(log: Path, **kwargs) -> Iterator[int]:
    """:func:`app_server`, yielding only the port."""
    with app_server(log, **kwargs) as app:
        yield app.port


def default_app_env() -> dict[str, str]:
    """This process's environment without the model choices: the app runs its default ensemble."""
    return {k: v for k, v in os.environ.items() if k not in ("GENRE_MODELS", "GENRE_ENSEMBLE")}
