"""finetune/ensemble.py: learned weights and temperatures, and that the app computes what was fitted.

The unit tests use synthetic per-window probabilities whose right answer is known (a useful model,
an overconfident one, a useless one). The end-to-end test fits an ensemble of two tiny checkpoints
on audio made here, writes ``ensemble.json``, and checks that
:class:`genre_models.ensemble.Ensemble` (what the app and the CLI run) reproduces the fitted
mixture's probabilities on a test track.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from finetune.ensemble import Scored, compare, fit_mixture, log_loss, mixture, tempered_track_probs

LABELS = ["a", "b", "c"]


def synthetic(n_tracks: int, seed: int, hits: tuple[float, float] = (0.8, 0.6)) -> Scored:
    """Model 0 right 80 % of the time with moderate confidence; model 1 right 60 % but always
    certain (0.98); model 2 uniform noise. Two windows per track. ``hits``: the two models' hit rates."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n_tracks)
    windows: list[list[np.ndarray]] = [[], [], []]
    for label in y:
        for k, (hit, conf) in enumerate([(hits[0], 0.7), (hits[1], 0.98)]):
            guess = label if rng.random() < hit else (label + rng.integers(1, 3)) % 3
            p = np.full(3, (1 - conf) / 2)
            p[guess] = conf
            windows[k].append(np.stack([p, p]))
        windows[2].append(rng.dirichlet(np.ones(3), size=2))
    return Scored(["good", "overconfident", "noise"], LABELS, y, windows, [str(i) for i in range(n_tracks)])


def test_fit_prefers_the_useful_model_and_cools_the_overconfident_one():
    fit = synthetic(300, 0)
    w, t, opt = fit_mixture(fit, penalty=0.0)
    assert abs(w.sum() - 1) < 1e-9
    assert w[0] > w[1] and w[0] > w[2], w
    assert w[2] < 0.1 or t[2] > 3, (w, t)  # the noise model is switched off, by weight or by flattening
    equal = log_loss(mixture(fit, np.ones(3), np.ones(3)), fit.y)
    assert log_loss(mixture(fit, w, t), fit.y) < equal - 0.05
    assert opt["objective_end"] < opt["objective_start"]
    # and it generalises: lower log-loss on fresh tracks than the equal-weight average
    test = synthetic(300, 1)
    assert log_loss(mixture(test, w, t), test.y) < log_loss(mixture(test, np.ones(3), np.ones(3)), test.y)


def test_a_lone_overconfident_model_is_cooled():
    """With one model, the fit is temperature scaling: 0.98 certainty at 60 % accuracy is softened."""
    fit = synthetic(300, 0)
    alone = Scored(["overconfident"], LABELS, fit.y, [fit.windows[1]], fit.track_ids)
    w, t, _ = fit_mixture(alone, penalty=0.0)
    assert w.tolist() == [1.0] and t[0] > 1.5, t
    assert log_loss(mixture(alone, w, t), alone.y) < log_loss(mixture(alone, w, [1.0]), alone.y) - 0.3


def test_penalty_keeps_a_tiny_fit_split_near_equal_weights():
    small = synthetic(6, 2)
    w_free, _, _ = fit_mixture(small, penalty=0.0)
    w_pen, t_pen, _ = fit_mixture(small, penalty=1.0)
    assert np.abs(w_pen - 1 / 3).max() < np.abs(w_free - 1 / 3).max()
    assert np.all(np.abs(np.log(t_pen)) < 0.5)


def test_best_single_is_chosen_on_the_fit_split():
    """The fit split and the eval split disagree on the best model, so choosing on eval would fail."""
    fit, test = synthetic(200, 3, hits=(0.8, 0.6)), synthetic(200, 4, hits=(0.5, 0.9))
    w, t, _ = fit_mixture(fit)
    report = compare(fit, test, w, t)
    rows = report["rows"]
    best_on_eval = max(test.models, key=lambda m: rows[m]["eval"]["accuracy"])
    assert rows["good"]["fit"]["accuracy"] > rows["overconfident"]["fit"]["accuracy"]  # the data really differ
    assert best_on_eval == "overconfident"
    assert report["best_single"] == "good"
    assert set(report["rows"]) == {"good", "overconfident", "noise", "equal-weight average", "learned ensemble"}


def test_tempering_matches_the_inference_code():
    from genre_models.ensemble import _with_temperature
    from genre_models.prediction import Prediction

    rng = np.random.default_rng(5)
    win = rng.dirichlet(np.ones(3), size=4)
    pred = Prediction(LABELS, win.mean(0), np.zeros((4, 2)), win, 12.0, "m")
    np.testing.assert_allclose(_with_temperature(pred, 2.5).probs, tempered_track_probs([win], 2.5)[0], atol=1e-12)


@pytest.fixture(scope="module")
def two_models_and_music(tmp_path_factory):
    """Two tiny random checkpoints (3-s windows) and a <genre>/<file> folder of tones."""
    torch = pytest.importorskip("torch")
    from genre_models.hf_models import build_model

    root = tmp_path_factory.mktemp("ens")
    music = root / "music"
    rng = np.random.default_rng(0)
    sr = 22050
    for label, (lo, hi) in zip(LABELS, [(100, 200), (800, 1200), (3000, 4000)]):
        (music / label).mkdir(parents=True)
        for i in range(6):
            t = np.arange(int(rng.uniform(4, 7) * sr)) / sr
            y = 0.3 * np.sin(2 * np.pi * rng.uniform(lo, hi) * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(music / label / f"{label}.{i:05d}.wav", y.astype(np.float32), sr)
    models = []
    torch.set_num_threads(1)
    for k, family in enumerate(["mel_cnn", "crnn"]):
        torch.manual_seed(k)
        kw = dict(channels=(4, 8), n_mels=16, extractor_kwargs={"chunk_seconds": 3.0})
        if family == "crnn":
            kw.update(time_pools=(2, 1), hidden_size=8)
        model, fe = build_model(family, LABELS, **kw)
        model.config.window_seconds = 3.0
        out = root / f"tiny-{family}"
        model.save_pretrained(out)
        fe.save_pretrained(out)
        models.append(out)
    return models, music, root


def test_end_to_end_ensemble_json_is_what_the_app_computes(two_models_and_music, tmp_path):
    from finetune.ensemble import main
    from genre_models.ensemble import Ensemble
    from genre_models.prediction import predict
    from genre_models.registry import load_model

    models, music, _ = two_models_and_music
    out = tmp_path / "cfg" / "ensemble.json"
    config = main(["--models", *map(str, models), "--dataset", "audiofolder", "--data_dir", str(music),
                   "--valid_fraction", "0.34", "--test_fraction", "0.34", "--output_file", str(out),
                   "--penalty", "0.001"])
    saved = json.loads(out.read_text())
    assert saved["fitted_on"]["split"] == "random" and saved["fitted_on"]["fit_split"] == "valid"
    assert saved["fitted_on"]["fit_tracks"] == 6 and saved["evaluated_on"]["tracks"] == 6
    assert [Path(m["model"]).name for m in saved["models"]] == [m.name for m in models]
    assert not Path(saved["models"][0]["model"]).is_absolute()  # relative to the file
    weights = [m["weight"] for m in saved["models"]]
    assert abs(sum(weights) - 1) < 1e-5 and config["report"]["best_single"] in {"tiny-mel_cnn", "tiny-crnn"}

    ens = Ensemble.from_file(out, strict=True)
    assert [m.weight for m in ens.members] == weights
    track = sorted(music.glob("b/*.wav"))[0]
    [answer] = ens.predict(track)
    singles = [predict(track, load_model(m)).window_probs for m in models]
    temps = [m["temperature"] for m in saved["models"]]
    expected = sum(w * tempered_track_probs([s], t)[0] for w, s, t in zip(weights, singles, temps))
    np.testing.assert_allclose(answer.probs, expected, atol=1e-6)
