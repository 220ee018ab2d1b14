"""A quiet CLI (issue L.7): on good files ``python -m genre_models predict`` writes only its own lines
to stderr; ``--verbose`` (or ``GENRE_VERBOSE=1``) lets transformers and the MP3 decoder talk again,
and a broken file still gets its one-line message. The app's console: tests/test_browser.py."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from genre_models import quiet

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SUMMARY = re.compile(r"^\d+ file\(s\) done in [^:]+: \d+ scored, \d+ failed \(")
MPG123_LINE = (b"[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length (2240) too large for "
               b"available bit count (1984)\n")


@pytest.fixture(scope="module")
def noisy_mp3(tmp_path_factory) -> Path:
    """A good MP3 that libmpg123 complains about while decoding it (``part2_3_length ... too large``):
    the piano example through libsndfile's own LAME encoder."""
    y, sr = sf.read(EXAMPLES / "classical_piano.flac")
    out = tmp_path_factory.mktemp("noisy") / "piano.mp3"
    sf.write(out, y, sr, format="MP3")
    return out


def predict(*args: str | Path) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, with none of the quieting settings in its environment."""
    env = {k: v for k, v in os.environ.items() if k not in (quiet.VERBOSE_ENV, *quiet.QUIET_ENV)}
    return subprocess.run([sys.executable, "-m", "genre_models", "predict", *map(str, args)], cwd=REPO,
                          env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=900)


def test_the_noisy_mp3_is_noisy_without_the_quieting(noisy_mp3):
    """The premise: decoding it writes libmpg123's complaints to fd 2 (and still gives the whole song)."""
    code = ("import sys; from genre_models.audio import load_audio; y = load_audio(sys.argv[1], 22050); "
            "print(len(y) / 22050)")
    env = {**os.environ, quiet.VERBOSE_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code, str(noisy_mp3)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and abs(float(out.stdout) - sf.info(EXAMPLES / "classical_piano.flac").duration) < 0.2
    assert "[src/libmpg123/" in out.stderr


def test_predict_on_good_files_writes_only_its_own_summary(noisy_mp3):
    files = [EXAMPLES / "metal_riff.mp3", EXAMPLES / "classical_piano.flac", EXAMPLES / "jazz_swing.ogg", noisy_mp3]
    run = predict(*files)
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 1 + len(files)  # header and one row per file
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and SUMMARY.match(lines[0]), f"stderr is not just the summary:\n{run.stderr}"


def test_verbose_lets_the_libraries_talk(noisy_mp3):
    run = predict(noisy_mp3, "--verbose")
    assert run.returncode == 0, run.stderr
    assert "Loading weights" in run.stderr  # transformers' progress bars
    assert "[src/libmpg123/" in run.stderr  # the decoder's complaints


def test_a_broken_file_still_gets_its_one_line(tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"this is not audio\n" * 200)
    run = predict(bad, EXAMPLES / "jazz_swing.ogg")
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert len(lines) == 2, run.stderr
    assert lines[0].startswith(f"{bad}: ") and "not audio" in lines[0]
    assert SUMMARY.match(lines[1]) and "1 scored, 1 failed" in lines[1]


def test_decoder_lines_go_to_the_log_and_other_lines_stay(capfd, monkeypatch, caplog):
    """Another thread's message written while fd 2 points at the temp file is passed on, not lost."""
    monkeypatch.setenv(quiet.VERBOSE_ENV, "0")
    with caplog.at_level("DEBUG", logger="genre_models.quiet"), quiet.decoder_stderr():
        with quiet.decoder_stderr():  # nested (two threads decoding at once)
            os.write(2, MPG123_LINE + b"Note: Hit end of (available) data during resync.\n")
        os.write(2, b"a message of someone else\n")
    assert capfd.readouterr().err == "a message of someone else\n"
    assert "part2_3_length" in caplog.text
    monkeypatch.setenv(quiet.VERBOSE_ENV, "1")
    with quiet.decoder_stderr():
        os.write(2, MPG123_LINE)
    assert capfd.readouterr().err == MPG123_LINE.decode()


def test_the_cli_in_process_puts_the_settings_back(tmp_path, monkeypatch):
    """``main`` quiets the libraries for its own run only (tests and scripts call it in-process)."""
    from transformers.utils import logging as hf_logging

    from genre_models.cli import main

    for key in (quiet.VERBOSE_ENV, *quiet.QUIET_ENV):
        monkeypatch.delenv(key, raising=False)
    before = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled())
    assert main(["features", str(EXAMPLES / "jazz_swing.ogg"), "--csv", str(tmp_path / "f.csv")]) == 0
    assert not {quiet.VERBOSE_ENV, *quiet.QUIET_ENV} & set(os.environ)
    assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()) == before


def test_the_app_console_is_quiet(noisy_mp3, tmp_path):
    """``python app.py``: one line of its own on start-up; a song that makes libmpg123 complain adds nothing."""
    sys.path.insert(0, str(Path(__file__).parent))
    from apphost import running_app
    from gradio_client import Client, handle_file

    env = {k: v for k, v in os.environ.items() if k not in (quiet.VERBOSE_ENV, *quiet.QUIET_ENV, "GENRE_MODELS")}
    log = tmp_path / "app.log"
    with running_app(log, env=env) as port:
        label = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            handle_file(str(noisy_mp3)), "", "", None, None, None, api_name="/classify")[0]
    assert label["label"]
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Music genre classifier on http://127.0.0.1:{port}"), lines
