"""Ensembles: grouped by label set, weighted and tempered inside a group, broken models left out."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from genre_models.ensemble import Ensemble, _with_temperature
from genre_models.features_model import DEFAULT_MODEL_DIR
from genre_models.labels import GTZAN_GENRES
from genre_models.prediction import Prediction


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    path = tmp_path_factory.mktemp("song") / "song.wav"
    t = np.arange(22050 * 4) / 22050
    sf.write(path, (0.3 * np.sin(2 * np.pi * 330 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32), 22050)
    return path


def test_default_when_nothing_configured():
    """The shipped default: the members ensemble.json lists, in its order, weighted and tempered as it says."""
    from genre_models.ensemble import DEFAULT_ENSEMBLE_FILE

    ens = Ensemble.from_environment({})
    listed = [e["model"] for e in json.loads(DEFAULT_ENSEMBLE_FILE.read_text())["models"]]
    assert ens.problems == [] and [m.model.name for m in ens.members] == listed and len(listed) >= 2
    assert all(m.model.labels == list(GTZAN_GENRES) for m in ens.members) and len(ens.groups()) == 1
    shipped = json.loads(DEFAULT_ENSEMBLE_FILE.read_text())
    learned = [(e["weight"], e["temperature"]) for e in shipped["models"]]
    assert [(m.weight, m.temperature) for m in ens.members] == learned
    assert [m.max_windows for m in ens.members] == [12] * len(listed) and "command" in shipped["fitted_on"]


def test_default_falls_back_when_a_member_cannot_load(tmp_path, monkeypatch):
    """A default member that cannot load (e.g. a trimmed install) is named; the rest still answer."""
    import genre_models.ensemble as ensemble

    cfg = tmp_path / "ensemble.json"
    cfg.write_text(json.dumps({"models": [str(DEFAULT_MODEL_DIR), str(tmp_path / "gone-yamnet")]}))
    monkeypatch.setattr(ensemble, "DEFAULT_ENSEMBLE_FILE", cfg)
    ens = Ensemble.from_environment({})
    assert [m.model.name for m in ens.members] == ["gtzan-features"] and "gone-yamnet" in ens.problems[0]


def test_broken_models_are_reported_and_left_out(tmp_path):
    ens = Ensemble.load([str(tmp_path / "nope"), "not a hub id!", str(DEFAULT_MODEL_DIR)])
    assert len(ens.members) == 1 and len(ens.problems) == 2
    assert all("left out" in p for p in ens.problems)
    bad = tmp_path / "ensemble.json"
    bad.write_text("{not json")
    ens = Ensemble.from_environment({"GENRE_ENSEMBLE": str(bad)})
    assert len(ens.members) == 1 and "could not be read" in ens.problems[0]


def test_label_sets_are_grouped_never_averaged(song, fma_like_model, tmp_path):
    cfg = tmp_path / "ensemble.json"
    (tmp_path / "tiny").symlink_to(fma_like_model)  # relative entries resolve next to the file
    cfg.write_text(json.dumps({"models": [str(DEFAULT_MODEL_DIR), {"model": "tiny", "weight": 2},
                                          {"model": str(DEFAULT_MODEL_DIR), "weight": 3, "temperature": 2.0}]}))
    ens = Ensemble.from_environment({"GENRE_ENSEMBLE": str(cfg)})
    groups = ens.groups()
    assert [len(g) for g in groups] == [2, 1]
    answers = ens.predict(song)
    gtzan, fma = answers
    assert gtzan.labels == list(GTZAN_GENRES) and fma.labels == ["Electronic", "Folk", "Rock"]
    assert len(gtzan.members) == 2 and abs(gtzan.probs.sum() - 1) < 1e-6 and abs(fma.probs.sum() - 1) < 1e-6
    plain, tempered = gtzan.members
    np.testing.assert_allclose(gtzan.probs, 0.25 * plain.probs + 0.75 * tempered.probs)
    assert tempered.probs.max() < plain.probs.max()  # T=2 softens the same model's answer


def test_temperature_is_identity_at_one_and_keeps_the_order():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    pred = Prediction(["a", "b", "c"], p.mean(0), np.array([[0, 1], [1, 2]]), p, 2.0, "m")
    assert _with_temperature(pred, 1.0) is pred
    sharp = _with_temperature(pred, 0.5)
    assert np.allclose(sharp.window_probs.sum(1), 1)
    assert (np.argsort(sharp.window_probs, 1) == np.argsort(p, 1)).all()
    assert sharp.window_probs[0, 0] > 0.7


def test_a_tagger_is_not_taken_for_a_genre_model():
    """msd-musicnn's 50 sigmoid tags must not be softmaxed into a fake 50-genre answer."""
    from genre_models.tagging import DEFAULT_TAGGER_DIR

    ens = Ensemble.load([str(DEFAULT_TAGGER_DIR)])
    assert [m.model.name for m in ens.members] == ["gtzan-features (default)"]
    assert "tagger" in ens.problems[0] and "GENRE_TAGGER" in ens.problems[0]
