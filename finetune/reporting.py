"""What a training run leaves for people: metrics.json, figures, the model card, the Hub upload.

Files are written atomically (temp file, then rename), so a run killed while reporting never
leaves a truncated ``metrics.json`` or card next to a good model.
"""
from __future__ import annotations

import json
import math
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Files of the output folder that make up the published model (checkpoints and temp files stay local).
HUB_IGNORE = ["checkpoints/*", "checkpoints/**", "best/*", "best/**", ".*", "**/.*", "*.tmp"]


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(_clean(data), indent=2) + "\n")


def _figure_path(fig: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    os.replace(tmp, path)


def confusion_matrix_png(path: str | os.PathLike, labels: Sequence[str], y_true: Sequence[int],
                         y_pred: Sequence[int], title: str) -> None:
    """Track-level confusion matrix: counts, with each row shaded by its share of the true genre."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    n = len(labels)
    cm = (confusion_matrix(np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int), labels=range(n))
          if len(y_true) else np.zeros((n, n), dtype=int))  # scikit-learn refuses an empty split
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    size = max(4.0, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    ax.set_title(title)
    _figure_path(fig, Path(path))
    plt.close(fig)


def curves_png(path: str | os.PathLike, history: Sequence[dict[str, Any]]) -> None:
    """Loss (train, valid) and accuracy (train chunks, valid tracks, valid macro-F1) per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]

    def series(key: str) -> list[float]:
        return [h.get(key) if h.get(key) is not None else np.nan for h in history]

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(epochs, series("train_loss"), "o-", label="train (chunks)")
    left.plot(epochs, series("valid_loss"), "o-", label="valid (windows)")
    left.set_xlabel("epoch")
    left.set_ylabel("cross-entropy")
    left.legend()
    right.plot(epochs, series("train_accuracy"), "o-", label="train accuracy (chunks)")
    right.plot(epochs, series("valid_accuracy"), "o-", label="valid accuracy (tracks)")
    right.plot(epochs, series("valid_macro_f1"), "s--", label="valid macro-F1 (tracks)")
    right.set_xlabel("epoch")
    right.set_ylim(0, 1.02)
    right.legend()
    from matplotlib.ticker import MaxNLocator

    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    _figure_path(fig, Path(path))
    plt.close(fig)


def command_line(args: Sequence[str] | None = None, script: str = "finetune/train.py") -> str:
    """How this run was started (``args``: the script's arguments; default ``sys.argv[1:]``), to paste into a shell."""
    args = list(sys.argv[1:] if args is None else args)
    return " ".join(["accelerate launch", script, *(shlex.quote(str(a)) for a in args)])


def _our_families() -> tuple[str, ...]:
    """Families whose model types only exist once ``genre_models.hf_models`` is imported."""
    from genre_models.hf_models import MODEL_FAMILIES

    return tuple(MODEL_FAMILIES)


def model_card(info: dict[str, Any]) -> str:
    """README.md for the output folder / Hub repo: data, split, results, figures, command line."""
    m = info["metrics"]
    labels = info["labels"]
    base = info.get("base_model")
    front = ["---", "library_name: transformers", "pipeline_tag: audio-classification", "license: apache-2.0",
             "tags:", "- audio-classification", "- music-genre-classification", f"- {info['family']}"]
    if base:
        front.append(f"base_model: {base}")
    if info.get("hub_dataset"):
        front += ["datasets:", f"- {info['hub_dataset']}"]
    front += ["metrics:", "- accuracy", "- f1", "---", ""]

    def fmt(key: str) -> str:
        v = m.get(key)
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    counts = info["counts"]
    lines = [
        f"# {info['name']}",
        "",
        f"A **{info['family']}** music-genre classifier ({len(labels)} genres: {', '.join(labels)})"
        + (f", fine-tuned from [`{base}`](https://huggingface.co/{base})." if base else ", trained from scratch."),
        "",
        "## Results (track level)",
        "",
        "Each track is scored window by window "
        f"({info['window_seconds']:g}-s windows, no overlap, last one aligned to the end) and the window "
        "probabilities are averaged; accuracy and macro-F1 are over tracks.",
        "",
        "| split | tracks | accuracy | macro-F1 |",
        "|---|---|---|---|",
        f"| valid | {counts.get('valid', 0)} | {fmt('valid_accuracy')} | {fmt('valid_macro_f1')} |",
        f"| test | {counts.get('test', 0)} | {fmt('test_accuracy')} | {fmt('test_macro_f1')} |",
        "",
        f"Chance level: {1 / len(labels):.3f}. Best epoch: {m.get('best_epoch')} of {m.get('epochs')} "
        f"({m.get('global_step')} optimizer steps).",
        "",
        "![confusion matrix (test)](confusion_matrix.png)",
        "",
        "![training curves](curves.png)",
        "",
        "## Data",
        "",
        f"- Dataset: {info['dataset']}",
        f"- Split: `{info['split']}` — train/valid/test = {counts.get('train', 0)}/{counts.get('valid', 0)}/"
        f"{counts.get('test', 0)} tracks. Splits are made per track, before any chunking, so no song is in two splits.",
        f"- Training examples: {info['train_examples']}",
        f"- Audio decoded with `genre_models.audio.load_audio` at {info['sampling_rate']} Hz mono "
        "(the same path as the CLI and the app).",
        f"- Files skipped because they do not decode: {m.get('skipped_files', 0)}; listed tracks missing "
        f"from the data: {m.get('missing_files', 0)}.",
        "",
        *track_section(info.get("track_record")),
        "## Use",
        "",
        "```python",
        *(["import genre_models.hf_models  # registers this model type (pip install genre-models)"]
          if info["family"] in _our_families() else []),
        "from transformers import pipeline",
        f'pipe = pipeline("audio-classification", model="{info.get("repo_id") or "path/to/this/folder"}")',
        "```",
        "",
        "or, for whole songs of any length (windowed like the evaluation above):",
        "",
        "```bash",
        f"python -m genre_models predict song.mp3 --model {info.get('repo_id') or 'path/to/this/folder'}",
        "```",
        "",
        "## Training",
        "",
        "```bash",
        info.get("command", ""),
        "```",
        "",
        "Hyperparameters: " + ", ".join(f"{k}={v}" for k, v in info.get("hyperparameters", {}).items()) + ".",
        "",
    ]
    return "\n".join(front + lines)


def track_section(record: dict[str, Any] | None) -> list[str]:
    """The model card's list of the tracks the model was trained, validated and tested on (canonical
    ids, see ``finetune.provenance``), with their sha256 and the split's rule."""
    if not record:
        return []
    rule = ", ".join(f"{k}={v}" for k, v in record.get("rule", {}).items())
    lines = ["## Tracks", "",
             f"Ids: {record.get('identity', 'track ids')}. Split rule: {rule}. Scoring this model on any train or "
             "valid track below is refused by `finetune/evaluate.py` and `finetune/ensemble.py` "
             "(`metrics.json` `track_record` holds the same lists).", "",
             "| split | tracks | sha256 of the sorted ids |", "|---|---|---|"]
    for name in ("train", "valid", "test"):
        lines.append(f"| {name} | {record.get(f'{name}_tracks', 0)} | `{record.get(f'{name}_tracks_sha256', '')}` |")
    lines.append("")
    for name in ("train", "valid", "test"):
        ids = record.get(f"{name}_tracks_ids") or []
        if ids:
            lines += [f"<details><summary>{name} tracks ({len(ids)})</summary>", "", ", ".join(ids), "",
                      "</details>", ""]
    return lines


def push_to_hub(output_dir: str | os.PathLike, repo_id: str, token: str | None = None, private: bool = False,
                commit_message: str = "Upload genre classifier") -> str:
    """Create ``repo_id`` if needed and upload the output folder (model, preprocessor config,
    metrics, figures, card, TensorBoard logs), without checkpoints. Returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    repo_id = getattr(repo, "repo_id", None) or repo_id  # "name" alone becomes "<user>/name"
    info = api.upload_folder(repo_id=repo_id, folder_path=str(output_dir), commit_message=commit_message,
                             ignore_patterns=HUB_IGNORE, repo_type="model")
    return str(getattr(info, "commit_url", info))
