"""model_type genre_embedding_head: a head-only folder that loads with every loader of the project and
with transformers' pipeline, computes its inputs through genre_models.embeddings, and round-trips."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from genre_models.embeddings import embed_file, parse_features, stack_features
from genre_models.heads import fit_head
from genre_models.hf_models.embedding_head import (
    EmbeddingHeadForAudioClassification,
    build_embedding_head,
    window_spans,
)
from genre_models.prediction import predict
from genre_models.registry import load_model
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SONGS = {"Jazz": REPO / "examples" / "jazz_swing.ogg", "Metal": REPO / "examples" / "metal_riff.mp3",
         "Hip-Hop": REPO / "examples" / "hiphop_beat.mp3"}
FEATURES = parse_features("msd-musicnn:pooled,yamnet-audioset:meanmax")


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """A head fit on three example songs' windows, written as a folder; and the songs' vectors."""
    embs = {label: embed_file(path, ["msd-musicnn", "yamnet-audioset"], max_windows=3) for label, path in SONGS.items()}
    X = np.concatenate([stack_features(e.vectors, FEATURES) for e in embs.values()])
    y = np.concatenate([[i] * e.n_windows for i, e in enumerate(embs.values())])
    head = fit_head(X, y, labels=list(SONGS), C=0.1)
    out = build_embedding_head(tmp_path_factory.mktemp("eh") / "my-genres", head, FEATURES, max_windows=3,
                               head_info={"C": 0.1}, teach={"labels_from": "tags"})
    return out, head, embs


def test_the_folder_holds_the_head_only(taught):
    out, head, _ = taught
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "genre_embedding_head" and config["id2label"]["2"] == "Hip-Hop"
    assert config["backbones"] == [{"name": "msd-musicnn", "variant": "pooled"},
                                   {"name": "yamnet-audioset", "variant": "meanmax"}]
    assert config["max_windows"] == 3 and len(config["audioset_labels"]) == 521
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), framework="pt") as fh:
        assert sorted(fh.keys()) == ["classifier.bias", "classifier.weight"]
    assert (out / "model.safetensors").stat().st_size < 100_000  # no backbone copied
    assert json.loads((out / "preprocessor_config.json").read_text())["sampling_rate"] == 16000


def test_predict_reproduces_the_head_through_the_apps_path(taught):
    out, head, embs = taught
    model = load_model(out)
    assert model.labels == list(SONGS) and model.window_seconds == 3.0 and model.max_windows == 3
    for label, path in SONGS.items():
        pred = predict(path, model)  # the model's max_windows: the windows it was taught on
        ref = head.predict_proba(stack_features(embs[label].vectors, FEATURES))
        assert np.abs(pred.window_probs - ref).max() < 1e-4
        assert pred.genre == label
        assert pred.extras["audioset"].shape == (3, 521)  # the music check from the same pass


def test_cli_predict_loads_it(taught, capsys):
    from genre_models.cli import main

    out, _, _ = taught
    assert main(["predict", str(SONGS["Metal"]), "--model", str(out)]) == 0
    header, row = capsys.readouterr().out.strip().splitlines()[-2:]
    assert header.split(",")[:5] == ["path", "genre", "Jazz", "Metal", "Hip-Hop"]
    assert row.split(",")[1] == "Metal"


def test_pipeline_and_auto_classes_load_it_without_missing_weights(taught, caplog):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

    import genre_models.hf_models  # noqa: F401

    out, head, embs = taught
    with caplog.at_level(logging.WARNING, logger="transformers"):
        model = AutoModelForAudioClassification.from_pretrained(out)
    assert isinstance(model, EmbeddingHeadForAudioClassification)
    assert not [r for r in caplog.records if "newly initialized" in r.message or "not used" in r.message]
    assert len(model.backbones) == 2 and not any(p.requires_grad for p in model.backbones.parameters())
    pipe = pipeline("audio-classification", model=str(out))
    top = pipe(str(SONGS["Jazz"]))
    assert top[0]["label"] == "Jazz" and abs(sum(t["score"] for t in top) - 1) < 1e-4
    fe = AutoFeatureExtractor.from_pretrained(out)
    y = np.random.default_rng(0).standard_normal(16000 * 7).astype(np.float32) * 0.1
    inputs = fe([y, y[:16000 * 2]], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**inputs).logits
    assert logits.shape == (2, 3) and torch.allclose(logits.exp().sum(dim=1), torch.ones(2), atol=1e-4)


def test_save_pretrained_round_trip(taught, tmp_path):
    from transformers import AutoModelForAudioClassification

    import genre_models.hf_models  # noqa: F401

    out, _, _ = taught
    model = AutoModelForAudioClassification.from_pretrained(out)
    model.train()  # only the head trains; the shared backbones stay in eval mode
    assert model.classifier.training and not any(b.training for b in model.backbones)
    model.eval()
    model.save_pretrained(tmp_path / "copy")
    again = AutoModelForAudioClassification.from_pretrained(tmp_path / "copy")
    assert torch.equal(again.classifier.weight, model.classifier.weight)
    assert again.config.head == {"C": 0.1} and again.config.teach == {"labels_from": "tags"}
    assert callable(model.push_to_hub)  # the Hub path is transformers' own (no network here)


def test_window_spans_spread_like_predict():
    assert window_spans(16000 * 2, 48000) == [(0, 32000)]
    spans = window_spans(16000 * 60, 48000, max_windows=4)
    assert len(spans) == 4 and spans[0] == (0, 48000) and spans[-1] == (16000 * 60 - 48000, 16000 * 60)
    assert len(window_spans(16000 * 60, 48000)) == 20
