"""``pip install .``: pyproject.toml pins what requirements.txt pins, declares every package the library
imports, and builds a wheel with the ``genre-models`` command and the shipped models inside."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str], where: str) -> dict[str, str]:
    """name -> version of ``name==version`` requirements; anything else (a range, a URL) is an error."""
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = PIN.match(line)
        assert m, f"{where}: {line!r} is not pinned as name==version"
        out[normalise(m[1])] = m[2]
    return out


def requirements_txt() -> dict[str, str]:
    return pins((REPO / "requirements.txt").read_text().splitlines(), "requirements.txt")


def core() -> dict[str, str]:
    return pins(PYPROJECT["project"]["dependencies"], "pyproject dependencies")


def extras() -> dict[str, dict[str, str]]:
    return {name: pins(reqs, f"pyproject [{name}]")
            for name, reqs in PYPROJECT["project"].get("optional-dependencies", {}).items()}


def test_pyproject_pins_what_requirements_txt_pins():
    req = requirements_txt()
    declared: dict[str, str] = dict(core())
    for deps in extras().values():
        for dist, version in deps.items():
            assert declared.setdefault(dist, version) == version, f"{dist} pinned twice in pyproject, differently"
    missing = sorted(set(req) - set(declared))
    extra = sorted(set(declared) - set(req))
    differ = sorted(f"{d}: requirements.txt {req[d]}, pyproject {declared[d]}" for d in set(req) & set(declared)
                    if req[d] != declared[d])
    assert not missing, f"in requirements.txt, not in pyproject.toml: {missing}"
    assert not extra, f"in pyproject.toml, not in requirements.txt: {extra}"
    assert not differ, differ
    # the training and app extras hold nothing the library needs twice
    assert not set(core()) & set(extras().get("train", {})) and not set(core()) & set(extras().get("app", {}))


def imported_modules(folder: Path) -> set[str]:
    """Top-level names of every module imported anywhere in ``folder``'s Python files (lazy imports too)."""
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"genre_models", "__future__"}


def test_the_library_imports_only_core_dependencies():
    """``pip install .`` alone must run the library, the CLI and the shipped models."""
    providers = importlib.metadata.packages_distributions()
    declared = set(core())
    missing = {}
    for module in sorted(imported_modules(REPO / "genre_models")):
        dists = {normalise(d) for d in providers.get(module, [])}
        if not dists:
            missing[module] = "not installed here"
        elif not dists & declared:
            missing[module] = f"from {sorted(dists)}, not in [project] dependencies"
    assert not missing, missing


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel --no-deps .`` of a copy of the sources (so no build/ or egg-info lands in the checkout)."""
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "genre_models", src / "genre_models", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(dist), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    [whl] = dist.glob("genre_models-*.whl")
    return whl


def test_wheel_metadata_entry_point_and_models(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = next(n.rsplit("/", 1)[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(f"{info}/METADATA").decode()
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert re.search(r"^\[console_scripts\]\s*^genre-models = genre_models\.cli:main$", entry_points, re.M)
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, re.M)
    plain = {r for r in requires if ";" not in r}
    assert {normalise(r.split("==")[0]) + "==" + r.split("==")[1] for r in plain} == \
        {f"{d}=={v}" for d, v in core().items()}
    for extra, deps in extras().items():
        for dist, version in deps.items():
            assert any(normalise(r.split("==")[0]) == dist and f"=={version}" in r and f'extra == "{extra}"' in r
                       for r in requires), (extra, dist)
    shipped = {p.relative_to(REPO).as_posix() for p in (REPO / "genre_models" / "pretrained").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped and shipped <= names, sorted(shipped - names)
    code = {p.relative_to(REPO).as_posix() for p in (REPO / "genre_models").rglob("*.py")
            if "__pycache__" not in p.parts}
    assert code <= names, sorted(code - names)
    assert not any(n.startswith(("tests/", "finetune/", "benchmarks/")) for n in names)


def test_installed_command_answers_with_the_shipped_models(wheel, tmp_path):
    """Install the wheel (no dependencies: they are this Python's) into a fresh venv and run
    ``genre-models`` from elsewhere, so only the installed package (and its models) can answer."""
    import numpy as np
    import soundfile as sf

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                          str(wheel)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    sr = 22050
    t = np.arange(3 * sr) / sr
    sf.write(tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), sr)
    import genre_models

    where = "import genre_models; print(genre_models.__file__)"
    installed = subprocess.run([str(venv / "bin" / "python"), "-c", where],
                               cwd=tmp_path, capture_output=True, text=True, timeout=60).stdout.strip()
    assert installed.startswith(str(venv)) and not installed.startswith(str(Path(genre_models.__file__).parent))
    models = Path(installed).parent / "pretrained" / "gtzan-features"
    res = subprocess.run([str(venv / "bin" / "genre-models"), "predict", "tone.wav", "--model", str(models)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    header, row = res.stdout.strip().splitlines()
    assert header.startswith("path,genre,blues") and row.startswith("tone.wav,")
