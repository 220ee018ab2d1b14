"""Shared fixtures: where the real data lives (skipping cleanly when it does not), one torch thread
for tiny models, and a tiny checkpoint with a non-GTZAN label set."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# One OpenBLAS thread for numpy and scipy in the test process and the processes it starts (a test or CI
# may set another): on this 2-core machine, OpenBLAS's second thread spinning beside torch's OpenMP pool
# made scikit-learn's small matrix products 7-13x dearer (tests/test_features_model.py: 116 s of CPU
# instead of 16; the features recipe refit: 111 s instead of 14), for the same results.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if "numpy" in sys.modules:  # loaded before this file (by a plugin): limit the libraries already there
    try:
        from threadpoolctl import threadpool_limits  # scikit-learn's dependency
    except ImportError:
        pass
    else:
        threadpool_limits(limits=int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")

# Each pytest-xdist worker (and the processes it starts) keeps numba's on-disk cache in a folder of its
# own (librosa compiles its gufuncs with cache=True, by default into site-packages): two workers compiling
# and writing the same entries at once in a fresh venv left processes calling a half-written gufunc
# (segfaults in numba's gufunc __call__ from librosa.piptrack, once in a fresh-clone CI run).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and "numba" not in sys.modules:
    import tempfile

    _base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(tempfile.gettempdir(), f"genre-tests-numba-{os.getuid()}")
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(_base, _WORKER)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GENRE_SHARED_DATA", REPO.parent / "shared" / "data"))
GTZAN = SHARED_DATA / "gtzan"


@pytest.fixture(scope="session")
def gtzan_dir() -> Path:
    """The read-only GTZAN material beside the checkout; skipped on a fresh clone without it."""
    if not (GTZAN / "features_30_sec.csv").is_file():
        pytest.skip(f"real GTZAN data not found at {GTZAN} (set GENRE_SHARED_DATA to its parent folder)")
    return GTZAN


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core CPU torch's OpenMP workers waiting
    for each other at every op can make a 1-s run take 30 s (it also keeps this process's thread count
    equal to training subprocesses', for bit-identical weights); restored afterwards for other files."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def fma_like_model(tmp_path_factory) -> Path:
    """A tiny CNN with a 3-label (FMA-like) label set, saved as a checkpoint folder."""
    torch = pytest.importorskip("torch")
    from genre_models.hf_models import build_model

    torch.manual_seed(0)
    model, fe = build_model("mel_cnn", ["Electronic", "Folk", "Rock"], channels=(4, 8), n_mels=32,
                            extractor_kwargs={"chunk_seconds": 3.0})
    model.config.window_seconds = 3.0
    out = tmp_path_factory.mktemp("fma") / "tiny-fma-cnn"
    model.save_pretrained(out)
    fe.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def toy_genres(tmp_path_factory) -> Path:
    """Two "genres" for fine-tuning tests, cut from the project's own CC0 examples: ``metal/`` and
    ``classical/``, 6 tracks of 3.5 s each (the first 21 s of the metal riff and of the string piece).
    Real music keeps a pretrained backbone's batch-norm statistics meaningful; pure tones shift them
    so far that a few steps in train mode leave the eval-mode model guessing."""
    import soundfile as sf

    from genre_models.audio import load_audio

    root, sr = tmp_path_factory.mktemp("toy_genres"), 22050
    for genre, name in (("metal", "metal_riff.mp3"), ("classical", "classical_strings.ogg")):
        y = load_audio(REPO / "examples" / name, sr)
        (root / genre).mkdir()
        n = int(3.5 * sr)
        for i in range(6):
            sf.write(root / genre / f"{genre}.{i:05d}.wav", y[i * n:(i + 1) * n], sr)
    return root


@pytest.fixture(scope="session")
def default_app(tmp_path_factory):
    """One ``python app.py`` with the default ensemble (genre_models/pretrained/ensemble.json) for the
    whole session, shared by every test that only needs the default app (test_app, test_browser,
    test_load): each start costs ~10-20 s of imports and model loading, and a first request's warm-up.
    Tests that need another configuration start their own (tests/apphost.py).

    ``MALLOC_ARENA_MAX=2``: with glibc's default (8 arenas per core) the app's RSS climbs from ~0.8 to
    ~1.2 GB over its first ~50 requests as Gradio's worker threads each fill an arena, which would hide
    a leak from test_load's memory check; with 2 arenas it is flat after a warm-up. Nothing else changes."""
    from apphost import app_server, default_app_env

    env = {**default_app_env(), "MALLOC_ARENA_MAX": "2"}
    with app_server(tmp_path_factory.mktemp("default-app") / "app.log", env=env) as app:
        yield app
