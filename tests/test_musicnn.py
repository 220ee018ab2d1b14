"""musicnn ported to PyTorch: equal to the original TensorFlow model, usable like any transformers model.

The fixture (``tests/fixtures/musicnn_msd.npz``) was written by ``finetune/convert_musicnn.py`` while it
ran the musicnn package's own TensorFlow graph: two input patches of this project's metal example and
TensorFlow's outputs for them, plus the package's preprocessing of a test signal regenerated here.
So these tests check the port against the original without TensorFlow installed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import genre_models.hf_models  # noqa: E402,F401  (registers genre_musicnn)
from genre_models.hf_models.musicnn import (  # noqa: E402
    MSD_TAGS,
    MusiCNNFeatureExtractor,
    MusiCNNForAudioClassification,
    log_compress,
    musicnn_tags_config,
)

REPO = Path(__file__).resolve().parents[1]
MSD = REPO / "genre_models" / "pretrained" / "msd-musicnn"
FIXTURE = REPO / "tests" / "fixtures" / "musicnn_msd.npz"


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, before))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def msd():
    from transformers import AutoModelForAudioClassification

    return AutoModelForAudioClassification.from_pretrained(MSD).eval()


@pytest.fixture(scope="module")
def fixture():
    return np.load(FIXTURE)


def test_port_matches_tensorflow_on_the_fixture(msd, fixture):
    patches = torch.from_numpy(fixture["patches"])
    with torch.inference_mode():
        hidden, _ = msd.musicnn(patches)
        logits = msd.classifier(hidden)
    assert np.abs(torch.sigmoid(logits).numpy() - fixture["tags"]).max() <= 1e-4
    assert np.abs(logits.numpy() - fixture["logits"]).max() <= 1e-3
    assert np.abs(hidden.numpy() - fixture["penultimate"]).max() <= 1e-3
    # the whole-clip path (patching, mean of logits) agrees with the per-patch one
    clip = torch.from_numpy(fixture["patches"].reshape(1, -1, 96))
    with torch.inference_mode():
        assert torch.allclose(msd(clip).logits[0], logits.mean(dim=0), atol=1e-5)


def test_extractor_reproduces_the_package_preprocessing(fixture):
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from finetune.convert_musicnn import fixture_signal

    expected = fixture["signal_patches"]  # the package's batch_data (float16), librosa >= 0.10: zero padding
    fe = MusiCNNFeatureExtractor(pad_mode="constant")
    ours = fe(fixture_signal(), sampling_rate=16000, return_tensors="np")["input_features"][0]
    ours = ours[: expected.size // 96].reshape(expected.shape)
    finite = np.isfinite(expected)  # the package's float16 10000·x overflows on the loudest bins
    assert 0 < (~finite).sum() < 0.05 * finite.size and np.isfinite(ours).all()
    # Not bit-exact on every machine: the mel power is float32 from an FFT whose last bits depend on the
    # CPU's SIMD path, and where it sits on a float16 rounding tie it rounds the other way (1 value of
    # 17,665 here, one float16 step = 2.4e-4). Such a flip moves the log by at most 2^-10/ln 10 = 4.2e-4,
    # i.e. by at most 2 float16 steps of the output; allowed on at most 0.1 % of the values (~17).
    # Wrong preprocessing breaks both bounds: reflect instead of zero padding (97 values, up to 2266 steps),
    # the log taken in float32 instead of float16 (all values, up to 5 steps), n_fft 1024, HTK mels.
    got, want = ours[finite].astype(np.float64), expected[finite].astype(np.float64)
    steps = np.abs(got - want) / np.spacing(np.abs(expected[finite])).astype(np.float64)
    assert steps.max() <= 2, f"{(steps > 2).sum()} values off by more than 2 float16 steps (max {steps.max():.0f})"
    assert (steps > 0).sum() <= 0.001 * steps.size, f"{(steps > 0).sum()} of {steps.size} values not bit-exact"
    # the default (reflect, as when the checkpoints were trained) differs only at the clip's edges
    reflect = MusiCNNFeatureExtractor()(fixture_signal(), sampling_rate=16000, return_tensors="np")["input_features"][0]
    differs = np.flatnonzero(np.abs(reflect[: expected.size // 96] - ours.reshape(-1, 96)).max(axis=1) > 0)
    assert set(differs) <= {0}


def test_log_compression_is_the_packages_and_finite_where_float16_overflows():
    x = np.array([[0.0, 1e-4, 0.5, 6.0, 7.0, 1e3]], dtype=np.float32)
    with np.errstate(over="ignore"):
        package = np.log10(10000 * x.astype(np.float16) + 1)  # the package: inf above 6.55
    ours = log_compress(x)
    finite = np.isfinite(package)
    assert not finite.all() and np.isfinite(ours).all()
    assert np.array_equal(ours[finite], package[finite].astype(np.float32))
    assert np.allclose(ours[~finite], np.log10(10000 * x[~finite] + 1), rtol=1e-3)


def test_fused_inference_path_equals_the_plain_one():
    torch.manual_seed(0)
    model = MusiCNNForAudioClassification(musicnn_tags_config(MSD_TAGS))
    for m in model.modules():  # BN with negative scales, so the min/max choice is exercised
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.weight.data.normal_()
            m.bias.data.normal_()
            m.running_mean.data.normal_()
            m.running_var.data.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(2, 1, 193, 96)
    block = model.musicnn.timbral[0]
    with torch.inference_mode():
        fused = block.forward_max_over_freq(x)
        plain = block(x).amax(dim=3)
    assert torch.allclose(fused, plain, atol=1e-5)


def test_save_load_pipeline_and_padding(msd, tmp_path):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

    msd.save_pretrained(tmp_path)
    AutoFeatureExtractor.from_pretrained(MSD).save_pretrained(tmp_path)
    again = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    fe = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(fe, MusiCNNFeatureExtractor) and again.config.problem_type == "multi_label_classification"
    rng = np.random.default_rng(0)
    long, short = [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in (6.5, 2.0)]
    batch = fe([long, short], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        both = again(**batch).logits
        alone = [again(**fe(c, sampling_rate=16000, return_tensors="pt")).logits[0] for c in (long, short)]
        assert torch.allclose(both[0], alone[0], atol=1e-5) and torch.allclose(both[1], alone[1], atol=1e-5)
        assert torch.allclose(both, msd(**batch).logits, atol=1e-6)
    tagger = pipeline("audio-classification", model=str(tmp_path))
    out = tagger({"raw": long, "sampling_rate": 16000}, top_k=5)
    assert len(out) == 5 and all(o["label"] in MSD_TAGS for o in out)
    expected = torch.sigmoid(alone[0]).numpy()  # sigmoid, not softmax: the config says multi-label
    assert abs(out[0]["score"] - expected.max()) < 1e-5


def test_embeddings_and_multilabel_loss(msd):
    x = torch.randn(3, 187 * 2, 96)
    out = msd(x, labels=torch.zeros(3, 50), output_hidden_states=True)
    pooled, penultimate = out.hidden_states
    assert pooled.shape == (3, 1506) and penultimate.shape == (3, 200)
    assert torch.allclose(msd.embed(x), penultimate, atol=1e-6)
    assert out.loss is not None and out.loss.item() > 0  # binary cross-entropy against all-zero tags


def test_tagger_tags_a_song(tmp_path):
    from genre_models.tagging import MusicTagger

    song = REPO / "examples" / "disco_groove.mp3"
    tags = MusicTagger.load().tag_file(song)
    top = dict(tags.top(5))
    assert len(top) == 5 and set(top) <= set(MSD_TAGS) and tags.patches >= 5
    assert {"electronic", "dance"} & set(top)  # a four-on-the-floor disco groove
    few = MusicTagger.load(max_patches=3).tag_file(song)
    assert few.patches == 3


def test_finetune_musicnn_on_toy_data(toy_genres, tmp_path):
    """``--model musicnn`` starts from the shipped MSD weights with a new 2-genre softmax head and
    fine-tunes the whole network: every held-out test track gets its genre (also through
    ``load_model``/``predict``), and the backbone's weights moved (a frozen backbone or an untrained
    model fails here)."""
    out = tmp_path / "out"
    pytest.importorskip("accelerate")
    from finetune import train as ftrain  # in this process: saves ~10 s of imports (tests/test_train.py does too)

    metrics = ftrain.main(["--model", "musicnn", "--dataset", "audiofolder", "--data_dir", str(toy_genres),
                           "--output_dir", str(out), "--chunk_seconds", "3", "--num_train_epochs", "1",
                           "--per_device_train_batch_size", "4", "--learning_rate", "1e-3",
                           "--dataloader_num_workers", "0", "--preprocessing_num_workers", "1",
                           "--valid_fraction", "0.17", "--test_fraction", "0.34", "--disable_tqdm",
                           "--report_to", "none"])
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "genre_musicnn" and config["problem_type"] == "single_label_classification"
    assert sorted(config["id2label"].values()) == ["classical", "metal"] and config["window_seconds"] == 3.0
    # right on its task: the 4 held-out test tracks (2 per genre; a constant answer scores 0.5)
    answers = metrics["test_predictions"]
    assert len(answers) == 4 and all(answers[t] == t.split(".")[0] for t in answers), metrics["history"]
    assert metrics["test_accuracy"] == 1.0
    from genre_models import load_model, predict

    model = load_model(out)
    for track in answers:
        pred = predict(toy_genres / track.split(".")[0] / f"{track}.wav", model)
        assert pred.labels == ["classical", "metal"] and abs(pred.probs.sum() - 1) < 1e-6
        assert pred.genre == track.split(".")[0], (track, pred.as_dict())
    from safetensors.numpy import load_file

    tuned, base = load_file(out / "model.safetensors"), load_file(MSD / "model.safetensors")
    assert tuned["classifier.weight"].shape == (2, 200)
    # the backbone started from the MSD weights (close to them, not re-initialised) and was trained:
    # every conv and dense layer moved (relative change 0.009-0.10 here; 0 when only the head trains)
    moved = {k: float(np.linalg.norm(tuned[k] - base[k]) / np.linalg.norm(base[k])) for k in base
             if k.startswith("musicnn.") and k.endswith(".weight") and not k.endswith("bn.weight")}
    assert len(moved) == 9 and 1e-4 < min(moved.values()) and max(moved.values()) < 0.3, moved
