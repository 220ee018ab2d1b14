#!/usr/bin/env python
"""Re-score any saved checkpoint, track by track, and print one markdown table row.

    python finetune/evaluate.py --model runs/cnn --dataset gtzan --data_dir genres_original --split filtered
    python finetune/evaluate.py --model runs/cnn --dataset audiofolder --data_dir music/ --header   # + header row

The model folder (or Hub id) is any transformers audio-classification checkpoint this project
can load (ours after ``import genre_models.hf_models``, Whisper, HuBERT, Wav2Vec2). Tracks are
scored like ``finetune/train.py`` and the CLI do: ``config.json``'s ``window_seconds`` windows, no
overlap, probabilities averaged per track. ``--split random`` re-creates the training split only
with the same ``--seed`` (default 42, as in training) and the same data; a model whose random split
was made before ``finetune.data.SPLIT_METHOD`` (scikit-learn's stratified split; no ``method`` in
its track record's rule) is scored on the tracks its record lists, which the seed no longer rebuilds.

A model is never scored on tracks it was trained or validated on: the track record its training
wrote (``metrics.json``; :mod:`finetune.provenance`) is checked against the scored tracks, and a
random split rebuilt from its seed must be the one the model recorded (a file added or removed
reshuffles it). ``--allow_train_overlap`` scores anyway, and the row and the returned metrics say so.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file: this file is named evaluate.py, so its folder must not be on sys.path, or it
    # would shadow the `evaluate` library that the metrics need.
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

import logging  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

from finetune import provenance  # noqa: E402
from finetune.arguments import DataArguments  # noqa: E402
from finetune.data import (  # noqa: E402
    SPLIT_METHOD,
    AudioStore,
    Track,
    WindowDataset,
    collate_meta,  # noqa: E402
    load_splits,
    recorded_split,
)
from finetune.modeling import Featurizer  # noqa: E402
from finetune.scoring import score_tracks  # noqa: E402

logger = logging.getLogger(__name__)
HEADER = "| model | dataset | split | scored | tracks | accuracy | macro-F1 |\n|---|---|---|---|---|---|---|"


@dataclass
class EvalArguments:
    """Which checkpoint, which split of the data, and how."""

    model: str = field(metadata={"help": "model folder or Hub id"})
    eval_split: str = field(default="test", metadata={"help": "train, valid or test"})
    seed: int = field(default=42, metadata={"help": "seed of --split random (use the training run's)"})
    batch_size: int = field(default=16)
    name: str | None = field(default=None, metadata={"help": "model name in the row (default: the folder name)"})
    header: bool = field(default=False, metadata={"help": "print the table header first"})
    token: str | None = field(default=None, metadata={"help": "Hub token"})
    allow_train_overlap: bool = field(default=False, metadata={
        "help": "score even tracks the model was trained or validated on (the output then says so); "
                "default: refuse"})


def load_checkpoint(name_or_path: str, token: str | None = None) -> tuple[torch.nn.Module, Any, float]:
    """Model (eval mode), feature extractor and scoring window (seconds) of a checkpoint."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    import genre_models.hf_models  # noqa: F401  (registers our model types)

    # safetensors only: a checkpoint named on the command line may come from anyone (no pickle)
    model = AutoModelForAudioClassification.from_pretrained(name_or_path, token=token, use_safetensors=True).eval()
    fe = AutoFeatureExtractor.from_pretrained(name_or_path, token=token)
    window = (getattr(model.config, "window_seconds", None) or getattr(fe, "chunk_seconds", None)
              or getattr(fe, "chunk_length", None) or 30.0)
    return model, fe, float(window)


def evaluate_checkpoint(eval_args: EvalArguments, data_args: DataArguments) -> dict[str, Any]:
    """Track-level ``accuracy``/``macro_f1`` of the checkpoint on one split (labels matched by name)."""
    model, fe, window = load_checkpoint(eval_args.model, eval_args.token)
    if torch.cuda.is_available():
        model.to("cuda")
    record = provenance.read_record(eval_args.model)
    rule = (record or {}).get("rule", {})
    if rule.get("split") == "random" and "method" not in rule and (data_args.split or "random") == "random":
        # made by the hand-written split before SPLIT_METHOD: the seed no longer rebuilds it, the record does
        logger.warning("%s: its random split predates %s; scoring the tracks its record lists instead",
                       eval_args.model, SPLIT_METHOD)
        unlimited = replace(data_args, max_train_tracks=None, max_eval_tracks=None)
        data = recorded_split(load_splits(unlimited, eval_args.seed, eval_args.token), record, data_args)
    else:
        data = load_splits(data_args, eval_args.seed, eval_args.token)
    model_ids = {name: int(i) for name, i in model.config.label2id.items()}
    unknown = sorted(set(data.labels) - set(model_ids))
    if unknown:
        raise ValueError(f"the data has genres the model does not know: {unknown} (model: {sorted(model_ids)})")
    if eval_args.eval_split not in data.splits:
        raise ValueError(f"no split {eval_args.eval_split!r}; have {sorted(data.splits)}")
    name = eval_args.name or Path(eval_args.model).name
    if record is not None and data.split_name == "random" and record.get("rule", {}).get("split") == "random":
        provenance.check_rebuilt_split(name, record, {s: [t.track_id for t in ts] for s, ts in data.splits.items()},
                                       limited=data_args.max_eval_tracks is not None)
    overlap = provenance.check_no_overlap(
        [eval_args.model], {eval_args.eval_split: [t.track_id for t in data.splits[eval_args.eval_split]]},
        allow=eval_args.allow_train_overlap, records={eval_args.model: record})
    tracks = [Track(t.track_id, model_ids[data.labels[t.label]], t.source, t.metadata)  # FMA metadata kept
              for t in data.splits[eval_args.eval_split]]
    data = replace(data, splits={eval_args.eval_split: tracks})
    store = AudioStore(int(fe.sampling_rate), data_args.audio_cache_dir)
    data = store.prepare(data, data_args.preprocessing_num_workers, progress=False)
    dataset = WindowDataset(store, data.splits[eval_args.eval_split], int(round(window * fe.sampling_rate)))
    scores = score_tracks(model, Featurizer(fe, model, collate_meta), dataset, eval_args.batch_size)
    metrics = scores.metrics()
    metrics.update({"model": name, "dataset": data.dataset, "split": data.split_name,
                    "eval_split": eval_args.eval_split, "window_seconds": window,
                    "skipped_files": sum(1 for s in data.skipped if not s["reason"].startswith("missing")),
                    "train_overlap": {"checked": bool(overlap["checked"]), "allowed": overlap["allowed"],
                                      "overlapping_tracks": sum(overlap["overlap"].get(eval_args.model, {}).values()),
                                      "problems": overlap["problems"]}})
    return metrics


def markdown_row(m: dict[str, Any]) -> str:
    flag = ""
    over = m.get("train_overlap") or {}
    if over.get("overlapping_tracks"):
        flag = f" (**{over['overlapping_tracks']} TRAINING/VALIDATION TRACKS SCORED: not a held-out figure**)"
    elif over and not over.get("checked"):
        flag = " (no track record: overlap unchecked)"
    return (f"| {m['model']}{flag} | {m['dataset']} | {m['split']} | {m['eval_split']} | {m['tracks']} "
            f"| {m['accuracy']:.3f} | {m['macro_f1']:.3f} |")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from transformers import HfArgumentParser

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    parser = HfArgumentParser((EvalArguments, DataArguments))
    eval_args, data_args = parser.parse_args_into_dataclasses(args=list(sys.argv[1:] if argv is None else argv))
    try:
        metrics = evaluate_checkpoint(eval_args, data_args)
    except (provenance.TrainOverlapError, provenance.SplitMismatchError) as err:
        if argv is not None:  # called from Python: let the caller see the exception
            raise
        raise SystemExit(f"finetune/evaluate.py: {err}") from None
    if eval_args.header:
        print(HEADER)
    print(markdown_row(metrics), flush=True)
    return metrics


if __name__ == "__main__":
    main()
