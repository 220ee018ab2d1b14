"""finetune/train.py end to end on audio generated here, with tiny models built from configs.

Three "genres" of synthetic clips (low tones, high tones, noise bursts; 4-6 s), plus a corrupt and a
too-short file that must be skipped and counted. Every family (Whisper, HuBERT, Wav2Vec2 as tiny
random models saved from configs, and our mel_cnn/lstm/crnn shrunk by --config_overrides) runs
a few steps of the real script; the output folder must then load in ``transformers.pipeline`` and
in ``python -m genre_models predict``. One run is SIGKILLed and resumed and must end with exactly
the weights of an uninterrupted run. Nothing is downloaded.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")
pytest.importorskip("evaluate")

from finetune import data as fdata  # noqa: E402
from finetune import train as ftrain  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]
SR = 22050
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
       "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
OURS = {  # small inputs and layers: each run takes a few seconds on one CPU thread
    "mel_cnn": {"n_mels": 16, "channels": [4, 8], "n_fft": 512, "hop_length": 256, "sampling_rate": 11025},
    "lstm": {"n_mfcc": 8, "hidden_size": 8, "num_layers": 1, "n_fft": 512, "hop_length": 256, "sampling_rate": 11025},
    "crnn": {"n_mels": 16, "channels": [4, 8], "time_pools": [2, 1], "hidden_size": 8, "n_fft": 512,
             "hop_length": 256, "sampling_rate": 11025},
    "wavenet": {"target_sampling_rate": 4000, "stack_channels": [4, 8], "stack_layers": [2, 3], "head_channels": 8,
                "sampling_rate": 11025},
    "cnn1d": {"n_mfcc": 8, "channels": [4, 8], "kernel_size": 3, "time_bins_out": 2, "hidden_size": 8, "n_fft": 512,
              "hop_length": 256, "sampling_rate": 11025},
    "dnn": {"n_mfcc": 8, "n_mels": 32, "hidden_sizes": [16, 8], "n_fft": 512, "hop_length": 256,
            "sampling_rate": 11025},
}
HUB = {"whisper": "whisper", "distilhubert": "hubert", "wav2vec2": "wav2vec2"}
FAMILIES = [*HUB, *OURS]


def clip(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    if kind == "noise":
        y = 0.3 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * rng.uniform(1, 3) * t) > 0)
    else:
        f = rng.uniform(80, 200) if kind == "low" else rng.uniform(1500, 3000)
        y = 0.4 * np.sin(2 * np.pi * f * t) * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    """``<genre>/<genre>.000NN.wav``: 3 genres x 5 clips, one corrupt file, one 0.5-s file."""
    root = tmp_path_factory.mktemp("genres_original")
    rng = np.random.default_rng(0)
    for genre in ("low", "high", "noise"):
        (root / genre).mkdir()
        for i in range(5):
            sf.write(root / genre / f"{genre}.{i:05d}.wav", clip(genre, rng.uniform(4, 6), rng), SR)
    (root / "high" / "high.00098.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64)  # corrupt
    sf.write(root / "low" / "low.00099.wav", clip("low", 0.5, rng), SR)  # too short (< 1 s)
    return root


@pytest.fixture(scope="module")
def hub_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny random Whisper / HuBERT / Wav2Vec2 classifiers and their extractors, from configs."""
    from transformers import (
        HubertConfig,
        HubertForSequenceClassification,
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForAudioClassification,
    )

    root = tmp_path_factory.mktemp("hub_models")
    torch.manual_seed(0)
    whisper = WhisperConfig(vocab_size=100, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80,
                            max_source_positions=1500, max_target_positions=32, classifier_proj_size=8,
                            pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    WhisperForAudioClassification(whisper).save_pretrained(root / "whisper")
    WhisperFeatureExtractor(feature_size=80).save_pretrained(root / "whisper")
    small = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8),
                 conv_stride=(10, 8), conv_kernel=(10, 8), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                 classifier_proj_size=8, vocab_size=32)
    for name, model_cls, config_cls in (("hubert", HubertForSequenceClassification, HubertConfig),
                                        ("wav2vec2", Wav2Vec2ForSequenceClassification, Wav2Vec2Config)):
        model_cls(config_cls(**small)).save_pretrained(root / name)
        Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, return_attention_mask=False,
                                 do_normalize=True).save_pretrained(root / name)
    return {family: root / folder for family, folder in HUB.items()}


def base_args(music: Path, out: Path, family: str, hub_models: dict[str, Path] | None = None) -> list[str]:
    args = ["--model", family, "--dataset", "audiofolder", "--data_dir", str(music), "--output_dir", str(out),
            "--chunk_seconds", "1.5", "--num_train_epochs", "2", "--per_device_train_batch_size", "4",
            "--dataloader_num_workers", "0", "--preprocessing_num_workers", "1", "--disable_tqdm",
            "--report_to", "none"]
    if family in OURS:
        args += ["--config_overrides", json.dumps(OURS[family])]
    else:
        args += ["--model_name_or_path", str(hub_models[family]), "--learning_rate", "1e-3"]
    return args


@pytest.fixture(scope="module")
def trained(music, hub_models, tmp_path_factory) -> dict[str, Path]:
    """Every family trained for 2 epochs by the real entry point (in this process, to save the
    ~10 s of imports per run; one run below goes through a subprocess and ``accelerate launch``)."""
    root = tmp_path_factory.mktemp("trained")
    outs = {}
    for family in FAMILIES:
        extra = ["--report_to", "tensorboard"] if family == "mel_cnn" else []
        if family == "whisper":  # no chunking: Whisper's own 30-s window
            args = base_args(music, root / family, family, hub_models)
            i = args.index("--chunk_seconds")
            del args[i:i + 2]
        else:
            args = base_args(music, root / family, family, hub_models)
        ftrain.main(args + extra)
        outs[family] = root / family
    return outs


# ---------------------------------------------------------------------------------------------
# the output folder
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_output_folder_is_a_complete_model(trained, family):
    out = trained[family]
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "metrics.json",
                 "confusion_matrix.png", "curves.png", "README.md"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "high", "1": "low", "2": "noise"}
    assert config["label2id"] == {"high": 0, "low": 1, "noise": 2}
    assert config["window_seconds"] == (30.0 if family == "whisper" else 1.5)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "random" and metrics["model"] == family
    for key in ("test_accuracy", "test_macro_f1", "valid_accuracy", "valid_macro_f1"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["test_tracks"] == 3 and metrics["valid_tracks"] == 3 and metrics["train_tracks"] == 9
    assert metrics["epochs"] == 2 and len(metrics["history"]) == 2
    card = (out / "README.md").read_text()
    assert "pipeline_tag: audio-classification" in card and "finetune/train.py" in card and "--model " + family in card
    assert (out / "checkpoints").is_dir() and (out / "best" / "model.safetensors").is_file()
    from safetensors.torch import load_file

    final, best = load_file(out / "model.safetensors"), load_file(out / "best" / "model.safetensors")
    assert final.keys() == best.keys() and all(torch.equal(final[k], best[k]) for k in final)  # the best epoch's
    assert not list(out.rglob(".tmp-*"))


def test_tensorboard_logs_written(trained):
    assert list((trained["mel_cnn"] / "runs").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("family", FAMILIES)
def test_pipeline_loads_output_folder(trained, music, family):
    from transformers import pipeline

    import genre_models.hf_models  # noqa: F401  (our model types)
    from genre_models.audio import load_audio

    pipe = pipeline("audio-classification", model=str(trained[family]), device="cpu")
    sr = pipe.feature_extractor.sampling_rate
    result = pipe({"raw": load_audio(music / "noise" / "noise.00000.wav", sr), "sampling_rate": sr}, top_k=None)
    assert sorted(r["label"] for r in result) == ["high", "low", "noise"]
    assert abs(sum(r["score"] for r in result) - 1) < 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_cli_predict_loads_output_folder(trained, music, family, capsys):
    from genre_models.cli import main as cli

    code = cli(["predict", str(music / "low" / "low.00001.wav"), "--model", str(trained[family])])
    out = capsys.readouterr()
    assert code == 0, out.err
    header, row = out.out.strip().splitlines()[-2:]
    assert header == "path,genre,high,low,noise,music,music_share"  # the music check (YAMNet) is always there
    assert row.split(",")[1] in ("high", "low", "noise")


def test_cli_subprocess_loads_every_family(trained, music):
    """The real ``python -m genre_models predict`` (an ensemble of all six output folders)."""
    models = [a for family in FAMILIES for a in ("--model", str(trained[family]))]
    res = subprocess.run([sys.executable, "-m", "genre_models", "predict", str(music / "high" / "high.00002.wav"),
                          *models],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[0] == "path,genre,high,low,noise,music,music_share"


@pytest.mark.parametrize("family", ["mel_cnn", "distilhubert"])
def test_evaluation_matches_cli_and_evaluate_script(trained, music, family, capsys):
    """Track-level scoring in training = ``finetune/evaluate.py`` = the CLI, sample for sample."""
    from finetune.evaluate import main as evaluate_main
    from finetune.modeling import Featurizer
    from finetune.scoring import score_tracks
    from genre_models import load_model, predict  # the public names (module layout may change)

    out = trained[family]
    metrics = json.loads((out / "metrics.json").read_text())
    row = evaluate_main(["--model", str(out), "--dataset", "audiofolder", "--data_dir", str(music),
                         "--preprocessing_num_workers", "1"])
    assert row["accuracy"] == pytest.approx(metrics["test_accuracy"]) and row["tracks"] == 3
    assert capsys.readouterr().out.strip().startswith(f"| {out.name} | audiofolder")

    from finetune.evaluate import load_checkpoint

    model, fe, window = load_checkpoint(str(out))
    track = fdata.Track("low/low.00003", 1, str(music / "low" / "low.00003.wav"))
    store = fdata.AudioStore(fe.sampling_rate)
    ds = fdata.WindowDataset(store, [track], int(round(window * fe.sampling_rate)))
    ours = score_tracks(model, Featurizer(fe, model, fdata.collate_meta), ds, batch_size=4).probs[0]
    cli = predict(track.source, load_model(out))
    assert len(cli.window_probs) == len(ds) > 1
    np.testing.assert_allclose(cli.probs, ours, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# resume after a kill
# ---------------------------------------------------------------------------------------------
def test_killed_run_resumes_to_identical_weights(music, tmp_path):
    """SIGKILL after optimizer step 5 (checkpoint at 4, mid-epoch, gradient accumulation 2),
    resume from ``latest``: same step count, history and weights as an uninterrupted run."""
    from safetensors.torch import load_file

    def args(out: Path) -> list[str]:
        return base_args(music, out, "mel_cnn") + ["--num_train_epochs", "3", "--gradient_accumulation_steps", "2",
                                                  "--checkpointing_steps", "2", "--save_total_limit", "3"]

    killed, clean = tmp_path / "killed", tmp_path / "clean"
    res = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          "finetune/train.py", *args(killed), "--debug_kill_after_step", "5"],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "SIGKILL" in res.stderr, res.stderr[-3000:]
    assert (killed / "checkpoints" / "checkpoint-4").is_dir() and not (killed / "model.safetensors").exists()
    state = json.loads((killed / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["epoch"] == 0 and 0 < state["batches_in_epoch"]  # stopped in the middle of an epoch

    with pytest.raises(ValueError, match="resume_from_checkpoint"):
        ftrain.main(args(killed))  # refuses to silently start over
    resumed = ftrain.main(args(killed) + ["--resume_from_checkpoint", "latest"])
    reference = ftrain.main(args(clean))
    assert resumed["global_step"] == reference["global_step"] > 5
    assert resumed["history"] == reference["history"]
    last = f"checkpoints/checkpoint-{reference['global_step']}/model.safetensors"
    for name in ("model.safetensors", last):
        a, b = load_file(killed / name), load_file(clean / name)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)


def test_training_learns_a_separable_problem(tmp_path):
    """train.py must learn: 3 clearly distinct "genres" (low tones, high tones, noise bursts), 12 clips
    of 2 s each, 12 held-out test tracks (4 per genre), the model kept at the lowest validation loss.
    A model that never learns scores about 1/3 (chance, or one answer for everything); this one must
    get at least 11 of the 12 and end with a training loss under half its first epoch's."""
    root = tmp_path / "data"
    rng = np.random.default_rng(7)
    for genre in ("low", "high", "noise"):
        (root / genre).mkdir(parents=True)
        for i in range(12):
            sf.write(root / genre / f"{genre}.{i:05d}.wav", clip(genre, 2.0, rng), SR)
    args = ["--model", "mel_cnn", "--dataset", "audiofolder", "--data_dir", str(root), "--output_dir",
            str(tmp_path / "out"), "--chunk_seconds", "1.5", "--num_train_epochs", "5", "--learning_rate", "3e-3",
            "--per_device_train_batch_size", "4", "--valid_fraction", "0.17", "--test_fraction", "0.34",
            "--metric_for_best_model", "loss", "--dataloader_num_workers", "0", "--preprocessing_num_workers", "1",
            "--disable_tqdm", "--report_to", "none", "--config_overrides", json.dumps(OURS["mel_cnn"])]
    metrics = ftrain.main(args)
    history = [(round(h["train_loss"], 3), round(h["valid_loss"], 3)) for h in metrics["history"]]
    assert metrics["test_tracks"] == 12 and metrics["test_accuracy"] >= 11 / 12, (metrics["test_accuracy"], history)
    assert metrics["history"][-1]["train_loss"] < 0.5 * metrics["history"][0]["train_loss"], history


def test_early_stopping_keeps_the_best_epoch(music, tmp_path):
    """Learning rate 0 (lstm: no BatchNorm, so nothing moves): no epoch beats the first, so with
    patience 1 training stops after epoch 2 of 5 and the first epoch's model is the one kept."""
    args = base_args(music, tmp_path / "out", "lstm") + ["--num_train_epochs", "5", "--learning_rate", "0",
                                                         "--early_stopping_patience", "1"]
    metrics = ftrain.main(args)
    assert metrics["stopped_early"] and metrics["epochs"] == 2 and metrics["best_epoch"] == 1
    assert json.loads((tmp_path / "out" / "best" / "best.json").read_text())["epoch"] == 1


def test_two_process_ddp_run(music, tmp_path):
    """DDP on CPU (gloo, ``torchrun --standalone``): batches are sharded (half the steps per epoch),
    evaluation is sharded and gathered (every track scored once), rank 0 writes the folder."""
    out = tmp_path / "ddp"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "finetune/train.py", *base_args(music, out, "mel_cnn")],
                         cwd=REPO, env={**ENV, "ACCELERATE_USE_CPU": "true"}, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["valid_tracks"] == 3 and metrics["test_tracks"] == 3
    state = json.loads(next((out / "checkpoints").glob("checkpoint-*/trainer_state.json")).read_text())
    batches = -(-metrics["train_examples"] // 4)  # batch size 4, 2 epochs, each process gets half the batches
    assert metrics["global_step"] == 2 * -(-batches // 2) and state["global_step"] == metrics["global_step"]
    assert {p.name for p in next((out / "checkpoints").glob("checkpoint-*")).glob("random_states_*.pkl")} == \
        {"random_states_0.pkl", "random_states_1.pkl"}


# ---------------------------------------------------------------------------------------------
# data: per-track splits, skipped files, FMA metadata, the Hub dataset path
# ---------------------------------------------------------------------------------------------
def test_splits_are_per_track_before_chunking(music):
    args = ftrain.parse_args(base_args(music, Path("unused"), "mel_cnn"))[1]
    split = fdata.load_splits(args, seed=3)
    for name in ("valid", "test"):  # stratified: every genre in every split (before any file is decoded)
        assert {t.label for t in split.splits[name]} == {0, 1, 2}
    store = fdata.AudioStore(8000)
    data = store.prepare(split, progress=False)
    dropped = {t.track_id for ts in split.splits.values() for t in ts} - \
        {t.track_id for ts in data.splits.values() for t in ts}
    assert dropped == {"high/high.00098", "low/low.00099"}  # the corrupt and the too-short file, nothing else
    train = fdata.TrainDataset(store, data.splits["train"], chunk_samples=8000, seed=3)
    evals = {name: fdata.WindowDataset(store, data.splits[name], 8000) for name in ("valid", "test")}
    fdata.assert_per_track(train, evals)
    assert len(train) > len(train.tracks)  # several chunks per track
    sampler = fdata.EpochSampler(len(train), seed=3)
    train_ids = set()
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for key in sampler:
            pos, start, end = train.crop(key)
            assert end - start == 8000
            train_ids.add(train.tracks[pos].track_id)
    eval_ids = {name: {ds.tracks[pos].track_id for pos, _, _ in ds.windows} for name, ds in evals.items()}
    assert train_ids == {t.track_id for t in data.splits["train"]}
    assert not train_ids & eval_ids["valid"] and not train_ids & eval_ids["test"]
    assert not eval_ids["valid"] & eval_ids["test"]
    # crops are a function of (seed, epoch, item): the same again, different next epoch
    assert train.crop(5) == train.crop(5) and train.crop(5) != train.crop(5 + len(train))

    leak = fdata.Track("low/low.00000", 1, "x.wav")
    with pytest.raises(AssertionError, match="low/low.00000"):
        fdata.check_disjoint({"train": [leak], "test": [leak]})
    with pytest.raises(AssertionError):
        fdata.assert_per_track(fdata.TrainDataset(store, data.splits["test"], 8000),
                               {"test": evals["test"]})


def test_split_lists_and_jazz_00054(music, tmp_path):
    lists = tmp_path / "splits"
    lists.mkdir()
    (lists / "train_filtered.txt").write_text("low/low.00000.wav\nhigh/high.00000.wav\nnoise/noise.00000.wav\n")
    (lists / "valid_filtered.txt").write_text("low/low.00001.wav\njazz/jazz.00054.wav\n")
    (lists / "test_filtered.txt").write_text("high/high.00001.wav\n")
    argv = base_args(music, Path("unused"), "mel_cnn") + ["--split", "filtered", "--split_dir", str(lists)]
    args = ftrain.parse_args(argv)[1]
    data = fdata.load_splits(args, seed=0)
    assert data.split_name == "filtered" and data.counts() == {"train": 3, "valid": 1, "test": 1}
    assert [s["track_id"] for s in data.skipped] == ["jazz/jazz.00054"]
    (lists / "test_filtered.txt").write_text("low/low.00000.wav\n")  # also in train
    with pytest.raises(AssertionError, match="low/low.00000"):
        fdata.load_splits(args, seed=0)
    (music / "low" / "jazz.00054.wav").write_bytes(b"")
    try:
        assert "low/jazz.00054" not in {tid for tid, _, _ in fdata.scan_audio_folder(music)}
    finally:
        (music / "low" / "jazz.00054.wav").unlink()


def test_corrupt_and_short_files_are_skipped_and_counted(music, trained, tmp_path):
    metrics = json.loads((trained["mel_cnn"] / "metrics.json").read_text())
    assert metrics["skipped_files"] == 2
    reasons = {s["track_id"]: s["reason"] for s in metrics["skipped"]}
    assert set(reasons) == {"high/high.00098", "low/low.00099"}
    assert reasons["low/low.00099"].startswith("too_short")

    args = ftrain.parse_args(base_args(music, Path("unused"), "mel_cnn"))[1]
    for _ in range(2):  # the on-disk cache remembers bad files as well as good ones
        store = fdata.AudioStore(8000, tmp_path / "cache")
        data = store.prepare(fdata.load_splits(args, seed=0), progress=False)
        assert len(data.skipped) == 2 and sum(data.counts().values()) == 15
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 15
    assert len(list((tmp_path / "cache").rglob("*.bad.json"))) == 2
    track = data.splits["train"][0]
    np.testing.assert_array_equal(store.read(track, 100, 900), fdata.AudioStore(8000).read(track, 100, 900))


def test_fma_metadata_and_missing_tracks(tmp_path):
    """The official tracks.csv (two header rows), subsets, splits, and missing/undecodable files."""
    meta = tmp_path / "tracks.csv"
    meta.write_text(
        ",set,set,track,track\n"
        ",split,subset,genre_top,title\n"
        "track_id,,,,\n"
        "2,training,small,Hip-Hop,a\n3,training,small,Rock,b\n5,validation,small,Rock,c\n"
        "10,test,small,Hip-Hop,d\n20,training,medium,Folk,e\n30,training,large,Rock,f\n40,training,small,,g\n")
    audio = tmp_path / "fma_audio"
    rng = np.random.default_rng(0)
    for tid in (2, 3, 5, 20):
        path = fdata.fma_audio_path(audio, tid)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, clip("low", 2.0, rng), SR, format="MP3")
    fdata.fma_audio_path(audio, 10).write_bytes(b"\xff\xfb" + b"\x00" * 300)  # an undecodable mp3

    args = ftrain.parse_args(["--model", "mel_cnn", "--dataset", "fma_small", "--fma_metadata", str(meta),
                              "--fma_audio_dir", str(audio), "--split", "official", "--output_dir", "unused"])[1]
    data = fdata.load_splits(args, seed=0)
    assert data.labels == ["Hip-Hop", "Rock"] and data.counts() == {"train": 2, "valid": 1, "test": 1}
    data = fdata.AudioStore(8000).prepare(data, progress=False)
    assert data.counts() == {"train": 2, "valid": 1, "test": 0}
    assert [s["track_id"] for s in data.skipped] == ["000010"]
    args.dataset = "fma_medium"
    assert fdata.load_splits(args, seed=0).labels == ["Folk", "Hip-Hop", "Rock"]


def test_gtzan_hub_code_path_on_a_local_parquet_dataset(tmp_path):
    """``--dataset gtzan --dataset_name X`` goes through ``datasets.load_dataset``; a local parquet
    folder shaped like ``sanchit-gandhi/gtzan`` (file, audio bytes at 32 kHz, ClassLabel genre)
    stands in for the Hub here. Its audio is decoded by our loader, and jazz.00054 is dropped."""
    import io

    from datasets import Audio, ClassLabel, Dataset, Features, Value

    rng = np.random.default_rng(0)
    rows: dict[str, list] = {"file": [], "audio": [], "genre": []}
    for g, genre in enumerate(("blues", "jazz")):
        for i in (0, 1, 2, 3, 54):
            buf = io.BytesIO()
            sf.write(buf, clip("low" if g else "high", 1.5, rng), 32000, format="WAV")
            rows["file"].append(f"{genre}.{i:05d}.wav")
            rows["audio"].append({"bytes": buf.getvalue(), "path": None})
            rows["genre"].append(g)
    features = Features({"file": Value("string"), "audio": Audio(sampling_rate=32000),
                         "genre": ClassLabel(names=["blues", "jazz"])})
    (tmp_path / "gtzan" / "data").mkdir(parents=True)
    Dataset.from_dict(rows, features=features).to_parquet(tmp_path / "gtzan" / "data" / "train-00000-of-00001.parquet")

    args = ftrain.parse_args(["--model", "lstm", "--dataset", "gtzan", "--dataset_name", str(tmp_path / "gtzan"),
                              "--hf_cache_dir", str(tmp_path / "hf_cache"), "--output_dir", "unused"])[1]
    data = fdata.load_splits(args, seed=0)
    assert data.labels == ["blues", "jazz"] and data.counts() == {"train": 5, "valid": 2, "test": 2}  # blues 5, jazz 4
    assert "jazz/jazz.00054" not in {t.track_id for ts in data.splits.values() for t in ts}
    store = fdata.AudioStore(16000)
    data = store.prepare(data, progress=False)
    track = data.splits["train"][0]
    from genre_models.audio import load_audio

    np.testing.assert_array_equal(store.read(track), load_audio(track.source.read(), 16000))


# ---------------------------------------------------------------------------------------------
# metrics and the Hub upload
# ---------------------------------------------------------------------------------------------
def test_metric_modules_load_offline():
    from finetune.scoring import load_metrics

    accuracy, f1 = load_metrics()
    assert accuracy.compute(predictions=[0, 1, 1], references=[0, 1, 0])["accuracy"] == pytest.approx(2 / 3)
    assert f1.compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2], average="macro")["f1"] == pytest.approx(7 / 9)


def test_push_to_hub_uploads_the_output_folder(trained, monkeypatch):
    import huggingface_hub

    from finetune import reporting

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload_folder", kw))
            return type("Commit", (), {"commit_url": "https://huggingface.co/me/x/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = reporting.push_to_hub(trained["mel_cnn"], "me/x", token="t", private=True)
    assert url.endswith("/commit/1")
    upload = calls[-1][1]
    assert upload["repo_id"] == "me/x" and upload["folder_path"] == str(trained["mel_cnn"])
    assert "checkpoints/**" in upload["ignore_patterns"] and calls[1][2]["private"] is True
