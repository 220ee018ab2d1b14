"""An embedding head with priors: the model's forward mixes the calibrated priors exactly as
genre_models.priors computes them in training (one path), and shows a musicnn tagger's tags."""
from __future__ import annotations

import json

import numpy as np
import pytest

from genre_models import priors
from genre_models.embeddings import embed_file, parse_features, stack_features
from genre_models.heads import fit_head
from genre_models.hf_models.embedding_head import build_embedding_head, output_names
from genre_models.labels import GTZAN_GENRES
from genre_models.prediction import predict
from genre_models.registry import load_model
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SONGS = [REPO / "examples" / n for n in ("jazz_swing.ogg", "metal_riff.mp3", "hiphop_beat.mp3")]


@pytest.fixture(scope="module")
def vectors():
    return [embed_file(p, ["msd-musicnn", "yamnet-audioset"], max_windows=4) for p in SONGS]


def reference(e, head, prior_cfg):
    """The window probabilities the training code computes: head, calibrated priors, log-linear mix."""
    X = stack_features(e.vectors, parse_features("msd-musicnn:pooled"))
    parts = []
    for p in prior_cfg:
        index = priors.class_index(p["classes"], output_names(p["name"], p["variant"]))
        L = priors.prior_log_scores(e.vectors[p["name"]][p["variant"]], index)
        parts.append(priors.calibrated_log_probs(L, p["scale"], p["bias"]))
    return np.exp(priors.mix_log_probs(head.log_proba(X), parts, [p["weight"] for p in prior_cfg]))


def test_priors_are_mixed_as_in_training(vectors, tmp_path):
    rng = np.random.default_rng(0)
    X = np.concatenate([stack_features(e.vectors, parse_features("msd-musicnn:pooled")) for e in vectors])
    y = np.concatenate([[GTZAN_GENRES.index(g)] * e.n_windows for g, e in zip(("jazz", "metal", "hiphop"), vectors)])
    head = fit_head(X, np.eye(10, dtype=bool)[y], labels=GTZAN_GENRES, C=0.1)
    prior_cfg = [
        {"name": "msd-musicnn", "variant": "tags", "classes": priors.MSD_CLASSES, "scale": 1.7,
         "bias": list(rng.normal(0, 1, 10)), "weight": 0.3},
        {"name": "yamnet-audioset", "variant": "scores", "classes": priors.AUDIOSET_CLASSES, "scale": 0.8,
         "bias": list(rng.normal(0, 1, 10)), "weight": 0.25},
    ]
    out = build_embedding_head(tmp_path / "m", head, ["msd-musicnn:pooled"], max_windows=4, priors=prior_cfg)
    config = json.loads((out / "config.json").read_text())
    assert config["backbones"] == [{"name": "msd-musicnn", "variant": "pooled"}]
    assert [p["weight"] for p in config["priors"]] == [0.3, 0.25] and len(config["audioset_labels"]) == 521
    model = load_model(out)
    for path, e in zip(SONGS, vectors):
        pred = predict(path, model)
        ref = reference(e, head, prior_cfg)
        np.testing.assert_allclose(pred.window_probs, ref, rtol=0, atol=2e-5)
        np.testing.assert_allclose(pred.probs, ref.mean(axis=0), rtol=0, atol=2e-5)
        assert "audioset" in pred.extras  # YAMNet runs for its prior: the music check comes free
        # the priors change the answer: without them the same head says something else
        assert np.abs(np.exp(head.log_proba(stack_features(e.vectors, parse_features("msd-musicnn:pooled"))))
                      - ref).max() > 0.01


def test_a_musicnn_member_shows_its_tags(vectors, tmp_path):
    X = np.concatenate([stack_features(e.vectors, parse_features("msd-musicnn:pooled")) for e in vectors])
    y = np.concatenate([[i] * e.n_windows for i, e in enumerate(vectors)])
    head = fit_head(X, y, labels=["jazz", "metal", "hiphop"], C=0.1)
    out = build_embedding_head(tmp_path / "t", head, ["msd-musicnn:pooled"], max_windows=4, tag_tagger="msd-musicnn")
    model = load_model(out)
    assert model.tag_labels[:3] == ["rock", "pop", "alternative"] and not model.audioset_labels
    pred = predict(SONGS[1], model)
    logits = pred.extras["tag_logits"]
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), vectors[1].vectors["msd-musicnn"]["tags"], atol=1e-5)
    from genre_models.tagging import tags_of

    tags = tags_of(pred)
    assert tags is not None and tags.top(5)[0][0] in {"metal", "rock", "heavy metal", "hard rock"}
