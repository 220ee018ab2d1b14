"""``python -m genre_models teach``: tags written into generated audio files (MP3, FLAC, OGG, M4A, WAV),
spellings merged, a grouped CV, a model that predict, pipeline() and --disagreements use, a cache
that a second run, a retagged file, changed audio and a killed run are handled by, and bad input."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf

from genre_models.audio import load_audio
from genre_models.cli import main
from genre_models.filetags import LabelMerger, label_key, read_tags
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SR = 22050
# label -> (example it is cut from, the spellings its tags use)
GENRES = {"Metal": ("metal_riff.mp3", ["Metal", "metal", "Metal"]),
          "Jazz": ("jazz_swing.ogg", ["Jazz", "Jazz", "jazz"]),
          "Hip-Hop": ("hiphop_beat.mp3", ["Hip-Hop", "hip hop", "HipHop", "Hip-Hop"])}
CONTAINERS = ["mp3", "flac", "ogg", "m4a", "wav", "mp3"]
SONG_SECONDS = 3.5
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is needed to write MP3/M4A")


def write_song(path: Path, y: np.ndarray, genre: str | None, artist: str | None) -> Path:
    """``y`` (22.05 kHz) into ``path``'s container, with genre and artist tags (mutagen)."""
    ext = path.suffix[1:]
    if ext in ("wav", "flac", "ogg"):
        sf.write(path, y, SR, format={"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}[ext])
    else:
        tmp = path.with_suffix(".tmp.wav")
        sf.write(tmp, y, SR)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp), str(path)], check=True)
        tmp.unlink()
    tag(path, genre, artist)
    return path


def tag(path: Path, genre: str | None, artist: str | None) -> None:
    audio = mutagen.File(path, easy=True)
    if audio.tags is None:
        audio.add_tags()
    if path.suffix == ".wav":  # plain ID3 inside RIFF
        from mutagen.id3 import TCON, TPE1

        audio.tags.delall("TCON")
        if genre is not None:
            audio.tags.add(TCON(encoding=3, text=[genre]))
        if artist is not None:
            audio.tags.add(TPE1(encoding=3, text=[artist]))
    else:
        for key, value in (("genre", genre), ("artist", artist)):
            if value is None:
                if key in audio.tags:
                    del audio.tags[key]
            else:
                audio.tags[key] = [value]
    audio.save()


def cut(example: str, i: float, seed: int = 0) -> np.ndarray:
    """Song ``i`` of an example: SONG_SECONDS from ``i·SONG_SECONDS`` s, its level and noise its own."""
    y = load_audio(REPO / "examples" / example, SR)
    n = int(SONG_SECONDS * SR)
    start = int(i * SONG_SECONDS * SR) % max(1, len(y) - n)
    rng = np.random.default_rng(seed + int(2 * i))
    return (y[start:start + n] * rng.uniform(0.6, 1.0) + 0.002 * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """Six songs per genre in five containers by three artists each, one song of a rare genre, one
    untagged song, one truncated file (readable tags, broken audio) and one text file named .mp3."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed to write MP3/M4A")
    lib = tmp_path_factory.mktemp("library") / "Music"
    for label, (example, spellings) in GENRES.items():
        for i, ext in enumerate(CONTAINERS):
            artist = f"{label} Band {i % 3}" + (" feat. Guest" if i == 5 else "")
            folder = lib / f"{label} Band {i % 3}"
            folder.mkdir(parents=True, exist_ok=True)
            write_song(folder / f"{label.lower()}{i}.{ext}", cut(example, i), spellings[i % len(spellings)], artist)
    (lib / "odd").mkdir()
    write_song(lib / "odd" / "polka.flac", cut("disco_groove.mp3", 0), "Polka", "Polka Band")
    write_song(lib / "odd" / "untagged.ogg", cut("country_twang.mp3", 1), None, "Someone")
    broken = write_song(lib / "odd" / "broken.flac", cut("metal_riff.mp3", 3), "Metal", "Broken Band")
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    (lib / "odd" / "notes.mp3").write_text("not audio at all\n")
    return lib


@pytest.fixture(scope="module")
def taught(library, tmp_path_factory):
    """One teach of the library, as a user runs it (two worker processes)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("models") / "my-genres"
    cache = tmp_path_factory.mktemp("cache")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["teach", str(library), "--labels-from-tags", "--out", str(out), "--cache", str(cache),
                     "--min-songs", "3", "--max-windows", "2", "--folds", "3", "--jobs", "2"])
    return {"code": code, "out": out, "cache": cache, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(),
            "library": library}


def test_tags_are_read_from_every_container(library):
    seen = {}
    for path in library.rglob("*"):
        if path.is_file() and path.parent.name != "odd":
            tags = read_tags(path)
            seen[path.suffix] = tags
            assert tags.error is None and len(tags.genres) == 1 and tags.artist.startswith(path.parent.name)
    assert {".mp3", ".flac", ".ogg", ".m4a", ".wav"} <= set(seen)
    assert read_tags(library / "odd" / "untagged.ogg").genres == []
    assert read_tags(library / "odd" / "notes.mp3").error is not None


def test_spellings_merge_into_the_most_common_one():
    merger = LabelMerger.from_options(merges=["R&B=RnB"], ignore=["Other"])
    files = [["Hip-Hop"], ["hip hop"], ["HipHop"], ["Hip-Hop"], ["Rock; Pop"], ["RnB"], ["R & B"], ["Unknown"],
             ["Other"], ["Drum & Bass"], ["drum n bass"], ["Pop/Rock"], ["Électro"], ["electro"], ["electro"]]
    songs = merger.fit(files)
    assert songs["hiphop"] == 4 and merger.names["hiphop"] == "Hip-Hop"
    assert merger.labels(["Rock; Pop"]) == ["Rock", "Pop"] and merger.labels(["Pop/Rock"]) == ["Pop/Rock"]
    assert merger.labels(["RnB"]) == merger.labels(["R & B"]) == ["R&B"]  # --merge names it
    assert merger.labels(["Unknown"]) == [] and merger.labels(["Other"]) == []
    assert merger.labels(["drum n bass"]) == ["Drum & Bass"] and merger.names["electro"] == "electro"
    assert LabelMerger.from_dict(merger.as_dict()).labels(["HIP HOP"]) == ["Hip-Hop"]
    assert label_key("Hip-Hop") == label_key("hip hop") == label_key("HipHop") == "hiphop"
    with pytest.raises(ValueError, match="LABEL=SPELLING"):
        LabelMerger.from_options(merges=["nothing"])


def test_tags_are_matched_to_any_models_labels():
    """--disagreements with a model that was not taught (GTZAN's labels): by the label key alone; with a taught
    one: by the merging it was taught with (a --merge alias included)."""
    from genre_models.teach import label_matcher

    match = label_matcher(["hiphop", "rock", "jazz"], None)
    assert match(["Hip-Hop"]) == (["hiphop"], ["Hip-Hop"])
    assert match(["Rock; Polka"]) == (["rock"], ["Rock", "Polka"])
    assert match(["Polka"]) == ([], ["Polka"]) and match([]) == ([], [])
    merger = LabelMerger.from_options(merges=["R&B=RnB"])
    merger.fit([["RnB"], ["RnB"], ["Soul"]])
    taught = label_matcher(["R&B", "Soul"], {"merger": merger.as_dict()})
    assert taught(["rnb"]) == (["R&B"], ["R&B"])


def test_teach_reports_labels_merges_skips_and_cv(taught):
    assert taught["code"] == 0, taught["stderr"]
    out = taught["stdout"]
    assert "merged spellings into 'Hip-Hop': 'Hip-Hop' (3), 'hip hop' (2), 'HipHop' (1)" in out
    assert "skipped, fewer than 3 songs (--min-songs): Polka (1)" in out
    assert "without a genre tag" in out and "untagged.ogg" in out and "notes.mp3" in out
    assert "could not be read" in out and "broken.flac" in out
    assert "CV accuracy" in out and "confusion" in out and "3 folds" in out
    assert "labels (songs): " in out
    config = json.loads((taught["out"] / "config.json").read_text())
    assert sorted(config["id2label"].values()) == ["Hip-Hop", "Jazz", "Metal"]
    assert config["teach"]["merger"]["names"]["hiphop"] == "Hip-Hop" and config["teach"]["skipped"] == {"Polka": 1}
    cv = config["head"]["cv"]
    assert cv["songs"] == 18 and cv["folds"] == 3 and cv["accuracy"] >= 0.8
    card = (taught["out"] / "README.md").read_text()
    assert "CV accuracy" in card and "| tag \\ answer |" in card and "--labels-from-tags" in card
    rows = (taught["out"] / "cv_predictions.csv").read_text().splitlines()
    assert rows[0] == "path,tag,cv_answer,cv_confidence,disagrees,fold" and len(rows) == 19
    assert not rows[1].startswith("/")  # relative to the library


def held_out(tmp: Path) -> dict[str, Path]:
    """Songs cut half a song later from the examples than the taught ones (overlapping audio: a check that the
    model loads and answers, not of accuracy: benchmarks/teach_real_audio.py measures that), tagged as a user
    might have them."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {
        "metal_tagged_jazz": write_song(tmp / "a.mp3", cut("metal_riff.mp3", 0.5, seed=99), "Jazz", "X"),
        "jazz_tagged_jazz": write_song(tmp / "b.ogg", cut("jazz_swing.ogg", 2.5, seed=98), "jazz", "Y"),
        "hiphop_tagged_polka": write_song(tmp / "c.flac", cut("hiphop_beat.mp3", 1.5, seed=97), "Polka", "Z"),
    }


def test_the_taught_model_labels_held_out_songs_through_predict_and_pipeline(taught, tmp_path, capsys):
    songs = held_out(tmp_path / "new")
    assert main(["predict", *map(str, songs.values()), "--model", str(taught["out"])]) == 0
    rows = [line.split(",") for line in capsys.readouterr().out.strip().splitlines()]
    assert rows[0][:2] == ["path", "genre"]
    assert [r[1] for r in rows[1:]] == ["Metal", "Jazz", "Hip-Hop"]
    from transformers import pipeline

    import genre_models.hf_models  # noqa: F401

    assert pipeline("audio-classification", model=str(taught["out"]))(str(songs["jazz_tagged_jazz"]))[0]["label"] \
        == "Jazz"


def test_disagreements_list_the_songs_whose_tag_the_model_contradicts(taught, tmp_path, capsys):
    songs = held_out(tmp_path / "new")
    table = tmp_path / "t.csv"
    code = main(["predict", str(tmp_path / "new"), "-r", "--model", str(taught["out"]), "--disagreements",
                 "--confidence", "0.3", "--csv", str(table)])
    assert code == 0
    report = capsys.readouterr().out.strip().splitlines()
    assert report[0].startswith("# 1 of 2 song(s)")  # the Polka one names none of the model's labels
    assert report[1].startswith(str(songs["metal_tagged_jazz"])) and "tag says Jazz; sounds like Metal" in report[1]
    header, *rows = table.read_text().strip().splitlines()
    assert header.endswith(",tag,disagrees")
    by_path = {r.split(",")[0]: r.split(",")[-2:] for r in rows}
    assert by_path[str(songs["metal_tagged_jazz"])] == ["Jazz", "yes"]
    assert by_path[str(songs["jazz_tagged_jazz"])] == ["Jazz", "no"]
    assert by_path[str(songs["hiphop_tagged_polka"])] == ["Polka", ""]


def test_a_killed_run_leaves_a_cache_the_next_run_repairs(taught, tmp_path, capsys):
    """A torn last index row (kill -9 mid-write) is cut off: that song is embedded again, nothing else (the
    entry file without its row is simply overwritten)."""
    lib, cache = taught["library"], tmp_path / "cache"
    shutil.copytree(taught["cache"], cache)
    for index in cache.glob("*/index.csv"):
        data = index.read_bytes()
        index.write_bytes(data[:-25])  # the last row torn
    assert main(["teach", str(lib), "--labels-from-tags", "--out", str(tmp_path / "m"), "--cache", str(cache),
                 "--min-songs", "3", "--max-windows", "2", "--folds", "3", "--jobs", "1"]) == 0
    assert "17 cached, 1 embedded" in capsys.readouterr().out


def test_teach_from_folders_the_audiofolder_layout(library, tmp_path, capsys):
    root = tmp_path / "dataset"
    for path in library.rglob("*"):
        for label, (_, _) in GENRES.items():
            if path.name.startswith(label.lower()) and path.suffix != ".m4a":
                folder = root / ("hip hop" if label == "Hip-Hop" and path.suffix == ".ogg" else label)
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, folder / path.name)
    (root / "loose.wav").write_bytes((library / "odd" / "untagged.ogg").read_bytes())
    out = tmp_path / "folders-model"
    assert main(["teach", str(root), "--out", str(out), "--cache", str(tmp_path / "c"), "--min-songs", "3",
                 "--max-windows", "2", "--folds", "3", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "labels from folder names" in text and "not inside a label folder" in text
    assert "merged spellings into 'Hip-Hop'" in text
    config = json.loads((out / "config.json").read_text())
    assert sorted(config["id2label"].values()) == ["Hip-Hop", "Jazz", "Metal"]
    assert config["teach"]["labels_from"] == "folders"


def test_songs_by_too_few_artists_still_teach_without_cv(library, tmp_path, capsys):
    root = tmp_path / "two-artists"
    for label in ("Metal", "Jazz"):
        shutil.copytree(library / f"{label} Band 0", root / label)  # two songs, one artist each
    out = tmp_path / "m"
    assert main(["teach", str(root), "--out", str(out), "--cache", str(tmp_path / "c"), "--min-songs", "2",
                 "--max-windows", "2"]) == 0
    captured = capsys.readouterr()
    assert "too few to cross-validate" in captured.err and "CV accuracy" not in captured.out
    config = json.loads((out / "config.json").read_text())
    assert config["head"]["cv"] is None and config["head"]["C"] == 0.1
    assert "Not cross-validated" in (out / "README.md").read_text() and not (out / "cv_predictions.csv").exists()


def test_bad_input_says_what_to_do(library, tmp_path, capsys):
    untagged = tmp_path / "untagged"
    untagged.mkdir()
    for i in range(3):
        write_song(untagged / f"s{i}.flac", cut("jazz_swing.ogg", i), None, None)
    args = ["--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c"), "--labels-from-tags"]
    assert main(["teach", str(untagged), *args]) == 2
    assert "none of the 3 file(s) has a label" in capsys.readouterr().err
    one = tmp_path / "one"
    shutil.copytree(library / "Jazz Band 0", one)
    assert main(["teach", str(one), *args, "--min-songs", "1"]) == 2
    assert "only 'Jazz' has at least 1 songs" in capsys.readouterr().err
    assert main(["teach", str(tmp_path / "nowhere"), *args]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["teach", str(empty), *args]) == 2
    assert "no audio files found" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()  # nothing half-written


def test_a_second_teach_embeds_nothing_and_a_retagged_song_keeps_its_vectors(taught, tmp_path, capsys):
    lib, cache = taught["library"], taught["cache"]
    out2 = tmp_path / "m2"
    assert main(["teach", str(lib), "--labels-from-tags", "--out", str(out2), "--cache", str(cache),
                 "--min-songs", "3", "--max-windows", "2", "--folds", "3", "--ignore", "Jazz", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "12 cached, 0 embedded" in out and "1 could not be read" in out
    assert sorted(json.loads((out2 / "config.json").read_text())["id2label"].values()) == ["Hip-Hop", "Metal"]
    # retag one song (its bytes and time change, not its audio), change another's audio, remove a third
    retagged = next(lib.rglob("metal1.flac"))
    tag(retagged, "Jazz", "Metal Band 1")
    changed = next(lib.rglob("jazz2.ogg"))
    sf.write(changed, cut("jazz_swing.ogg", 4, seed=5), SR, format="OGG")
    tag(changed, "Jazz", "Jazz Band 2")
    removed = next(lib.rglob("hip-hop3.m4a"))
    removed.unlink()
    assert main(["teach", str(lib), "--labels-from-tags", "--out", str(out2), "--cache", str(cache),
                 "--min-songs", "3", "--max-windows", "2", "--folds", "3", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "15 cached, 1 embedded" in out and "1 changed on disk with the same audio (vectors reused)" in out
    config = json.loads((out2 / "config.json").read_text())
    assert config["teach"]["songs"] == {"Metal": 5, "Jazz": 7, "Hip-Hop": 5}
