"""Issue 6: every bad or odd input, through the loader, the CLI and the app, gets a clear message
or a valid answer -- never a traceback, never a hung worker -- and uploads leave nothing behind.

The corpus (``tests/badinputs.py``) is generated here; the hour-long inputs cost ~3 s to make.
Expected outcomes are written per input, so a change of behaviour fails a test by name.
"""
from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import badinputs
import numpy as np
import pytest
import soundfile as sf
from apphost import running_app
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from genre_models.audio import AudioLoadError, load_audio, stream_audio
from genre_models.labels import GTZAN_GENRES
from genre_models.windows import iter_windows, plan_windows

MUSIC_VERDICTS = {"music", "speech", "silence", "noise", "tones", "other"}  # the CLI's music column
REPO = Path(__file__).resolve().parents[1]
APP_LIMIT = 20 * 60  # the app's default GENRE_MAX_SECONDS
# The app tests run with a 5-minute limit: an hour of audio whose header understates its length is
# refused once the limit is passed, which costs as much as analysing a file of the limit's length
# (~25 s for 20 minutes on 2 cores); the behaviour is the same, the tests are 5x cheaper.
APP_TEST_LIMIT = 5 * 60
CASES = [c for c in badinputs.corpus() if not c.needs_ffmpeg or shutil.which("ffmpeg")]
IDS = [c.id for c in CASES]
MESSAGE = {  # what the person is told, per kind of refusal
    "empty": "empty", "not_audio": "not audio", "truncated": "damaged or truncated",
    "too_short": "at least 1 s", "too_long": "too long", "unsupported": "could not be decoded",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return badinputs.build(tmp_path_factory.mktemp("bad inputs"), CASES)


def expected_message(case: badinputs.Case, message: str) -> None:
    assert "Traceback" not in message and "\n" not in message.strip(), message
    assert any(MESSAGE[k] in message for k in case.expect if k != "answer"), (case.id, message)


# --- (a) the loader --------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_loader(corpus, case):
    t0 = time.perf_counter()
    try:
        y = load_audio(corpus[case.id], sr=22050, max_seconds=APP_LIMIT)
    except AudioLoadError as err:
        assert err.kind in case.expect, (case.id, err.kind, str(err))
        expected_message(case, str(err))
    else:
        assert case.answers, f"{case.id} was expected to be refused ({set(case.expect)}), got {len(y)} samples"
        assert y.dtype == np.float32 and y.ndim == 1 and len(y) >= 22050 and np.isfinite(y).all()
    assert time.perf_counter() - t0 < 20, "bad input must be answered or refused quickly"


def test_truncated_flac_is_refused(corpus):
    """Today's behaviour, pinned: a FLAC cut in half is refused as damaged (libsndfile's decoder loses
    sync where the bytes stop), not answered from its first half as a cut MP3 is."""
    if "truncated-flac" not in corpus:
        pytest.skip("the corpus's truncated FLAC case needs ffmpeg, which is not installed")
    with pytest.raises(AudioLoadError) as info:
        load_audio(corpus["truncated-flac"], sr=22050)
    assert info.value.kind == "truncated" and "damaged or truncated" in str(info.value)
    y = load_audio(corpus["truncated-mp3"], sr=22050)  # the other half of the contrast
    assert len(y) >= 22050


# --- (b) the CLI: one process for the whole corpus, rows on stdout, refusals on stderr -------------
@pytest.fixture(scope="module")
def cli_run(corpus):
    paths = [str(corpus[c.id]) for c in CASES]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "genre_models", "predict", *paths, "--max-seconds", str(APP_LIMIT)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    rows = {line.split(",")[0]: line.split(",") for line in res.stdout.splitlines()[1:]}
    errors = {}
    for line in res.stderr.splitlines():
        for p in paths:
            if line.startswith(p + ": "):
                errors[p] = line[len(p) + 2:]
    return res, rows, errors


def test_cli_reports_without_traceback(cli_run):
    res, rows, errors = cli_run
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 1  # some files failed: scripts must notice
    assert len(rows) + len(errors) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli(corpus, cli_run, case):
    _, rows, errors = cli_run
    path = str(corpus[case.id])
    if path in rows:
        assert case.answers, f"{case.id} should have been refused"
        row = rows[path]
        genres, (music, share) = row[2 : 2 + len(GTZAN_GENRES)], row[2 + len(GTZAN_GENRES):]
        assert row[1] in GTZAN_GENRES and abs(sum(map(float, genres)) - 1) < 1e-4
        assert music in MUSIC_VERDICTS and 0 <= float(share) <= 1
        if case.id == "silence":
            assert music == "silence"
    else:
        assert path in errors, f"{case.id}: neither a row nor a message"
        assert not case.answers or case.expect - {"answer"}, f"{case.id} should have been answered: {errors[path]}"
        expected_message(case, errors[path])


def test_cli_exit_status_for_one_good_and_one_bad_file(corpus, capfd):
    """``python -m genre_models`` exits with what ``cli.main`` returns (``raise SystemExit(main())``), so
    the statuses are checked in this process (the corpus run above is the subprocess): 0 for a good
    file, 1 when a file could not be scored."""
    from genre_models.cli import main

    assert main(["predict", str(corpus["unicode-name"])]) == 0
    out, _ = capfd.readouterr()
    assert "Ünïcødé song — 歌 (live) #1.mp3" in out
    assert main(["predict", str(corpus["blip-0.05s"])]) == 1
    _, err = capfd.readouterr()
    assert "at least 1 s is needed" in err and "Traceback" not in err


# --- (c) the app's functions, in this process ------------------------------------------------------
@pytest.fixture(scope="module")
def app_module():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.path.insert(0, str(REPO))
    import app

    limit, app.MAX_SECONDS = app.MAX_SECONDS, APP_TEST_LIMIT
    yield app
    app.MAX_SECONDS = limit


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_app_classify(app_module, corpus, case):
    import gradio as gr
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    try:
        label, summary, image, figure = app_module.classify(str(corpus[case.id]))
    except gr.Error as err:
        assert not case.answers or case.expect - {"answer"}, f"{case.id} should have been answered: {err.message}"
        expected_message(case, err.message)
    else:
        assert case.answers, f"{case.id} should have been refused"
        assert set(label) == set(GTZAN_GENRES) and math.isclose(sum(label.values()), 1, abs_tol=1e-4)
        assert ("window" in summary or "Not music" in summary) and image.size[0] > 100
        if case.id == "silence":
            assert "Not music: silence" in summary
        plt.close(figure)
    assert time.perf_counter() - t0 < 30


def test_app_album_explains_every_bad_file(app_module, corpus):
    table, csv_path = app_module.classify_album([str(corpus[c.id]) for c in CASES])
    assert list(table["file"]) == [corpus[c.id].name for c in CASES]
    for case, (_, row) in zip(CASES, table.iterrows()):
        if row["genre"]:
            assert case.answers, f"{case.id} should have been refused"
        else:
            assert row["problem"] and (case.expect - {"answer"}), f"{case.id}: {row['problem']}"
            expected_message(case, row["problem"])
    assert Path(csv_path).is_relative_to(app_module.ALBUM_DIR)


def test_album_work_is_bounded(app_module, corpus, monkeypatch):
    """Once the request's audio budget is spent, further files are listed but not analysed."""
    monkeypatch.setattr(app_module, "MAX_ALBUM_SECONDS", 6.0)
    files = [str(corpus[i]) for i in ("silence", "dc-offset", "8k-mono")]  # 5 s, 5 s, 3 s
    table, _ = app_module.classify_album(files)
    assert list(table["genre"].astype(bool)) == [True, True, False]
    assert "not analysed" in table["problem"].iloc[2] and "at most 0.1 minutes" in table["problem"].iloc[2]


# --- a running app, through gradio_client: no traceback reaches a client, no worker hangs ----------
CLIENT_SUBSET = ["empty", "random-bytes", "text-as-wav", "truncated-flac", "blip-0.05s", "60min-m4a",
                 "60min-aac-lying-bitrate", "corrupt-aac-noisy-decoder", "wav-data-size-10x"]


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_running_app_survives_the_corpus_and_cleans_up(corpus, tmp_path):
    from gradio_client import Client, handle_file

    tmpdir, cache = tmp_path / "tmp", tmp_path / "gradio"
    tmpdir.mkdir()
    cache.mkdir()
    # uploads expire after 10 s here (longer than any request below takes, queueing included: an
    # upload deleted mid-request would fail it); 2-minute limit so the lying AAC is refused in ~3 s
    env = {**os.environ, "TMPDIR": str(tmpdir), "GRADIO_TEMP_DIR": str(cache), "GENRE_CACHE_SECONDS": "10",
           "GENRE_MAX_SECONDS": "120"}
    env.pop("GENRE_MODELS", None)
    env.pop("GENRE_ENSEMBLE", None)
    with running_app(tmp_path / "app.log", env=env) as port:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        before = files_under(cache)
        for case_id in [c for c in CLIENT_SUBSET if c in corpus]:
            case = next(c for c in CASES if c.id == case_id)
            job = client.submit(handle_file(str(corpus[case_id])), api_name="/classify")
            try:
                result = job.result(timeout=60)  # a hung worker would never answer
            except TimeoutError:
                pytest.fail(f"{case_id}: no answer in 60 s (hung worker?)")
            except Exception as err:  # gr.Error reaches the client as an AppError with our message
                assert case.expect - {"answer"}, f"{case_id} should have been answered: {err}"
                expected_message(case, str(err))
            else:
                assert case.answers, f"{case_id} should have been refused, got {result[0]['label']}"
        # both workers still serve: two good requests at once, each answered
        jobs = [client.submit(handle_file(str(corpus[i])), api_name="/classify") for i in ("silence", "unicode-name")]
        assert all(j.result(timeout=60)[0]["label"] in GTZAN_GENRES for j in jobs)
        table, csv_path = client.predict([handle_file(str(corpus["empty"])), handle_file(str(corpus["8k-mono"]))],
                                         api_name="/classify_album")
        assert [r[1] != "" for r in table["data"]] == [False, True]
        # our own temp files (upload spills, ffmpeg logs) are gone at once; Gradio's copies of the
        # uploads and outputs within 2 x GENRE_CACHE_SECONDS (10 s here), failed requests included
        assert not [p for p in files_under(tmpdir) if "genre-album-" not in str(p)]
        deadline = time.time() + 40
        while files_under(cache) - before and time.time() < deadline:
            time.sleep(1)
        assert not files_under(cache) - before, sorted(map(str, files_under(cache) - before))
    assert "Traceback" not in (tmp_path / "app.log").read_text()
    assert not list(tmpdir.glob("genre-*")), "the album folder must be removed when the app stops"


# --- property-based: the loader on arbitrary and mutated bytes --------------------------------------
@contextmanager
def time_limit(seconds: int):
    """Fail (rather than hang the suite) if an example takes longer than ``seconds``."""
    def boom(*_):
        raise TimeoutError(f"no answer in {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def only_clean_outcomes(data: bytes) -> None:
    """Only AudioLoadError or a usable array may come out, quickly, from the bytes and their file."""
    with time_limit(20):
        try:
            y = load_audio(data, sr=8000, max_seconds=60)
        except AudioLoadError as err:
            assert err.kind in {"empty", "not_audio", "truncated", "too_short", "too_long", "unsupported"}
            assert str(err) and "Traceback" not in str(err)
        else:
            assert y.dtype == np.float32 and y.ndim == 1 and len(y) >= 8000 and np.isfinite(y).all()


def _valid(fmt: str) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, badinputs.tone(1.2, sr=8000, channels=2), 8000, format=fmt, subtype="PCM_16")
    return buf.getvalue()


VALID = {"WAV": _valid("WAV"), "FLAC": _valid("FLAC")}
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=4096))
def test_fuzz_arbitrary_bytes(data):
    only_clean_outcomes(data)


@FUZZ
@given(fmt=st.sampled_from(sorted(VALID)),
       edits=st.lists(st.tuples(st.integers(0, 95), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.none() | st.integers(0, 30_000))
def test_fuzz_mutated_headers(fmt, edits, cut):
    """Header bytes of a valid WAV/FLAC overwritten (sizes, rates, channels, format codes), maybe cut."""
    data = bytearray(VALID[fmt])
    for pos, value in edits:
        data[pos] = value
    only_clean_outcomes(bytes(data[:cut] if cut is not None else data))


@settings(max_examples=40, deadline=None)
@given(sr=st.sampled_from([8000, 11025, 16000, 44100, 48000]), channels=st.integers(1, 6),
       seconds=st.floats(0.0, 3.0), window_s=st.floats(0.25, 2.0), hop_s=st.floats(0.1, 2.5))
def test_loader_and_windows_agree_with_the_plan(sr, channels, seconds, window_s, hop_s):
    """Any rate/channels/length: streamed resampled blocks cut into windows = plan_windows of the
    loaded length; every window is the loaded audio at that place."""
    import io

    n = int(seconds * sr)
    assume(n > 0)
    buf = io.BytesIO()
    rng = np.random.default_rng(n)
    sf.write(buf, (0.5 * rng.standard_normal((n, channels))).astype(np.float32), sr, format="WAV", subtype="FLOAT")
    data = buf.getvalue()
    window, hop = int(window_s * 8000), int(hop_s * 8000)
    whole = np.concatenate(list(stream_audio(data, 8000)) or [np.zeros(0, np.float32)])
    assert abs(len(whole) - n * 8000 / sr) <= 2
    got = list(iter_windows(stream_audio(data, 8000), window, hop))
    assert [(w.start, w.end) for w in got] == plan_windows(len(whole), window, hop)
    for w in got:
        np.testing.assert_array_equal(w.samples, whole[w.start:w.end])
