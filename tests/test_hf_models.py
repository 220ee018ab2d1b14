"""Our transformers models and feature extractors: shapes, learning, save/load, Auto* and pipeline.

Everything is tiny (8 kHz audio, 16 bins, a few channels) so the file runs in seconds on a CPU.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the models need torch; requirements.txt does not pin it yet

import genre_models.hf_models as hf  # noqa: E402  (registers the Auto* classes)
from genre_models.hf_models import (  # noqa: E402
    MODEL_FAMILIES,
    LogMelFeatureExtractor,
    MFCCFeatureExtractor,
    MFCCMeanFeatureExtractor,
    WaveformFeatureExtractor,
    build_model,
    count_parameters,
    extractor_options,
)
from genre_models.hf_models.feature_extraction import log_filterbank, mel_filterbank  # noqa: E402  (needs torch)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 8000
TINY_FE = {"sampling_rate": SR, "n_fft": 256, "hop_length": 128}
TINY = {
    "mel_cnn": dict(n_mels=16, channels=(4, 8), freq_bins_out=2, dropout=0.0),
    "lstm": dict(n_mfcc=8, delta_order=1, hidden_size=8, num_layers=1, dropout=0.0),
    "crnn": dict(n_mels=16, channels=(4, 8), time_pools=(2, 1), freq_bins_out=2, hidden_size=8, dropout=0.0),
    # its audio-only ablation: these tests feed audio alone (the pipeline cannot pass metadata); the
    # metadata branches are tested in test_lstm_meta.py
    "lstm_meta": dict(n_mfcc=8, hidden_size=8, num_layers=1, head_hidden=(8,), dropout=0.0, branches=["audio"]),
    "wavenet": dict(target_sampling_rate=SR, stack_channels=(4, 8), stack_layers=(2, 3), head_channels=8, dropout=0.0),
    "cnn1d": dict(n_mfcc=8, channels=(4, 8), kernel_size=3, time_bins_out=2, hidden_size=8, dropout=0.0,
                  head_dropout=0.0),
    "dnn": dict(n_mfcc=8, n_mels=16, hidden_sizes=(16, 8), dropout=0.0),
}
LABELS = ["low", "high"]


def tone(freq: float, seconds: float = 1.0, sr: int = SR, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def tone_dataset(n_per_class: int = 8, seed: int = 0) -> tuple[list[np.ndarray], list[int]]:
    """Low (150-300 Hz) vs high (1.5-3 kHz) tones with random pitch, loudness, phase and a little noise."""
    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for label, (lo, hi) in enumerate([(150, 300), (1500, 3000)]):
        for _ in range(n_per_class):
            y = tone(rng.uniform(lo, hi), amp=rng.uniform(0.2, 0.8), phase=rng.uniform(0, 2 * np.pi))
            clips.append(y + 0.01 * rng.standard_normal(y.size).astype(np.float32))
            labels.append(label)
    return clips, labels


def tiny_fe_kwargs(extractor_cls: type) -> dict:
    """The TINY_FE options an extractor takes (a waveform has no n_fft or hop)."""
    return {k: v for k, v in TINY_FE.items() if k in extractor_options(extractor_cls)}


def tiny(family: str, **extra):
    torch.manual_seed(0)
    return build_model(family, LABELS, **{**tiny_fe_kwargs(MODEL_FAMILIES[family][2]), **TINY[family], **extra})


# ---------------------------------------------------------------------------------------------
# feature extractors
# ---------------------------------------------------------------------------------------------
def test_logmel_shapes_and_padding_to_longest():
    fe = LogMelFeatureExtractor(**TINY_FE, n_mels=16)
    one = fe(tone(440), sampling_rate=SR, return_tensors="np")
    assert one["input_features"].shape == (1, 16, 1 + SR // 128)
    batch = fe([tone(440), tone(440, seconds=0.5)], sampling_rate=SR, return_tensors="pt")
    assert isinstance(batch["input_features"], torch.Tensor)
    assert batch["input_features"].shape == (2, 16, 63)
    assert batch["attention_mask"].sum(dim=1).tolist() == [63, 1 + 4000 // 128]
    # padded frames hold the floor value (digital silence)
    assert torch.all(batch["input_features"][1, :, 32:] == fe.padding_value)


def test_inputs_accepted_like_whisper():
    fe = LogMelFeatureExtractor(**TINY_FE, n_mels=16)
    y = tone(440, seconds=0.25)
    ref = fe(y, sampling_rate=SR)["input_features"]
    assert np.allclose(fe(y.tolist(), sampling_rate=SR)["input_features"], ref)
    assert np.allclose(fe(np.stack([y, y]), sampling_rate=SR)["input_features"][1], ref[0])
    assert np.allclose(fe(torch.from_numpy(y), sampling_rate=SR)["input_features"], ref)
    assert np.array_equal(fe(y, sampling_rate=SR)["input_features"], ref)  # deterministic
    with pytest.raises(ValueError, match="mono"):
        fe(np.zeros((2, 2, 100), dtype=np.float32), sampling_rate=SR)
    with pytest.raises(ValueError, match="empty"):
        fe(np.zeros(0, dtype=np.float32), sampling_rate=SR)


@pytest.mark.parametrize("cls", [LogMelFeatureExtractor, MFCCFeatureExtractor, WaveformFeatureExtractor,
                                 MFCCMeanFeatureExtractor])
def test_sampling_rate_mismatch_is_a_clear_error(cls):
    fe = cls(**tiny_fe_kwargs(cls), **({"target_sampling_rate": SR} if cls is WaveformFeatureExtractor else {}))
    with pytest.raises(ValueError, match=f"expects audio at {SR} Hz but got 22050 Hz"):
        fe(tone(440), sampling_rate=22050)


def test_mel_and_log_scales_differ_and_filters_are_sane():
    mel = mel_filterbank(SR, 256, 16, 0.0, SR / 2)
    log = log_filterbank(SR, 256, 16, 32.7, SR / 2)
    for fb in (mel, log):
        assert fb.shape == (16, 129)
        assert np.allclose(fb.sum(axis=1), 1.0, atol=1e-5)  # no empty filter, unit sum
    peaks = log.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0)  # centres rise
    y = tone(440) + tone(2500)
    a = LogMelFeatureExtractor(**TINY_FE, n_mels=16, frequency_scale="mel")(y, sampling_rate=SR)["input_features"]
    b = LogMelFeatureExtractor(**TINY_FE, n_mels=16, frequency_scale="log")(y, sampling_rate=SR)["input_features"]
    assert a.shape == b.shape and not np.allclose(a, b, atol=1.0)
    with pytest.raises(ValueError, match="frequency_scale"):
        LogMelFeatureExtractor(frequency_scale="cqt")


def test_fixed_db_reference_tracks_gain_not_clip_maximum():
    """Halving the audio lowers every (non-floor) value by 6.02 dB: the reference is fixed, not max."""
    fe = LogMelFeatureExtractor(**TINY_FE, n_mels=16)
    y = tone(440) + 0.01 * np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    full = fe(y, sampling_rate=SR)["input_features"]
    half = fe(0.5 * y, sampling_rate=SR)["input_features"]
    assert np.allclose(full - half, 20 * np.log10(2), atol=1e-3)


def test_chunk_seconds_crops_and_pads_to_fixed_frames():
    fe = LogMelFeatureExtractor(**TINY_FE, n_mels=16, chunk_seconds=0.5, crop_position="start")
    assert fe.max_frames == 1 + 4000 // 128
    out = fe([tone(440, seconds=2.0), tone(440, seconds=0.25)], sampling_rate=SR, return_tensors="np")
    assert out["input_features"].shape == (2, 16, fe.max_frames)
    assert out["attention_mask"][0].all()
    assert out["attention_mask"][1].sum() == 1 + 2000 // 128
    # an explicit max_frames wins; a start crop of a long clip equals the first frames of it
    full = fe(tone(440, seconds=2.0), sampling_rate=SR, max_frames=200)["input_features"]
    assert np.allclose(out["input_features"][0], full[0, :, : fe.max_frames])
    ragged = fe([tone(440), tone(440, seconds=0.5)], sampling_rate=SR, padding=False)
    assert [f.shape[1] for f in ragged["input_features"]] == [63, 32]


def test_mfcc_shapes_deltas_and_normalization_round_trip(tmp_path):
    fe = MFCCFeatureExtractor(**TINY_FE, n_mfcc=8, delta_order=2)
    assert fe.feature_size == 24
    clips, _ = tone_dataset(4)
    out = fe(clips[:2], sampling_rate=SR, return_tensors="np")
    assert out["input_features"].shape == (2, 63, 24)
    assert fe(tone(440, seconds=0.02), sampling_rate=SR)["input_features"].shape == (1, 2, 24)  # tiny clip

    fe.fit_normalization(clips)
    normed = np.concatenate([fe(c, sampling_rate=SR)["input_features"][0] for c in clips])
    assert np.allclose(normed.mean(axis=0), 0.0, atol=1e-3)
    assert np.allclose(normed.std(axis=0), 1.0, atol=1e-2)

    fe.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "MFCCFeatureExtractor" and len(saved["mean"]) == 24
    assert not any(k.startswith("_") for k in saved)  # no cached filterbank in the JSON
    again = MFCCFeatureExtractor.from_pretrained(tmp_path)
    assert np.array_equal(again(clips[0], sampling_rate=SR)["input_features"],
                          fe(clips[0], sampling_rate=SR)["input_features"])


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
def test_default_sizes_are_gtzan_scale():
    from genre_models.labels import GTZAN_GENRES

    smallest = {"dnn": 20_000, "cnn1d": 100_000}  # baselines, small by design (see the README's table)
    for family in MODEL_FAMILIES:
        model, fe = build_model(family, GTZAN_GENRES)
        assert smallest.get(family, 200_000) <= count_parameters(model) <= 2_000_000, family
        assert model.config.num_labels == 10 and fe.sampling_rate == 22050


def test_build_model_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown model family"):
        build_model("transformer", LABELS)
    with pytest.raises(ValueError, match="distinct"):
        build_model("lstm", ["a", "a"])
    with pytest.raises(TypeError, match="unknown option"):
        build_model("lstm", LABELS, not_an_option=1)


@pytest.mark.parametrize("family", list(MODEL_FAMILIES))
def test_forward_shapes_loss_and_padding_invariance(family):
    model, fe = tiny(family)
    model.eval()
    batch = fe([tone(200), tone(2000, seconds=0.6)], sampling_rate=SR, return_tensors="pt")
    out = model(**batch, labels=torch.tensor([0, 1]))
    assert out.logits.shape == (2, 2) and out.loss.ndim == 0 and torch.isfinite(out.loss)
    loss, logits = model(**batch, labels=torch.tensor([0, 1]), return_dict=False)
    assert torch.allclose(logits, out.logits)
    with torch.no_grad():  # a padded clip scores as it does alone
        alone = model(**fe(tone(2000, seconds=0.6), sampling_rate=SR, return_tensors="pt")).logits
    assert torch.allclose(out.logits[1], alone[0], atol=1e-5)


def refresh_batchnorm(model: torch.nn.Module, batch) -> None:
    """Set BatchNorm running stats to the exact training-batch stats. After only 15 steps the
    momentum-0.1 running averages still lag the weights, which makes eval mode flaky here; real
    training runs thousands of steps and needs no such thing."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes below
    model.train()
    with torch.no_grad():
        model(**batch)
    for m in norms:
        m.momentum = 0.1


@pytest.mark.parametrize("family", list(MODEL_FAMILIES))
def test_any_clip_length_works(family):
    extra = {"freq_bins_out": 1} if family == "mel_cnn" else {}  # also the fully global pooling variant
    model, fe = tiny(family, **extra)
    model.eval()
    with torch.no_grad():
        for seconds in (0.01, 0.3, 2.0):
            x = fe(tone(300, seconds=seconds), sampling_rate=SR, return_tensors="pt")
            assert model(**x).logits.shape == (1, 2)


@pytest.fixture(scope="module", params=list(MODEL_FAMILIES))
def trained(request, tmp_path_factory):
    """A tiny model trained a few steps on low-vs-high tones, and the folder it is saved in."""
    family = request.param
    model, fe = tiny(family)
    clips, labels = tone_dataset(8)
    if hasattr(fe, "fit_normalization"):  # extractors that standardise with training-set statistics
        fe.fit_normalization(clips)
    batch = fe(clips, sampling_rate=SR, return_tensors="pt")
    y = torch.tensor(labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    model.train()
    losses = []
    for _ in range(15):
        loss = model(**batch, labels=y).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    refresh_batchnorm(model, batch)
    model.eval()
    path = tmp_path_factory.mktemp(family)
    model.save_pretrained(path)
    fe.save_pretrained(path)
    return family, model, fe, losses, path


def test_training_reduces_loss(trained):
    family, model, fe, losses, _ = trained
    assert losses[-1] < 0.5 * losses[0], (family, losses)
    clips, labels = tone_dataset(4, seed=1)  # fresh tones
    with torch.no_grad():
        pred = model(**fe(clips, sampling_rate=SR, return_tensors="pt")).logits.argmax(-1)
    assert (pred.numpy() == np.array(labels)).mean() >= 0.75, family


def test_save_and_auto_load_round_trip(trained):
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    family, model, fe, _, path = trained
    files = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt")) for name in files)
    config = json.loads((path / "config.json").read_text())
    assert config["id2label"] == {"0": "low", "1": "high"}
    assert config["model_type"] == MODEL_FAMILIES[family][0].model_type
    assert "auto_map" not in config and "genre-models" in config["requires"]

    assert type(AutoConfig.from_pretrained(path)) is MODEL_FAMILIES[family][0]
    loaded = AutoModelForAudioClassification.from_pretrained(path).eval()
    loaded_fe = AutoFeatureExtractor.from_pretrained(path)
    assert type(loaded) is type(model) and type(loaded_fe) is type(fe)
    assert loaded_fe.to_dict() == fe.to_dict()
    x = fe([tone(250), tone(2500, seconds=0.7)], sampling_rate=SR, return_tensors="pt")
    with torch.no_grad():
        loaded_x = loaded_fe([tone(250), tone(2500, seconds=0.7)], sampling_rate=SR, return_tensors="pt")
        assert torch.equal(model(**x).logits, loaded(**loaded_x).logits)


def test_pipeline_on_saved_folder(trained):
    from transformers import pipeline

    _, model, fe, _, path = trained
    pipe = pipeline("audio-classification", model=str(path), device="cpu")
    clips, labels = tone_dataset(2, seed=2)
    for clip, label in zip(clips, labels):
        with torch.no_grad():
            probs = model(**fe(clip, sampling_rate=SR, return_tensors="pt")).logits.softmax(-1)[0]
        for inputs in ({"raw": clip, "sampling_rate": SR}, clip):
            result = pipe(inputs, top_k=None)
            assert sorted(r["label"] for r in result) == sorted(LABELS)
            assert abs(sum(r["score"] for r in result) - 1.0) < 1e-4
            scores = {r["label"]: r["score"] for r in result}
            assert np.allclose([scores[name] for name in LABELS], probs.numpy(), atol=1e-5)
        assert result[0]["label"] == LABELS[label]


def test_registration_is_idempotent():
    import importlib

    importlib.reload(hf)  # registering again must not raise


# ---------------------------------------------------------------------------------------------
# wavenet, cnn1d, dnn: what the generic tests above cannot see
# ---------------------------------------------------------------------------------------------
def test_wavenet_is_causal():
    """Output step j covers samples up to (j + 1) * hop - 1: changing later samples leaves it unchanged."""
    model, _ = tiny("wavenet", pool_size=2)
    model.eval()
    x = torch.randn(1, 2000)
    t = 1234
    later = x.clone()
    later[:, t:] = torch.randn(1, 2000 - t)
    with torch.no_grad():
        a, _ = model.frame_features(x)
        b, _ = model.frame_features(later)
    hop = model.hop_length
    done = (t + 1) // hop  # steps whose last sample is < t
    assert hop == 2 and done > 100
    assert torch.equal(a[:, :done], b[:, :done])
    assert not torch.allclose(a[:, done:], b[:, done:])  # and the later input does reach later steps


def test_waveform_extractor_resamples_crops_and_normalizes():
    fe = WaveformFeatureExtractor(sampling_rate=22050, target_sampling_rate=8000, chunk_seconds=0.5)
    y = tone(440, seconds=1.0, sr=22050, amp=0.1)
    out = fe([y, y[:2205]], sampling_rate=22050, return_tensors="np")
    assert out["input_values"].shape == (2, 4000) and fe.max_frames == 4000
    assert out["attention_mask"].sum(axis=1).tolist() == [4000, fe.num_frames(2205)] == [4000, 800]
    v = out["input_values"][0]
    assert abs(v.mean()) < 1e-3 and abs(v.std() - 1.0) < 1e-3  # level-normalised per clip
    spectrum = np.abs(np.fft.rfft(v))
    assert abs(spectrum.argmax() * 8000 / v.size - 440) <= 2  # still a 440-Hz tone after resampling
    one = WaveformFeatureExtractor(sampling_rate=22050, target_sampling_rate=8000)
    assert one(np.zeros(1, dtype=np.float32), sampling_rate=22050)["input_values"].shape == (1, 1)  # 1 sample


def test_dnn_extractor_is_the_features_models_mfcc_means():
    """Same audio → the dnn's (un-normalised) input equals the 57-feature table's mfccN_mean columns."""
    from genre_models.features import FEATURE_NAMES, extract_features

    rng = np.random.default_rng(3)
    y = (tone(220, 3.0, 22050) + tone(3000, 3.0, 22050, amp=0.1) + 0.05 * rng.standard_normal(66150)).astype(np.float32)
    table = extract_features(y)
    means = table[[FEATURE_NAMES.index(f"mfcc{i}_mean") for i in range(1, 21)]]
    fe = MFCCMeanFeatureExtractor()
    assert fe.sampling_rate == 22050 and fe.feature_size == 20
    ours = fe(y, sampling_rate=22050)["input_features"][0]
    assert np.allclose(ours, means, rtol=1e-5, atol=1e-4)
    fe.fit_normalization([y, y[:30000]])  # then standardised with the stored training statistics
    normed = fe(y, sampling_rate=22050)["input_features"][0]
    assert np.allclose(normed, (means - np.array(fe.mean)) / np.array(fe.std), atol=1e-3)


def test_cnn1d_span_pooling_and_l2_penalty():
    from genre_models.hf_models.cnn1d import masked_adaptive_avg_pool

    x = torch.randn(3, 4, 13)
    assert torch.allclose(masked_adaptive_avg_pool(x, None, 5), torch.nn.AdaptiveAvgPool1d(5)(x), atol=1e-6)
    mask = torch.ones(3, 13, dtype=torch.long)
    mask[1, 7:] = 0  # a padded clip pools like its real 7 frames alone
    pooled = masked_adaptive_avg_pool(x, mask, 5)
    assert torch.allclose(pooled[1], torch.nn.AdaptiveAvgPool1d(5)(x[1:2, :, :7])[0], atol=1e-6)

    model, fe = tiny("cnn1d", l2_regularization=0.1)
    batch = fe([tone(200), tone(2000)], sampling_rate=SR, return_tensors="pt")
    y = torch.tensor([0, 1])
    model.train()  # (TINY has no dropout, so both passes below see the same network)
    with_l2 = model(**batch, labels=y).loss
    model.config.l2_regularization = 0.0
    plain = model(**batch, labels=y).loss
    assert torch.allclose(with_l2 - plain, 0.1 * model.l2_penalty(), rtol=1e-4)
    model.config.l2_regularization = 0.1
    model.eval()  # eval loss is plain cross-entropy
    assert torch.allclose(model(**batch, labels=y).loss, torch.nn.functional.cross_entropy(model(**batch).logits, y))


def test_input_size_comes_from_the_extractor():
    from genre_models.hf_models import input_size_field

    assert input_size_field(MODEL_FAMILIES["wavenet"][0]) is None
    for family in ("cnn1d", "dnn"):
        model, fe = tiny(family)
        assert model.config.input_size == fe.feature_size == 8
    assert tiny("mel_cnn")[0].config.num_mel_bins == 16
