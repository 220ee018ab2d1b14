"""``lstm_meta`` (audio + play statistics + names) end to end, on an FMA-shaped toy made here.

Two toy "FMA-small" datasets share one layout: a ``tracks.csv`` with the official file's three
header rows (album/artist/set/track column groups, then ``track_id``) and MP3s under
``<dir>/000/000123.mp3``, 3 genres x 16 tracks, split 10/3/3 by the file's own ``set/split``.

* **meta**: the genre is in the metadata only (each genre has its own two artists and its own
  range of listens); the audio is a random tone or noise whatever the genre.
* **audio**: the genre is in the audio only (low tone / noise bursts / high tone); artists and
  listens are drawn at random whatever the genre.

``finetune/train.py``'s real loop trains the full model and ablations on both. Expected: the full
model learns both toys; on **meta** the audio-only ablation is at chance while names-only and
stats-only each learn it; on **audio** the metadata-only ablation is at chance. Accuracy is over
the 18 valid + test tracks (chance 1/3). Then: save/load through the Auto classes, the CLI with and
without metadata, and the app's classify function with its track-detail fields.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from finetune import data as fdata  # noqa: E402
from finetune import train as ftrain  # noqa: E402
from genre_models.metadata import MISSING_ID, TrackMetadata, encode_batch, fit_stats  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 8000
GENRES = ("Folk", "Hip-Hop", "Rock")
ARTISTS = {"Folk": ("Willow Creek", "Amber Fields"), "Hip-Hop": ("MC Dynamo", "Lil Quantum"),
           "Rock": ("Iron Thunder", "Stone Riot")}
LISTENS = {"Folk": 30, "Hip-Hop": 1000, "Rock": 30000}
KIND = {"Folk": "low", "Hip-Hop": "noise", "Rock": "high"}
WORDS = ("night", "river", "blue", "song", "home", "light", "road", "fire", "rain", "heart")
SPLIT_OF = ["training"] * 10 + ["validation"] * 3 + ["test"] * 3
TINY = {"n_mfcc": 8, "n_mels": 24, "n_fft": 256, "hop_length": 128, "sampling_rate": SR, "hidden_size": 8,
        "num_layers": 1, "stats_hidden": [8], "char_embed_dim": 8, "char_hidden_size": 8, "head_hidden": [16],
        "max_chars": 40, "dropout": 0.1}
# toy -> runs: (branches, learns?)
RUNS = {
    "meta": {"full": ("audio,stats,names", True), "audio_only": ("audio", False),
             "names_only": ("names", True), "stats_only": ("stats", True)},
    "audio": {"full": ("audio,stats,names", True), "metadata_only": ("stats,names", False)},
}


def tone(kind: str, rng: np.random.Generator, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    if kind == "noise":
        y = 0.3 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * rng.uniform(1, 3) * t) > 0)
    else:
        f = rng.uniform(100, 250) if kind == "low" else rng.uniform(1500, 3000)
        y = 0.4 * np.sin(2 * np.pi * f * t)
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def make_fma(root: Path, toy: str, seed: int) -> dict:
    """``tracks.csv`` (official 3-row header) + MP3s; returns paths and each track's row."""
    rng = np.random.default_rng(seed)
    audio = root / "fma_small"
    rows = []
    tid = 100
    for genre in GENRES:
        for i in range(16):
            tid += 7
            if toy == "meta":
                artist = ARTISTS[genre][i % 2]
                listens, kind = LISTENS[genre] * rng.uniform(0.5, 2), rng.choice(list(KIND.values()))
            else:
                artist = rng.choice([a for pair in ARTISTS.values() for a in pair])
                listens, kind = 10 ** rng.uniform(1, 5), KIND[genre]
            title = "" if i == 5 else f"{rng.choice(WORDS)} {rng.choice(WORDS)}"  # a missing title
            comments = "" if i == 3 else int(rng.integers(0, 5))  # a missing count
            rows.append({"track_id": tid, "album": f"album {rng.choice(WORDS)}", "artist": artist, "split": SPLIT_OF[i],
                         "subset": "small", "comments": comments, "favorites": int(rng.integers(0, 10)),
                         "genre": genre, "listens": int(listens), "title": title, "kind": kind})
            path = fdata.fma_audio_path(audio, tid)
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, tone(kind, rng), SR, format="MP3")
    meta = root / "tracks.csv"
    with meta.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "album", "artist", "artist", "set", "set", "track", "track", "track", "track", "track"])
        w.writerow(["", "title", "favorites", "name", "split", "subset", "comments", "favorites", "genre_top",
                    "listens", "title"])
        w.writerow(["track_id"] + [""] * 10)
        for r in rows:
            w.writerow([r["track_id"], r["album"], 99, r["artist"], r["split"], r["subset"], r["comments"],
                        r["favorites"], r["genre"], r["listens"], r["title"]])
        w.writerow([9001, "x", 1, "Nobody", "training", "medium", 0, 0, "Rock", 5, "not in small"])
        w.writerow([9002, "x", 1, "Nobody", "training", "small", 0, 0, "", 5, "no top genre"])
    return {"meta": meta, "audio": audio, "rows": rows}


def train_args(toy: dict, out: Path, branches: str) -> list[str]:
    return ["--model", "lstm_meta", "--meta_branches", branches, "--dataset", "fma_small",
            "--fma_metadata", str(toy["meta"]), "--fma_audio_dir", str(toy["audio"]), "--output_dir", str(out),
            "--config_overrides", json.dumps(TINY), "--num_train_epochs", "15", "--per_device_train_batch_size", "8",
            "--learning_rate", "3e-2", "--save_total_limit", "1", "--dataloader_num_workers", "0",
            "--preprocessing_num_workers", "1", "--disable_tqdm", "--report_to", "none"]


@pytest.fixture(scope="module")
def toys(tmp_path_factory) -> dict[str, dict]:
    return {name: make_fma(tmp_path_factory.mktemp(f"fma_{name}"), name, seed)
            for seed, name in enumerate(RUNS)}


@pytest.fixture(scope="module")
def trained(toys, tmp_path_factory) -> dict[tuple[str, str], tuple[Path, dict]]:
    """Every run of :data:`RUNS` through the real ``finetune/train.py`` entry point."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for toy, runs in RUNS.items():
        for run, (branches, _) in runs.items():
            folder = root / f"{toy}-{run}"
            out[toy, run] = folder, ftrain.main(train_args(toys[toy], folder, branches))
    return out


def heldout_accuracy(metrics: dict) -> float:
    """Track accuracy over valid + test (18 tracks), so one lucky track moves it less."""
    right = metrics["valid_accuracy"] * metrics["valid_tracks"] + metrics["test_accuracy"] * metrics["test_tracks"]
    return right / (metrics["valid_tracks"] + metrics["test_tracks"])


# ---------------------------------------------------------------------------------------------
# metadata: reading tracks.csv, encoding
# ---------------------------------------------------------------------------------------------
def test_tracks_csv_metadata_is_read_with_missing_values(toys):
    toy = toys["meta"]
    table = fdata.read_fma_table(toy["meta"], "fma_small")
    info = fdata.fma_track_metadata(table)
    assert len(info) == 48 and 9001 not in info and 9002 not in info
    by_id = {r["track_id"]: r for r in toy["rows"]}
    first = toy["rows"][0]
    assert info[first["track_id"]] == TrackMetadata(first["title"], first["artist"], first["listens"],
                                                     first["comments"], first["favorites"])
    assert info[first["track_id"]].title != first["album"]  # the track's title, not the album's
    no_title = [tid for tid, r in by_id.items() if r["title"] == ""]
    no_comments = [tid for tid, r in by_id.items() if r["comments"] == ""]
    assert all(info[t].title is None and info[t].artist for t in no_title)
    assert all(info[t].comments is None and info[t].listens is not None for t in no_comments)
    data = fdata.load_splits(ftrain.parse_args(train_args(toy, Path("unused"), "audio"))[1], seed=0)
    assert data.counts() == {"train": 30, "valid": 9, "test": 9} and data.labels == list(GENRES)
    assert all(t.metadata is not None for ts in data.splits.values() for t in ts)


def test_encoding_log_counts_flags_and_characters():
    mean, std = fit_stats([TrackMetadata(listens=9), TrackMetadata(listens=99, comments=0), None])
    assert mean[0] == pytest.approx((np.log(10) + np.log(100)) / 2) and mean[1] == 0.0 and std[2] == 1.0
    enc = encode_batch([TrackMetadata("Ab", "É", listens=99), TrackMetadata(favorites=3), None],
                       max_chars=8, lowercase=True, stats_mean=mean, stats_std=std)
    assert enc["stats_mask"].tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]
    assert enc["stats"][0, 0] == pytest.approx((np.log(100) - mean[0]) / std[0])
    assert enc["stats"][1, 2] == pytest.approx(np.log(4)) and enc["stats"][2].tolist() == [0, 0, 0]
    # "ab" + separator + "é" (2 UTF-8 bytes); no names -> the single MISSING id
    assert enc["char_mask"].sum(1).tolist() == [5, 1, 1] and enc["char_ids"][1, 0] == MISSING_ID
    same = encode_batch([TrackMetadata("AB", "é")], 8, True, mean, std)["char_ids"][0]
    assert same.tolist() == enc["char_ids"][0].tolist()  # case-folded
    with pytest.raises(ValueError, match="listens"):
        TrackMetadata(listens=-1)
    with pytest.raises(ValueError, match="unknown metadata field"):
        TrackMetadata.from_mapping({"listen": 3})


def test_batched_clip_scores_as_alone_whatever_its_names_length():
    """Audio frames and characters are both padded in a batch; neither may change a clip's logits."""
    from genre_models.hf_models import build_model

    torch.manual_seed(0)
    model, fe = build_model("lstm_meta", list(GENRES), **{k: v for k, v in TINY.items()})
    model.eval()
    rng = np.random.default_rng(0)
    clips = [tone("low", rng, 1.5), tone("high", rng, 1.0)]
    metas = [TrackMetadata("a much longer title than the other", "Iron Thunder", 10, 1, None), {"artist": "MC"}]
    with torch.no_grad():
        batch = model(**fe(clips, sampling_rate=SR, metadata=metas, return_tensors="pt")).logits
        for i in range(2):
            alone = model(**fe(clips[i], sampling_rate=SR, metadata=metas[i], return_tensors="pt")).logits
            assert torch.allclose(batch[i], alone[0], atol=1e-5)
    with pytest.raises(ValueError, match="one per clip"):
        fe(clips, sampling_rate=SR, metadata=metas[:1])


# ---------------------------------------------------------------------------------------------
# learning and ablations
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("toy,run", [(t, r) for t, runs in RUNS.items() for r in runs])
def test_learns_from_what_carries_the_genre_and_ablations_do_not(trained, toy, run):
    folder, metrics = trained[toy, run]
    branches, learns = RUNS[toy][run]
    acc = heldout_accuracy(metrics)
    print(f"{toy} toy, branches {branches}: valid+test accuracy {acc:.3f} "
          f"(valid {metrics['valid_accuracy']:.3f}, test {metrics['test_accuracy']:.3f})")
    assert metrics["branches"] == branches.split(",") and metrics["split"] == "official"
    if learns:
        assert acc >= 16 / 18, (toy, run, acc)
    else:
        assert acc <= 0.6, (toy, run, acc)  # chance is 1/3


def test_ablated_models_have_no_weights_for_dropped_branches(trained):
    from safetensors.torch import load_file

    def prefixes(toy: str, run: str) -> set[str]:
        return {k.split(".")[0] for k in load_file(trained[toy, run][0] / "model.safetensors")}

    assert {"lstm", "stats_mlp", "char_embed", "char_gru"} <= prefixes("meta", "full")
    assert not {"stats_mlp", "char_embed", "char_gru"} & prefixes("meta", "audio_only")
    assert not {"lstm", "stats_mlp"} & prefixes("meta", "names_only")
    assert "lstm" not in prefixes("audio", "metadata_only")
    assert {"stats_mlp", "char_gru"} <= prefixes("audio", "metadata_only")


def test_default_learning_rate_is_the_sources():
    from finetune.modeling import default_learning_rate

    assert default_learning_rate("lstm_meta") == 1e-4 and default_learning_rate("lstm") == 1e-3


def test_needs_metadata_data(tmp_path):
    """A metadata model on data without metadata is refused with a message saying what to use."""
    root = tmp_path / "music"
    rng = np.random.default_rng(0)
    for genre in ("a", "b"):
        (root / genre).mkdir(parents=True)
        for i in range(3):
            sf.write(root / genre / f"{genre}.{i:05d}.wav", tone("low", rng), SR)
    args = ["--model", "lstm_meta", "--dataset", "audiofolder", "--data_dir", str(root), "--output_dir",
            str(tmp_path / "out"), "--config_overrides", json.dumps(TINY), "--report_to", "none", "--disable_tqdm",
            "--dataloader_num_workers", "0", "--num_train_epochs", "1"]
    with pytest.raises(ValueError, match="fma_small"):
        ftrain.main(args)
    with pytest.raises(ValueError, match="lstm_meta only"):
        ftrain.main([*args[:1], "lstm", *args[2:], "--meta_branches", "audio"])


# ---------------------------------------------------------------------------------------------
# the saved folder: Auto classes, evaluate.py, CLI, app
# ---------------------------------------------------------------------------------------------
def test_saved_folder_round_trip_through_auto_classes(trained, toys):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    import genre_models.hf_models  # noqa: F401
    from finetune.evaluate import main as evaluate_main
    from genre_models.audio import load_audio

    folder, metrics = trained["meta", "full"]
    model = AutoModelForAudioClassification.from_pretrained(folder).eval()
    fe = AutoFeatureExtractor.from_pretrained(folder)
    assert type(model).__name__ == "LSTMMetaForAudioClassification"
    assert type(fe).__name__ == "MetadataMFCCFeatureExtractor"
    assert list(model.config.branches) == ["audio", "stats", "names"] and fe.stats_mean is not None and fe.mean
    row = next(r for r in toys["meta"]["rows"] if r["split"] == "test")
    y = load_audio(fdata.fma_audio_path(toys["meta"]["audio"], row["track_id"]), SR)
    meta = {k: row[k] for k in ("title", "artist", "listens", "comments", "favorites")}
    with torch.no_grad():
        logits = model(**fe([y], sampling_rate=SR, metadata=meta, return_tensors="pt")).logits
        with pytest.raises(ValueError, match="metadata"):
            model(**fe([y], sampling_rate=SR, return_tensors="pt"))
    assert model.config.id2label[int(logits.argmax())] == row["genre"]
    # finetune/evaluate.py re-scores the folder (metadata kept on its tracks) to the training run's figure
    scored = evaluate_main(["--model", str(folder), "--dataset", "fma_small",
                            "--fma_metadata", str(toys["meta"]["meta"]),
                            "--fma_audio_dir", str(toys["meta"]["audio"]), "--preprocessing_num_workers", "1"])
    assert scored["accuracy"] == pytest.approx(metrics["test_accuracy"]) and scored["tracks"] == 9


def test_cli_with_and_without_metadata(trained, toys, tmp_path, capsys):
    from genre_models.cli import main as cli
    from genre_models.features_model import DEFAULT_MODEL_DIR

    folder = str(trained["meta", "full"][0])
    tests = [r for r in toys["meta"]["rows"] if r["split"] == "test"]
    rows = [next(r for r in tests if r["genre"] == g) for g in ("Folk", "Rock")]  # two genres
    files = [str(fdata.fma_audio_path(toys["meta"]["audio"], r["track_id"])) for r in rows]

    def flags(r: dict) -> list[str]:
        return ["--title", r["title"], "--artist", r["artist"], "--listens", str(r["listens"])]

    # the flags, applied to every file
    assert cli(["predict", files[0], "--model", folder, *flags(rows[0])]) == 0
    out = capsys.readouterr()
    assert out.out.strip().splitlines()[-1].split(",")[1] == rows[0]["genre"], out.err
    assert "not given comments, favorites" in out.err  # partial metadata is used, and said to be partial

    # per-file rows from a CSV
    table = tmp_path / "meta.csv"
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "title", "artist", "listens", "comments", "favorites"])
        for f, r in zip(files, rows):
            w.writerow([Path(f).name, r["title"], r["artist"], r["listens"], r["comments"], r["favorites"]])
    assert cli(["predict", *files, "--model", folder, "--metadata-csv", str(table)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(",")[1] for line in lines[-2:]] == [r["genre"] for r in rows]

    # none given: the only model cannot answer -> each file reported, exit status 1
    assert cli(["predict", files[0], "--model", folder]) == 1
    err = capsys.readouterr().err
    assert "needs track metadata" in err and "--title" in err and "Traceback" not in err
    # beside a model that needs none: it answers, the metadata model is left out with the reason, exit 0
    assert cli(["predict", files[0], "--model", folder, "--model", str(DEFAULT_MODEL_DIR)]) == 0
    out = capsys.readouterr()
    assert "needs track metadata" in out.err and "left out" in out.err and "blues" in out.out
    # the audio-only ablation reads no metadata and needs none
    assert cli(["predict", files[0], "--model", str(trained["meta", "audio_only"][0])]) == 0
    capsys.readouterr()
    assert cli(["predict", files[0], "--model", folder, "--listens", "-3"]) == 2
    assert "non-negative" in capsys.readouterr().err


def test_app_classify_with_track_details(trained, toys, monkeypatch):
    import gradio as gr

    import app
    from genre_models.ensemble import Ensemble

    folder = trained["meta", "full"][0]
    row = next(r for r in toys["meta"]["rows"] if r["split"] == "test")
    song = str(fdata.fma_audio_path(toys["meta"]["audio"], row["track_id"]))
    monkeypatch.setattr(app, "ENSEMBLE", Ensemble.load([str(folder)]))
    label, summary, image, plot = app.classify(song, row["title"], row["artist"], row["listens"], row["comments"],
                                               row["favorites"])
    assert max(label, key=label.get) == row["genre"] and row["genre"] in summary
    with pytest.raises(gr.Error, match="needs track metadata"):
        app.classify(song, "", "", None, None, None)
    # with another model beside it, the answer comes from that one and the summary says why
    monkeypatch.setattr(app, "ENSEMBLE", Ensemble.load([str(folder), str(trained["meta", "audio_only"][0])]))
    label, summary, *_ = app.classify(song)
    assert "needs track metadata" in summary and "left out" in summary and set(label) == set(GENRES)
    assert "Track details (for metadata models)" in json.dumps(app.demo.config)
