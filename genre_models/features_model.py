"""The shipped default genre classifier over the 57 GTZAN "features_30_sec" columns.

Why this file exists: the model we ship must load without pickle (a pickle can run arbitrary code
on load) and without scikit-learn at inference time.  A saved model is one Hugging Face-style folder:

* ``config.json`` -- labels (``id2label``/``label2id``), ``feature_names`` (column order of ``X``),
  the fixed feature transform (log of the variance columns) and the standardiser (mean/scale),
  the ensemble members with their weights, and the measured figures;
* ``model.safetensors`` -- numpy arrays of the linear / MLP members (``safetensors.numpy``);
* ``<member>.json`` -- XGBoost members in XGBoost's own JSON format.

Inference is a re-implementation in numpy of each member's ``predict_proba`` (softmax of a linear
map; a ReLU MLP with a softmax head; XGBoost's own booster), then a weighted mean of the members'
probabilities.  ``finetune/classical.py`` trains the members with scikit-learn/xgboost, converts
them with :meth:`FeaturesModel.from_estimators`, and checks parity against the training-time
estimators.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MODEL_DIR: Path = Path(__file__).resolve().parent / "pretrained" / "gtzan-features"
MODEL_TYPE = "gtzan-features"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_CARD_NAME = "README.md"
FORMAT_VERSION = 1
# Floor before the log of variance features: a silent clip has variance 0 (the table's smallest is ~8e-7).
LOG_FLOOR = 1e-12
# File types that are never read (they may be pickles); a folder holding only these is refused.
UNSAFE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".h5")
_SAFE_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.json$")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_]+$")

__all__ = ["DEFAULT_MODEL_DIR", "FeaturesModel", "transform_features", "softmax"]


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed the way scikit-learn does (max-shifted) so results match bit-for-bit."""
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _sigmoid_pair(d: np.ndarray) -> np.ndarray:
    """Binary heads (one logit): [1-p, p] as scikit-learn returns them."""
    p = 1.0 / (1.0 + np.exp(-d.ravel()))
    return np.stack([1.0 - p, p], axis=1)


def transform_features(X: np.ndarray, feature_names: Sequence[str], log_features: Iterable[str]) -> np.ndarray:
    """Fixed (unfitted) feature transform: natural log of the named columns, floored at ``LOG_FLOOR``.

    The variance columns span 3-6 orders of magnitude and are skewed; on their log scale linear models
    and MLPs do better.  Training (``finetune/classical.py``) and inference share this one function.
    """
    X = np.array(X, dtype=np.float64, copy=True)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ValueError(f"expected X of shape (n, {len(feature_names)}), got {X.shape}")
    index = {name: i for i, name in enumerate(feature_names)}
    cols = [index[name] for name in log_features]
    if cols:
        X[:, cols] = np.log(np.maximum(X[:, cols], LOG_FLOOR))
    return X


class FeaturesModel:
    """Soft-voting ensemble over standardised GTZAN track features; numpy (+ xgboost) inference only."""

    config: dict
    labels: list[str]
    feature_names: list[str]
    sample_rate: int
    window_seconds: float

    def __init__(self, config: dict, tensors: dict[str, np.ndarray], boosters: dict[str, Any] | None = None,
                 model_card: str | None = None) -> None:
        """Build from a parsed config, the safetensors arrays and loaded ``xgboost.Booster`` objects."""
        if config.get("model_type") != MODEL_TYPE:
            raise ValueError(f"config.model_type must be {MODEL_TYPE!r}, got {config.get('model_type')!r}")
        self.config = config
        id2label = config["id2label"]
        self.labels = [id2label[str(i)] for i in range(len(id2label))]
        self.feature_names = list(config["feature_names"])
        self.sample_rate = int(config.get("sample_rate", 22050))
        self.window_seconds = float(config.get("window_seconds", 30.0))
        pre = config["preprocessing"]
        self._log_features = list(pre.get("log_features", []))
        self._mean = np.asarray(pre["scaler_mean"], dtype=np.float64)
        self._scale = np.asarray(pre["scaler_scale"], dtype=np.float64)
        if self._mean.shape != (len(self.feature_names),) or self._scale.shape != self._mean.shape:
            raise ValueError("scaler_mean/scaler_scale must have one entry per feature")
        self.tensors = {k: np.asarray(v) for k, v in tensors.items()}
        self.boosters = dict(boosters or {})
        self.model_card = model_card
        for member in config["members"]:
            self._check_member(member)

    # ------------------------------------------------------------------ inference
    def _check_member(self, member: dict) -> None:
        """Fail at load time, not at predict time, if a member's arrays/files are missing."""
        kind, name = member["type"], member["name"]
        if not _SAFE_KEY.match(name):
            raise ValueError(f"bad member name {name!r}")
        if kind == "linear":
            needed = [f"{name}.coef", f"{name}.intercept"]
        elif kind == "mlp":
            needed = [f"{name}.{p}{i}" for i in range(int(member["n_layers"])) for p in ("W", "b")]
        elif kind == "xgboost":
            needed = []
            if name not in self.boosters:
                raise ValueError(f"xgboost member {name!r} has no booster")
        else:
            raise ValueError(f"unknown member type {kind!r}")
        missing = [k for k in needed if k not in self.tensors]
        if missing:
            raise ValueError(f"member {name!r}: missing arrays {missing}")

    def preprocess(self, X: np.ndarray) -> np.ndarray:
        """Raw features (n, 57) -> log-variance, standardised features, as at training time."""
        X = transform_features(X, self.feature_names, self._log_features)
        X -= self._mean
        X /= self._scale
        return X

    def _member_proba(self, member: dict, Z: np.ndarray) -> np.ndarray:
        name, kind = member["name"], member["type"]
        if kind == "linear":
            d = Z @ self.tensors[f"{name}.coef"].T + self.tensors[f"{name}.intercept"]
            return _sigmoid_pair(d) if d.shape[1] == 1 else softmax(d)
        if kind == "mlp":
            a = Z
            n_layers = int(member["n_layers"])
            for i in range(n_layers):
                a = a @ self.tensors[f"{name}.W{i}"] + self.tensors[f"{name}.b{i}"]
                if i < n_layers - 1:
                    np.maximum(a, 0, out=a)  # ReLU, scikit-learn's default activation
            return _sigmoid_pair(a) if a.shape[1] == 1 else softmax(a)
        if kind == "xgboost":
            p = np.asarray(self.boosters[name].inplace_predict(Z), dtype=np.float64)
            return np.stack([1.0 - p, p], axis=1) if p.ndim == 1 else p
        raise ValueError(f"unknown member type {kind!r}")

    def member_probas(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's probabilities, keyed by member name (what :meth:`predict_proba` weighs)."""
        X = np.asarray(X, dtype=np.float64)
        Z = self.preprocess(X[None, :] if X.ndim == 1 else X)
        return {m["name"]: self._member_proba(m, Z) for m in self.config["members"]}

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """X (n, 57) raw features in ``feature_names`` order -> (n, n_labels) probabilities, rows sum to 1:
        the members' probabilities averaged with their weights."""
        probas = self.member_probas(X)
        total = np.zeros((next(iter(probas.values())).shape[0], len(self.labels)))
        wsum = 0.0
        for member in self.config["members"]:
            w = float(member.get("weight", 1.0))
            total += w * probas[member["name"]]
            wsum += w
        return total / wsum

    def predict(self, X: np.ndarray) -> list[str]:
        """Most probable label name per row."""
        return [self.labels[i] for i in self.predict_proba(X).argmax(axis=1)]

    # ------------------------------------------------------------------ building
    @classmethod
    def from_estimators(cls, members: Sequence[tuple[str, Any, float]], *, labels: Sequence[str],
                        feature_names: Sequence[str], log_features: Sequence[str],
                        scaler_mean: np.ndarray, scaler_scale: np.ndarray,
                        extra_config: dict | None = None) -> FeaturesModel:
        """Convert fitted estimators (training time only) into a pickle-free model.

        ``members`` are ``(name, estimator, weight)``; supported estimators: anything linear with
        ``coef_``/``intercept_`` and a softmax ``predict_proba`` (``LogisticRegression``,
        ``LinearDiscriminantAnalysis``), ``MLPClassifier`` with ReLU, and ``xgboost.XGBClassifier``.
        Every estimator must have been fitted on ``preprocess``-ed features with classes ``0..n-1``.
        scikit-learn is not imported here: only fitted attributes are read.
        """
        tensors: dict[str, np.ndarray] = {}
        boosters: dict[str, Any] = {}
        specs: list[dict] = []
        for name, est, weight in members:
            if not _SAFE_KEY.match(name):
                raise ValueError(f"member names must match {_SAFE_KEY.pattern}: {name!r}")
            classes = getattr(est, "classes_", None)
            if classes is not None and list(np.asarray(classes)) != list(range(len(labels))):
                raise ValueError(f"{name}: classes_ must be 0..{len(labels) - 1}, got {classes}")
            spec: dict[str, Any] = {"name": name, "weight": float(weight), "estimator": type(est).__name__}
            if hasattr(est, "get_booster"):
                spec["type"] = "xgboost"
                spec["file"] = f"{name}.json"
                boosters[name] = _booster_from_raw(bytes(est.get_booster().save_raw("json")))
            elif hasattr(est, "coefs_"):
                if getattr(est, "activation", "relu") != "relu":
                    raise ValueError(f"{name}: only ReLU MLPs are supported")
                spec["type"] = "mlp"
                spec["n_layers"] = len(est.coefs_)
                spec["activation"] = "relu"
                for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
                    tensors[f"{name}.W{i}"] = np.ascontiguousarray(W, dtype=np.float64)
                    tensors[f"{name}.b{i}"] = np.ascontiguousarray(b, dtype=np.float64)
            elif hasattr(est, "coef_"):
                spec["type"] = "linear"
                tensors[f"{name}.coef"] = np.ascontiguousarray(np.atleast_2d(est.coef_), dtype=np.float64)
                tensors[f"{name}.intercept"] = np.ascontiguousarray(np.atleast_1d(est.intercept_), dtype=np.float64)
            else:
                raise TypeError(f"{name}: unsupported estimator {type(est).__name__}")
            specs.append(spec)
        config = {
            "model_type": MODEL_TYPE,
            "format_version": FORMAT_VERSION,
            "num_labels": len(labels),
            "id2label": {str(i): lab for i, lab in enumerate(labels)},
            "label2id": {lab: i for i, lab in enumerate(labels)},
            "feature_names": list(feature_names),
            "sample_rate": 22050,
            "window_seconds": 30.0,
            "preprocessing": {
                "log_features": list(log_features),
                "log_floor": LOG_FLOOR,
                "scaler_mean": [float(v) for v in np.asarray(scaler_mean)],
                "scaler_scale": [float(v) for v in np.asarray(scaler_scale)],
            },
            "combination": "weighted mean of member probabilities",
            "members": specs,
        }
        if extra_config:
            config.update(extra_config)
        return cls(config, tensors, boosters)

    # ------------------------------------------------------------------ (de)serialisation
    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write ``config.json``, ``model.safetensors``, one XGBoost JSON per booster (and the model card)."""
        from safetensors.numpy import save_file

        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_NAME).write_text(json.dumps(self.config, indent=2) + "\n", encoding="utf-8")
        save_file({k: np.ascontiguousarray(v) for k, v in self.tensors.items()}, str(out / WEIGHTS_NAME),
                  metadata={"format": "np", "model_type": MODEL_TYPE})
        for member in self.config["members"]:
            if member["type"] == "xgboost":
                (out / _member_file(member)).write_bytes(bytes(self.boosters[member["name"]].save_raw("json")))
        if self.model_card:
            (out / MODEL_CARD_NAME).write_text(self.model_card, encoding="utf-8")

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike | None = None, **hub_kwargs: Any) -> FeaturesModel:
        """Load a local folder, or a Hub repo id (via ``huggingface_hub.snapshot_download``).

        Only ``config.json``, ``model.safetensors`` and XGBoost ``*.json`` are ever read; a folder
        without ``model.safetensors`` (e.g. one holding a pickle) is refused.  ``None`` loads the
        committed default model (``DEFAULT_MODEL_DIR``).
        """
        path = Path(DEFAULT_MODEL_DIR if name_or_path is None else name_or_path)
        if not path.is_dir():
            if Path(str(name_or_path)).exists() or str(name_or_path).startswith((".", "/", "~")):
                raise FileNotFoundError(f"{name_or_path} is not a model folder")
            from huggingface_hub import snapshot_download

            hub_kwargs.setdefault("allow_patterns", ["*.json", "*.safetensors", "*.md"])
            path = Path(snapshot_download(repo_id=str(name_or_path), **hub_kwargs))
        config_file, weights_file = path / CONFIG_NAME, path / WEIGHTS_NAME
        if not config_file.is_file():
            raise FileNotFoundError(f"no {CONFIG_NAME} in {path}")
        if not weights_file.is_file():
            unsafe = sorted(p.name for p in path.iterdir() if p.suffix.lower() in UNSAFE_SUFFIXES)
            hint = f" (found {unsafe}: pickle-based weights are never loaded)" if unsafe else ""
            raise ValueError(f"no {WEIGHTS_NAME} in {path}{hint}")
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if config.get("model_type") != MODEL_TYPE:
            raise ValueError(f"{config_file}: model_type is {config.get('model_type')!r}, not {MODEL_TYPE!r}")
        from safetensors.numpy import load_file

        tensors = load_file(str(weights_file))
        boosters: dict[str, Any] = {}
        for member in config.get("members", []):
            if member.get("type") == "xgboost":
                boosters[member["name"]] = _booster_from_raw((path / _member_file(member)).read_bytes())
        card = path / MODEL_CARD_NAME
        return cls(config, tensors, boosters, model_card=card.read_text(encoding="utf-8") if card.is_file() else None)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload gtzan-features model", **kwargs: Any) -> str:
        """Create (or reuse) a Hub model repo and upload a fresh ``save_pretrained`` of this model."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model")
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            info = api.upload_folder(repo_id=repo_id, folder_path=tmp, repo_type="model",
                                     commit_message=commit_message, **kwargs)
        return str(getattr(info, "commit_url", info))

    def __repr__(self) -> str:
        members = ", ".join(f"{m['name']}:{m['type']}" for m in self.config["members"])
        return f"FeaturesModel(labels={len(self.labels)}, features={len(self.feature_names)}, members=[{members}])"


def _member_file(member: dict) -> str:
    """A booster's file name, checked so a config cannot point outside the folder or at a non-JSON file."""
    name = member.get("file", f"{member['name']}.json")
    if not _SAFE_FILE.match(name):
        raise ValueError(f"refusing member file {name!r}: only plain *.json names in the model folder")
    return name


def _booster_from_raw(raw: bytes) -> Any:
    """Load an XGBoost booster from its JSON bytes (XGBoost's own format, no pickle)."""
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster
