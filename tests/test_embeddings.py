"""genre_models.embeddings: the shipped genre heads' inputs, computed by the one window-embedding path,
laid out as the app scores a song; and a backbone registry another port can extend in a few lines."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from genre_models.audio import AudioLoadError
from genre_models.embeddings import (
    BACKBONES,
    Backbone,
    BackboneKind,
    Feature,
    audio_digest,
    audio_windows,
    backbone_identity,
    embed_file,
    load_backbone,
    parse_features,
    register_backbone,
    stack_features,
    window_vectors,
)
from genre_models.prediction import predict
from genre_models.registry import load_model
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PRETRAINED = REPO / "genre_models" / "pretrained"
SONG = REPO / "examples" / "jazz_swing.ogg"  # 24 s, CC0


@pytest.fixture(scope="module")
def song_vectors():
    return embed_file(SONG, ["msd-musicnn", "yamnet-audioset"], max_windows=4)


def test_musicnn_pooled_is_the_shipped_musicnn_heads_input(song_vectors):
    """gtzan-musicnn's classifier on our pooled vectors gives the shipped model's window probabilities,
    through the app's prediction path, on the same windows."""
    model = load_model(PRETRAINED / "gtzan-musicnn")
    pred = predict(SONG, model, max_windows=4)
    assert np.allclose(pred.window_spans, song_vectors.spans)
    W = model.model.classifier.weight.detach().double().numpy()
    b = model.model.classifier.bias.detach().double().numpy()
    z = song_vectors.vectors["msd-musicnn"]["pooled"].astype(np.float64) @ W.T + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    assert np.abs(p / p.sum(axis=1, keepdims=True) - pred.window_probs).max() < 1e-5
    assert song_vectors.vectors["msd-musicnn"]["tags"].shape == (4, 50)
    assert song_vectors.vectors["msd-musicnn"]["penultimate"].shape == (4, 200)


def test_yamnet_meanmax_and_scores_are_the_shipped_yamnet_models(song_vectors):
    from genre_models.windows import plan_windows

    model = load_model(PRETRAINED / "gtzan-yamnet")
    y = __import__("genre_models.audio", fromlist=["load_audio"]).load_audio(SONG, 16000)
    spans = (song_vectors.spans * 16000).round().astype(int)
    assert [tuple(s) for s in spans][0] == plan_windows(len(y), 48000, 48000)[0]
    inputs = model.feature_extractor([y[s:e] for s, e in spans], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        pooled, scores, flatness = model.model(**inputs, output_hidden_states=True).hidden_states
    ours = song_vectors.vectors["yamnet-audioset"]
    assert np.abs(pooled.numpy() - ours["meanmax"]).max() < 1e-4
    assert np.abs(scores.numpy() - ours["scores"]).max() < 1e-5
    assert np.abs(flatness.numpy() - ours["flatness"][:, 0]).max() < 1e-5
    assert np.array_equal(ours["mean"], ours["meanmax"][:, :1024])


def test_windows_are_the_apps_and_short_songs_one_window(tmp_path):
    sr = 16000
    rng = np.random.default_rng(0)
    long = tmp_path / "long.wav"
    sf.write(long, (0.1 * rng.standard_normal(sr * 40)).astype(np.float32), sr)
    spans = [(w.start, w.end) for w in audio_windows(long, max_windows=5)]
    assert len(spans) == 5 and spans[0] == (0, 48000) and spans[-1][1] == 40 * sr  # spread to the end
    assert len(list(audio_windows(long))) == 14  # 13 full windows + one aligned to the end
    short = tmp_path / "short.wav"
    sf.write(short, (0.1 * rng.standard_normal(int(sr * 2.2))).astype(np.float32), sr)
    emb = embed_file(short, ["msd-musicnn"])
    assert emb.n_windows == 1 and emb.spans[0, 1] == pytest.approx(2.2)
    assert emb.vectors["msd-musicnn"]["pooled"].shape == (1, 1506)
    tiny = tmp_path / "tiny.wav"
    sf.write(tiny, np.zeros(sr // 2, np.float32), sr)
    with pytest.raises(AudioLoadError, match="at least 1 s"):
        embed_file(tiny, ["msd-musicnn"])


def test_digest_is_of_the_audio_not_the_file(tmp_path):
    sr = 16000
    y = (0.1 * np.sin(np.arange(sr * 3) / 7)).astype(np.float32)
    sf.write(tmp_path / "b.wav", y, sr, subtype="FLOAT")
    first = audio_digest(tmp_path / "b.wav")
    sf.write(tmp_path / "c.wav", y, sr, subtype="FLOAT")  # another file, the same samples
    assert audio_digest(tmp_path / "c.wav") == first
    sf.write(tmp_path / "b.wav", y * 0.5, sr, subtype="FLOAT")
    assert audio_digest(tmp_path / "b.wav") != first


def test_features_parse_and_stack_in_order():
    feats = parse_features("yamnet-audioset:scores, msd-musicnn")  # a backbone alone: its default variant
    assert feats == [Feature("yamnet-audioset", "scores"), Feature("msd-musicnn", "pooled")]
    assert [f.width for f in feats] == [521, 1506]
    vectors = {"msd-musicnn": {"pooled": np.ones((2, 1506))}, "yamnet-audioset": {"scores": np.zeros((2, 521))}}
    x = stack_features(vectors, feats)
    assert x.shape == (2, 2027) and x[:, :521].sum() == 0 and x[:, 521:].min() == 1
    with pytest.raises(ValueError, match="unknown backbone"):
        parse_features("nope:pooled")
    with pytest.raises(ValueError, match="no variant"):
        parse_features("msd-musicnn:meanmax")


class _Toy(Backbone):
    """A backbone in a few lines: the window's RMS and its length."""

    def __init__(self):
        super().__init__()
        self.name, self.folder = "toy", PRETRAINED / "msd-musicnn"
        self.variants = {"stats": 2}
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

    def _embed_batch(self, windows):
        return {"stats": torch.tensor([[float(np.sqrt(np.mean(w ** 2))), len(w) / 16000] for w in windows])}


def test_a_new_backbone_is_one_registration(tmp_path):
    register_backbone(BackboneKind("toy", {"stats": 2}, _Toy, about="test"))
    try:
        assert Feature.parse("toy").variant == "stats" and backbone_identity("toy")["name"] == "toy"
        wav = tmp_path / "x.wav"
        sf.write(wav, 0.5 * np.ones(16000 * 4, np.float32), 16000)
        emb = embed_file(wav, ["toy"])
        assert emb.vectors["toy"]["stats"].shape == (2, 2)
        assert np.allclose(emb.vectors["toy"]["stats"][:, 0], 0.5, atol=1e-3)
        assert load_backbone("toy") is load_backbone("toy")  # once per process
        assert window_vectors([np.zeros(100, np.float32)], [load_backbone("toy")])["toy"]["stats"].shape == (1, 2)
    finally:
        BACKBONES.pop("toy", None)
