"""Quiet by default: the project's own messages on stderr, the libraries' chatter only when asked for.

Scoring a good MP3 used to print 30+ lines that were none of ours:

* transformers' "Loading weights" progress bars (one per model) and its advisory warnings, and
  huggingface_hub's download bars: switched off through their own settings
  (``HF_HUB_DISABLE_PROGRESS_BARS``, ``TRANSFORMERS_VERBOSITY``), as environment variables too, so
  the worker processes that ``--jobs`` spawns inherit them;
* libmpg123 inside libsndfile, which prints ``[src/libmpg123/layer3.c:...] error: part2_3_length (...)
  too large for available bit count`` for MP3s that decode fine. That is C code writing to file
  descriptor 2, which no Python setting reaches: :func:`decoder_stderr` points fd 2 at a temp file
  around each libsndfile call, sends the decoder's lines to this module's debug log and passes
  anything else (another thread's message written meanwhile) on to stderr. A file that really
  cannot be decoded still fails with libsndfile's exception, which the loader turns into its own
  one-line :class:`~genre_models.audio.AudioLoadError`.

``python -m genre_models ... --verbose``, ``GENRE_VERBOSE=1`` (the app) or :func:`configure` with
``verbose=True`` leave every library as loud as it is by itself.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator

logger = logging.getLogger(__name__)

VERBOSE_ENV = "GENRE_VERBOSE"
# how libmpg123 (bundled in libsndfile) starts the lines it writes for MP3s it decodes anyway
# ("[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length ...", "Note: Hit end of
# (available) data during resync.", "Warning: Xing stream size off by more than 1%, ...")
DECODER_NOISE = re.compile(r"^\s*(\[src/libmpg123/|Note: |Warning: |Big trouble|Encountered free format)")
# the libraries' settings for "no progress bars, errors only", as environment variables
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def is_verbose() -> bool:
    """Whether the libraries may talk (``GENRE_VERBOSE=1``)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def libraries(verbose: bool | None = None) -> Iterator[None]:
    """:func:`configure` for the length of a ``with`` block (the CLI's ``main``, which tests also call
    in-process): the environment, the warning filters and transformers' and huggingface_hub's settings
    are as before afterwards (as they would be on import, if the block imported them)."""
    env = {key: os.environ.get(key) for key in (VERBOSE_ENV, *QUIET_ENV)}
    before = _hf_state()
    with warnings.catch_warnings():
        configure(verbose)
        try:
            yield
        finally:
            for key, value in env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _set_hf_state(before)


def _hf_state() -> tuple[int | None, bool]:
    """transformers' log level (None: not imported) and whether progress bars are on."""
    level = None
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        level = hf_logging.get_verbosity()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import are_progress_bars_disabled

        return level, not are_progress_bars_disabled()
    return level, os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().lower() not in ("1", "true", "yes", "on")


def _set_hf_state(state: tuple[int | None, bool]) -> None:
    level, bars = state
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(level if level is not None else hf_logging._get_default_logging_level())
        (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()
    elif "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

        (enable_progress_bars if bars else disable_progress_bars)()


def configure(verbose: bool | None = None) -> None:
    """Quiet the libraries (or, with ``verbose``, leave them be) in this process and in the processes
    it spawns. ``None``: as ``GENRE_VERBOSE`` says. The app calls this first thing; the CLI uses
    :func:`libraries`."""
    if verbose is None:
        verbose = is_verbose()
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    if verbose:
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    # a library imported before this call read its environment already: tell it directly
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    # Python-level warnings of the numeric stack (e.g. librosa on a short clip, torch's deprecations)
    # say nothing a user of the CLI or the app can act on
    for module in ("librosa", "numba", "torch", "transformers", "huggingface_hub", "sklearn", "soxr"):
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")


class _Fd2:
    """fd 2 redirected to one temp file while any thread is inside a libsndfile call (nesting counted)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved: int | None = None
        self.sink = None

    def enter(self) -> None:
        with self.lock:
            if self.depth == 0:
                try:
                    sys.stderr.flush()
                except (AttributeError, OSError, ValueError):
                    pass
                try:
                    if self.sink is None:
                        self.sink = tempfile.TemporaryFile(prefix="genre-stderr-", buffering=0)
                    saved = os.dup(2)
                except OSError:  # no usable fd 2 (a detached process): nothing to quiet
                    return
                os.dup2(self.sink.fileno(), 2)
                self.saved = saved
            self.depth += 1

    def leave(self) -> None:
        with self.lock:
            if self.depth == 0:
                return
            self.depth -= 1
            if self.depth or self.saved is None:
                return
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            os.dup2(self.saved, 2)
            os.close(self.saved)
            self.saved = None
            self.sink.seek(0)
            text = self.sink.read().decode("utf-8", "replace")
            self.sink.seek(0)
            self.sink.truncate()
            _pass_on(text)


def _pass_on(text: str) -> None:
    """Decoder chatter to the debug log; every other captured line back to stderr."""
    other = []
    for line in text.splitlines(keepends=True):
        if DECODER_NOISE.match(line):
            logger.debug("decoder: %s", line.rstrip())
        elif line.strip():
            other.append(line)
    if other:
        with contextlib.suppress(OSError):
            os.write(2, "".join(other).encode("utf-8", "replace"))


_FD2 = _Fd2()


@contextlib.contextmanager
def decoder_stderr() -> Iterator[None]:
    """Around a call into libsndfile: its libmpg123's messages do not reach stderr (unless verbose)."""
    if is_verbose():
        yield
        return
    _FD2.enter()
    try:
        yield
    finally:
        _FD2.leave()
