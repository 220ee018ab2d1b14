"""Genre models on the pretrained backbones, as the app uses them: one pass gives the genre and more.

* the YAMNet genre model mixes its head with the AudioSet prior exactly as configured, and the same
  pass returns each window's AudioSet scores and spectral flatness (the music check reads them);
* the musicnn genre model keeps the MSD tagger's layer, so its pass also gives the tags the separate
  tagger gives;
* the default ensemble answers with the music check, the wider genres and the tags, without loading a
  separate AudioSet model or tagger.
Tiny random configs check the arithmetic; the shipped folders check what ships.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import genre_models.hf_models  # noqa: E402,F401
from genre_models.audioset import PRIOR_CLASSES  # noqa: E402
from genre_models.hf_models.yamnet import YAMNetGenreConfig, YAMNetGenreForAudioClassification  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "genre_models" / "pretrained"
AUDIOSET_LABELS = [json.loads((PRETRAINED / "yamnet-audioset" / "config.json").read_text())["id2label"][str(i)]
                   for i in range(521)]
EXAMPLE = REPO / "examples" / "metal_riff.mp3"


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """One torch thread (conftest's)."""


def tiny_genre_yamnet(prior_weight: float = 0.4, pooling: str = "meanmax") -> YAMNetGenreForAudioClassification:
    torch.manual_seed(0)
    labels = list(GTZAN_GENRES)
    config = YAMNetGenreConfig(
        layer_strides=(2, 2, 2), layer_filters=(4, 8, 16), emulation="none", pooling=pooling,
        audioset_labels=AUDIOSET_LABELS, prior_classes=PRIOR_CLASSES, prior_scale=1.3,
        prior_bias=[0.1 * i for i in range(10)], head_weight=1 - prior_weight, prior_weight=prior_weight,
        id2label=dict(enumerate(labels)), label2id={g: i for i, g in enumerate(labels)})
    return YAMNetGenreForAudioClassification(config).eval()


def test_yamnet_genre_model_mixes_head_and_prior_as_configured():
    model = tiny_genre_yamnet()
    x = torch.randn(3, 200, 64) - 3.0
    mask = torch.ones(3, 200, dtype=torch.long)
    mask[2, 120:] = 0  # a shorter example: its padding patches are left out
    with torch.inference_mode():
        out = model(x, mask, output_hidden_states=True)
        pooled, scores, flatness = out.hidden_states
        head = torch.log_softmax(model.classifier(pooled), -1)
    assert pooled.shape == (3, 2 * 16) and scores.shape == (3, 521) and flatness.shape == (3,)
    # the prior by hand: the best AudioSet class of each genre, calibrated, normalised
    mapped = np.stack([scores.numpy()[:, [AUDIOSET_LABELS.index(n) for n in PRIOR_CLASSES[g]]].max(1)
                       for g in GTZAN_GENRES], 1)
    z = 1.3 * np.log(mapped + 1e-4) + 0.1 * np.arange(10)
    prior = z - np.log(np.exp(z).sum(1, keepdims=True))
    np.testing.assert_allclose(out.logits.numpy(), 0.6 * head.numpy() + 0.4 * prior, atol=1e-5)
    # a padded example's answer equals the same example cut to its real frames
    with torch.inference_mode():
        alone = model(x[2:, :120]).logits
    np.testing.assert_allclose(out.logits[2].numpy(), alone[0].numpy(), atol=1e-5)


def test_yamnet_genre_model_saves_loads_and_needs_its_prior_classes(tmp_path):
    from transformers import AutoConfig, AutoModelForAudioClassification

    model = tiny_genre_yamnet()
    model.save_pretrained(tmp_path)
    again = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert type(again) is YAMNetGenreForAudioClassification
    x = torch.randn(1, 150, 64) - 3.0
    with torch.inference_mode():
        assert torch.allclose(model(x).logits, again(x).logits)
    config = AutoConfig.from_pretrained(tmp_path)
    config.prior_classes = {"rock": ["Rock music"]}  # the other nine genres have no classes
    with pytest.raises(ValueError, match="prior_classes for every genre"):
        YAMNetGenreForAudioClassification(config)
    config.prior_classes = {"rock": ["Not an AudioSet class"]}
    with pytest.raises(ValueError, match="unknown AudioSet classes"):
        YAMNetGenreForAudioClassification(config)


def test_musicnn_genre_model_keeps_the_taggers_layer():
    from transformers import AutoModelForAudioClassification

    msd = AutoModelForAudioClassification.from_pretrained(PRETRAINED / "msd-musicnn").eval()
    genre = AutoModelForAudioClassification.from_pretrained(PRETRAINED / "gtzan-musicnn").eval()
    assert genre.config.tag_labels == [msd.config.id2label[i] for i in range(50)]
    x = torch.randn(2, 187 * 2, 96)
    with torch.inference_mode():
        tags = genre(x, output_hidden_states=True).hidden_states[2]
        ref = msd(x).logits
    torch.testing.assert_close(tags, ref, atol=1e-5, rtol=0)


def test_default_ensemble_answers_with_music_check_wide_genres_and_tags():
    from genre_models.ensemble import Ensemble
    from genre_models.tagging import tags_of

    ens = Ensemble.default()
    [answer] = ens.predict(EXAMPLE)
    assert answer.audioset is not None and answer.audioset.check.is_music
    # the wider genres: AudioSet's 50 genre classes, read from the YAMNet member's own pass, equal what
    # the separate AudioSet model (genre_models.audioset.AudioSetReader) reads from the same windows;
    # on the metal riff the strongest is rock (Rock music 0.034, then Blues 0.014: faint, as README says)
    from genre_models.audioset import GENRE_CLASSES, AudioSetReader

    wide, reference = answer.audioset.wide.scores, AudioSetReader.load().read(EXAMPLE)
    assert answer.audioset.windows == reference.windows >= 2 and sorted(wide) == sorted(GENRE_CLASSES)
    np.testing.assert_allclose([wide[g] for g in GENRE_CLASSES], [reference.wide.scores[g] for g in GENRE_CLASSES],
                               rtol=0, atol=1e-6)
    assert answer.audioset.check.music_score == pytest.approx(reference.check.music_score, abs=1e-6)
    assert max(wide, key=wide.get) == "Rock music", sorted(wide.items(), key=lambda kv: -kv[1])[:3]
    tags = tags_of(answer)
    assert tags is not None and len(tags.labels) == 50 and tags.patches >= 2  # one per musicnn window
    assert ens._reader == []  # read from the members' own pass: no separate AudioSet model was loaded
