"""musicnn's MagnaTagATune tagger (``MTT_musicnn`` → ``genre_models/pretrained/mtt-musicnn``): equal to
TensorFlow without TensorFlow.

The fixture (``tests/fixtures/musicnn_mtt.npz``) was written by ``finetune/convert_musicnn.py`` while it
ran the package's own TensorFlow graph: the first two input patches of this project's metal example
(CC0) and TensorFlow's outputs for them. The architecture and the rest of the API are MSD_musicnn's,
tested in ``tests/test_musicnn.py``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import genre_models.hf_models  # noqa: E402,F401  (registers genre_musicnn)
from genre_models.hf_models.musicnn import MTT_TAGS, MusiCNNFeatureExtractor, MusiCNNForAudioClassification  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MTT = REPO / "genre_models" / "pretrained" / "mtt-musicnn"
FIXTURE = REPO / "tests" / "fixtures" / "musicnn_mtt.npz"
TOLERANCE = 1e-4  # tag probabilities, as the converter requires


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, before))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def mtt():
    from transformers import AutoModelForAudioClassification

    return AutoModelForAudioClassification.from_pretrained(MTT).eval()


@pytest.fixture(scope="module")
def fixture():
    return dict(np.load(FIXTURE))


def tags_of(model, patches: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        hidden, _ = model.musicnn(torch.from_numpy(patches))
        return torch.sigmoid(model.classifier(hidden)).numpy()


def test_auto_classes_load_the_folder(mtt):
    from transformers import AutoFeatureExtractor

    assert isinstance(mtt, MusiCNNForAudioClassification)
    assert [mtt.config.id2label[i] for i in range(50)] == MTT_TAGS
    assert mtt.config.problem_type == "multi_label_classification"
    assert isinstance(AutoFeatureExtractor.from_pretrained(MTT), MusiCNNFeatureExtractor)
    msd = REPO / "genre_models" / "pretrained" / "msd-musicnn" / "model.safetensors"
    from safetensors.numpy import load_file

    # its own weights, not a copy of the MSD tagger's
    ours, theirs = load_file(MTT / "model.safetensors"), load_file(msd)
    assert not np.allclose(ours["classifier.weight"], theirs["classifier.weight"])


def test_port_matches_tensorflow_on_the_fixture(mtt, fixture):
    patches = torch.from_numpy(fixture["patches"])
    with torch.inference_mode():
        hidden, _ = mtt.musicnn(patches)
        logits = mtt.classifier(hidden)
        clip = mtt(patches.reshape(1, -1, 96)).logits[0]
    assert np.abs(torch.sigmoid(logits).numpy() - fixture["tags"]).max() <= TOLERANCE
    assert np.abs(logits.numpy() - fixture["logits"]).max() <= 1e-3
    assert np.abs(hidden.numpy() - fixture["penultimate"]).max() <= 1e-3
    assert torch.allclose(clip, logits.mean(dim=0), atol=1e-5)
    top = [MTT_TAGS[i] for i in np.argsort(-fixture["tags"].mean(axis=0))[:3]]
    assert {"guitar", "rock"} & set(top)  # a distorted-guitar riff


def test_a_wrong_port_fails_the_fixture(mtt, fixture):
    """The fixture's tolerance (1e-4 on tag probabilities) catches a plausible porting slip: every conv
    kernel flipped along time (a true convolution, where TensorFlow's conv2d is a cross-correlation)."""
    import copy

    broken = copy.deepcopy(mtt)
    net = broken.musicnn
    for block in [*net.timbral, *net.temporal, *net.midend]:
        block.conv.weight.data = block.conv.weight.data.flip(2)
    assert np.abs(tags_of(broken, fixture["patches"]) - fixture["tags"]).max() > 10 * TOLERANCE
