"""Issue 6, training faults: a run SIGKILLed mid-epoch, mid-checkpoint or mid-best-model save resumes
from ``latest`` to exactly the end state of an uninterrupted run; the best model folder is loadable
at every point; a half-written checkpoint is never taken as ``latest``; undecodable files in the
data folder are skipped and counted, never fatal.

Tiny mel_cnn on synthetic audio, one CPU thread; the killed runs are real subprocesses.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from finetune import train as ftrain  # noqa: E402
from genre_models.registry import load_model  # noqa: E402

# same thread count here as in the subprocesses: bit-identical weights
pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]
SR = 11025
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
       "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
TINY = {"n_mels": 16, "channels": [4, 8], "n_fft": 512, "hop_length": 256, "sampling_rate": SR}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """``<genre>/<file>``: 3 genres x 4 clips, plus a text file named .wav and a truncated FLAC."""
    root = tmp_path_factory.mktemp("music")
    rng = np.random.default_rng(1)
    for genre, f in (("low", 110.0), ("high", 2000.0), ("noise", None)):
        (root / genre).mkdir()
        for i in range(4):
            t = np.arange(int(rng.uniform(4, 5) * SR)) / SR
            y = (0.3 * rng.standard_normal(t.size) if f is None
                 else 0.4 * np.sin(2 * np.pi * f * rng.uniform(0.9, 1.1) * t))
            sf.write(root / genre / f"{genre}{i}.wav", y.astype(np.float32), SR)
    (root / "low" / "notes.wav").write_text("these are my notes, not audio\n" * 50)
    sf.write(root / "full.flac", (0.3 * rng.standard_normal(4 * SR)).astype(np.float32), SR)
    data = (root / "full.flac").read_bytes()
    (root / "full.flac").unlink()
    (root / "high" / "cut.flac").write_bytes(data[: len(data) // 2])
    return root


def args(data: Path, out: Path) -> list[str]:
    return ["--model", "mel_cnn", "--config_overrides", json.dumps(TINY), "--dataset", "audiofolder",
            "--data_dir", str(data), "--output_dir", str(out), "--chunk_seconds", "1.5", "--num_train_epochs", "4",
            "--per_device_train_batch_size", "4", "--checkpointing_steps", "2", "--save_total_limit", "3",
            "--metric_for_best_model", "loss", "--dataloader_num_workers", "0", "--preprocessing_num_workers", "1",
            "--disable_tqdm", "--report_to", "none"]


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("clean") / "run"
    return ftrain.main(args(dataset, out)), out


def epoch_steps(metrics: dict) -> list[int]:
    return [h["step"] for h in metrics["history"]]


def assert_loadable(best: Path) -> None:
    """The best folder loads like any checkpoint and scores audio."""
    model = load_model(best)
    probs = model.predict_windows([np.zeros(int(1.5 * model.sample_rate), np.float32)])
    assert probs.shape == (1, 3) and abs(probs.sum() - 1) < 1e-5


def weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path)


def test_undecodable_files_are_skipped_and_counted(reference):
    metrics, out = reference
    assert metrics["skipped_files"] == 2, metrics["skipped"]
    reasons = {s["track_id"]: s["reason"] for s in metrics["skipped"]}
    assert reasons["low/notes"].startswith("not_audio") and reasons["high/cut"].startswith("truncated"), reasons
    assert json.loads((out / "metrics.json").read_text())["skipped_files"] == 2
    assert metrics["train_tracks"] + metrics["valid_tracks"] + metrics["test_tracks"] == 12
    assert metrics["best_epoch"] >= 2, "the fault test below needs a best model replaced after epoch 1"


def kill_point(metrics: dict, where: str) -> tuple[list[str], dict[str, str], int]:
    """(extra args, extra env, step) killing the run: mid-epoch 2 / inside the checkpoint save at the
    end of epoch 2 / inside the save of the last best model (which replaces an earlier one)."""
    ends = epoch_steps(metrics)
    if where == "epoch":
        step = ends[0] + 1
        return ["--debug_kill_after_step", str(step)], {}, step
    if where == "checkpoint":
        return [], {"GENRE_DEBUG_KILL_AT": f"checkpoint:{ends[1]}"}, ends[1]
    step = ends[metrics["best_epoch"] - 1]
    return [], {"GENRE_DEBUG_KILL_AT": f"best:{step}"}, step


@pytest.mark.parametrize("where", ["epoch", "checkpoint", "best"])
def test_killed_run_resumes_to_the_same_end_state(dataset, reference, tmp_path, where):
    metrics, clean = reference
    out = tmp_path / "run"
    extra, env, step = kill_point(metrics, where)
    res = subprocess.run([sys.executable, "finetune/train.py", *args(dataset, out), *extra], cwd=REPO,
                         env={**ENV, **env}, capture_output=True, text=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr[-3000:]
    assert "skipping low/notes" in res.stderr and "skipping high/cut" in res.stderr  # logged as well
    assert not (out / "model.safetensors").exists()

    latest = ftrain.find_checkpoint(out, "latest")
    assert latest is not None and (latest / ftrain.STATE_FILE).is_file()
    state = json.loads((latest / ftrain.STATE_FILE).read_text())
    if where == "checkpoint":  # the half-written one exists, has weights, and is not 'latest'
        half = out / "checkpoints" / f".tmp-checkpoint-{step}"
        assert half.is_dir() and any(half.glob("model*.safetensors")) and not (half / ftrain.STATE_FILE).exists()
        assert not (out / "checkpoints" / f"checkpoint-{step}").exists() and state["global_step"] < step
    if where == "best":  # the new best was written beside the old one, which is still in place
        assert list(out.glob(".tmp-best-*"))
        assert json.loads((out / "best" / "best.json").read_text())["step"] < step
    if (out / "best").exists():
        assert_loadable(out / "best")

    resumed = ftrain.main(args(dataset, out) + ["--resume_from_checkpoint", "latest"])
    assert resumed["global_step"] == metrics["global_step"]
    assert resumed["history"] == metrics["history"]
    assert resumed["best_epoch"] == metrics["best_epoch"]
    a, b = weights(out / "model.safetensors"), weights(clean / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert_loadable(out / "best")
    assert not list(out.glob(".tmp-*")) + list(out.glob(".trash-*")) + list((out / "checkpoints").glob(".*"))


def test_trash_left_between_two_renames_is_put_back(tmp_path):
    """Where the atomic swap is unavailable, a kill between the two renames leaves ``best`` only as
    ``.trash-best-<pid>``: the next run puts it back instead of deleting it."""
    (tmp_path / ".trash-best-123").mkdir()
    (tmp_path / ".trash-best-123" / "config.json").write_text("{}")
    (tmp_path / ".tmp-best-123").mkdir()
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / ".trash-checkpoint-4-99").mkdir()
    ftrain._recover_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "checkpoint-4"]
    assert (tmp_path / "best" / "config.json").is_file()


def test_replace_dir_swaps_atomically(tmp_path):
    old, new = tmp_path / "best", tmp_path / ".tmp-best"
    old.mkdir()
    (old / "w").write_text("old")
    new.mkdir()
    (new / "w").write_text("new")
    ftrain._replace_dir(new, old)
    assert (old / "w").read_text() == "new" and not new.exists()
    assert ftrain._exchange(tmp_path / "nope", old) is False  # a failed swap says so
