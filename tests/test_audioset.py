"""Is this music? And which wider genre? The AudioSet readings, on arrays and on audio the tests make.

The made audio: white noise (quiet, and loud enough to fool YAMNet's int8 arithmetic into "speech"),
brown-ish noise, digital silence, a 1-kHz tone, speech synthesised with Debian's ``espeak-ng``; and the
project's own nine examples as music.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_models.audioset import (
    AUDIOSET_DIR,
    CATEGORIES,
    GENRE_CLASSES,
    GTZAN_COUNTERPART,
    PRIOR_CLASSES,
    music_check,
    read_scores,
    wide_genres,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.suffix in (".mp3", ".ogg", ".flac"))
LABELS = [json.loads((AUDIOSET_DIR / "config.json").read_text())["id2label"][str(i)] for i in range(521)]
IDX = {name: i for i, name in enumerate(LABELS)}
SR = 16000


def window(**scores: float) -> np.ndarray:
    row = np.zeros(len(LABELS))
    for name, value in scores.items():
        row[IDX[name.replace("_", " ")]] = value
    return row


def test_every_class_named_here_is_an_audioset_class():
    for names in [*CATEGORIES.values(), GENRE_CLASSES, *PRIOR_CLASSES.values()]:
        assert set(names) <= set(LABELS), set(names) - set(LABELS)
    assert GTZAN_COUNTERPART["Heavy metal"] == "metal" and GTZAN_COUNTERPART["Techno"] is None
    assert {g for g in GTZAN_COUNTERPART.values() if g} == set(PRIOR_CLASSES)


def test_music_check_on_score_arrays():
    speech = window(Speech=0.8, Music=0.02)
    rap = window(Speech=0.6, Music=0.55)  # vocals make Speech fire on music: music wins at the floor
    under_voice = window(Speech=0.5, Music=0.3)  # music at least half the other category: music
    assert music_check(np.stack([speech] * 3), LABELS).verdict == "speech"
    assert music_check(np.stack([rap] * 3), LABELS).is_music
    assert music_check(np.stack([under_voice] * 3), LABELS).is_music
    assert music_check(np.stack([window(Silence=0.95)] * 2), LABELS).verdict == "silence"
    assert music_check(np.stack([window()]), LABELS).verdict == "other"  # nothing scores
    # a flat spectrum with little music is noise, whatever YAMNet called it (loud white noise -> "speech")
    check = music_check(np.stack([speech] * 2), LABELS, flatness=np.array([0.93, 0.94]))
    assert check.verdict == "noise" and "noise" in check.message()
    assert music_check(np.stack([rap]), LABELS, flatness=np.array([0.95])).is_music  # music stays music


def test_music_check_weighs_windows_by_time():
    """A 30-s song with a 3-s spoken end is music; one long speech window outweighs two short music ones."""
    music, speech = window(Music=0.9), window(Speech=0.9)
    spans = np.array([[0.0, 27.0], [27.0, 30.0]])
    check = music_check(np.stack([music, speech]), LABELS, spans)
    assert check.is_music and check.shares["speech"] == pytest.approx(0.1)
    spans = np.array([[0.0, 2.0], [2.0, 4.0], [4.0, 20.0]])
    assert music_check(np.stack([music, music, speech]), LABELS, spans).verdict == "speech"


def test_wide_genres_say_when_a_song_lies_outside_the_ten():
    techno = window(Music=0.9, Techno=0.5, Electronic_music=0.4, Disco=0.1)
    wide = wide_genres(np.stack([techno] * 2), LABELS)
    assert wide.best == ("Techno", pytest.approx(0.5)) and wide.outside_gtzan
    assert "outside the ten GTZAN genres" in wide.summary(nearest=["disco", "pop"])
    assert "disco" in wide.summary(["disco"])
    rock = wide_genres(np.stack([window(Music=0.9, Rock_music=0.6, Funk=0.2)]), LABELS)
    assert rock.best[0] == "Rock music" and not rock.outside_gtzan and "outside" not in rock.summary()
    faint = wide_genres(np.stack([window(Music=0.9, Funk=0.01)]), LABELS)
    assert faint.top == [] and not faint.outside_gtzan and faint.summary() == ""
    # a track that is not music gets no wider genres at all
    assert read_scores(np.stack([window(Speech=0.9, Funk=0.3)]), LABELS).wide.top == []


# ------------------------------------------------------------------------------ made audio
@pytest.fixture(scope="module")
def reader():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    from genre_models.audioset import AudioSetReader

    return AudioSetReader.load()


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """Non-music the test makes: noises, silence, a tone and (with espeak-ng) speech."""
    out = tmp_path_factory.mktemp("made")
    rng = np.random.default_rng(0)
    t = np.arange(SR * 8) / SR
    brown = np.cumsum(rng.standard_normal(SR * 8))
    brown -= np.convolve(brown, np.ones(200) / 200, "same")
    signals = {
        "white_quiet": 0.01 * rng.standard_normal(SR * 8),
        "white_loud": 0.3 * rng.standard_normal(SR * 8),  # YAMNet's int8 arithmetic calls this "Speech"
        "brown": 0.5 * brown / np.abs(brown).max(),
        "silence": np.zeros(SR * 6),
        "tone": 0.5 * np.sin(2 * np.pi * 1000 * t),
    }
    files = {}
    for name, y in signals.items():
        files[name] = out / f"{name}.wav"
        sf.write(files[name], y.astype(np.float32), SR)
    if shutil.which("espeak-ng"):
        files["speech"] = out / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(files["speech"]), "Good morning and welcome to the news. Today we "
                        "talk about the weather, the traffic on the roads, and a few letters from our listeners."],
                       check=True, capture_output=True)
    return files


@pytest.mark.parametrize("name,verdict", [("white_quiet", "noise"), ("white_loud", "noise"), ("brown", "noise"),
                                          ("silence", "silence"), ("tone", "tones"), ("speech", "speech")])
def test_made_non_music_is_not_music(reader, made, name, verdict):
    if name not in made:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng): no synthetic speech")
    reading = reader.read(made[name])
    assert reading.check.verdict == verdict, (reading.check, reading.wide)
    assert reading.check.music_share < 0.5 and reading.wide.top == []


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_examples_are_music(reader, path):
    check = reader.read(path).check
    assert check.is_music and check.music_share == 1.0 and check.music_score > 0.8, check
