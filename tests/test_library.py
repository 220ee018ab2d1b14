"""Whole-library runs (``genre_models.library``): folders in, one table out; workers, ``kill -9`` and
``--resume``, torchrun shards, Parquet. Tiny generated audio and the embedded features model."""
from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_models import journal
from genre_models import library as lib
from genre_models.labels import GTZAN_GENRES
from genre_models.library import LibraryOptions, ModelSpec, find_audio, run_library

REPO = Path(__file__).resolve().parents[1]
FEATURES = str(REPO / "genre_models" / "pretrained" / "gtzan-features")
SR = 22050
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _tone(seconds: float, freq: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Nested folders of audio, a bad file, a text file, a macOS resource fork, a symlink loop and
    a second symlink to a folder already walked."""
    root = tmp_path_factory.mktemp("library") / "lib"
    files = {"top0.wav": "WAV", "top1.flac": "FLAC", "a/a0.wav": "WAV", "a/a1.mp3": "MP3", "a/b/b0.wav": "WAV",
             "c/c0.ogg": "OGG", "c/c1.wav": "WAV", "c/d/e/deep.WAV": "WAV"}
    for i, (name, fmt) in enumerate(files.items()):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / name, _tone(2.0, 150 + 60 * i, i), SR, format=fmt)
    (root / "c" / "bad.mp3").write_bytes(b"definitely not audio" * 100)
    (root / "c" / "notes.txt").write_text("not a song")
    (root / "c" / "._c1.wav").write_bytes(b"\x00\x05\x16\x07resource fork")
    (root / "a" / "b" / "loop").symlink_to("..")  # lib/a/b/loop -> lib/a
    (root / "same").symlink_to("a")  # lib/same -> lib/a: the same folder again
    return root


@pytest.fixture(scope="module")
def reference(tree, tmp_path_factory) -> dict:
    """The one-process, one-job table of the tree (in this process)."""
    out = tmp_path_factory.mktemp("ref") / "ref.csv"
    err = io.StringIO()
    code = run_library(LibraryOptions([tree], out=out, recursive=True, models=ModelSpec(models=(FEATURES,))),
                       out=io.StringIO(), err=err)
    return {"code": code, "rows": rows_of(out), "errors": rows_of(out.with_name("ref.errors.csv")),
            "stderr": err.getvalue(), "out": out}


def rows_of(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: r["path"])


def assert_same_table(rows: list[dict], ref: list[dict]) -> None:
    """Same files, columns and answers; probabilities equal to their 6 printed decimals, give or take
    the last one (BLAS sums in another order with another thread count)."""
    assert [list(r) for r in rows] == [list(r) for r in ref]
    assert [(r["path"], r["genre"]) for r in rows] == [(r["path"], r["genre"]) for r in ref]
    np.testing.assert_allclose([[float(r[g]) for g in GTZAN_GENRES] for r in rows],
                               [[float(r[g]) for g in GTZAN_GENRES] for r in ref], atol=2.5e-6)


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genre_models", *map(str, args)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=120, **kw)


def test_walk_recursive_and_flat(tree, monkeypatch):
    warnings: list[str] = []
    found = [p.relative_to(tree).as_posix() for p in find_audio([tree], recursive=True, warn=warnings.append)]
    assert sorted(found) == sorted(["top0.wav", "top1.flac", "a/a0.wav", "a/a1.mp3", "a/b/b0.wav", "c/c0.ogg",
                                    "c/c1.wav", "c/d/e/deep.WAV", "c/bad.mp3"])
    assert any("symlink loop" in w and "loop" in w for w in warnings)
    assert any("same folder" in w and w.startswith(str(tree / "same")) for w in warnings)
    # without --recursive: the folder's own audio files; a named file is taken whatever its suffix
    flat = find_audio([tree, tree / "c" / "notes.txt", tree / "top0.wav"], warn=warnings.append)
    assert [p.relative_to(tree).as_posix() for p in flat] == ["top0.wav", "top1.flac", "c/notes.txt"]
    # an unreadable folder is reported and skipped (root reads anything, so the refusal is simulated)
    real = os.scandir

    def scandir(path):
        if Path(path) == tree / "c":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    warnings.clear()
    found = find_audio([tree], recursive=True, warn=warnings.append)
    assert not any("/c/" in str(p) for p in found) and len(found) == 5
    assert any("cannot read this folder" in w and "Permission denied" in w for w in warnings)


def test_cli_library_run(tree, reference, tmp_path):
    """The CLI over the tree: one row per song, the bad file in the errors table, loops on stderr, exit 1."""
    out = tmp_path / "lib.csv"
    res = cli("predict", tree, "--recursive", "--model", FEATURES, "--csv", out)
    assert res.returncode == 1, res.stderr
    rows = rows_of(out)
    assert len(rows) == 8 and len({r["path"] for r in rows}) == 8
    assert list(rows[0]) == ["path", "genre", *GTZAN_GENRES, "music", "music_share"] == lib.table_columns(GTZAN_GENRES)
    for row in rows:
        probs = np.array([float(row[g]) for g in GTZAN_GENRES])
        assert abs(probs.sum() - 1) < 1e-4 and row["genre"] == GTZAN_GENRES[int(probs.argmax())]
    [error] = rows_of(tmp_path / "lib.errors.csv")
    assert error["path"].endswith("bad.mp3") and "not audio" in error["reason"]
    assert "symlink loop" in res.stderr and "bad.mp3: This file is not audio" in res.stderr
    assert "Traceback" not in res.stderr and re.search(r"9 file\(s\) done in .+?: 8 scored, 1 failed", res.stderr)
    assert_same_table(rows, reference["rows"])
    assert reference["code"] == 1
    # stdout: the header and one line per song, as before
    printed = res.stdout.splitlines()
    assert printed[0] == ",".join(["path", "genre", *GTZAN_GENRES, "music", "music_share"]) and len(printed) == 9
    # a resumed run skips everything (in this process, as the CLI calls it)
    err = io.StringIO()
    opts = LibraryOptions([tree], out=out, recursive=True, resume=True, models=ModelSpec(models=(FEATURES,)))
    assert run_library(opts, out=io.StringIO(), err=err) == 1
    assert "9 of 9 file(s) already done (1 listed as errors); 0 to go" in err.getvalue()
    assert rows_of(out) == rows  # untouched
    # a clean run leaves no errors file
    opts = LibraryOptions([tree / "a"], out=tmp_path / "a.csv", models=ModelSpec(models=(FEATURES,)))
    assert run_library(opts, out=io.StringIO(), err=io.StringIO()) == 0
    assert not (tmp_path / "a.errors.csv").exists() and len(rows_of(tmp_path / "a.csv")) == 2


def test_resume_after_kill_9(tmp_path):
    """A real ``kill -9`` mid-run, then a torn last line (as a power cut leaves), then --resume:
    every file exactly once, no torn row, nothing scored twice."""
    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(30):
        sf.write(songs / f"s{i:02d}.wav", _tone(2.0, 120 + 15 * i, i), SR)
    out = tmp_path / "lib.csv"
    args = [sys.executable, "-m", "genre_models", "predict", str(songs), "--model", FEATURES, "--csv", str(out)]
    proc = subprocess.Popen(args, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_file() and out.read_bytes().count(b"\n") >= 4:  # the header and 3 rows
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    data = out.read_bytes()
    assert data.endswith(b"\n")  # one write per row: a kill leaves whole lines
    first = [line.split(",")[0] for line in data.decode().splitlines()[1:]]
    assert 3 <= len(first) < 30, len(first)
    with out.open("ab") as fh:  # what a torn write would leave
        fh.write(f"{songs / 'zz-torn.wav'},jazz,0.0001".encode())
    res = subprocess.run(args + ["--resume"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"{len(first)} of 30 file(s) already done" in res.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("path,genre,") and out.read_bytes().endswith(b"\n")
    paths = [line.split(",")[0] for line in lines[1:]]
    assert sorted(paths) == sorted(str(p) for p in songs.iterdir())  # each exactly once, the torn one gone
    assert paths[:len(first)] == first  # the killed run's rows were kept, not redone
    assert all(len(line.split(",")) == 14 for line in lines)  # path, genre, 10 genres, music, music_share
    # the resumed run printed only the rows it added
    assert len(res.stdout.splitlines()) == 1 + 30 - len(first)


def test_torchrun_two_processes_equal_one(tree, reference, tmp_path):
    """``torchrun --nproc_per_node 2``: each process scores half the sorted files into its part
    file; process 0 merges them after the barrier (gloo group from torchrun's rendezvous)."""
    out = tmp_path / "lib.csv"
    res = subprocess.run(["torchrun", "--standalone", "--nproc_per_node", "2", "-m", "genre_models", "predict",
                          str(tree), "-r", "--model", FEATURES, "--csv", str(out)],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=180)
    # 9 files sorted, every 2nd: 5 for process 0, 4 (the bad one among them) for process 1
    assert re.search(r"\[process 0/2\] 5 file\(s\) done in .+?: 5 scored, 0 failed", res.stderr), res.stderr[-3000:]
    assert re.search(r"\[process 1/2\] 4 file\(s\) done in .+?: 3 scored, 1 failed", res.stderr)
    assert res.returncode == 1  # process 0 reports for the whole run: a file failed
    assert_same_table(rows_of(out), reference["rows"])
    assert rows_of(tmp_path / "lib.errors.csv") == reference["errors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib.csv", "lib.errors.csv"]  # parts merged, removed


def test_two_processes_without_a_process_group(tree, reference, tmp_path):
    """RANK/WORLD_SIZE from any launcher, no rendezvous: the done-markers say when to merge."""
    out = tmp_path / "lib.csv"
    procs = [subprocess.Popen([sys.executable, "-m", "genre_models", "predict", str(tree), "-r", "--model", FEATURES,
                               "--csv", str(out)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True,
                              env={**ENV, "RANK": str(r), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
                                   "GENRE_RUN_ID": "test-run"})
             for r in (1, 0)]  # process 1 first: process 0 must wait for it
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0, 1], [p.stderr.read() for p in procs]
    assert_same_table(rows_of(out), reference["rows"])
    assert rows_of(tmp_path / "lib.errors.csv") == reference["errors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib.csv", "lib.errors.csv"]


def test_parquet_and_jobs_2_equal_the_csv(tree, reference, tmp_path):
    """``--jobs 2`` (two spawned workers) writing Parquet: the same rows and columns as the CSV."""
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "lib.parquet"
    err = io.StringIO()
    code = run_library(LibraryOptions([tree], out=out, recursive=True, jobs=2, models=ModelSpec(models=(FEATURES,))),
                       out=io.StringIO(), err=err)
    assert code == 1, err.getvalue()
    table = pq.read_table(out)
    assert table.column_names == list(reference["rows"][0])
    got = sorted(table.to_pylist(), key=lambda r: r["path"])
    assert [r["path"] for r in got] == [r["path"] for r in reference["rows"]]
    journal_rows = rows_of(tmp_path / "lib.journal.csv")
    for mine, ref in zip(got, journal_rows):  # the Parquet holds exactly the journal's values
        assert mine["genre"] == ref["genre"]
        assert [f"{mine[g]:.6f}" for g in GTZAN_GENRES] == [ref[g] for g in GTZAN_GENRES]
    assert_same_table(rows_of(tmp_path / "lib.journal.csv"), reference["rows"])  # the journal is the CSV
    assert rows_of(tmp_path / "lib.errors.csv") == reference["errors"]


def test_two_label_sets_with_windows_then_resume(tree, fma_like_model, one_torch_thread, tmp_path):
    """Two label sets: a table each, a ledger (``t.done.csv``), per-window tables; a resumed run
    adds nothing and scores nothing again."""
    opts = LibraryOptions([tree / "a", tree / "c"], out=tmp_path / "t.csv", windows_out=tmp_path / "w.csv",
                          models=ModelSpec(models=(str(fma_like_model), FEATURES)),
                          settings=lib.ScoreSettings(windows=True))
    out, err = io.StringIO(), io.StringIO()
    assert run_library(opts, out=out, err=err) == 1, err.getvalue()
    first, second = rows_of(tmp_path / "t.csv"), rows_of(tmp_path / "t.group2.csv")
    assert list(first[0]) == ["path", "genre", "Electronic", "Folk", "Rock", "music", "music_share"]
    assert list(second[0]) == ["path", "genre", *GTZAN_GENRES, "music", "music_share"]
    songs = sorted(str(p) for p in [tree / "a" / "a0.wav", tree / "a" / "a1.mp3", tree / "c" / "c0.ogg",
                                     tree / "c" / "c1.wav"])
    assert [r["path"] for r in first] == [r["path"] for r in second] == songs
    assert [r["path"] for r in rows_of(tmp_path / "t.done.csv")] == songs
    windows = rows_of(tmp_path / "w.csv")
    assert {r["model"] for r in windows} == {"tiny-fma-cnn"} and sorted({r["path"] for r in windows}) == songs
    assert {r["model"] for r in rows_of(tmp_path / "w.group2.csv")} == {"gtzan-features"}
    assert "# label set 2\npath,genre,blues" in out.getvalue()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    err = io.StringIO()
    assert run_library(LibraryOptions(**{**opts.__dict__, "resume": True}), out=io.StringIO(), err=err) == 1
    assert "5 of 5 file(s) already done (1 listed as errors); 0 to go" in err.getvalue()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_errors_are_not_retried_unless_asked(tmp_path):
    folder = tmp_path / "songs"
    folder.mkdir()
    sf.write(folder / "good.wav", _tone(2.0, 220, 0), SR)
    (folder / "later.wav").write_bytes(b"RIFF not yet")
    out = tmp_path / "t.csv"

    def run(**kw) -> tuple[int, str]:
        err = io.StringIO()
        opts = LibraryOptions([folder], out=out, models=ModelSpec(models=(FEATURES,)), **kw)
        return run_library(opts, out=io.StringIO(), err=err), err.getvalue()

    assert run()[0] == 1
    assert [r["path"] for r in rows_of(tmp_path / "t.errors.csv")] == [str(folder / "later.wav")]
    sf.write(folder / "later.wav", _tone(2.0, 440, 1), SR)  # the file is mended
    code, err = run(resume=True)
    assert code == 1 and "2 of 2 file(s) already done (1 listed as errors); 0 to go" in err
    code, err = run(resume=True, retry_errors=True)
    assert code == 0 and "1 of 2 file(s) already done" in err
    assert [r["path"] for r in rows_of(out)] == [str(folder / "good.wav"), str(folder / "later.wav")]
    assert not (tmp_path / "t.errors.csv").exists()


def test_progress_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err, out = Terminal(), io.StringIO()
    progress = lib.Progress(3, skipped=2, out=out, err=err)
    progress.advance(failed=False)
    progress.row("a.wav,rock")
    progress.advance(failed=True)
    progress.advance(failed=False)
    drawn = err.getvalue()
    assert "\r\033[K1/3 files | " in drawn and "3/3 files, 1 failed | " in drawn
    assert "songs/min | ETA " in drawn and out.getvalue() == "a.wav,rock\n"
    summary = progress.summary()
    assert re.fullmatch(r"3 file\(s\) done in \d+s: 2 scored, 1 failed, 2 already done \(\d+\.\d songs/min\)",
                        summary), summary
    assert not lib.Progress(3, 0, err=io.StringIO()).tty  # not a terminal: no progress line, only the summary


def _double_or_die(x: int) -> int:
    if x == 3:
        os._exit(1)  # what a segfault or the OOM killer does to a worker
    return 2 * x


def test_a_worker_that_dies_costs_one_file(tmp_path):
    got = dict(lib.pool_map(_double_or_die, range(8), 2, on_death=lambda x: -1))
    assert got == {0: 0, 1: 2, 2: 4, 3: -1, 4: 8, 5: 10, 6: 12, 7: 14}


def test_recover_drops_rows_of_an_unfinished_file(tmp_path):
    """Several label sets: a file's rows go to each table and its ledger row comes last; killed
    between them, the next run drops the rows of the file whose ledger row never came."""
    layout = lib.Layout(tmp_path / "t.csv", tmp_path / "w.csv", [["x", "y"], ["p", "q", "r"]])
    final = layout.final()
    assert final.ledger == tmp_path / "t.done.csv" and final.tables[1] == tmp_path / "t.group2.csv"
    columns = layout.columns(final)

    def result(path: str) -> lib.FileResult:
        check = {"music": "music", "music_share": "1.000"}  # every table carries the music check
        return lib.FileResult(path, rows=[{"path": path, "genre": "x", "x": "0.6", "y": "0.4", **check},
                                      {"path": path, "genre": "q", "p": "0.1", "q": "0.8", "r": "0.1", **check}],
                          windows=[[{"path": path, "model": "m", "start": "0", "end": "3", "x": "1", "y": "0"}],
                                   []])

    writer = lib.Writer(final, columns)
    writer.open(resume=False)
    writer.write(result("a\nnewline.wav"))  # a path with a newline stays one record
    writer.write(lib.FileResult("bad.wav", error="not audio"))
    writer.close()
    # a file half written (no ledger row) and a torn last line
    with final.tables[0].open("a") as fh:
        fh.write("half.wav,x,0.6,0.4,music,1.000\n")
    with final.tables[1].open("a") as fh:
        fh.write('half.wav,q,0.1,0.8,0.1,music,1.000\n"torn')
    lib.recover(final)
    for path in final.journals():
        assert path.read_bytes().endswith(b"\n")
    assert journal.paths_in(final.tables[0]) == journal.paths_in(final.tables[1]) == {"a\nnewline.wav"}
    assert journal.paths_in(final.ledger) == journal.paths_in(final.windows[0]) == {"a\nnewline.wav"}
    assert journal.paths_in(final.errors) == {"bad.wav"}
