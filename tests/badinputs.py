"""A corpus of bad and odd inputs, generated on the spot (no binaries in the repository).

Each :class:`Case` writes one file and says what must happen to it: ``answer`` (a valid
prediction) or the :class:`~genre_models.AudioLoadError` kinds it may be refused with. The
corpus is shared by the loader, CLI and app tests (``tests/test_bad_inputs.py``).
"""
from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050
HOUR = 3600


@dataclass(frozen=True)
class Case:
    """One input: its file name, how to make it, what must come out (``answer`` or error kinds)."""

    id: str
    filename: str
    make: Callable[[Path], None]
    expect: frozenset[str]  # {"answer"} or AudioLoadError kinds
    needs_ffmpeg: bool = False
    note: str = ""

    @property
    def answers(self) -> bool:
        return "answer" in self.expect


def tone(seconds: float, sr: int = SR, channels: int = 1, amp: float = 0.4) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    cols = [amp * np.sin(2 * np.pi * (220 * (c + 1)) * t) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True, timeout=120)


def _write(data: np.ndarray, sr: int = SR, **kw) -> Callable[[Path], None]:
    return lambda p: sf.write(p, data, sr, **kw)


def _bytes(payload: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(payload)


def _truncated(fmt: str) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        full = p.with_name(f"full-{p.name}")
        sf.write(full, tone(4.0), SR, format=fmt.upper())
        data = full.read_bytes()
        full.unlink()
        p.write_bytes(data[: len(data) // 2])
    return make


def _wav_header_lie(how: str) -> Callable[[Path], None]:
    """A 3-s PCM_16 WAV whose RIFF/data size fields do not match the bytes that follow."""
    def make(p: Path) -> None:
        sf.write(p, tone(3.0), SR, subtype="PCM_16")
        data = bytearray(p.read_bytes())
        assert data[36:40] == b"data", "soundfile wrote an unexpected header"
        size = int.from_bytes(data[40:44], "little")
        if how == "data_too_big":  # the data chunk claims 10x what is there
            data[40:44] = (10 * size).to_bytes(4, "little")
            data[4:8] = (36 + 10 * size).to_bytes(4, "little")
        elif how == "data_too_small":  # claims 1/3 of the data (the rest is trailing junk)
            data[40:44] = (size // 3).to_bytes(4, "little")
        elif how == "data_max":  # the "unknown size" of streamed WAVs
            data[40:44] = b"\xff\xff\xff\xff"
            data[4:8] = b"\xff\xff\xff\xff"
        elif how == "riff_small":  # RIFF size says the file ends inside the fmt chunk
            data[4:8] = (20).to_bytes(4, "little")
        p.write_bytes(bytes(data))
    return make


def _wav_header_only(seconds: float, sr: int = 8000) -> Callable[[Path], None]:
    """A WAV header claiming ``seconds`` of 8-bit audio, followed by only 1 s of it (a header
    that lies about the length must not make the loader wait for or allocate an hour)."""
    def make(p: Path) -> None:
        n = int(seconds * sr)
        fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, sr, sr, 1, 8)
        header = b"RIFF" + struct.pack("<I", 4 + len(fmt) + 8 + n) + b"WAVE" + fmt + b"data" + struct.pack("<I", n)
        p.write_bytes(header + bytes([128]) * sr)
    return make


def _long_wav(p: Path) -> None:
    """A real 60-minute WAV (8 kHz, 8-bit, 29 MB of silence), written in one go."""
    sr, n = 8000, HOUR * 8000
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, sr, sr, 1, 8)
    with p.open("wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", 4 + len(fmt) + 8 + n) + b"WAVE" + fmt + b"data" + struct.pack("<I", n))
        fh.write(bytes([128]) * n)


def _hour_m4a(p: Path) -> None:
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", str(HOUR), "-c:a", "aac", "-b:a", "8k", str(p))


def _hour_aac_lying_bitrate(p: Path) -> None:
    """ADTS AAC has no duration field; ffprobe estimates it from the first frames' bitrate. 20 s
    of loud noise at 64 kb/s and then an hour of silence at 8 kb/s: the estimate says ~1.5 min,
    so only the limit enforced while decoding can refuse it."""
    head, tail = p.with_name("head.aac"), p.with_name("tail.aac")
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=r=8000:a=0.5", "-t", "20", "-ac", "1", "-c:a", "aac", "-b:a", "64k",
           "-f", "adts", str(head))
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", str(HOUR), "-c:a", "aac", "-b:a", "8k",
           "-f", "adts", str(tail))
    p.write_bytes(head.read_bytes() + tail.read_bytes())
    head.unlink()
    tail.unlink()


def _corrupt_aac(p: Path) -> None:
    """110 s of AAC with 2 % of its bytes flipped: ffmpeg logs more than a pipe holds (64 KB) of
    errors while decoding; this used to fill its stderr pipe and hang the worker for good."""
    clean = p.with_name("clean.aac")
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=r=8000:a=0.5:seed=1", "-t", "110", "-ac", "1", "-c:a", "aac", "-b:a", "32k",
           "-f", "adts", str(clean))
    data = bytearray(clean.read_bytes())
    clean.unlink()
    rng = np.random.default_rng(0)
    for i in rng.integers(2000, len(data), size=len(data) // 50):
        data[i] ^= 0xFF
    p.write_bytes(bytes(data))
    log = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(p), "-f", "null", "-"],
                         capture_output=True, timeout=120).stderr
    assert len(log) > 65536, f"only {len(log)} bytes of decoder errors: the case no longer tests a full pipe"


def _square(p: Path) -> None:
    """A square wave clipped hard: float samples at +-4 (way past full scale) and a PCM_16 twin."""
    t = np.arange(4 * SR) / SR
    y = np.sign(np.sin(2 * np.pi * 110 * t)).astype(np.float32) * 4.0
    sf.write(p, y, SR, subtype="FLOAT")


def _nan_inf(p: Path) -> None:
    y = tone(3.0)
    y[1000:2000] = np.nan
    y[5000] = np.inf
    y[6000] = -np.inf
    sf.write(p, y, SR, subtype="FLOAT")


def _mp3_tone(p: Path) -> None:
    sf.write(p, tone(4.0, channels=2), SR, format="MP3")


ANSWER = frozenset({"answer"})


def corpus() -> list[Case]:
    """Every bad or odd input of issue 6, with the outcome each must have."""
    rng = np.random.default_rng(6)
    return [
        Case("empty", "empty.mp3", _bytes(b""), frozenset({"empty"})),
        Case("random-bytes", "random.mp3", _bytes(rng.bytes(50_000)), frozenset({"not_audio"}), needs_ffmpeg=True),
        Case("text-as-wav", "notes.wav", _bytes(b"this is not a wave file, just words\n" * 200),
             frozenset({"not_audio"}), needs_ffmpeg=True),
        Case("truncated-mp3", "cut.mp3", _truncated("mp3"), ANSWER, note="the first half decodes"),
        Case("truncated-flac", "cut.flac", _truncated("flac"), frozenset({"truncated"}), needs_ffmpeg=True,
             note="refused: libsndfile loses sync where the bytes stop (pinned by test_truncated_flac_is_refused)"),
        Case("wav-data-size-10x", "liar-big.wav", _wav_header_lie("data_too_big"), ANSWER),
        Case("wav-data-size-third", "liar-small.wav", _wav_header_lie("data_too_small"), ANSWER,
             note="only the declared 1 s is read"),
        Case("wav-data-size-ffffffff", "liar-max.wav", _wav_header_lie("data_max"), ANSWER),
        Case("wav-riff-size-20", "liar-riff.wav", _wav_header_lie("riff_small"), ANSWER),
        Case("blip-0.05s", "blip.wav", _write(tone(0.05)), frozenset({"too_short"})),
        Case("silence", "silence.wav", _write(np.zeros((5 * SR, 1), np.float32)), ANSWER),
        Case("dc-offset", "dc.wav", _write(np.full((5 * SR, 1), 0.5, np.float32)), ANSWER),
        Case("clipped-square", "square.wav", _square, ANSWER),
        Case("nan-inf-float", "naninf.wav", _nan_inf, ANSWER),
        Case("8ch-96k", "eight.wav", _write(tone(3.0, 96000, channels=8), 96000), ANSWER),
        Case("8k-mono", "mono8k.wav", _write(tone(3.0, 8000), 8000), ANSWER),
        Case("pcm24", "pcm24.wav", _write(tone(3.0, channels=2), subtype="PCM_24"), ANSWER),
        Case("float32", "float.wav", _write(tone(3.0, channels=2), subtype="FLOAT"), ANSWER),
        Case("60min-header-1s-data", "hour-header.wav", _wav_header_only(HOUR), ANSWER,
             note="header claims 60 min, 1 s follows: libsndfile trusts the file size, the 1 s is analysed"),
        Case("60min-wav", "hour.wav", _long_wav, frozenset({"too_long"})),
        Case("60min-m4a", "hour.m4a", _hour_m4a, frozenset({"too_long"}), needs_ffmpeg=True),
        Case("60min-aac-lying-bitrate", "hour.aac", _hour_aac_lying_bitrate, frozenset({"too_long"}),
             needs_ffmpeg=True, note="header estimate 1.5 min: refused while decoding"),
        Case("corrupt-aac-noisy-decoder", "corrupt.aac", _corrupt_aac, ANSWER | {"truncated"}, needs_ffmpeg=True),
        Case("unicode-name", "Ünïcødé song — 歌 (live) #1.mp3", _mp3_tone, ANSWER),
    ]


def build(folder: Path, cases: list[Case] | None = None) -> dict[str, Path]:
    """Write every case (skipping those that need ffmpeg where it is absent) into ``folder``."""
    out = {}
    for case in cases or corpus():
        if case.needs_ffmpeg and shutil.which("ffmpeg") is None:
            continue
        path = folder / case.filename
        case.make(path)
        out[case.id] = path
    return out
