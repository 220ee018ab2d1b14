"""YAMNet ported to PyTorch: equal to its TFLite reference, usable like any transformers model.

The fixture (``tests/fixtures/yamnet_audioset.npz``) was written by ``finetune/convert_yamnet.py`` while it
ran the TFLite interpreter: 3.4 s of this project's disco example (CC0) as 16-bit samples, and TFLite's
class scores and log-mel patches for its six 0.975-s windows (hop 0.48 s) and for its first 0.5 s
zero-padded. So these tests check the port against the original without TFLite installed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import genre_models.hf_models  # noqa: E402,F401  (registers genre_yamnet)
from genre_models.hf_models import yamnet as Y  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "genre_models" / "pretrained" / "yamnet-audioset"
FIXTURE = REPO / "tests" / "fixtures" / "yamnet_audioset.npz"
WINDOW, HOP = 15600, 7680


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """One torch thread (conftest's): on a busy 2-core machine, two make these small batches slower."""


@pytest.fixture(scope="module")
def audioset():
    from transformers import AutoModelForAudioClassification

    return AutoModelForAudioClassification.from_pretrained(FOLDER).eval()


@pytest.fixture(scope="module")
def fe():
    from transformers import AutoFeatureExtractor

    return AutoFeatureExtractor.from_pretrained(FOLDER)


@pytest.fixture(scope="module")
def fixture():
    data = np.load(FIXTURE)
    return {k: data[k] for k in data.files} | {"samples": data["pcm16"].astype(np.float32) / 32768.0}


def test_folder_is_small_and_int8(audioset):
    sizes = {p.name: p.stat().st_size for p in FOLDER.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", "LICENSE",
            "conversion.json"} <= set(sizes)
    assert sum(sizes.values()) < 6e6 and FIXTURE.stat().st_size < 300e3
    from safetensors.numpy import load_file

    stored = load_file(FOLDER / "model.safetensors")
    assert stored["yamnet.layers.13.pointwise.weight"].dtype == np.int8 and stored["classifier.weight"].dtype == np.int8
    assert stored["yamnet.layers.0.conv.weight"].dtype == np.float32  # the file's first conv is float
    # loaded as float32 values equal to the int8 ones, dequantised by weight_scale
    pw = audioset.yamnet.layers[13].pointwise
    assert torch.equal(pw.weight, torch.from_numpy(stored["yamnet.layers.13.pointwise.weight"]).float())
    assert audioset.config.emulation == "exact" and audioset.config.num_labels == 521
    assert audioset.config.id2label[0] == "Speech" and audioset.config.id2label[132] == "Music"
    assert "Apache License" in (FOLDER / "LICENSE").read_text()
    report = json.loads((FOLDER / "conversion.json").read_text())
    assert report["max_abs_diff_scores"] <= 1e-3 and report["windows"] >= 300


def test_extractor_reproduces_tflite_log_mel(fe, fixture):
    feats = fe(fixture["samples"], sampling_rate=16000, return_tensors="np")
    assert feats["input_features"].shape == (1, 96 + 48 * 5, 64) and feats["attention_mask"].all()
    assert np.array_equal(feats["input_features"][0], fixture["log_mel"])  # bit for bit
    short = fixture["samples"][: int(fixture["short_samples"])]  # 0.5 s: zero-padded to one patch, as YAMNet does
    feats = fe(short, sampling_rate=16000, return_tensors="np")["input_features"][0]
    assert feats.shape == (96, 64) and np.array_equal(feats, fixture["short_log_mel"])
    # the plain float front end (no int8 emulation) is close but not equal: why the emulation exists
    plain = Y.YAMNetFeatureExtractor(quantized_stft=False)(fixture["samples"], sampling_rate=16000,
                                                           return_tensors="np")["input_features"][0]
    assert 1e-3 < np.abs(plain - fixture["log_mel"]).max() < 10


def test_port_matches_tflite_on_the_fixture(audioset, fe, fixture):
    feats = fe([fixture["samples"], fixture["samples"][: int(fixture["short_samples"])]], sampling_rate=16000,
               return_tensors="pt")
    with torch.inference_mode():
        out = audioset.patch_outputs(feats["input_features"], feats["attention_mask"])
    assert out.mask.tolist() == [[True] * 6, [True] + [False] * 5]
    scores = out.scores.numpy()
    assert np.abs(scores[0] - fixture["scores"]).max() <= 1e-3
    assert np.abs(scores[1, :1] - fixture["short_scores"]).max() <= 1e-3
    print(f"max |TFLite - port| scores: {np.abs(scores[0] - fixture['scores']).max():.1e}")
    # a less exact emulation drifts: the int8 roundings amplify last-bit float differences
    audioset.config.emulation = "none"
    try:
        with torch.inference_mode():
            plain = audioset.patch_outputs(feats["input_features"][:1]).scores[0].numpy()
    finally:
        audioset.config.emulation = "exact"
    assert np.abs(plain - fixture["scores"]).max() > 1e-4


def test_float64_fallback_equals_fused_multiply_add(audioset, fe, fixture, monkeypatch):
    """Where ``torch.addcmul`` is not a fused multiply-add, the convs run in float64; same numbers."""
    patches, _ = audioset._patches(fe(fixture["samples"][:WINDOW + HOP], sampling_rate=16000,
                                      return_tensors="pt")["input_features"], None)
    with torch.inference_mode():
        fused = audioset.yamnet(patches)
        monkeypatch.setattr(Y, "_addcmul_is_fused", lambda: False)
        fallback = audioset.yamnet(patches)
    assert torch.equal(fused, fallback)


def test_logf_is_glibcs():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.integers(0x00800000, 0x7F800000, 20000, dtype=np.uint32).view(np.float32),
                        np.float32(0.001) + 30 * rng.random(20000, dtype=np.float32), np.float32([1.0, 0.001])])
    ours = Y.glibc_logf(x)
    assert np.allclose(ours, np.log(x.astype(np.float64)), rtol=2e-7, atol=0) and ours[-2] == 0
    libm = ctypes.util.find_library("m")
    if sys.platform != "linux" or not libm or not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
        pytest.skip("glibc's logf is not this platform's")
    logf = ctypes.CDLL(libm).logf
    logf.restype, logf.argtypes = ctypes.c_float, [ctypes.c_float]
    assert np.array_equal(ours, np.array([logf(float(v)) for v in x], dtype=np.float32))


def test_patches_masks_and_pooling(audioset, fe):
    rng = np.random.default_rng(0)
    long, short = [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in (1.8, 0.4)]
    batch = fe([long, short], sampling_rate=16000, return_tensors="pt")
    # 1.8 s → padded to 15 600 + 2·7 680 samples: 192 frames, 3 patches; 0.4 s → one patch
    assert batch["input_features"].shape == (2, 192, 64) and batch["attention_mask"].sum(1).tolist() == [192, 96]
    with torch.inference_mode():
        out = audioset.patch_outputs(**batch)
        alone = [audioset.patch_outputs(**fe(c, sampling_rate=16000, return_tensors="pt")) for c in (long, short)]
        result = audioset(**batch, output_hidden_states=True)
        scores, mask = audioset.patch_scores(**batch)
        embeddings, _ = audioset.patch_embeddings(**batch)
    assert out.mask.tolist() == [[True] * 3, [True, False, False]] and torch.equal(mask, out.mask)
    assert torch.allclose(out.logits[0], alone[0].logits[0], atol=1e-5)
    assert torch.allclose(out.logits[1, :1], alone[1].logits[0], atol=1e-5)
    assert torch.allclose(result.logits[0], out.logits[0].mean(0), atol=1e-5)
    assert torch.allclose(result.logits[1], out.logits[1, 0], atol=1e-5)  # padding patches left out
    assert torch.allclose(result.hidden_states[0][1], out.embeddings[1, 0], atol=1e-6)
    assert embeddings.shape == (2, 3, 1024) and torch.equal(scores, torch.sigmoid(out.logits))
    # the backbone alone (AutoModel's class) gives the same embeddings
    patches, _ = audioset._patches(batch["input_features"], batch["attention_mask"])
    with torch.inference_mode():
        assert torch.equal(audioset.yamnet(patches).view(2, 3, -1), out.embeddings)
    # input_features shorter than a patch are padded with silence
    with torch.inference_mode():
        few = audioset.patch_outputs(batch["input_features"][1:, :50])
        padded = torch.cat([batch["input_features"][1:, :50], torch.full((1, 46, 64), Y.SILENCE)], dim=1)
        assert torch.equal(few.logits, audioset.patch_outputs(padded).logits)


def test_offline_auto_classes_and_pipeline(monkeypatch):
    """With HF_HUB_OFFLINE=1 and every socket refused, the folder loads through every Auto class, and the
    audio-classification pipeline hears music in a project example."""
    import socket

    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import: set it here too

    def no_network(*args, **kwargs):
        raise OSError("this test must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification, pipeline

    from genre_models.audio import load_audio

    config = AutoConfig.from_pretrained(FOLDER)
    backbone = AutoModel.from_pretrained(FOLDER).eval()
    model = AutoModelForAudioClassification.from_pretrained(FOLDER).eval()
    fe = AutoFeatureExtractor.from_pretrained(FOLDER)
    assert [type(o).__name__ for o in (config, backbone, model, fe)] == [
        "YAMNetConfig", "YAMNetModel", "YAMNetForAudioClassification", "YAMNetFeatureExtractor"]
    y = load_audio(REPO / "examples" / "disco_groove.mp3", sr=16000)[16000: 6 * 16000]
    patches, _ = model._patches(fe(y, sampling_rate=16000, return_tensors="pt")["input_features"], None)
    with torch.inference_mode():
        assert torch.equal(backbone(patches), model.yamnet(patches))
    top = pipeline("audio-classification", model=str(FOLDER))({"raw": y, "sampling_rate": 16000}, top_k=5)
    labels = [t["label"] for t in top]
    assert len(top) == 5 and labels[0] == "Music" and top[0]["score"] > 0.8 and "Speech" not in labels
    with torch.inference_mode():  # sigmoid of the mean patch logits (multi-label), not a softmax
        expected = torch.sigmoid(model(**fe(y, sampling_rate=16000, return_tensors="pt")).logits[0])
    assert abs(top[0]["score"] - expected.max().item()) < 1e-5


def test_load_model_refuses_the_audioset_classifier_as_a_genre_model():
    from genre_models import load_model

    with pytest.raises(ValueError, match="tagger"):
        load_model(FOLDER)


def test_new_genre_head_saves_and_loads(audioset, fixture, tmp_path):
    from transformers import AutoModelForAudioClassification

    labels = ["jazz", "rock", "blues"]
    model = AutoModelForAudioClassification.from_pretrained(
        FOLDER, num_labels=3, id2label=dict(enumerate(labels)), label2id={g: i for i, g in enumerate(labels)},
        problem_type="single_label_classification", ignore_mismatched_sizes=True)
    assert model.classifier.weight.shape == (3, 1024) and torch.equal(model.classifier.weight_scale, torch.ones(3))
    assert model.classifier.weight.abs().max() < 0.2  # freshly initialised, not int8 values
    layer = model.yamnet.layers[7].pointwise
    assert torch.equal(layer.weight, audioset.yamnet.layers[7].pointwise.weight)
    x = torch.from_numpy(fixture["log_mel"])[None]
    with torch.inference_mode():
        before = model.yamnet(model._patches(x, None)[0])
    model.train()  # folds the int8 scales into float weights: the same network up to rounding
    assert torch.equal(layer.weight_scale, torch.ones_like(layer.weight_scale))
    assert torch.equal(layer.weight, (audioset.yamnet.layers[7].pointwise.scaled_weight()))
    loss = model(torch.cat([x, x.flip(1)]), labels=torch.tensor([0, 2])).loss
    loss.backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0  # straight-through gradients
    model.eval()
    with torch.inference_mode():
        after = model.yamnet(model._patches(x, None)[0])
    # no longer bit-exact (a float weight is not int8 · scale inside the sums), but the same embeddings
    assert torch.allclose(before, after, atol=0.02) and not torch.equal(before, after)
    model.save_pretrained(tmp_path)
    again = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert again.config.id2label == dict(enumerate(labels))
    assert again.config.problem_type == "single_label_classification"
    with torch.inference_mode():
        assert torch.equal(again(x).logits, model(x).logits)


def test_finetune_yamnet_on_toy_data(toy_genres, tmp_path):
    """``--model yamnet`` starts from the shipped AudioSet weights with a new 2-genre softmax head and
    fine-tunes the whole network: every held-out test track gets its genre (also through
    ``load_model``/``predict``), and the backbone's weights moved (a frozen backbone or an untrained
    model fails here)."""
    out = tmp_path / "out"
    pytest.importorskip("accelerate")
    from finetune import train as ftrain  # in this process: saves ~10 s of imports (tests/test_train.py does too)

    metrics = ftrain.main(["--model", "yamnet", "--dataset", "audiofolder", "--data_dir", str(toy_genres),
                           "--output_dir", str(out), "--chunk_seconds", "3", "--num_train_epochs", "1",
                           "--per_device_train_batch_size", "4", "--learning_rate", "1e-3",
                           "--dataloader_num_workers", "0", "--preprocessing_num_workers", "1",
                           "--valid_fraction", "0.17", "--test_fraction", "0.34", "--disable_tqdm",
                           "--report_to", "none"])
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "genre_yamnet" and config["problem_type"] == "single_label_classification"
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

    tuned, base = load_file(out / "model.safetensors"), load_file(FOLDER / "model.safetensors")
    assert tuned["classifier.weight"].shape == (2, 1024) and tuned["classifier.weight"].dtype == np.float32
    assert np.all(tuned["yamnet.layers.13.pointwise.weight_scale"] == 1)  # fine-tuned checkpoints are plain float32
    # the backbone started from the AudioSet weights (int8 · scale; close to them, not re-initialised) and
    # was trained: every conv layer moved (relative change 6e-4 to 0.06 here; 0 when only the head trains)
    moved = {}
    for key in (k for k in base if k.startswith("yamnet.") and k.endswith(".weight")):
        start = base[key].astype(np.float32) * base[f"{key}_scale"].reshape(-1, 1, 1, 1)
        moved[key] = float(np.linalg.norm(tuned[key] - start) / np.linalg.norm(start))
    assert len(moved) == 27 and 1e-4 < min(moved.values()) and max(moved.values()) < 0.3, moved
