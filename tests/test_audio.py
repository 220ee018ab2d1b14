"""Audio loading: every format from a path or bytes, and every kind of bad input gets a typed error."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_models.audio import AudioLoadError, audio_info, load_audio, stream_audio

SR = 44100
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg is not installed (apt-get install ffmpeg)")


def tone(seconds: float = 2.0, sr: int = SR, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    left = 0.4 * np.sin(2 * np.pi * 440 * t)
    right = 0.4 * np.sin(2 * np.pi * 660 * t)
    return np.stack([left, right][:channels] + [left] * max(0, channels - 2), axis=1).astype(np.float32)


def write(path: Path, data: np.ndarray, sr: int = SR, **kw) -> Path:
    sf.write(path, data, sr, **kw)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("audio")
    x = tone()
    out = {
        "wav": write(d / "a.wav", x),
        "flac": write(d / "a.flac", x),
        "ogg": write(d / "a.ogg", x, format="OGG", subtype="VORBIS"),
        "mp3": write(d / "a.mp3", x, format="MP3", subtype="MPEG_LAYER_III"),
    }
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(out["wav"]), "-c:a", "aac", str(d / "a.m4a")],
                       check=True)
        out["m4a"] = d / "a.m4a"
    return out


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3", "m4a"])
def test_formats_load_to_mono_float32_at_requested_rate(files, fmt):
    if fmt not in files:
        pytest.skip("m4a needs ffmpeg")
    y = load_audio(files[fmt], sr=22050)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / 22050 - 2.0) < 0.1  # lossy codecs pad a little
    # mono mix of a 440 Hz and a 660 Hz tone: both peaks present, nothing else dominant
    spec = np.abs(np.fft.rfft(y[2048:2048 + 22050]))
    freqs = np.fft.rfftfreq(22050, 1 / 22050)
    top2 = sorted(freqs[np.argsort(spec)[-2:]].round())
    assert top2 == [440.0, 660.0]


def test_lossless_matches_source_exactly(files):
    y = load_audio(files["flac"], sr=SR)
    np.testing.assert_allclose(y, tone().mean(axis=1), atol=1e-4)


def test_bytes_and_paths_agree(files):
    for fmt in ("wav", "mp3"):
        a = load_audio(files[fmt], sr=16000)
        b = load_audio(files[fmt].read_bytes(), sr=16000)
        np.testing.assert_array_equal(a, b)


@needs_ffmpeg
def test_m4a_from_bytes_uses_a_cleaned_temp_dir(files, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    y = load_audio(files["m4a"].read_bytes(), sr=22050)
    assert len(y) > 22050
    assert list(tmp_path.iterdir()) == []


def test_stream_is_the_same_audio_in_blocks(files, tmp_path):
    long = write(tmp_path / "long.wav", tone(12.0, sr=48000))
    whole = load_audio(long, sr=22050)
    blocks = list(stream_audio(long, 22050))
    assert len(blocks) > 2
    streamed = np.concatenate(blocks)
    assert abs(len(streamed) - len(whole)) <= 1
    n = min(len(whole), len(streamed))
    np.testing.assert_allclose(streamed[:n], whole[:n], atol=1e-6)


def test_info_reads_header(files):
    info = audio_info(files["wav"])
    assert (info.sample_rate, info.channels) == (SR, 2)
    assert abs(info.duration - 2.0) < 1e-6


# --- odd but valid audio -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,sr,channels,subtype",
    [("eight_ch_96k.wav", 96000, 8, "PCM_16"), ("mono_8k.wav", 8000, 1, "PCM_16"),
     ("pcm24.wav", 44100, 2, "PCM_24"), ("float32.wav", 44100, 2, "FLOAT")],
)
def test_odd_rates_channels_and_depths(tmp_path, name, sr, channels, subtype):
    path = write(tmp_path / name, tone(1.5, sr=sr, channels=channels), sr=sr, subtype=subtype)
    y = load_audio(path, sr=22050)
    assert y.dtype == np.float32 and abs(len(y) - 1.5 * 22050) <= 2
    assert 0.1 < np.abs(y).max() <= 1.0


def test_silence_is_a_valid_song(tmp_path):
    y = load_audio(write(tmp_path / "silence.wav", np.zeros((SR * 2, 1), np.float32)), sr=22050)
    assert len(y) == 44100 and not y.any()


def test_non_finite_samples_are_sanitised(tmp_path):
    x = tone(1.5, channels=1)
    x[100:200] = np.nan
    x[300] = np.inf
    y = load_audio(write(tmp_path / "nan.wav", x, subtype="FLOAT"), sr=SR)
    assert np.isfinite(y).all()


def test_unicode_and_spaces_in_name(tmp_path):
    path = write(tmp_path / "Ünïcødé name — 歌.flac", tone())
    assert len(load_audio(path, sr=22050)) > 0


# --- bad input: one typed error, a message for a person ------------------------------------------


def expect(kind: str, source) -> AudioLoadError:
    with pytest.raises(AudioLoadError) as info:
        load_audio(source, sr=22050)
    err = info.value
    assert err.kind == kind, f"{kind!r} expected, got {err.kind!r}: {err}"
    assert str(err) and "Traceback" not in str(err) and "\n" not in str(err)
    return err


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    assert "empty" in str(expect("empty", tmp_path / "empty.mp3"))
    expect("empty", b"")


def test_missing_file(tmp_path):
    expect("missing", tmp_path / "nope.wav")


@needs_ffmpeg
@pytest.mark.parametrize("name,payload", ids=["random-bytes.mp3", "text.wav"], argvalues=[
    ("random.mp3", np.random.default_rng(0).bytes(50_000)),
    ("text.wav", b"this is not a wave file, just some words\n" * 200),
])
def test_not_audio(tmp_path, name, payload):
    (tmp_path / name).write_bytes(payload)
    with pytest.raises(AudioLoadError) as info:
        load_audio(tmp_path / name, sr=22050)
    assert info.value.kind in {"not_audio", "unsupported", "too_short"}
    assert "audio" in str(info.value) or "short" in str(info.value)


def test_too_short(tmp_path):
    err = expect("too_short", write(tmp_path / "blip.wav", tone(0.05)))
    assert "1 s" in str(err)


def test_too_long_is_refused_from_the_header(tmp_path):
    path = write(tmp_path / "long.wav", np.zeros((8000 * 30, 1), np.float32), sr=8000)
    with pytest.raises(AudioLoadError) as info:
        load_audio(path, sr=22050, max_seconds=10)
    assert info.value.kind == "too_long" and "limit" in str(info.value)


def test_truncated_wav_keeps_what_is_there(tmp_path):
    """A WAV cut short (header claims more data) decodes what is there: it is still a song."""
    path = write(tmp_path / "full.wav", tone(3.0))
    data = path.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    y = load_audio(tmp_path / "cut.wav", sr=22050)
    assert 1.3 < len(y) / 22050 < 1.7


@pytest.mark.parametrize("fmt", ["mp3", "flac"])
def test_truncated_compressed_files_answer_or_explain(files, tmp_path, fmt):
    data = files[fmt].read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(data[: len(data) // 2])
    try:
        y = load_audio(cut, sr=22050)
    except AudioLoadError as err:
        assert err.kind in {"truncated", "too_short", "not_audio", "unsupported"}
    else:
        assert 0.5 < len(y) / 22050 < 1.8


def test_wav_with_lying_header(tmp_path):
    """A header that claims 10x the data it holds must not hang or over-allocate."""
    path = write(tmp_path / "liar.wav", tone(2.0), subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[40:44] = (10 * int.from_bytes(data[40:44], "little")).to_bytes(4, "little")  # 'data' chunk size
    (tmp_path / "liar2.wav").write_bytes(bytes(data))
    y = load_audio(tmp_path / "liar2.wav", sr=22050)
    assert abs(len(y) / 22050 - 2.0) < 0.1
