"""The musicnn package's vgg taggers (MSD_vgg, MTT_vgg) ported to PyTorch: equal to TensorFlow, usable
like any transformers model.

The fixtures (``tests/fixtures/vgg_msd.npz``, ``vgg_mtt.npz``) were written by
``finetune/convert_musicnn.py`` while it ran the package's own TensorFlow graph: the first two input
patches of this project's metal example (CC0) and TensorFlow's outputs for them (tags, logits, the
flattened ``pool5`` and the max/mean of the fifth block). So these tests check the port against the
original without TensorFlow installed.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import genre_models.hf_models  # noqa: E402,F401  (registers genre_musicnn_vgg)
from genre_models.hf_models.musicnn import MSD_TAGS, MTT_TAGS, MusiCNNFeatureExtractor  # noqa: E402
from genre_models.hf_models.musicnn_vgg import (  # noqa: E402
    MusiCNNVGGConfig,
    MusiCNNVGGForAudioClassification,
    MusiCNNVGGModel,
    pool5_grid,
    vgg_tags_config,
)

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "genre_models" / "pretrained"
FIXTURES = REPO / "tests" / "fixtures"
CASES = {"msd-vgg": ("vgg_msd.npz", MSD_TAGS), "mtt-vgg": ("vgg_mtt.npz", MTT_TAGS)}
TOLERANCE = 1e-4  # tag probabilities, as the converter requires


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, before))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    from transformers import AutoModelForAudioClassification

    folder = request.param
    model = AutoModelForAudioClassification.from_pretrained(PRETRAINED / folder).eval()
    return folder, model, dict(np.load(FIXTURES / CASES[folder][0]))


def outputs(model, patches: np.ndarray) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        penultimate, pooled = model.vgg(torch.from_numpy(patches))
        logits = model.classifier(penultimate)
    return {"tags": torch.sigmoid(logits).numpy(), "logits": logits.numpy(), "penultimate": penultimate.numpy(),
            "pooled": pooled.numpy()}


def test_auto_classes_load_the_shipped_folders(case):
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

    folder, model, _ = case
    tags = CASES[folder][1]
    assert isinstance(model, MusiCNNVGGForAudioClassification)
    assert [model.config.id2label[i] for i in range(len(tags))] == tags
    assert model.config.problem_type == "multi_label_classification"
    config = AutoConfig.from_pretrained(PRETRAINED / folder)
    assert isinstance(config, MusiCNNVGGConfig) and config.model_type == "genre_musicnn_vgg"
    fe = AutoFeatureExtractor.from_pretrained(PRETRAINED / folder)
    assert isinstance(fe, MusiCNNFeatureExtractor) and fe.patch_frames == 187 and fe.sampling_rate == 16000
    backbone = AutoModel.from_pretrained(PRETRAINED / folder)  # the backbone alone, from the same folder
    assert isinstance(backbone, MusiCNNVGGModel)
    assert torch.equal(backbone.blocks[4].conv.weight, model.vgg.blocks[4].conv.weight)


def test_port_matches_tensorflow_on_the_fixture(case):
    _, model, fx = case
    ours = outputs(model, fx["patches"])
    assert np.abs(ours["tags"] - fx["tags"]).max() <= TOLERANCE
    for key in ("logits", "penultimate", "pooled"):
        assert np.abs(ours[key] - fx[key]).max() <= 1e-3, key
    # the tags are not all the same (a fixture that any model would pass would prove nothing)
    assert fx["tags"].max() - fx["tags"].min() > 0.1
    # the whole-clip path (patching, mean of logits) and patch_logits agree with the per-patch one
    clip = torch.from_numpy(fx["patches"].reshape(1, -1, 96))
    with torch.inference_mode():
        assert torch.allclose(model(clip).logits[0], torch.from_numpy(ours["logits"]).mean(dim=0), atol=1e-5)
        assert np.allclose(model.patch_logits(torch.from_numpy(fx["patches"])).numpy(), ours["logits"], atol=1e-6)


def _transposed_kernels(model):
    for block in model.vgg.blocks:
        block.conv.weight.data = block.conv.weight.data.transpose(2, 3).contiguous()


def _channel_major_flatten(model):
    forward = model.vgg.forward

    def wrong(patches):  # PyTorch's own (channel, time, freq) order instead of TensorFlow's (time, freq, channel)
        penultimate, pooled = forward(patches)
        n = penultimate.shape[0]
        return penultimate.reshape(n, 2, 1, 128).permute(0, 3, 1, 2).flatten(1), pooled
    model.vgg.forward = wrong


def _average_last_pool(model):
    model.vgg.pools[4] = torch.nn.AvgPool2d(4, 4)


def _bn_before_relu(model):
    for block in model.vgg.blocks:
        block.forward = lambda x, b=block: torch.relu(b.bn(b.conv(x)))


@pytest.mark.parametrize("break_it", [_transposed_kernels, _channel_major_flatten, _average_last_pool, _bn_before_relu])
def test_a_wrong_port_fails_the_fixture(case, break_it):
    """The fixture's tolerance (1e-4 on tag probabilities) catches each plausible porting mistake:
    (1) the 3x3 conv kernels transposed (time and frequency swapped: TF's (t, f, in, out) read as
    (f, t, in, out)); (2) ``pool5`` flattened in PyTorch's channel-major order instead of TensorFlow's
    (time, frequency, channel) order the dense layer was trained on; (3) average instead of max pooling
    in the last block; (4) BatchNorm before the ReLU (the package puts it after)."""
    _, model, fx = case
    broken = copy.deepcopy(model)
    break_it(broken)
    assert np.abs(outputs(broken, fx["patches"])["tags"] - fx["tags"]).max() > 10 * TOLERANCE


def test_save_load_pipeline_and_padding(case, tmp_path):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

    folder, model, _ = case
    model.save_pretrained(tmp_path)
    AutoFeatureExtractor.from_pretrained(PRETRAINED / folder).save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not list(tmp_path.glob("*.bin"))
    again = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    fe = AutoFeatureExtractor.from_pretrained(tmp_path)
    rng = np.random.default_rng(0)
    long, short = [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in (6.5, 2.0)]
    batch = fe([long, short], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        both = again(**batch).logits
        alone = [again(**fe(c, sampling_rate=16000, return_tensors="pt")).logits[0] for c in (long, short)]
        assert torch.allclose(both[0], alone[0], atol=1e-5) and torch.allclose(both[1], alone[1], atol=1e-5)
        assert torch.allclose(both, model(**batch).logits, atol=1e-6)
    tagger = pipeline("audio-classification", model=str(tmp_path))
    out = tagger({"raw": long, "sampling_rate": 16000}, top_k=5)
    assert len(out) == 5 and all(o["label"] in CASES[folder][1] for o in out)
    assert abs(out[0]["score"] - torch.sigmoid(alone[0]).max().item()) < 1e-5  # sigmoid: multi-label


def test_embeddings_hidden_states_and_loss(case):
    _, model, fx = case
    x = torch.from_numpy(fx["patches"].reshape(1, -1, 96)).repeat(2, 1, 1)
    out = model(x, labels=torch.zeros(2, 50), output_hidden_states=True)
    pooled, penultimate = out.hidden_states
    assert pooled.shape == (2, 256) and penultimate.shape == (2, 256)
    assert torch.allclose(model.embed(x), penultimate, atol=1e-6)
    assert torch.allclose(model.embed(x, layer="pooled"), pooled, atol=1e-6)
    assert np.allclose(pooled[0].detach().numpy(), fx["pooled"].mean(axis=0), atol=1e-3)
    assert out.loss is not None and out.loss.item() > 0
    with pytest.raises(ValueError, match="layer"):
        model.embed(x, layer="pool3")


def test_pool_grid_and_bad_input():
    assert pool5_grid(187, 96) == (2, 1)  # 187x96 → 92x48 → 46x24 → 23x12 → 11x6 → 2x1
    with pytest.raises(ValueError, match="too small"):
        pool5_grid(20, 96)
    model = MusiCNNVGGForAudioClassification(vgg_tags_config(MSD_TAGS)).eval()
    with pytest.raises(ValueError, match="187, 96"):
        model.vgg(torch.zeros(1, 100, 96))


def test_genre_head_on_the_pooled_embedding_trains():
    """A new genre head (softmax) on the ``pooled`` embedding, keeping the tagger's layer: one step."""
    torch.manual_seed(0)
    config = MusiCNNVGGConfig(id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1}, classifier_input="pooled",
                              tag_labels=list(MSD_TAGS), num_filters=8)
    model = MusiCNNVGGForAudioClassification(config)
    assert model.classifier.in_features == 16 and model.tagger.in_features == 16  # 8 channels x (2 x 1) positions
    x = torch.randn(2, 187, 96)
    out = model(x, labels=torch.tensor([0, 1]), output_hidden_states=True)
    assert out.logits.shape == (2, 2) and out.hidden_states[2].shape == (2, 50)
    out.loss.backward()
    assert model.vgg.blocks[0].conv.weight.grad.abs().sum() > 0
