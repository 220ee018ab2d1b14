"""Audio in: any common file (or its bytes) to mono float32 at the rate a model wants.

Everything a user can upload goes through here, so every failure becomes one typed error,
:class:`AudioLoadError`, whose message can be shown to a person as is. Decoding is streamed in
blocks (libsndfile for WAV/FLAC/OGG/MP3, ffmpeg for the rest, e.g. M4A/AAC), downmixed and
resampled on the fly, so a long upload is analysed window by window in bounded memory.
"""
from __future__ import annotations

import io
import json
import os
import select
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .quiet import decoder_stderr

AudioSource = str | os.PathLike | bytes

MIN_SECONDS = 1.0
BLOCK_FRAMES = 1 << 16
FFMPEG_IDLE_SECONDS = 60.0  # an ffmpeg child silent this long is taken as hung and killed
SUPPORTED_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm",
                        ".aiff", ".aif")


class AudioLoadError(ValueError):
    """Why an input cannot be analysed; ``str(err)`` is written for the person who supplied it.

    ``kind`` is one of: ``empty``, ``not_audio``, ``truncated``, ``too_short``, ``too_long``,
    ``unsupported``, ``missing``.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class AudioInfo:
    """What the container says before anything is decoded (duration may be unknown: ``None``)."""

    sample_rate: int
    channels: int
    duration: float | None
    decoder: str  # "libsndfile" or "ffmpeg"


def _describe(source: AudioSource) -> str:
    return "the upload" if isinstance(source, (bytes, bytearray)) else f"'{Path(source).name}'"


def _check_exists(source: AudioSource) -> None:
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise AudioLoadError("empty", "The file is empty (0 bytes).")
        return
    path = Path(source)
    if not path.is_file():
        raise AudioLoadError("missing", f"No such file: {path}")
    if path.stat().st_size == 0:
        raise AudioLoadError("empty", f"{_describe(source)} is empty (0 bytes).")


def _open_soundfile(source: AudioSource) -> sf.SoundFile | None:
    """libsndfile handle, or None when libsndfile does not know the format (ffmpeg may)."""
    try:
        handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else os.fspath(source)
        with decoder_stderr():
            return sf.SoundFile(handle)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None


def _soundfile_info(handle: sf.SoundFile) -> AudioInfo:
    """Header facts of an open libsndfile handle (frame counts of streams can be unknown)."""
    frames = handle.frames if 0 < handle.frames < 2**62 else None
    return AudioInfo(handle.samplerate, handle.channels, frames / handle.samplerate if frames else None, "libsndfile")


def _ffprobe(path: str) -> AudioInfo:
    exe = shutil.which("ffprobe")
    if exe is None:
        raise AudioLoadError(
            "unsupported",
            "This format needs ffmpeg, which is not installed (apt-get install ffmpeg); "
            "WAV, FLAC, OGG and MP3 work without it.",
        )
    cmd = [exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels,duration,codec_name:format=duration", "-of", "json", path]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AudioLoadError("not_audio", "This file is not audio we can read (the decoder does not recognise it).")
    meta = json.loads(out.stdout or "{}")
    streams = meta.get("streams") or []
    if not streams:
        raise AudioLoadError("not_audio", "This file contains no audio track.")
    stream = streams[0]
    duration = stream.get("duration") or meta.get("format", {}).get("duration")
    try:
        sample_rate, channels = int(stream["sample_rate"]), int(stream["channels"])
    except (KeyError, ValueError) as err:
        codec = stream.get("codec_name", "unknown")
        raise AudioLoadError("unsupported", f"The audio codec ({codec}) is not supported.") from err
    if sample_rate <= 0 or channels <= 0:
        raise AudioLoadError("unsupported", "The audio stream has no usable sample rate or channel count.")
    return AudioInfo(sample_rate, channels, float(duration) if duration not in (None, "N/A") else None, "ffmpeg")


class _Source:
    """A path on disk for ffmpeg; bytes are spilled into a private temp dir that is always removed."""

    def __init__(self, source: AudioSource):
        self.source = source
        self._tmp: tempfile.TemporaryDirectory | None = None

    def path(self) -> str:
        if not isinstance(self.source, (bytes, bytearray)):
            return os.fspath(self.source)
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="genre-upload-")
            Path(self._tmp.name, "upload").write_bytes(self.source)
        return os.path.join(self._tmp.name, "upload")

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def audio_info(source: AudioSource) -> AudioInfo:
    """Sample rate, channels and duration, read from the header without decoding the audio."""
    _check_exists(source)
    handle = _open_soundfile(source)
    if handle is not None:
        with handle:
            return _soundfile_info(handle)
    src = _Source(source)
    try:
        return _ffprobe(src.path())
    finally:
        src.close()


def _blocks_soundfile(handle: sf.SoundFile) -> Iterator[np.ndarray]:
    with handle:
        while True:
            try:
                with decoder_stderr():  # libmpg123 complains on stderr about MP3s it decodes fine
                    block = handle.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise AudioLoadError("truncated", f"The file is damaged or truncated ({err}).") from err
            if len(block) == 0:
                return
            yield block


def _blocks_ffmpeg(path: str, channels: int) -> Iterator[np.ndarray]:
    """Decoded frames from an ffmpeg child. Its stderr goes to an anonymous temp file, not a pipe:
    a damaged file can make ffmpeg log more than a pipe holds (64 KB), and a full stderr pipe that
    nobody reads would block ffmpeg and this reader forever. A child that produces nothing for
    ``FFMPEG_IDLE_SECONDS`` is killed."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioLoadError("unsupported",
                             "This format needs ffmpeg, which is not installed (apt-get install ffmpeg).")
    cmd = [exe, "-v", "error", "-nostdin", "-i", path, "-map", "0:a:0", "-vn",
           "-f", "f32le", "-acodec", "pcm_f32le", "-"]
    errlog = tempfile.TemporaryFile(prefix="genre-ffmpeg-")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errlog, stdin=subprocess.DEVNULL)
    frame_bytes = 4 * channels
    want = BLOCK_FRAMES * frame_bytes
    decoded_any = False
    pending = b""
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while True:
            ready, _, _ = select.select([fd], [], [], FFMPEG_IDLE_SECONDS)
            if not ready:
                raise AudioLoadError("unsupported",
                                     "The decoder stopped responding on this file; it cannot be analysed.")
            data = os.read(fd, want - len(pending))
            if not data:
                break
            pending += data
            if len(pending) < want:
                continue
            decoded_any = True
            yield np.frombuffer(pending, dtype="<f4").reshape(-1, channels)
            pending = b""
        usable = len(pending) - len(pending) % frame_bytes
        if usable:
            decoded_any = True
            yield np.frombuffer(pending[:usable], dtype="<f4").reshape(-1, channels)
        proc.wait(timeout=FFMPEG_IDLE_SECONDS)
        errlog.seek(0)
        err = errlog.read()[-4096:].decode(errors="replace").strip()
        if proc.returncode != 0:
            if not decoded_any:
                reason = err.splitlines()[-1] if err else "ffmpeg failed"
                raise AudioLoadError("unsupported", f"The audio could not be decoded ({reason}).")
            raise AudioLoadError("truncated", "The file is damaged or truncated: decoding stopped part-way.")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        errlog.close()


def stream_audio(
    source: AudioSource, sr: int, *, max_seconds: float | None = None
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks at ``sr``: the whole file, never all of it in memory.

    Raises :class:`AudioLoadError` for anything that is not usable audio, including a file
    longer than ``max_seconds`` (checked from the header first, then while decoding).
    """
    _check_exists(source)
    handle = _open_soundfile(source)
    src = _Source(source)
    try:
        if handle is not None:
            info = _soundfile_info(handle)
            blocks = _blocks_soundfile(handle)
        else:
            info = _ffprobe(src.path())
            blocks = _blocks_ffmpeg(src.path(), info.channels)
        if max_seconds is not None and info.duration is not None and info.duration > max_seconds + 0.5:
            raise AudioLoadError("too_long", _too_long_message(info.duration, max_seconds))
        resampler = (None if info.sample_rate == sr
                     else soxr.ResampleStream(info.sample_rate, sr, 1, dtype="float32", quality="HQ"))
        limit = None if max_seconds is None else int((max_seconds + 0.5) * info.sample_rate)
        seen = 0
        for block in blocks:
            seen += len(block)
            if limit is not None and seen > limit:
                raise AudioLoadError("too_long", _too_long_message(None, max_seconds))
            mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
            mono = np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)
            out = resampler.resample_chunk(mono) if resampler is not None else mono
            if len(out):
                yield np.ascontiguousarray(out, dtype=np.float32)
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if len(tail):
                yield tail.astype(np.float32, copy=False)
    finally:
        if handle is not None and not handle.closed:
            handle.close()
        src.close()


def _too_long_message(duration: float | None, max_seconds: float) -> str:
    limit = f"{max_seconds / 60:.0f} minutes" if max_seconds >= 120 else f"{max_seconds:.0f} s"
    got = f" ({duration / 60:.1f} minutes)" if duration else ""
    return f"The audio is too long{got}: the limit here is {limit}. Trim it or split it, then try again."


def check_duration(n_samples: int, sr: int, what: str = "The audio") -> None:
    """Refuse clips too short to say anything about (silence, however, is a valid song)."""
    if n_samples == 0:
        raise AudioLoadError("empty", f"{what} contains no samples.")
    if n_samples < MIN_SECONDS * sr:
        raise AudioLoadError(
            "too_short", f"{what} is only {n_samples / sr:.2f} s long; at least {MIN_SECONDS:g} s is needed."
        )


def load_audio(source: AudioSource, sr: int = 22050, *, max_seconds: float | None = None) -> np.ndarray:
    """Whole file as mono float32 at ``sr`` (use :func:`stream_audio` for long inputs)."""
    blocks = list(stream_audio(source, sr, max_seconds=max_seconds))
    y = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    what = _describe(source)
    check_duration(len(y), sr, what[0].upper() + what[1:])
    return y
