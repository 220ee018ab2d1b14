"""Every model records the tracks it learned from, and nothing scores it on them (finetune/provenance.py);
the real-audio folds are defined once, grouped by artist and fingerprinted (finetune/folds.py).

The end-to-end part trains one tiny model with ``finetune/train.py`` on tones made here, then checks
that ``finetune/evaluate.py`` and ``finetune/ensemble.py`` refuse to score it on its own training or
validation tracks (and say so loudly when told to go ahead), and that a random split rebuilt after a
file was added is refused. The fold tests use the shared GTZAN material and skip without it.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from finetune.provenance import (
    RECORD_KEY,
    SplitMismatchError,
    TrainOverlapError,
    canonical_id,
    check_no_overlap,
    check_rebuilt_split,
    ids_sha256,
    learned_from,
    read_record,
    track_record,
)

SR = 11025


# ------------------------------------------------------------------------------------------ ids, records
@pytest.mark.parametrize("given", ["blues/blues.00010", "blues.00010.wav", "blues.00010", "snippets/blues.00010.wav",
                                   "genres_original/blues/blues.00010.WAV", "/data/gtzan/audio/blues.00010.flac"])
def test_one_identity_for_clip_excerpt_row_and_list_line(given):
    assert canonical_id(given) == "blues.00010"


def test_record_lists_sorted_ids_with_hashes():
    rec = track_record({"train": ["pop/pop.00002", "blues/blues.00001"], "valid": ["jazz.00003.wav"]},
                       {"dataset": "d", "split": "random", "seed": 1}, skipped=["rock/rock.00009"])
    assert rec["train_tracks_ids"] == ["blues.00001", "pop.00002"] and rec["valid_tracks_ids"] == ["jazz.00003"]
    assert rec["test_tracks_ids"] == [] and rec["skipped_tracks_ids"] == ["rock.00009"]
    assert rec["train_tracks_sha256"] == ids_sha256(["pop.00002", "blues.00001"])
    assert learned_from(rec) == {"blues.00001", "pop.00002", "jazz.00003"}
    other = track_record({"train": ["blues.00001", "pop.00002"], "valid": ["jazz.00003"]},
                         {"dataset": "d", "split": "random", "seed": 2}, skipped=["rock.00009"])
    assert other["train_tracks_sha256"] == rec["train_tracks_sha256"]
    assert other["sha256"] != rec["sha256"]  # the rule counts


def test_overlap_is_refused_or_reported(tmp_path, caplog):
    folder = tmp_path / "m"
    folder.mkdir()
    rec = track_record({"train": ["blues/blues.00001"], "valid": ["pop/pop.00002"], "test": ["jazz/jazz.00003"]},
                       {"dataset": "d", "split": "random", "seed": 42})
    (folder / "metrics.json").write_text(json.dumps({RECORD_KEY: rec}))
    assert read_record(folder) == rec
    # a snippet of a training track is the same track
    overlapping = r"m was trained or validated on 1 of the 2 test tracks \(e\.g\. blues\.00001"
    with pytest.raises(TrainOverlapError, match=overlapping):
        check_no_overlap([str(folder)], {"test": ["snippets/blues.00001.wav", "rock.00004"]})
    with pytest.raises(TrainOverlapError, match="pop.00002"):  # validation tracks count too
        check_no_overlap([str(folder)], {"valid": ["pop/pop.00002"]})
    ok = check_no_overlap([str(folder)], {"test": ["jazz/jazz.00003"]})
    assert ok["checked"] == [str(folder)] and not ok["problems"]
    with caplog.at_level(logging.WARNING):
        allowed = check_no_overlap([str(folder)], {"test": ["blues.00001"]}, allow=True)
    assert allowed["allowed"] and allowed["overlap"] == {str(folder): {"test": 1}} and "NOT held-out" in caplog.text
    bare = tmp_path / "bare"
    bare.mkdir()
    with caplog.at_level(logging.WARNING):
        res = check_no_overlap([str(bare)], {"test": ["blues.00001"]})
    assert res["unchecked"] == [str(bare)] and "cannot be checked" in caplog.text


def test_rebuilt_split_must_be_the_recorded_one():
    rec = track_record({"train": ["a.1", "a.2"], "valid": ["a.3"], "test": ["a.4"]}, {"split": "random"},
                       skipped=["a.5"])
    check_rebuilt_split("m", rec, {"train": ["x/a.1", "x/a.2"], "valid": ["x/a.3"], "test": ["x/a.4", "x/a.5"]})
    with pytest.raises(SplitMismatchError, match="test: 1 track"):
        check_rebuilt_split("m", rec, {"valid": ["a.3"], "test": ["a.2"]})
    check_rebuilt_split("m", rec, {"valid": ["a.3"], "test": []}, limited=True)  # --max_eval_tracks: a subset
    with pytest.raises(SplitMismatchError):
        check_rebuilt_split("m", rec, {"valid": ["a.3"], "test": []})


def _shipped_heads() -> list[str]:
    """The default ensemble's members and every shipped folder with a genre head fit on real audio."""
    from genre_models.ensemble import DEFAULT_ENSEMBLE_FILE

    pretrained = DEFAULT_ENSEMBLE_FILE.parent
    members = [m["model"] for m in json.loads(DEFAULT_ENSEMBLE_FILE.read_text())["models"]]
    return sorted({*members, *(p.parent.name for p in pretrained.glob("*/genre_head.json"))})


def test_shipped_models_record_their_tracks(gtzan_dir):
    """The features model: every usable row of the table. Every default-ensemble member and shipped
    genre head: all 380 real GTZAN tracks, the 70 30-s clips and the 310 excerpts (a record of the
    clips alone, or of any subset, fails), under the hash the record states; the default's members
    also exactly the 240 AllMusic previews."""
    import csv
    import re

    from genre_models.features_model import DEFAULT_MODEL_DIR

    with open(gtzan_dir / "features_30_sec.csv", newline="") as fh:
        rows = {canonical_id(r["filename"]) for r in csv.DictReader(fh)} - {"jazz.00054"}
    features = read_record("gtzan-features")
    assert features == read_record(DEFAULT_MODEL_DIR) and set(features["train_tracks_ids"]) == rows
    clips = {canonical_id(p.name) for p in (gtzan_dir / "audio").glob("*.wav")}
    excerpts = {canonical_id(p.name) for p in (gtzan_dir / "snippets").glob("*.wav")}
    assert len(clips) == 70 and len(excerpts) == 310 and not clips & excerpts
    gtzan_id = re.compile(r"^(blues|classical|country|disco|hiphop|jazz|metal|pop|reggae|rock)\.\d{5}$")
    from genre_models.ensemble import DEFAULT_ENSEMBLE_FILE

    heads = _shipped_heads()
    default_members = {m["model"] for m in json.loads(DEFAULT_ENSEMBLE_FILE.read_text())["models"]}
    assert {"gtzan-musicnn", "gtzan-yamnet"} <= set(heads)
    for name in heads:
        record = read_record(name)
        assert record is not None, f"{name} has no track record"
        learned = set(record["train_tracks_ids"])
        assert record["train_tracks_sha256"] == ids_sha256(record["train_tracks_ids"]), name
        # exactly the 380 real GTZAN tracks (other data sets' ids may come beside them)
        gtzan = {t for t in learned if gtzan_id.match(t)}
        assert gtzan == clips | excerpts, (name, f"{len(gtzan & clips)} of 70 clips, {len(gtzan & excerpts)} of "
                                           f"310 excerpts, {len(gtzan - clips - excerpts)} others")
        if name in default_members and (gtzan_dir.parent / "allmusic4q" / "tracks.csv").is_file():
            # the default also learned from the 240 AllMusic previews: all of them, nothing else
            with open(gtzan_dir.parent / "allmusic4q" / "tracks.csv", newline="") as fh:
                allmusic = {Path(r["filename"]).stem for r in csv.DictReader(fh)}
            assert len(allmusic) == 240 and learned - gtzan == allmusic, (name, len(learned - gtzan))


# ------------------------------------------------------------------------------------------ the folds
@pytest.fixture(scope="module")
def real_folds(gtzan_dir):
    from finetune.folds import artist_folds, real_audio_tracks

    tracks = real_audio_tracks(gtzan_dir)
    return tracks, artist_folds(tracks, 5, 42)


def test_real_audio_tracks(real_folds, gtzan_dir):
    tracks, _ = real_folds
    kinds = [t.kind for t in tracks]
    assert len(tracks) == 380 and kinds.count("clip") == 70 and kinds.count("excerpt") == 310
    assert len({t.stem for t in tracks}) == 380  # one per GTZAN track
    blues = next(t for t in tracks if t.track_id == "blues/blues.00000")
    assert blues.kind == "clip" and blues.artist == "John Lee Hooker" and blues.label == 0
    excerpt = next(t for t in tracks if t.track_id == "blues/blues.00010")
    assert excerpt.kind == "excerpt" and excerpt.source.endswith("snippets/blues.00010.wav")
    assert 2.0 <= excerpt.seconds <= 3.0
    assert sum(t.artist is None for t in tracks) > 0  # those are groups of one


def test_artist_folds_partition_by_artist_with_both_kinds(real_folds):
    from finetune.data import check_disjoint

    tracks, folds = real_folds
    tests = [t.track_id for split in folds for t in split["test"]]
    assert sorted(tests) == sorted(t.track_id for t in tracks)  # each track in exactly one test fold
    for k, split in enumerate(folds):
        check_disjoint(split)
        assert split["valid"] == folds[(k + 1) % 5]["test"]
        groups = {name: {t.group for t in ts} for name, ts in split.items()}
        assert not groups["train"] & groups["valid"] and not groups["valid"] & groups["test"]
        assert not groups["train"] & groups["test"]
        assert {t.kind for t in split["test"]} == {"clip", "excerpt"}
        assert len(split["train"]) + len(split["valid"]) + len(split["test"]) == 380


def test_fingerprint_and_fold_model_check(real_folds, tmp_path):
    from finetune.folds import FoldMismatchError, artist_folds, check_fold_model, fold_rule, folds_fingerprint

    tracks, folds = real_folds
    assert folds_fingerprint(folds) == artist_folds(list(reversed(tracks)), 5, 42).fingerprint  # order-free
    assert folds.fingerprint != artist_folds(tracks, 5, 7).fingerprint
    clips = artist_folds([t for t in tracks if t.kind == "clip"], 5, 42)
    assert clips.fingerprint != folds.fingerprint

    def write(folder: Path, k: int, of=folds) -> Path:
        folder.mkdir(parents=True)
        rec = track_record({n: [t.track_id for t in of[k][n]] for n in ("train", "valid", "test")},
                           {"dataset": "d", **fold_rule(of, k)})
        (folder / "metrics.json").write_text(json.dumps({RECORD_KEY: rec}))
        return folder

    good = write(tmp_path / "fold2", 1)
    check_fold_model(good, folds, 1)
    with pytest.raises(FoldMismatchError, match="trained on fold 2 .* used as fold 3"):
        check_fold_model(good, folds, 2)
    with pytest.raises(FoldMismatchError, match="retrain it with these folds"):
        check_fold_model(write(tmp_path / "clips", 1, clips), folds, 1)
    (tmp_path / "old").mkdir()
    with pytest.raises(FoldMismatchError, match="no track record"):
        check_fold_model(tmp_path / "old", folds, 0)


# ------------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    """``<genre>/<genre>.000NN.wav``: 3 tone "genres" x 6 clips of 2 s."""
    root = tmp_path_factory.mktemp("music")
    rng = np.random.default_rng(0)
    for genre, (lo, hi) in (("low", (80, 200)), ("high", (1500, 3000)), ("mid", (400, 800))):
        (root / genre).mkdir()
        for i in range(6):
            t = np.arange(2 * SR) / SR
            y = 0.4 * np.sin(2 * np.pi * rng.uniform(lo, hi) * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(root / genre / f"{genre}.{i:05d}.wav", y.astype(np.float32), SR)
    return root


@pytest.fixture(scope="module")
def trained(music, tmp_path_factory, one_torch_thread) -> Path:
    pytest.importorskip("accelerate")
    from finetune import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    overrides = {"n_mfcc": 8, "n_mels": 32, "hidden_sizes": [8], "n_fft": 512, "hop_length": 256, "sampling_rate": SR}
    train.main(["--model", "dnn", "--dataset", "audiofolder", "--data_dir", str(music), "--output_dir", str(out),
                "--chunk_seconds", "1", "--num_train_epochs", "1", "--per_device_train_batch_size", "8",
                "--valid_fraction", "0.34", "--test_fraction", "0.34", "--config_overrides", json.dumps(overrides),
                "--dataloader_num_workers", "0", "--preprocessing_num_workers", "1", "--disable_tqdm",
                "--report_to", "none"])
    return out


def test_train_records_its_tracks(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    rec = metrics[RECORD_KEY]
    assert rec["rule"]["split"] == "random" and rec["rule"]["seed"] == 42 and rec["rule"]["valid_fraction"] == 0.34
    assert (rec["train_tracks"], rec["valid_tracks"], rec["test_tracks"]) == (6, 6, 6)
    assert not set(rec["train_tracks_ids"]) & set(rec["test_tracks_ids"])
    assert all("/" not in t for t in rec["test_tracks_ids"])
    assert sorted(metrics["test_predictions"]) == rec["test_tracks_ids"]
    card = (trained / "README.md").read_text()
    assert "## Tracks" in card and rec["train_tracks_sha256"] in card and rec["test_tracks_ids"][0] in card


def _evaluate(trained, music, *extra):
    from finetune.evaluate import main

    return main(["--model", str(trained), "--dataset", "audiofolder", "--data_dir", str(music),
                 "--valid_fraction", "0.34", "--test_fraction", "0.34", "--preprocessing_num_workers", "1", *extra])


def test_evaluate_refuses_training_and_validation_tracks(trained, music, capsys):
    row = _evaluate(trained, music)  # the test split: fine
    assert row["tracks"] == 6 and row["train_overlap"]["checked"] and not row["train_overlap"]["overlapping_tracks"]
    for split in ("valid", "train"):
        with pytest.raises(TrainOverlapError, match=f"tiny was trained or validated on 6 of the 6 {split} tracks"):
            _evaluate(trained, music, "--eval_split", split)
    capsys.readouterr()
    row = _evaluate(trained, music, "--eval_split", "valid", "--allow_train_overlap")
    assert row["train_overlap"]["overlapping_tracks"] == 6 and row["train_overlap"]["allowed"]
    assert "TRAINING/VALIDATION TRACKS SCORED" in capsys.readouterr().out


def test_evaluate_refuses_a_reshuffled_random_split(trained, music, tmp_path):
    with pytest.raises(SplitMismatchError, match="recorded rule"):  # another seed: another split
        _evaluate(trained, music, "--seed", "7")
    grown = tmp_path / "music"
    shutil.copytree(music, grown)
    sf.write(grown / "low" / "low.00006.wav", np.zeros(2 * SR, np.float32) + 0.01, SR)  # one more file
    with pytest.raises(SplitMismatchError, match="a file added to or removed from the data reshuffles"):
        _evaluate(trained, grown)


def test_evaluate_honours_a_record_made_before_the_sklearn_split(trained, music, tmp_path, caplog):
    """A record without the split ``method`` (the hand-written split's) is scored on the tracks it lists,
    not on a split rebuilt from its seed by another method."""
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    metrics = json.loads((old / "metrics.json").read_text())
    rec = metrics[RECORD_KEY]
    assert rec["rule"].pop("method").startswith("sklearn.model_selection.train_test_split")
    # the old method put other tracks in test: here, the ones the seed now puts in train
    rec["train_tracks_ids"], rec["test_tracks_ids"] = rec["test_tracks_ids"], rec["train_tracks_ids"]
    (old / "metrics.json").write_text(json.dumps(metrics))
    with caplog.at_level(logging.WARNING, logger="finetune.evaluate"):
        row = _evaluate(old, music)
    assert "predates" in caplog.text and row["tracks"] == 6 and not row["train_overlap"]["overlapping_tracks"]
    with pytest.raises(TrainOverlapError, match="6 of the 6 train tracks"):  # its train split is its record's too
        _evaluate(old, music, "--eval_split", "train")
    row = _evaluate(old, music, "--max_eval_tracks", "2")
    assert row["tracks"] == 2


def test_ensemble_refuses_members_on_their_own_tracks(trained, music, tmp_path):
    from finetune.ensemble import main

    args = ["--models", str(trained), "--dataset", "audiofolder", "--data_dir", str(music), "--valid_fraction", "0.34",
            "--test_fraction", "0.34", "--output_file", str(tmp_path / "ens.json")]
    with pytest.raises(TrainOverlapError, match="valid tracks"):  # the default fit split is the member's valid split
        main(args)
    config = main([*args, "--allow_train_overlap"])
    saved = json.loads((tmp_path / "ens.json").read_text())
    assert "NOT held-out" in saved["WARNING"] and saved["train_overlap"]["overlap"] == {str(trained): {"valid": 6}}
    assert config["WARNING"] == saved["WARNING"]
