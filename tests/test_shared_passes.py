"""Several models reading one backbone embed the same windows once between them, even from threads."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from genre_models.embeddings import Backbone, SharedPasses


class Counting(Backbone):
    """A stand-in backbone that counts its passes and is slow enough for threads to overlap."""

    def __init__(self, fail: int = 0):
        super().__init__()
        self.name, self.variants = "counting", {"sum": 1}
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.calls, self.fail = 0, fail
        self._calls_lock = threading.Lock()

    def _embed_batch(self, windows):
        with self._calls_lock:
            self.calls += 1
            failing = self.calls <= self.fail
        time.sleep(0.2)
        if failing:
            raise RuntimeError("boom")
        return {"sum": torch.tensor([[float(np.sum(w))] for w in windows])}


def windows(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(48000).astype(np.float32) for _ in range(3)]


def test_threads_asking_at_once_share_one_pass():
    shared, backbone, wins = SharedPasses(), Counting(), windows(0)
    out = []
    threads = [threading.Thread(target=lambda: out.append(shared.embed(backbone, wins))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backbone.calls == 1 and len(out) == 4
    assert all(o["sum"] is out[0]["sum"] for o in out)
    np.testing.assert_allclose(out[0]["sum"][:, 0].numpy(), [w.sum() for w in wins], rtol=1e-4)


def test_other_windows_or_another_backbone_are_other_passes_and_the_cache_is_bounded():
    shared, a, b = SharedPasses(size=2), Counting(), Counting()
    shared.embed(a, windows(0))
    shared.embed(b, windows(0))  # another backbone object: its own pass
    w1 = windows(1)
    w1_changed = [w.copy() for w in w1]
    w1_changed[2][-1] += 1.0  # one sample differs
    shared.embed(a, w1)
    shared.embed(a, w1_changed)
    assert a.calls == 3 and b.calls == 1
    shared.embed(a, windows(0))  # evicted (size 2): computed again
    assert a.calls == 4 and len(shared._done) == 2


def test_a_failed_pass_is_not_kept_and_waiters_try_on_their_own():
    shared, backbone, wins = SharedPasses(), Counting(fail=1), windows(2)
    results, errors = [], []

    def ask():
        try:
            results.append(shared.embed(backbone, wins))
        except RuntimeError as err:
            errors.append(err)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    assert len(errors) == 1 and len(results) == 2
    assert not shared._running


def test_the_default_ensemble_members_share_their_backbone_passes(monkeypatch):
    """Two embedding heads on one backbone score a song with one backbone pass per batch of windows."""
    pytest.importorskip("transformers")
    from genre_models import embeddings
    from genre_models.heads import fit_head
    from genre_models.hf_models.embedding_head import build_embedding_head
    from genre_models.prediction import predict
    from genre_models.registry import load_model
    from tests.conftest import REPO

    song = REPO / "examples" / "metal_riff.mp3"
    e = embeddings.embed_file(song, ["msd-musicnn"], max_windows=4)
    X = embeddings.stack_features(e.vectors, embeddings.parse_features("msd-musicnn:pooled"))
    head = fit_head(X, np.arange(len(X)) % 2, labels=["a", "b"], C=0.1)
    monkeypatch.setattr(embeddings, "SHARED_PASSES", SharedPasses())
    backbone = embeddings.load_backbone("msd-musicnn")
    calls = []
    real = backbone.embed
    monkeypatch.setattr(backbone, "embed", lambda w: calls.append(len(w)) or real(w))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        m1 = load_model(build_embedding_head(Path(tmp) / "one", head, ["msd-musicnn:pooled"], max_windows=4))
        m2 = load_model(build_embedding_head(Path(tmp) / "two", head, ["msd-musicnn:pooled"], max_windows=4))
        p1, p2 = predict(song, m1), predict(song, m2)
    np.testing.assert_array_equal(p1.window_probs, p2.window_probs)
    assert len(calls) == 1, calls
