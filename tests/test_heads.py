"""genre_models.heads: the one head-fitting path equals scikit-learn's logistic regression on one-hot
labels, learns what it should from partial labels, folds and saves exactly, and cross-validates by group."""
from __future__ import annotations

import numpy as np
import pytest

from genre_models.heads import (
    ABSENT_LOGIT,
    LinearHead,
    WindowSet,
    allowed_matrix,
    cv_linear_head,
    fit_head,
    grouped_cv,
    make_folds,
    track_weights,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blobs(n: int = 300, d: int = 12, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian classes on features of very different scales and offsets, plus a constant column."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = rng.standard_normal((k, d)) * 1.2
    X = (centres[y] + rng.standard_normal((n, d))) * rng.uniform(0.05, 20, d) + rng.uniform(-50, 50, d)
    X[:, 2] = 7.0  # constant: standardised by the floor, left out of the optimisation
    return X, y


def sklearn_fit(X, y, w, C):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    scaler.scale_ = np.maximum(scaler.scale_, 1e-3)
    lr = LogisticRegression(C=C, tol=1e-12, max_iter=100000).fit(scaler.transform(X), y, sample_weight=w)
    return scaler, lr


@pytest.mark.parametrize("C", [0.01, 0.3, 3.0])
def test_one_hot_targets_are_sklearns_multinomial_logistic_regression(C):
    X, y = blobs()
    track = np.repeat(np.arange(100), 3)[: len(X)]
    track[:60] = np.arange(1000, 1060)  # some tracks of one window, others of three
    w = track_weights(track)
    head = fit_head(X, y, sample_weight=w, C=C, tol=1e-10)
    scaler, lr = sklearn_fit(X, y, w, C)
    assert head.info["constant_features"] == 1
    assert np.abs(head.coef - lr.coef_).max() < 1e-5
    assert np.abs(head.intercept - (lr.intercept_ - lr.intercept_.mean())).max() < 1e-5
    assert np.abs(head.predict_proba(X) - lr.predict_proba(scaler.transform(X))).max() < 1e-6
    # a boolean one-hot matrix is the same problem as the indices
    same = fit_head(X, np.eye(3, dtype=bool)[y], sample_weight=w, C=C, tol=1e-10)
    assert np.abs(same.coef - head.coef).max() < 1e-7


def test_two_labels_equal_sklearns_binary_regression_at_twice_c():
    X, y = blobs(k=2, seed=3)
    head = fit_head(X, y, C=0.05, tol=1e-10)
    scaler, lr = sklearn_fit(X, y, None, 0.1)  # the softmax's two rows share the penalty
    assert np.abs(head.predict_proba(X)[:, 1] - lr.predict_proba(scaler.transform(X))[:, 1]).max() < 1e-6


def test_partial_labels_learn_the_label_the_sets_agree_on():
    """Songs of class 0 are tagged {0, 1} (e.g. 'Pop/Rock'): the songs tagged 1 alone look like class 1,
    so the head answers 0 where the class-0 songs are (the set's mass, nearly all of it, leaning to 0)."""
    rng = np.random.default_rng(1)
    centres = np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]])
    y = np.repeat([0, 1, 2], 80)
    X = centres[y] + rng.standard_normal((len(y), 3))
    allowed = np.eye(3, dtype=bool)[y]
    allowed[y == 0, 1] = True  # every class-0 song is "0 or 1"
    head = fit_head(X, allowed, labels=["a", "b", "c"], C=1.0)
    p = head.predict_proba(centres)
    assert p.argmax(axis=1).tolist() == [0, 1, 2]
    assert p[0, 0] + p[0, 1] > 0.95 and p[0, 0] > p[0, 1] + 0.2
    # one-hot rows get the ordinary cross-entropy: a set of one is that label
    assert fit_head(X, allowed_matrix(y, 3), C=1.0).predict(centres).tolist() == [0, 1, 2]


def test_a_label_no_row_may_be_is_never_answered_and_one_possible_label_is_certain():
    X, y = blobs(k=3)
    allowed = np.zeros((len(y), 4), dtype=bool)
    allowed[np.arange(len(y)), y] = True  # label 3 never allowed
    head = fit_head(X, allowed, C=0.1)
    assert head.intercept[3] == ABSENT_LOGIT and head.predict_proba(X)[:, 3].max() < 1e-100
    only = fit_head(X, np.zeros(len(X), dtype=int), labels=["x", "y"], C=0.1)
    assert np.allclose(only.predict_proba(X)[:, 0], 1.0)


def test_bad_input_is_refused():
    X, y = blobs()
    with pytest.raises(ValueError, match="NaN"):
        fit_head(np.where(np.eye(len(X), X.shape[1]) > 0, np.nan, X), y)
    with pytest.raises(ValueError, match="at least one label"):
        fit_head(X, np.zeros((len(X), 3), dtype=bool))
    with pytest.raises(ValueError, match="rows"):
        fit_head(X[:10], y)
    with pytest.raises(ValueError, match="C must be positive"):
        fit_head(X, y, C=0)


def test_folded_layer_save_load_and_warm_start(tmp_path):
    X, y = blobs()
    head = fit_head(X, y, labels=["r", "j", "p"], C=0.3, tol=1e-10)
    W, b = head.folded()
    assert np.abs(X @ W.T + b - head.decision_function(X)).max() < 1e-8
    head.save(tmp_path / "h.safetensors")
    back = LinearHead.load(tmp_path / "h.safetensors")
    assert back.labels == ["r", "j", "p"] and back.info["C"] == 0.3
    assert np.array_equal(back.coef, head.coef) and np.array_equal(back.scale, head.scale)
    warm = fit_head(X, y, labels=["r", "j", "p"], C=0.3, init=head, tol=1e-10)
    assert warm.info["iterations"] <= 2 and np.abs(warm.coef - head.coef).max() < 1e-6


def test_track_weights_give_every_track_and_optionally_every_label_the_same_weight():
    track = np.array([0, 0, 0, 0, 1, 2, 2])
    w = track_weights(track)
    assert np.allclose([w[track == t].sum() for t in range(3)], w[track == 0].sum())
    allowed = np.eye(2, dtype=bool)[[0, 0, 0, 0, 0, 1, 1]]  # tracks 0, 1 are label 0; track 2 label 1
    wb = track_weights(track, allowed)
    assert np.isclose(wb[track == 2].sum(), wb[track < 2].sum())  # label 1's one track = label 0's two


def grouped_data(seed: int = 0) -> WindowSet:
    rng = np.random.default_rng(seed)
    windows, labels, groups = [], [], []
    for artist in range(12):
        g = artist % 3  # four artists per label, three songs each
        for _ in range(3):
            n = int(rng.integers(1, 5))
            windows.append(rng.standard_normal((n, 6)) + np.eye(6)[g] * 2.5 + rng.standard_normal(6) * 0.3)
            labels.append(g)
            groups.append(f"artist{artist}")
    return WindowSet.from_tracks(windows, allowed_matrix(np.array(labels), 3), groups, ["x", "y", "z"],
                                 [f"song{i}" for i in range(len(labels))])


def test_folds_keep_each_group_in_one_fold():
    data = grouped_data()
    fold = make_folds(data.allowed, data.groups, 4, seed=0)
    for g in np.unique(data.groups):
        assert len(set(fold[data.groups == g])) == 1
    assert len(set(fold)) == 4
    with pytest.raises(ValueError, match="at least 3 groups"):
        make_folds(data.allowed, np.array(["a", "b"] * (len(data.groups) // 2)), 5)


def test_grouped_cv_reports_what_it_chose_and_scores_each_track_once():
    data = grouped_data()
    report = cv_linear_head(data, (0.01, 1.0), n_splits=4, seed=0)
    assert report.n_splits == 4 and len(report.chosen_per_fold) == 4 and report.chosen in (0.01, 1.0)
    assert report.accuracy > 0.8 and np.isclose(report.probs.sum(axis=1), 1).all()
    cm = report.confusion()
    assert cm.sum() == data.n_tracks and np.trace(cm) == report.right.sum()
    assert report.per_label()["x"]["songs"] == 12 and report.per_label()["x"]["groups"] == 4
    text = report.text()
    assert "confusion" in text and "recall" in text and "| x |" in report.markdown()
    d = report.as_dict()
    assert d["songs"] == data.n_tracks and len(d["confusion"]) == 3


def test_folds_side_by_side_give_the_same_report():
    import torch

    data = grouped_data(seed=2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one = cv_linear_head(data, (0.01, 1.0), n_splits=4)
        two = cv_linear_head(data, (0.01, 1.0), n_splits=4, n_jobs=2)
        assert torch.get_num_threads() == 2  # the fits' one-thread setting is undone
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(one.probs, two.probs) and one.chosen_per_fold == two.chosen_per_fold


def test_grouped_cv_never_scores_a_track_with_a_model_that_saw_its_group():
    data = grouped_data()
    seen = []

    def fit_fold(train, evals):
        valid, test = evals
        seen.append((set(data.groups[train]), set(data.groups[valid]), set(data.groups[test])))
        p = np.full((len(test), 3), 1 / 3)
        return {"s": [np.full((len(valid), 3), 1 / 3), p]}

    grouped_cv(data.allowed, data.groups, fit_fold, labels=data.labels, n_splits=4)
    for train, valid, test in seen:
        assert not train & test and not train & valid and not valid & test


def test_cv_may_select_on_fewer_windows_and_hands_the_final_fit_a_start():
    data = grouped_data(seed=4)
    assert len(data.rows(np.arange(data.n_tracks), per_track=1)) == data.n_tracks
    report = cv_linear_head(data, (0.01, 1.0), n_splits=4, per_track=1, tol=1e-3)
    assert set(report.fold_models) == {0.01, 1.0}
    start = report.fold_models[report.chosen]
    warm = data.fit(C=report.chosen, init=start, tol=1e-9)
    cold = data.fit(C=report.chosen, tol=1e-9)
    assert np.abs(warm.coef - cold.coef).max() < 1e-4  # the same optimum
    assert warm.info["iterations"] < cold.info["iterations"]
