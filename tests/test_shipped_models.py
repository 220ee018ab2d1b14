"""Behaviour of the genre models shipped in ``genre_models/pretrained/``, checked in CI.

What each test guards against:

* **export parity**: the shipped weights are what the training code fitted. The features model's
  numpy inference must give the probabilities of the scikit-learn estimators it was exported from
  (a fixture of non-GTZAN inputs that ``finetune/classical.py`` writes at export; and, with the
  shared table, a refit of the recorded recipe). The musicnn genre model's folded ``Linear`` must
  give the recorded head's (scaler + logistic regression, ``genre_head.safetensors``) probabilities.
* **label order**: GTZAN's order in every shipped genre model and in every member of
  ``ensemble.json`` (a permuted ``id2label`` would still "work" and be wrong).
* **known answers**: the default ensemble on the project's own nine CC0 examples. The table below
  is the one place to update when the default ensemble changes (re-measure with
  ``python -m genre_models predict examples/*.mp3 examples/*.ogg examples/*.flac``).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from genre_models.features_model import DEFAULT_MODEL_DIR, FeaturesModel
from genre_models.labels import GTZAN_GENRES

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "genre_models" / "pretrained"
EXAMPLES_DIR = REPO / "examples"

# ---------------------------------------------------------------------------------------------------
# The default ensemble (genre_models/pretrained/ensemble.json) on examples/: the style each piece was
# written in, and what the ensemble answers today. Update both lines below together when it changes.
EXPECTED = {  # file: (written as, answered by the default ensemble)
    "blues_shuffle.mp3": ("blues", "rock"),
    "classical_piano.flac": ("classical", "country"),
    "classical_strings.ogg": ("classical", "classical"),
    "country_twang.mp3": ("country", "country"),
    "disco_groove.mp3": ("disco", "disco"),
    "hiphop_beat.mp3": ("hiphop", "jazz"),
    "jazz_swing.ogg": ("jazz", "jazz"),
    "metal_riff.mp3": ("metal", "rock"),
    "reggae_skank.ogg": ("reggae", "jazz"),
}
EXPECTED_RIGHT = 4  # of 9 (musicnn + musicnn+YAMNet heads fit on 620 real tracks; every piece is called music)
# ---------------------------------------------------------------------------------------------------

PARITY_FIXTURE = REPO / "tests" / "fixtures" / "gtzan_features_parity.json"


def _genre_model_dirs() -> list[Path]:
    """Every shipped folder that is a genre classifier (not the musicnn tagger)."""
    out = []
    for cfg in sorted(PRETRAINED.glob("*/config.json")):
        c = json.loads(cfg.read_text())
        if c.get("problem_type") != "multi_label_classification":
            out.append(cfg.parent)
    return out


# --------------------------------------------------------------------------------------- label order
def test_every_shipped_genre_model_uses_gtzan_order():
    dirs = _genre_model_dirs()
    assert {d.name for d in dirs} >= {"gtzan-features", "gtzan-musicnn", "gtzan-yamnet", "gtzan-whisper",
                                      *ENSEMBLE_MEMBERS}
    for d in dirs:
        c = json.loads((d / "config.json").read_text())
        assert c["id2label"] == {str(i): g for i, g in enumerate(GTZAN_GENRES)}, d.name
        assert c["label2id"] == {g: i for i, g in enumerate(GTZAN_GENRES)}, d.name


def test_ensemble_members_use_gtzan_order():
    from genre_models.ensemble import DEFAULT_ENSEMBLE_FILE, Ensemble

    ens = Ensemble.from_file(DEFAULT_ENSEMBLE_FILE, strict=True)
    names = [m["model"] for m in json.loads(DEFAULT_ENSEMBLE_FILE.read_text())["models"]]
    assert len(ens.members) == len(names) >= 2 and not ens.problems
    for name, member in zip(names, ens.members):
        assert list(member.model.labels) == list(GTZAN_GENRES), name
    assert len(ens.groups()) == 1  # one label set: every member is averaged with the others


# --------------------------------------------------------------------------------------- features model
def test_features_model_reproduces_its_sklearn_estimators_on_the_fixture():
    """Non-GTZAN inputs (the examples' features, rows around the training mean) and the probabilities
    of the scikit-learn estimators the shipped folder was exported from (written by the export)."""
    fixture = json.loads(PARITY_FIXTURE.read_text())
    weights = hashlib.sha256((DEFAULT_MODEL_DIR / "model.safetensors").read_bytes()).hexdigest()
    assert fixture["model_safetensors_sha256"] == weights, (
        "the shipped features model is not the one the fixture was written for: re-export it with "
        "finetune/classical.py, which rewrites tests/fixtures/gtzan_features_parity.json")
    model = FeaturesModel.from_pretrained(DEFAULT_MODEL_DIR)
    X, ref = np.array(fixture["X"]), np.array(fixture["sklearn_proba"])
    assert X.shape == (15, 57) and any(r.startswith("examples/") for r in fixture["rows"])
    np.testing.assert_allclose(model.predict_proba(X), ref, rtol=0, atol=1e-9)


def test_features_model_is_the_recipe_refit_on_the_table(gtzan_dir):
    """The recorded recipe, refit on the rows the model records, gives the shipped model's answers."""
    pytest.importorskip("sklearn")
    from finetune.classical import fit_vote, load_data, log_features, recorded_recipe
    from finetune.provenance import canonical_id, read_record
    from genre_models.features_model import transform_features

    data = load_data(gtzan_dir)
    assert sorted(map(canonical_id, data.filenames)) == read_record(DEFAULT_MODEL_DIR)["train_tracks_ids"]
    Z = transform_features(data.X, data.feature_names, log_features(data.feature_names))
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the MLPs' small matrix products gain nothing from two, and with torch's and
    # scikit-learn's OpenMP pools beside OpenBLAS's in this process, two cost 111 s of CPU instead of 14
    with threadpool_limits(limits=1, user_api="blas"):
        scaler, vote, _ = fit_vote(*recorded_recipe(DEFAULT_MODEL_DIR), Z, data.y)
    fixture = np.array(json.loads(PARITY_FIXTURE.read_text())["X"])
    rows = np.vstack([data.X[::25], fixture])
    logs = log_features(data.feature_names)
    ref = vote.predict_proba(scaler.transform(transform_features(rows, data.feature_names, logs)))
    shipped = FeaturesModel.from_pretrained(DEFAULT_MODEL_DIR).predict_proba(rows)
    np.testing.assert_allclose(shipped, ref, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------------------- heads on backbones
@pytest.mark.parametrize("name", ["gtzan-musicnn", "gtzan-yamnet", "gtzan-whisper"])
def test_shipped_head_is_the_recorded_head_folded(name):
    """softmax(classifier(x)) of the shipped model = the recorded StandardScaler + LogisticRegression
    (``genre_head.safetensors``, what benchmarks/genre_heads.py fitted) on the same embeddings (random
    ones here: the folding is linear algebra, not data); and the head records the 380 tracks it saw."""
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file
    from safetensors.torch import load_file as load_torch

    folder = PRETRAINED / name
    head = load_file(str(folder / "genre_head.safetensors"))
    weights = load_torch(str(folder / "model.safetensors"))
    W, b = weights["classifier.weight"].double(), weights["classifier.bias"].double()
    assert head["classes"].tolist() == list(range(10)) and head["coef"].shape == (10, W.shape[1])
    rng = np.random.default_rng(0)
    x = head["scaler_mean"] + head["scaler_scale"] * rng.normal(size=(64, W.shape[1]))
    z = ((x - head["scaler_mean"]) / head["scaler_scale"]) @ head["coef"].T + head["intercept"]
    ref = np.exp(z - z.max(axis=1, keepdims=True))
    ref /= ref.sum(axis=1, keepdims=True)  # scikit-learn's multinomial predict_proba
    got = torch.softmax(torch.from_numpy(x) @ W.T + b, dim=-1).numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)  # float32 weights
    assert got.argmax(1).tolist() == ref.argmax(1).tolist()
    assert json.loads((folder / "genre_head.json").read_text())["track_record"]["train_tracks"] == 380


ENSEMBLE_MEMBERS = [m["model"] for m in json.loads((PRETRAINED / "ensemble.json").read_text())["models"]]
GTZAN_HEADS = ["gtzan-musicnn", "gtzan-yamnet"]  # the GTZAN-only heads of benchmarks/genre_heads.py (still shipped)
HEAD_EXAMPLES = ("metal_riff.mp3", "classical_strings.ogg", "hiphop_beat.mp3")


def _model_type(name: str) -> str:
    return json.loads((PRETRAINED / name / "config.json").read_text())["model_type"]


@pytest.mark.parametrize("name", ENSEMBLE_MEMBERS)
def test_default_member_is_the_fitted_member_on_real_audio(name):
    """Each member of the default ensemble (a ``genre_embedding_head``), through its own forward pass
    (``genre_models.predict``, the app's path) on the windows of three of the examples, gives the
    window probabilities of ``benchmarks/default_ensemble.py``'s ``FittedMember`` — the code that
    scored the folds — with the unfolded float64 head (``head.safetensors``) and the priors'
    calibration (scale, bias) and weights that config.json records, on the vectors
    ``genre_models.embeddings.embed_file`` gives (what ``embed_tracks.py`` cached for training).
    So the backbones, the window layout, the variants, the folded layer and the priors' half are all
    tied to what was fitted and scored."""
    pytest.importorskip("torch")
    from genre_models import load_model, predict, priors
    from genre_models.heads import LinearHead

    sys.path.insert(0, str(REPO / "benchmarks"))
    import default_ensemble as de

    assert _model_type(name) == "genre_embedding_head", name
    folder = PRETRAINED / name
    config = json.loads((folder / "config.json").read_text())
    features = tuple(f"{b['name']}:{b['variant']}" for b in config["backbones"])
    prior_cfg = config["priors"] or []
    spec = de.MemberSpec(name, features, tuple(f"{p['name']}:{p['variant']}" for p in prior_cfg))
    for p, prior in zip(prior_cfg, spec.priors):  # the genres each prior reads are the recipe's
        assert p["classes"] == priors.PRIOR_CLASSES[prior], (name, prior)
    C = config["head"]["C"]
    fitted = de.FittedMember(spec, {C: LinearHead.load(folder / "head.safetensors")},
                             [(p["scale"], np.array(p["bias"])) for p in prior_cfg])
    weights = [p["weight"] for p in prior_cfg]
    assert len(config["head"]["prior_weights"]) == len(weights) and config["max_windows"] == 12
    data = de.files_data([EXAMPLES_DIR / n for n in HEAD_EXAMPLES], spec.backbones, config["max_windows"])
    tracks = data.tracks
    model = load_model(folder)
    refs = fitted.window_probs(data, np.arange(len(tracks)), C, weights)
    for t, ref in zip(tracks, refs):
        got = predict(t.source, model).window_probs
        assert got.shape == ref.shape and len(ref) >= 5, (t.track_id, got.shape, ref.shape)
        # float32 model, float64 reference; MEASURED_PARITY
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5, err_msg=f"{name} on {t.track_id}")


MEMBERS_FIXTURE = REPO / "tests" / "fixtures" / "default_members.json"


def test_default_members_are_what_was_fitted():
    """Each shipped member, through the app's path, on all nine examples, gives the window probabilities
    the fitted member gave when it was exported (``default_ensemble.py --export``, or ``--fixture_from``,
    which refits each member from the tracks with the settings its config records): the fixture is
    computed from the fit, not read back from the folder, so a config whose prior scale or bias, prior
    weight, C or variant differs from what was fitted fails here (the test above reads them from config)."""
    pytest.importorskip("torch")
    from genre_models import load_model, predict

    fixture = json.loads(MEMBERS_FIXTURE.read_text())
    assert sorted(fixture["members"]) == sorted(ENSEMBLE_MEMBERS), \
        "re-run python benchmarks/default_ensemble.py --fixture_from genre_models/pretrained --weighting tracks"
    for name, songs in fixture["members"].items():
        model = load_model(PRETRAINED / name)
        assert sorted(songs) == sorted(EXPECTED), name
        for song, ref in songs.items():
            got = predict(EXAMPLES_DIR / song, model).window_probs
            # measured <= 5.1e-7 (float32 model, float64 fit); the YAMNet prior without its bias: see the note
            np.testing.assert_allclose(got, np.array(ref), rtol=0, atol=2e-5, err_msg=f"{name} on {song}")


@pytest.mark.parametrize("name", GTZAN_HEADS)
def test_member_is_its_recorded_head_on_real_audio(name):
    """Each GTZAN-only head, through its own forward pass (``genre_models.predict``,
    the app's path) on the windows of three of the examples, gives the window probabilities that
    ``benchmarks/genre_heads.py`` computes for the same windows: its embedding of them from the base
    backbone (``EMBED``), the unfolded head (``genre_head.safetensors``: scaler + logistic
    regression) and, for a YAMNet member, the AudioSet prior calibrated with the ``prior_scale``,
    ``prior_bias`` and ``prior_weight`` that config.json records (``prior_logits``,
    ``mixed_window_probs``). So the backbone, the window layout, the pooling, the folded layer and
    the prior's half are all tied to what was fitted (README's export parity)."""
    pytest.importorskip("torch")
    from safetensors.numpy import load_file

    from genre_models import load_model, predict

    sys.path.insert(0, str(REPO / "benchmarks"))
    import genre_heads

    folder = PRETRAINED / name
    info = json.loads((folder / "genre_head.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    head = load_file(str(folder / "genre_head.safetensors"))
    tracks = [SimpleNamespace(track_id=n, source=str(EXAMPLES_DIR / n)) for n in HEAD_EXAMPLES]
    embeddings = genre_heads.EMBED[info["backbone"]](tracks)
    model = load_model(folder)
    mixed = config.get("prior_weight", 0.0)
    if mixed:
        assert config["head_weight"] == pytest.approx(1 - mixed) and info["prior_weight"] == mixed
    for t in tracks:
        X = embeddings[t.track_id][info["variant"]]
        z = ((X - head["scaler_mean"]) / head["scaler_scale"]) @ head["coef"].T + head["intercept"]
        head_p = np.zeros((len(X), len(GTZAN_GENRES)))
        head_p[:, head["classes"]] = np.exp(z - z.max(axis=1, keepdims=True))
        head_p /= head_p.sum(axis=1, keepdims=True)  # scikit-learn's multinomial predict_proba
        ref = head_p
        if mixed:
            scores = embeddings[t.track_id][info["variant"].split("|")[0] + "|scores"]
            theta = np.array([np.log(config["prior_scale"]), *config["prior_bias"]])
            ref = genre_heads.mixed_window_probs(head_p, genre_heads.prior_logits(scores, config["audioset_labels"]),
                                                 theta, mixed)
        got = predict(t.source, model).window_probs
        assert got.shape == ref.shape and len(ref) >= 5, (t.track_id, got.shape, ref.shape)
        # measured here: <= 1.9e-6 (musicnn), <= 5.3e-6 (YAMNet, hiphop_beat): float32 model, float64 reference;
        # the YAMNet prior without its bias is off by 0.16, the musicnn member with zero STFT padding by 0.05
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5, err_msg=f"{name} on {t.track_id}")


# --------------------------------------------------------------------------------------- known answers
def test_default_ensemble_on_the_examples():
    pytest.importorskip("torch")
    from genre_models.ensemble import Ensemble

    assert sorted(EXPECTED) == sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.suffix in (".mp3", ".ogg", ".flac"))
    assert sum(style == answer for style, answer in EXPECTED.values()) == EXPECTED_RIGHT  # the table is consistent
    ens = Ensemble.default()
    assert not ens.problems, ens.problems
    answers = {}
    for name in EXPECTED:
        [answer] = ens.predict(EXAMPLES_DIR / name)
        answers[name] = answer.genre
        assert answer.audioset.check.is_music, name
    assert answers == {name: answer for name, (_, answer) in EXPECTED.items()}
    assert sum(answers[name] == style for name, (style, _) in EXPECTED.items()) == EXPECTED_RIGHT
