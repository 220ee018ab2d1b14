"""Issue 6, safety: no code path deserialises pickles or runs remote code, and model names are
validated before anything is fetched.

The static check parses every Python file of the project (AST, not grep, so comments and strings
do not count) and fails on: ``pickle``/``dill``/``joblib`` ``load(s)``, ``torch.load`` without
``weights_only=True``, ``np.load(allow_pickle=True)``, ``trust_remote_code`` set to anything but a
literal ``False``, ``eval``/``exec``, ``subprocess``/``os.system`` with a shell, ``yaml.load``
without a safe loader. Names are resolved through the file's imports, so an alias does not hide a
call (``from pickle import loads``, ``import pickle as pk``, ``from torch import load``,
``import torch as T``). It is itself tested on snippets that break each rule.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from genre_models.registry import load_model

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"}


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_const(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def import_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> what it was imported as, for every import of the file (any scope):
    ``import pickle as pk`` gives ``pk -> pickle``, ``from torch import load`` gives ``load -> torch.load``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _resolve(name: str, aliases: dict[str, str]) -> str:
    """A dotted call name with its first part replaced by what it was imported as."""
    head, dot, rest = name.partition(".")
    return aliases[head] + dot + rest if head in aliases else name


def unsafe_calls(source: str, filename: str = "<snippet>") -> list[str]:
    """``file:line: what`` for every unsafe call in ``source``."""
    found = []
    tree = ast.parse(source, filename)
    aliases = import_aliases(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _resolve(_dotted(node.func), aliases)
        where = f"{filename}:{node.lineno}"
        if name in ("eval", "exec"):
            found.append(f"{where}: {name}()")
        elif name.split(".")[0] in ("pickle", "cPickle", "dill", "cloudpickle", "joblib") and \
                name.endswith((".load", ".loads", ".Unpickler")):
            found.append(f"{where}: {name}() deserialises a pickle")
        elif name == "torch.load" and not _is_const(_kw(node, "weights_only"), True):
            found.append(f"{where}: torch.load without weights_only=True")
        elif name in ("np.load", "numpy.load") and not (_kw(node, "allow_pickle") is None
                                                        or _is_const(_kw(node, "allow_pickle"), False)):
            found.append(f"{where}: np.load with allow_pickle")
        elif name in ("yaml.load", "yaml.load_all") and "Safe" not in ast.unparse(node):
            found.append(f"{where}: yaml.load without SafeLoader")
        elif name == "os.system" or (name.startswith("subprocess.") and not _is_const(_kw(node, "shell"), False)
                                     and _kw(node, "shell") is not None):
            found.append(f"{where}: {name} with a shell")
        trust = _kw(node, "trust_remote_code")
        if trust is not None and not _is_const(trust, False):
            found.append(f"{where}: trust_remote_code={ast.unparse(trust)}")
    return found


def project_files() -> list[Path]:
    return sorted(p for p in REPO.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(REPO).parts))


@pytest.mark.parametrize("snippet", [
    "import pickle\npickle.load(open('m.pkl', 'rb'))",
    "import pickle\npickle.loads(data)",
    "import joblib\njoblib.load('model.joblib')",
    "import torch\ntorch.load('w.pt')",
    "import torch\ntorch.load('w.pt', weights_only=False)",
    "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
    "from transformers import AutoModel\nAutoModel.from_pretrained('x/y', trust_remote_code=True)",
    "AutoModel.from_pretrained('x/y', trust_remote_code=flag)",
    "eval(user_input)",
    "import subprocess\nsubprocess.run(cmd, shell=True)",
    "import os\nos.system('ffmpeg -i ' + path)",
    "import yaml\nyaml.load(text)",
    # aliases: the call's own name does not say what it is
    "from pickle import loads\nloads(data)",
    "from pickle import load as read_model\nread_model(open('m.pkl', 'rb'))",
    "import pickle as pk\npk.load(open('m.pkl', 'rb'))",
    "import cloudpickle as cp\ncp.loads(data)",
    "from torch import load\nload('w.pt')",
    "import torch as T\nT.load('w.pt')",
    "import torch as T\nT.load('w.pt', weights_only=False)",
    "from numpy import load\nload('x.npy', allow_pickle=True)",
    "from subprocess import run\nrun(cmd, shell=True)",
    "from os import system\nsystem('ffmpeg -i ' + path)",
    "def f(data):\n    from pickle import loads\n    return loads(data)",
])
def test_the_checker_catches_each_rule(snippet):
    assert len(unsafe_calls(snippet)) == 1, snippet


def test_the_checker_accepts_the_safe_forms():
    safe = ("import torch, numpy as np, subprocess, yaml\n"
            "torch.load('w.pt', map_location='cpu', weights_only=True)\n"
            "np.load('x.npy', mmap_mode='r')\nnp.load('x.npy', allow_pickle=False)\n"
            "subprocess.run(['ffmpeg', '-i', path])\nmodel.eval()\n"
            "AutoModel.from_pretrained('x/y', trust_remote_code=False)\nyaml.load(t, Loader=yaml.SafeLoader)\n"
            "import torch as T\nfrom torch import load\nT.load('w.pt', weights_only=True)\n"
            "load('w.pt', weights_only=True)\nfrom json import loads\nloads(text)\n"
            "from safetensors.torch import load_file\nload_file('m.safetensors')\n")
    assert unsafe_calls(safe) == []


def test_no_unsafe_calls_in_the_project():
    files = project_files()
    assert len(files) > 30 and REPO / "app.py" in files
    problems = [p for f in files for p in unsafe_calls(f.read_text(encoding="utf-8"), str(f.relative_to(REPO)))]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("name", ["../x", "a/b/c", "https://huggingface.co/owner/name", "owner/na me", "x/..",
                                  "owner/", "-owner/name", "ówner/name", "owner/name?rev=1", "", "  "])
def test_odd_model_names_are_refused_before_any_download(name, monkeypatch):
    import huggingface_hub

    def no_network(*args, **kwargs):
        raise AssertionError(f"{name!r} reached the Hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    monkeypatch.chdir(REPO / "tests")  # no folder of these names here
    with pytest.raises(ValueError, match="Hub id|empty model name"):
        load_model(name)


def test_a_pickle_only_model_folder_is_refused(tmp_path):
    """A features-model folder whose weights are a pickle is refused with a reason, never opened."""
    (tmp_path / "config.json").write_text('{"model_type": "gtzan-features"}')
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ValueError, match="pickle-based weights are never loaded"):
        load_model(tmp_path)
