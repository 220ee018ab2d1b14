"""Track-level evaluation: score every window, average per track, compute accuracy and macro-F1.

A track's prediction is the mean of its windows' probabilities (what the CLI reports), so the
accuracy here is per *song*, whatever the window length. Metrics come from the ``evaluate``
modules shipped in ``finetune/metrics/`` (loaded by path: ``evaluate.load("accuracy")`` would need
the Hugging Face Hub).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from .data import WindowDataset
from .modeling import Featurizer, model_inputs

METRICS_DIR = Path(__file__).resolve().parent / "metrics"


@lru_cache(maxsize=1)
def load_metrics() -> tuple[Any, Any]:
    """``(accuracy, f1)`` ``evaluate`` modules from the repository (no network)."""
    import evaluate

    return evaluate.load(str(METRICS_DIR / "accuracy")), evaluate.load(str(METRICS_DIR / "f1"))


@dataclass
class TrackScores:
    """Per-track mean probabilities and true labels of one split, and the mean window loss."""

    probs: np.ndarray  # (n_tracks, n_labels)
    labels: np.ndarray  # (n_tracks,)
    loss: float  # mean cross-entropy of the windows
    n_windows: int

    @property
    def predictions(self) -> np.ndarray:
        return self.probs.argmax(axis=1) if len(self.probs) else np.zeros(0, dtype=np.int64)

    def metrics(self) -> dict[str, float]:
        """``accuracy`` and ``macro_f1`` over tracks (classes present in the split), ``loss``, ``tracks``."""
        if len(self.labels) == 0:
            return {"accuracy": float("nan"), "macro_f1": float("nan"), "loss": float("nan"), "tracks": 0}
        accuracy, f1 = load_metrics()
        preds, refs = self.predictions.tolist(), self.labels.tolist()
        return {
            "accuracy": float(accuracy.compute(predictions=preds, references=refs)["accuracy"]),
            "macro_f1": float(f1.compute(predictions=preds, references=refs, average="macro")["f1"]),
            "loss": float(self.loss),
            "tracks": int(len(refs)),
        }


@torch.no_grad()
def score_tracks(
    model: torch.nn.Module,
    featurizer: Featurizer,
    dataset: WindowDataset,
    batch_size: int,
    accelerator: Any = None,
    num_workers: int = 0,
    progress: bool = False,
    desc: str = "evaluating",
) -> TrackScores:
    """Score ``dataset`` (all windows of its tracks) with ``model`` in eval mode.

    Under ``accelerate`` each process scores its share of the batches with the *unwrapped*
    model (no DDP collective inside, so uneven shares cannot hang) and the results are gathered
    and de-duplicated by window index. The model's train/eval mode is restored afterwards. No
    global random state is used (the loader has its own generator), so evaluating in the middle
    of training does not change what training does next.
    """
    from tqdm.auto import tqdm

    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    device = accelerator.device if accelerator else next(model.parameters()).device
    net = accelerator.unwrap_model(model) if accelerator else model
    autocast = accelerator.autocast if accelerator else contextlib.nullcontext
    loader = DataLoader(dataset, batch_sampler=dataset.batches(batch_size, rank, world), collate_fn=featurizer,
                        num_workers=num_workers, generator=torch.Generator())
    was_training = net.training
    net.eval()
    rows: list[tuple[int, np.ndarray, float]] = []
    try:
        for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
            labels, index = batch["labels"].to(device), batch["index"]
            inputs = {k: v.to(device) for k, v in model_inputs(batch).items() if k != "labels"}
            with autocast():
                logits = net(**inputs).logits.float()
            ce = F.cross_entropy(logits, labels, reduction="none")
            probs = logits.softmax(dim=-1).cpu().numpy().astype(np.float64)
            rows += [(int(i), p, float(c)) for i, p, c in zip(index.tolist(), probs, ce.cpu().tolist())]
    finally:
        net.train(was_training)
    if world > 1:
        from accelerate.utils import gather_object

        rows = gather_object(rows)
    by_index = {i: (p, c) for i, p, c in rows}
    n_tracks, n_labels = len(dataset.tracks), int(net.config.num_labels)
    sums, counts = np.zeros((n_tracks, n_labels)), np.zeros(n_tracks)
    for i, (p, _) in by_index.items():
        pos = dataset.windows[i][0]
        sums[pos] += p
        counts[pos] += 1
    if np.any(counts == 0):
        raise RuntimeError(f"{int((counts == 0).sum())} track(s) got no scored window")
    loss = float(np.mean([c for _, c in by_index.values()])) if by_index else float("nan")
    labels = np.array([t.label for t in dataset.tracks], dtype=np.int64)
    return TrackScores(sums / counts[:, None], labels, loss, len(by_index))
