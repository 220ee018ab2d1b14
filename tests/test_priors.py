"""Genre priors read by name from the backbones' own classes: the mapping, the numpy and torch paths
(one used in training, the other inside the model) and the calibration."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import REPO

from genre_models import priors
from genre_models.hf_models.musicnn import MSD_TAGS, MTT_TAGS
from genre_models.labels import GTZAN_GENRES


def audioset_names() -> list[str]:
    config = json.loads((REPO / "genre_models" / "pretrained" / "yamnet-audioset" / "config.json").read_text())
    return [config["id2label"][str(i)] for i in range(len(config["id2label"]))]


@pytest.mark.parametrize("variant, names", [
    ("msd-musicnn:tags", MSD_TAGS), ("mtt-musicnn:tags", MTT_TAGS), ("msd-vgg:tags", MSD_TAGS),
    ("mtt-vgg:tags", MTT_TAGS), ("yamnet-audioset:scores", None)])
def test_every_mapped_class_is_an_output_of_its_backbone(variant, names):
    names = names or audioset_names()
    index = priors.class_index(priors.PRIOR_CLASSES[variant], names)
    assert len(index) == len(GTZAN_GENRES)
    for genre, idx in zip(GTZAN_GENRES, index):
        assert [names[i] for i in idx] == priors.PRIOR_CLASSES[variant].get(genre, [])
    assert sum(bool(i) for i in index) >= 6  # most genres have a voice


def test_an_unknown_class_is_refused():
    with pytest.raises(ValueError, match="not among"):
        priors.class_index({"rock": ["Rock", "Krautrock"]}, ["Rock", "Pop"])


def test_log_scores_numpy_and_torch_agree_and_unmapped_genres_are_zero():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, (7, 50)).astype(np.float32)
    scores[0, :] = 0.0  # floored, not -inf
    index = priors.class_index(priors.MSD_CLASSES, MSD_TAGS)
    L = priors.prior_log_scores(scores, index)
    T = priors.prior_log_scores(torch.from_numpy(scores), index).numpy()
    np.testing.assert_allclose(L, T, rtol=1e-6, atol=1e-6)
    rock = GTZAN_GENRES.index("rock")
    want = np.log(np.maximum(scores[:, [MSD_TAGS.index(t) for t in priors.MSD_CLASSES["rock"]]].max(axis=1), 1e-4))
    np.testing.assert_allclose(L[:, rock], want, rtol=1e-6)
    assert np.all(L[:, GTZAN_GENRES.index("classical")] == 0) and np.all(L[:, GTZAN_GENRES.index("reggae")] == 0)
    assert np.isfinite(L).all() and L[0, rock] == pytest.approx(np.log(1e-4))


def test_mixing():
    rng = np.random.default_rng(1)
    head = torch.log_softmax(torch.from_numpy(rng.standard_normal((4, 10))), -1).numpy()
    prior = torch.log_softmax(torch.from_numpy(rng.standard_normal((4, 10))), -1).numpy()
    np.testing.assert_array_equal(priors.mix_log_probs(head, [prior], [0.0]), head)
    np.testing.assert_allclose(priors.mix_log_probs(head, [prior], [1.0]), prior, atol=1e-12)
    half = priors.mix_log_probs(head, [prior], [0.5])
    np.testing.assert_allclose(np.exp(half).sum(axis=1), 1.0)
    np.testing.assert_allclose(half, priors.mix_log_probs(torch.from_numpy(head), [torch.from_numpy(prior)],
                                                          [0.5]).numpy(), atol=1e-12)
    z = 0.5 * head + 0.5 * prior
    np.testing.assert_allclose(half, z - np.log(np.exp(z).sum(axis=1, keepdims=True)), atol=1e-12)


def test_calibration_recovers_scale_and_bias_and_learns_from_label_sets():
    rng = np.random.default_rng(2)
    true_scale, true_bias = 2.0, rng.normal(0, 1, 10)
    true_bias -= true_bias.mean()
    songs, allowed = [], np.zeros((8000, 10), dtype=bool)
    for i in range(8000):
        L = rng.normal(0, 1, (1, 10))
        p = np.exp(priors.calibrated_log_probs(L, true_scale, true_bias))[0]
        allowed[i, rng.choice(10, p=p)] = True
        songs.append(L)
    scale, bias = priors.fit_calibration(songs, allowed, penalty=0.0)
    assert abs(scale - true_scale) < 0.15
    np.testing.assert_allclose(bias - bias.mean(), true_bias, atol=0.2)
    # set-valued labels: a set that always holds the right genre still teaches the scale
    sets = allowed.copy()
    sets[:, [GTZAN_GENRES.index("metal"), GTZAN_GENRES.index("pop")]] |= allowed[:, [GTZAN_GENRES.index("rock")]]
    scale_sets, _ = priors.fit_calibration(songs, sets, penalty=0.0)
    assert scale_sets > 1.0
