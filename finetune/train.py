#!/usr/bin/env python
"""Train or fine-tune a music-genre classifier and write a ready-to-use model folder.

    accelerate launch finetune/train.py --model whisper --dataset gtzan --output_dir runs/whisper-gtzan
    accelerate launch finetune/train.py --model distilhubert --dataset gtzan --data_dir genres_original \\
        --split filtered --chunk_seconds 10 --output_dir runs/distilhubert-filtered
    python finetune/train.py --model mel_cnn --frequency_scale log --dataset audiofolder --data_dir music/ \\
        --chunk_seconds 3 --num_train_epochs 30 --early_stopping_patience 5 --output_dir runs/cnn
    ... --resume_from_checkpoint latest     # continue a killed run exactly where it stopped

A plain ``accelerate`` loop: mixed precision, gradient accumulation and DDP come from
``accelerate launch``/``accelerate config``; seeded; evaluated on the validation tracks every
epoch (track-level accuracy and macro-F1); early stopping; best model kept; resumable
checkpoints written atomically. The output folder is a transformers model
(``pipeline("audio-classification", model=DIR)``, ``python -m genre_models predict FILE --model DIR``)
with ``metrics.json``, ``confusion_matrix.png``, ``curves.png``, a model card and TensorBoard logs.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file: import our package as `finetune.*`, and take this folder off sys.path, where
    # finetune/evaluate.py would shadow the `evaluate` library.
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from finetune import provenance, reporting  # noqa: E402
from finetune.arguments import DataArguments, ModelArguments, TrainArguments  # noqa: E402
from finetune.data import (  # noqa: E402
    AudioStore,
    DataSplits,
    EpochSampler,
    TrainDataset,
    WindowDataset,
    assert_per_track,
    collate_meta,
    load_splits,
)
from finetune.modeling import (  # noqa: E402
    HUB_FAMILIES,
    Featurizer,
    default_learning_rate,
    fit_extractor,
    load_model_and_extractor,
    model_inputs,
    needs_fitting,
    window_seconds,
)
from finetune.scoring import TrackScores, score_tracks  # noqa: E402

logger = logging.getLogger("finetune.train")
STATE_FILE = "trainer_state.json"
NORMALIZATION_TRACKS = 200  # training tracks used to fit the lstm's MFCC statistics


# ---------------------------------------------------------------------------------------------
# arguments and state
# ---------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainArguments]:
    """``--flags`` (or one ``.json`` file holding them), as in transformers' example scripts."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser((ModelArguments, DataArguments, TrainArguments))
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(args=argv)


@dataclass
class TrainState:
    """Where the loop is; saved in every checkpoint next to accelerate's model/optimizer/RNG state."""

    epoch: int = 0  # the epoch in progress, or the next one to start (0-based)
    batches_in_epoch: int = 0  # batches of `epoch` already trained on (skipped on resume)
    global_step: int = 0  # optimizer steps
    loss_sum: float = 0.0  # running sums of the epoch in progress (all processes)
    correct: int = 0
    examples: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per evaluated epoch
    best_metric: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0  # evaluations since the last improvement
    finished: bool = False  # stopped early or by max_steps
    stopped_early: bool = False

    def save(self, folder: Path) -> None:
        reporting.write_json(folder / STATE_FILE, dataclasses.asdict(self))

    @classmethod
    def load(cls, folder: Path) -> TrainState:
        return cls(**json.loads((folder / STATE_FILE).read_text()))


def find_checkpoint(output_dir: Path, which: str) -> Path | None:
    """``latest`` → the newest complete ``checkpoints/checkpoint-N`` (None if there is none), else the folder given."""
    if which != "latest":
        path = Path(which)
        if not (path / STATE_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a checkpoint of this script (no {STATE_FILE})")
        return path
    found = [p for p in (output_dir / "checkpoints").glob("checkpoint-*") if (p / STATE_FILE).is_file()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


# ---------------------------------------------------------------------------------------------
# saving
# ---------------------------------------------------------------------------------------------
def debug_kill(point: str, step: int) -> None:
    """Testing only: ``GENRE_DEBUG_KILL_AT=<point>:<step>`` SIGKILLs the run here, half-way through a
    save (points: ``checkpoint``, ``best``), like a preempted job: no cleanup, no flush."""
    if os.environ.get("GENRE_DEBUG_KILL_AT") == f"{point}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False
    where the platform or filesystem cannot."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished temp folder into place. An existing folder of that name is swapped out
    atomically, so ``final`` (e.g. ``best``) exists and is complete at every instant; where that is
    impossible it is renamed aside first (``.trash-*``, put back by :func:`_recover_leftovers`)."""
    if final.exists():
        if _exchange(tmp, final):
            shutil.rmtree(tmp, ignore_errors=True)  # now holds the old folder
            return
        trash = final.with_name(f".trash-{final.name}-{os.getpid()}")
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)


def _recover_leftovers(folder: Path) -> None:
    """After a run killed while saving: half-written ``.tmp-*`` folders are deleted; a ``.trash-X-*``
    folder is put back as ``X`` if ``X`` is missing (killed between the two renames), else deleted."""
    for leftover in sorted(folder.glob(".tmp-*")):
        shutil.rmtree(leftover, ignore_errors=True)
    for trash in sorted(folder.glob(".trash-*")):
        original = folder / trash.name[len(".trash-"):].rsplit("-", 1)[0]
        if not original.exists():
            os.replace(trash, original)
        else:
            shutil.rmtree(trash, ignore_errors=True)


def save_checkpoint(accelerator: Any, state: TrainState, root: Path, model: Any, feature_extractor: Any,
                    keep: int) -> Path:
    """accelerate state (model, optimizer, scheduler, RNG, scaler) + our loop state, in a temp
    folder renamed to ``checkpoint-<step>`` when complete. Also a loadable model folder
    (config.json + model.safetensors + preprocessor_config.json)."""
    name = f"checkpoint-{state.global_step}"
    tmp, final = root / f".tmp-{name}", root / name
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()  # every rank's random_states_<rank>.pkl is in before the rename
    if accelerator.is_main_process:
        debug_kill("checkpoint", state.global_step)  # weights and optimizer written, no state file yet
        accelerator.unwrap_model(model).config.save_pretrained(tmp)
        feature_extractor.save_pretrained(tmp)
        state.save(tmp)
        _replace_dir(tmp, final)
        done = sorted((p for p in root.glob("checkpoint-*") if (p / STATE_FILE).is_file()),
                      key=lambda p: int(p.name.split("-")[-1]))
        for old in done[:-max(1, keep)]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """No "Writing model shards" bar for every save (it would interleave with ours)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()  # also the "Loading weights" bar
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def save_model_folder(accelerator: Any, model: Any, feature_extractor: Any, folder: Path,
                      extra: dict[str, Any] | None = None, merge: bool = False) -> None:
    """The HF-format model (config.json, model.safetensors, preprocessor_config.json) into
    ``folder``, atomically: written beside it, then renamed into place as a whole folder, or file
    by file when ``merge`` (the output folder, which also holds checkpoints and logs)."""
    state_dict = accelerator.get_state_dict(model)
    if not accelerator.is_main_process:
        return
    tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with _quiet_progress():
        accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
    feature_extractor.save_pretrained(tmp)
    if extra:
        reporting.write_json(tmp / "best.json", extra)
        debug_kill("best", int(extra.get("step", -1)))  # the new best written beside the old one
    if merge:
        folder.mkdir(parents=True, exist_ok=True)
        for f in tmp.iterdir():
            os.replace(f, folder / f.name)
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        _replace_dir(tmp, folder)


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def _setup_logging(main: bool) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("finetune").setLevel(logging.INFO if main else logging.ERROR)
    import transformers

    transformers.utils.logging.set_verbosity_warning() if main else transformers.utils.logging.set_verbosity_error()


def _improved(value: float | None, best: float | None, metric: str) -> bool:
    if value is None or math.isnan(value):
        return best is None
    if best is None:
        return True
    return value < best if metric == "loss" else value > best


def _hparams(*args: Any) -> dict[str, Any]:
    """Flat, TensorBoard-friendly copy of the arguments (tokens left out)."""
    out = {}
    for a in args:
        for k, v in dataclasses.asdict(a).items():
            if "token" not in k:
                out[k] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


def run(model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments,
        data: DataSplits | None = None, store: AudioStore | None = None, command: str | None = None) -> dict[str, Any]:
    """Train, evaluate and write the output folder; returns ``metrics.json``'s content.

    ``data`` (splits) and ``store`` (decoded audio) may be passed in by code that already has them
    (``benchmarks/train_real_audio.py`` reuses one decode for all its folds); ``command`` is the
    command line shown in the model card.
    """
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, is_tensorboard_available, set_seed
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    out = Path(train_args.output_dir)
    tensorboard = train_args.report_to == "tensorboard" and is_tensorboard_available()
    accelerator = Accelerator(
        gradient_accumulation_steps=train_args.gradient_accumulation_steps,
        mixed_precision=train_args.mixed_precision,
        log_with="tensorboard" if tensorboard else None,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "runs")),
    )
    main = accelerator.is_main_process
    _setup_logging(main)
    if train_args.report_to == "tensorboard" and not tensorboard:
        logger.warning("tensorboard is not installed (pip install tensorboard): no TensorBoard logs")
    family = model_args.model

    # -- where to start ----------------------------------------------------------------------
    ckpt_root = out / "checkpoints"
    resume_dir = find_checkpoint(out, train_args.resume_from_checkpoint) if train_args.resume_from_checkpoint else None
    if train_args.resume_from_checkpoint == "latest" and resume_dir is None:
        logger.info("no checkpoint in %s yet: starting from scratch", ckpt_root)
    if resume_dir is None and any(ckpt_root.glob("checkpoint-*")):
        if not train_args.overwrite_output_dir:
            raise ValueError(f"{out} already has checkpoints: pass --resume_from_checkpoint latest to continue, "
                             "or --overwrite_output_dir to start over")
        if main:
            for sub in ("checkpoints", "best", "runs"):
                shutil.rmtree(out / sub, ignore_errors=True)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        for folder in (out, ckpt_root):
            _recover_leftovers(folder)  # from a run killed while saving
    accelerator.wait_for_everyone()
    set_seed(train_args.seed)

    # -- data and model ------------------------------------------------------------------------
    with accelerator.main_process_first():
        if data is None:
            data = load_splits(data_args, train_args.seed, model_args.token)
    model, fe = load_model_and_extractor(model_args, data.labels, data_args.chunk_seconds)
    if resume_dir is not None and needs_fitting(fe):
        fe = type(fe).from_pretrained(resume_dir)  # the statistics the interrupted run fitted
    sr = int(fe.sampling_rate)
    if store is None:
        store = AudioStore(sr, data_args.audio_cache_dir)
    elif store.sampling_rate != sr:
        raise ValueError(f"the audio store holds {store.sampling_rate}-Hz audio, the model reads {sr} Hz")
    with accelerator.main_process_first():
        data = store.prepare(data, data_args.preprocessing_num_workers, progress=main and not train_args.disable_tqdm)
    counts = data.counts()
    logger.info("%s, split %r: %s tracks", data.dataset, data.split_name, counts)
    if not data.splits.get("train"):
        raise ValueError("no training tracks left after splitting and skipping unreadable files")
    reads = getattr(model, "metadata_fields", ())  # lstm_meta: the track metadata its branches read
    if reads and not any(t.metadata is not None and set(t.metadata.given()) & set(reads) for t in data.splits["train"]):
        raise ValueError(f"--model {family} reads track metadata ({', '.join(reads)}) and no training track has any: "
                         "it comes from --dataset fma_small/fma_medium's --fma_metadata tracks.csv (the official "
                         "file has it); for audio alone use --meta_branches audio")
    if needs_fitting(fe):
        train = data.splits["train"]
        step = max(1, len(train) // NORMALIZATION_TRACKS)
        fit_extractor(fe, (store.read(t) for t in train[::step]), [t.metadata for t in train])

    chunk = int(round(data_args.chunk_seconds * sr)) if data_args.chunk_seconds else None
    if family == "whisper" and data_args.chunk_seconds and data_args.chunk_seconds < getattr(fe, "chunk_length", 30):
        logger.warning("whisper pads every input to %s s: %.1f-s chunks cost as much as whole 30-s windows",
                       getattr(fe, "chunk_length", 30), data_args.chunk_seconds)
    train_seconds = [store.num_samples(t) / sr for t in data.splits["train"]]
    window = window_seconds(family, fe, data_args.chunk_seconds, data_args.window_seconds, train_seconds)
    model.config.window_seconds = window  # the CLI's scoring window (genre_models.registry reads it)
    train_ds = TrainDataset(store, data.splits["train"], chunk, data_args.chunks_per_track, train_args.seed)
    evals = {name: WindowDataset(store, data.splits.get(name, []), int(round(window * sr)))
             for name in ("valid", "test")}
    assert_per_track(train_ds, evals)

    featurizer = Featurizer(fe, model, collate_meta)
    sampler = EpochSampler(len(train_ds), train_args.seed)
    train_loader = DataLoader(train_ds, batch_size=train_args.per_device_train_batch_size, sampler=sampler,
                              collate_fn=featurizer, num_workers=train_args.dataloader_num_workers,
                              generator=torch.Generator().manual_seed(train_args.seed))  # private: no global RNG use

    # -- optimisation --------------------------------------------------------------------------
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    lr = default_learning_rate(family) if train_args.learning_rate is None else train_args.learning_rate
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": train_args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    batches_per_epoch = math.ceil(math.ceil(len(train_ds) / train_args.per_device_train_batch_size)
                                  / accelerator.num_processes)
    steps_per_epoch = math.ceil(batches_per_epoch / train_args.gradient_accumulation_steps)
    max_train_steps = train_args.num_train_epochs * steps_per_epoch
    if train_args.max_steps:
        max_train_steps = min(max_train_steps, train_args.max_steps)
    warmup_steps = math.ceil(train_args.warmup_ratio * max_train_steps)
    scheduler = get_scheduler(train_args.lr_scheduler_type, optimizer,
                              num_warmup_steps=warmup_steps * accelerator.num_processes,
                              num_training_steps=max_train_steps * accelerator.num_processes)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    params = [p for p in model.parameters() if p.requires_grad]

    state = TrainState()
    if resume_dir is not None:
        logger.info("resuming from %s", resume_dir)
        missing = [i for i in range(accelerator.num_processes) if not (resume_dir / f"random_states_{i}.pkl").is_file()]
        if missing:
            logger.warning("%s has no random state for process(es) %s (saved with another number of processes?): "
                           "training continues, but not exactly as the interrupted run would have", resume_dir, missing)
        accelerator.load_state(str(resume_dir))
        state = TrainState.load(resume_dir)
    if tensorboard:
        accelerator.init_trackers("tensorboard", config=_hparams(model_args, data_args, train_args))
    every = int(train_args.checkpointing_steps) if train_args.checkpointing_steps.isdigit() else None
    show = main and not train_args.disable_tqdm
    logger.info("%s: %d training examples (%d tracks), %d optimizer steps per epoch, %d in all; window %.1f s",
                family, len(train_ds), counts["train"], steps_per_epoch, max_train_steps, window)

    # -- the loop ------------------------------------------------------------------------------
    progress = tqdm(total=max_train_steps, initial=state.global_step, desc="training", disable=not show)
    while not state.finished and state.epoch < train_args.num_train_epochs:
        epoch = state.epoch
        train_loader.set_epoch(epoch)
        model.train()
        loader = (accelerator.skip_first_batches(train_loader, state.batches_in_epoch)
                  if state.batches_in_epoch else train_loader)
        for batch in loader:
            with accelerator.accumulate(model):
                outputs = model(**model_inputs(batch))
                accelerator.backward(outputs.loss)
                if accelerator.sync_gradients and train_args.max_grad_norm:
                    accelerator.clip_grad_norm_(params, train_args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            n = batch["labels"].shape[0]
            right = (outputs.logits.argmax(-1) == batch["labels"]).sum()
            sums = accelerator.gather(torch.stack([outputs.loss.detach().float() * n, right.float(),
                                                   torch.tensor(float(n), device=right.device)])[None])
            sums = sums.reshape(-1, 3).sum(0).tolist()
            state.loss_sum += sums[0]
            state.correct += int(sums[1])
            state.examples += int(sums[2])
            state.batches_in_epoch += 1
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            progress.update(1)
            if state.global_step % train_args.logging_steps == 0:
                accelerator.log({"train/loss": state.loss_sum / max(state.examples, 1),
                                 "train/learning_rate": scheduler.get_last_lr()[0]}, step=state.global_step)
                progress.set_postfix(loss=f"{state.loss_sum / max(state.examples, 1):.3f}")
            if every and state.global_step % every == 0 and state.batches_in_epoch < len(train_loader):
                save_checkpoint(accelerator, state, ckpt_root, model, fe, train_args.save_total_limit)
            if train_args.debug_kill_after_step == state.global_step:
                os.kill(os.getpid(), signal.SIGKILL)  # testing: die like a preempted job, no cleanup
            if train_args.max_steps and state.global_step >= train_args.max_steps:
                state.finished = True
                break

        # end of the epoch (or of training): evaluate, keep the best, maybe stop, checkpoint
        entry: dict[str, Any] = {"epoch": epoch + 1, "step": state.global_step,
                                 "train_loss": state.loss_sum / max(state.examples, 1),
                                 "train_accuracy": state.correct / max(state.examples, 1)}
        if len(evals["valid"]):
            scores = score_tracks(model, featurizer, evals["valid"], train_args.per_device_eval_batch_size,
                                  accelerator, train_args.dataloader_num_workers, show, "validating")
            entry.update({f"valid_{k}": v for k, v in scores.metrics().items() if k != "tracks"})
        state.history.append(entry)
        accelerator.log({k.replace("_", "/", 1): v for k, v in entry.items() if k not in ("epoch", "step")},
                        step=state.global_step)
        logger.info("epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4f}" for k, v in entry.items()
                                                          if isinstance(v, float)))
        value = entry.get(f"valid_{train_args.metric_for_best_model}")
        if _improved(value, state.best_metric, train_args.metric_for_best_model) or not len(evals["valid"]):
            state.best_metric, state.best_epoch, state.bad_epochs = value, epoch + 1, 0
            save_model_folder(accelerator, model, fe, out / "best",
                              {"epoch": epoch + 1, "step": state.global_step, train_args.metric_for_best_model: value})
        else:
            state.bad_epochs += 1
            if train_args.early_stopping_patience and state.bad_epochs >= train_args.early_stopping_patience:
                logger.info("early stopping: no improvement of valid %s for %d epoch(s)",
                            train_args.metric_for_best_model, state.bad_epochs)
                state.finished = state.stopped_early = True
        state.epoch, state.batches_in_epoch = epoch + 1, 0
        state.loss_sum, state.correct, state.examples = 0.0, 0, 0
        save_checkpoint(accelerator, state, ckpt_root, model, fe, train_args.save_total_limit)
    progress.close()

    # -- the best model, scored on valid and test, written out ------------------------------
    accelerator.wait_for_everyone()
    if (out / "best" / "model.safetensors").is_file():
        # through from_pretrained, which undoes any key renaming save_pretrained did; then strict
        net = accelerator.unwrap_model(model)
        with _quiet_progress():
            best = type(net).from_pretrained(out / "best")
        net.load_state_dict(best.state_dict(), strict=True)
        del best
    results: dict[str, TrackScores] = {}
    for name, ds in evals.items():
        if len(ds):
            results[name] = score_tracks(model, featurizer, ds, train_args.per_device_eval_batch_size, accelerator,
                                         train_args.dataloader_num_workers, show, f"scoring {name}")
    metrics = build_metrics(family, data, state, results, window, data_args, len(train_ds))
    metrics[provenance.RECORD_KEY] = training_record(data, train_args.seed)
    if "test" in results:  # each test track's answer, so any figure over a subset of them can be recomputed
        metrics["test_predictions"] = {provenance.canonical_id(t.track_id): data.labels[int(p)]
                                       for t, p in zip(evals["test"].tracks, results["test"].predictions)}
    if getattr(accelerator.unwrap_model(model).config, "branches", None):  # lstm_meta: which ablation
        metrics["branches"] = list(accelerator.unwrap_model(model).config.branches)
    save_model_folder(accelerator, model, fe, out, merge=True)
    if main:
        write_report(out, family, model_args, data_args, train_args, data, state, results, metrics, lr,
                     len(train_ds), int(sr), window, command)
    accelerator.end_training()
    if main and train_args.push_to_hub:
        repo_id = train_args.hub_model_id or out.resolve().name
        url = reporting.push_to_hub(out, repo_id, train_args.hub_token or model_args.token, train_args.hub_private_repo)
        logger.info("pushed to https://huggingface.co/%s (%s)", repo_id, url)
    return metrics


def build_metrics(family: str, data: DataSplits, state: TrainState, results: dict[str, TrackScores],
                  window: float, data_args: DataArguments, train_examples: int) -> dict[str, Any]:
    """``metrics.json``: the split's name, test/valid track-level scores of the best model, the run."""
    metrics: dict[str, Any] = {"split": data.split_name, "dataset": data.dataset, "model": family}
    missing = [s for s in data.skipped if s["reason"].startswith("missing")]
    bad = [s for s in data.skipped if not s["reason"].startswith("missing")]
    for name in ("test", "valid"):
        scores = (results[name].metrics() if name in results
                  else {"accuracy": None, "macro_f1": None, "loss": None, "tracks": 0})
        metrics.update({f"{name}_{k}": v for k, v in scores.items()})
    metrics.update({
        "train_tracks": len(data.splits["train"]), "train_examples": train_examples,
        "best_epoch": state.best_epoch, "epochs": len(state.history), "global_step": state.global_step,
        "stopped_early": state.stopped_early, "window_seconds": window, "chunk_seconds": data_args.chunk_seconds,
        "labels": list(data.labels),
        # files that exist but do not decode (corrupt, empty, too short), each with its reason
        "skipped_files": len(bad), "skipped": bad,
        # tracks a split list or the metadata names but the data folder lacks (e.g. a partial copy)
        "missing_files": len(missing), "missing_examples": [m["track_id"] for m in missing[:20]],
        "history": state.history,
    })
    return metrics


def training_record(data: DataSplits, seed: int) -> dict[str, Any]:
    """The tracks this run trained, validated and tested on (canonical ids, see
    :mod:`finetune.provenance`), the files skipped, and the split's rule: what ``evaluate.py`` and
    ``ensemble.py`` check before scoring the model anywhere."""
    rule = {"dataset": data.dataset, "split": data.split_name, "seed": seed, **data.rule}
    return provenance.track_record({name: [t.track_id for t in tracks] for name, tracks in data.splits.items()},
                                   rule, [s["track_id"] for s in data.skipped])


def write_report(out: Path, family: str, model_args: ModelArguments, data_args: DataArguments,
                 train_args: TrainArguments, data: DataSplits, state: TrainState, results: dict[str, TrackScores],
                 metrics: dict[str, Any], lr: float, train_examples: int, sr: int, window: float,
                 command: str | None = None) -> None:
    """metrics.json, confusion_matrix.png (test, else valid), curves.png, README.md."""
    reporting.write_json(out / "metrics.json", metrics)
    shown = "test" if "test" in results else ("valid" if "valid" in results else None)
    if shown:
        r = results[shown]
        reporting.confusion_matrix_png(out / "confusion_matrix.png", data.labels, r.labels, r.predictions,
                                       f"{family}, {shown} split ({data.split_name}): "
                                       f"accuracy {metrics[f'{shown}_accuracy']:.3f}")
    reporting.curves_png(out / "curves.png", state.history)
    base = (model_args.model_name_or_path or HUB_FAMILIES[family][0]) if family in HUB_FAMILIES else None
    info = {
        "name": out.resolve().name, "family": family, "labels": data.labels, "metrics": metrics,
        "base_model": base if base and not Path(base).exists() else None,
        "hub_dataset": data_args.dataset_name if data_args.dataset == "gtzan" and not data_args.data_dir else None,
        "dataset": data.dataset, "split": data.split_name, "counts": data.counts(), "train_examples": train_examples,
        "track_record": metrics.get(provenance.RECORD_KEY),
        "sampling_rate": sr, "window_seconds": window, "command": command or reporting.command_line(),
        "repo_id": train_args.hub_model_id if train_args.push_to_hub else None,
        "hyperparameters": {"learning_rate": lr, "epochs": train_args.num_train_epochs,
                            "batch_size": train_args.per_device_train_batch_size,
                            "gradient_accumulation_steps": train_args.gradient_accumulation_steps,
                            "chunk_seconds": data_args.chunk_seconds, "seed": train_args.seed},
    }
    reporting.atomic_write_text(out / "README.md", reporting.model_card(info))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv`` (default: the command line), train, return the metrics."""
    return run(*parse_args(argv), command=reporting.command_line(argv))


if __name__ == "__main__":
    main()
