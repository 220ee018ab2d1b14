"""Fresh virtual environments for tests that install something, seeing this interpreter's packages.

Why not ``python -m venv --system-site-packages``: run from inside a venv (as users run the tests), it
exposes the *base* interpreter's site-packages, not the venv's, so the child misses every package the
user installed (``ModuleNotFoundError: soundfile``). A ``.pth`` file listing this interpreter's own
site-packages works the same from a venv and from a system Python; packages installed into the
child still come first, because ``.pth`` paths are appended after the child's own site-packages.
"""
from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path


def parent_site_packages() -> list[str]:
    """The site-packages folders this interpreter imports from (its venv's, or the system's)."""
    paths = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        paths.append(site.getusersitepackages())
    return [p for p in paths if Path(p).is_dir()]


def child_venv(path: Path, *, inherit: bool = True, timeout: float = 120) -> Path:
    """``python -m venv path``; with ``inherit``, the child also imports this interpreter's packages.
    Returns ``path``."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=timeout)
    if inherit:
        python = path / "bin" / "python"
        purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True, timeout=60).stdout.strip()
        (Path(purelib) / "_genre_models_parent_site.pth").write_text("\n".join(parent_site_packages()) + "\n")
    return path
