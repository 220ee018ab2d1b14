"""Window embeddings of the shipped frozen backbones: ONE code path for teaching a head, for the
taught model's forward (:mod:`genre_models.hf_models.embedding_head`) and for the benchmarks.

Why one path: a head is only as good as the match between the vectors it was fit on and the vectors
it sees when it scores a song. Here a song is cut exactly as the app scores it and every window goes
through the same backbone code, whether ``teach`` caches it or the model folder computes it.

* **Windows** (:func:`audio_windows`): 3-s windows at 16 kHz laid out by
  :func:`genre_models.windows.plan_windows` (hop = window, the last one aligned to the end of the
  song), or with ``max_windows`` that many spread evenly over a long song
  (:func:`genre_models.prediction.spread_hop`, as the shipped ensemble scores). A song shorter than
  one window is one short window (musicnn repeats it to one patch, as its extractor does; YAMNet
  pads it with silence); shorter than 1 s is refused.
* **Backbones** (:class:`Backbone`): a frozen network and its feature extractor, loaded once per
  process (:func:`load_backbone`) and batched. Each gives several *variants* per window from one pass:

  ===================  ==============  ======  ===============================================
  backbone             variant         width   what
  ===================  ==============  ======  ===============================================
  ``msd-musicnn``      ``pooled``      1506    max and mean over time of the mid-end (the
                                               shipped ``gtzan-musicnn`` head's input)
  ``msd-musicnn``      ``penultimate`` 200     the dense layer before the tags
  ``msd-musicnn``      ``tags``        50      the 50 MSD tag probabilities (sigmoid)
  ``yamnet-audioset``  ``mean``        1024    mean of the window's 0.96-s patch embeddings
  ``yamnet-audioset``  ``meanmax``     2048    mean ‖ max of them (the ``gtzan-yamnet`` head's input)
  ``yamnet-audioset``  ``scores``      521     mean AudioSet scores (the music check reads them)
  ``yamnet-audioset``  ``flatness``    1       spectral flatness (the music check's noise test)
  ===================  ==============  ======  ===============================================

  YAMNet runs with ``emulation="int8"``, the shipped genre model's arithmetic.
* **Registry** (:func:`register_backbone`): another backbone is a :class:`Backbone` subclass (or an
  existing one on another folder) and one :class:`BackboneKind`; e.g. MagnaTagATune's musicnn::

      register_backbone(BackboneKind("mtt-musicnn", MUSICNN_VARIANTS, lambda: MusicnnBackbone("mtt-musicnn")))

A head reads a list of :class:`Feature` (backbone, variant), concatenated in that order
(:func:`stack_features`).
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .audio import AudioSource, check_duration, stream_audio
from .windows import Window, iter_windows

SAMPLE_RATE = 16000
WINDOW_SECONDS = 3.0
BATCH_WINDOWS = 16  # windows per backbone pass: bounded memory, most of the batching's gain
PRETRAINED = Path(__file__).resolve().parent / "pretrained"
MUSICNN_VARIANTS: dict[str, int] = {"pooled": 1506, "penultimate": 200, "tags": 50}
YAMNET_VARIANTS: dict[str, int] = {"mean": 1024, "meanmax": 2048, "scores": 521, "flatness": 1}
VGG_VARIANTS: dict[str, int] = {"pooled": 256, "penultimate": 256, "tags": 50}
YAMNET_EMULATION = "int8"  # the shipped gtzan-yamnet's arithmetic (2.3x faster than the TFLite-exact one)


# ---------------------------------------------------------------------------------------------
# what a head reads
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Feature:
    """One variant of one backbone, e.g. ``Feature("msd-musicnn", "pooled")`` (``msd-musicnn:pooled``)."""

    backbone: str
    variant: str

    @classmethod
    def parse(cls, text: str) -> Feature:
        """``"name:variant"``, or ``"name"`` for the backbone's default variant; checked against the registry."""
        name, _, variant = text.strip().partition(":")
        kind = backbone_kind(name)
        feature = cls(name, variant or kind.default_variant)
        feature.width  # noqa: B018  (raises for an unknown variant)
        return feature

    @property
    def width(self) -> int:
        kind = backbone_kind(self.backbone)
        if self.variant not in kind.variants:
            raise ValueError(f"backbone {self.backbone!r} has no variant {self.variant!r}; "
                             f"it has {', '.join(kind.variants)}")
        return kind.variants[self.variant]

    def __str__(self) -> str:
        return f"{self.backbone}:{self.variant}"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.backbone, "variant": self.variant}


def parse_features(text: str | Sequence[str]) -> list[Feature]:
    """``"msd-musicnn:pooled,yamnet-audioset:meanmax"`` (or a list of such) → features, each once."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    out: list[Feature] = []
    for part in parts:
        if part.strip():
            f = Feature.parse(part)
            if f not in out:
                out.append(f)
    if not out:
        raise ValueError("no backbone given (e.g. msd-musicnn:pooled)")
    return out


def stack_features(vectors: Mapping[str, Mapping[str, np.ndarray | torch.Tensor]],
                   features: Sequence[Feature]) -> np.ndarray | torch.Tensor:
    """The head's input: the features' per-window vectors side by side, ``(windows, Σ widths)``.

    ``vectors`` is backbone → variant → ``(windows, width)`` as :func:`window_vectors` gives (numpy
    from the cache, or torch in a forward pass; the result is of the same kind)."""
    parts = [vectors[f.backbone][f.variant] for f in features]
    if isinstance(parts[0], torch.Tensor):
        return torch.cat([p.reshape(p.shape[0], -1) for p in parts], dim=1)
    return np.concatenate([np.asarray(p).reshape(len(p), -1) for p in parts], axis=1)


# ---------------------------------------------------------------------------------------------
# backbones
# ---------------------------------------------------------------------------------------------
class Backbone(nn.Module):
    """A frozen backbone: 16-kHz mono windows in, every variant's per-window vector out, one pass.

    Subclasses load their network in ``__init__`` and implement :meth:`_embed_batch`. The module is
    an ``nn.Module`` so a model holding it moves it with ``.to(device)``; it never trains (``train()``
    is refused: YAMNet's would fold its int8 scales)."""

    name: str
    folder: Path
    variants: dict[str, int]

    def _embed_batch(self, windows: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def train(self, mode: bool = True) -> Backbone:
        return super().train(False)

    @torch.inference_mode()
    def embed(self, windows: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """variant → ``(len(windows), width)`` float32 tensors on the backbone's device.

        ``windows``: mono float32 at 16 kHz, each at most a window long (a short one is a whole short
        song). Batched by :data:`BATCH_WINDOWS`."""
        if not len(windows):
            return {v: torch.zeros(0, w, device=self.device) for v, w in self.variants.items()}
        parts: dict[str, list[torch.Tensor]] = {}
        for lo in range(0, len(windows), BATCH_WINDOWS):
            for v, t in self._embed_batch(windows[lo:lo + BATCH_WINDOWS]).items():
                parts.setdefault(v, []).append(t.float())
        return {v: torch.cat(ts) for v, ts in parts.items()}

    def identity(self) -> dict:
        """What this backbone's vectors depend on: :func:`backbone_identity`."""
        return backbone_identity(self.name)


class MusicnnBackbone(Backbone):
    """musicnn (``genre_models/pretrained/<name>``, a tagger folder): each window is one 187-frame patch
    (3 s); ``pooled`` and ``penultimate`` are :class:`~genre_models.hf_models.musicnn.MusiCNNModel`'s
    two outputs, ``tags`` the tagger's sigmoid on the penultimate layer."""

    def __init__(self, name: str, folder: str | Path | None = None):
        super().__init__()
        from .hf_models.musicnn import MusiCNNFeatureExtractor, MusiCNNForAudioClassification

        self.name, self.folder = name, Path(folder) if folder else PRETRAINED / name
        self.fe = MusiCNNFeatureExtractor.from_pretrained(self.folder)
        self.model = MusiCNNForAudioClassification.from_pretrained(self.folder, use_safetensors=True).eval()
        self.model.requires_grad_(False)
        self.variants = {"pooled": self.model.musicnn.pooled_size, "penultimate": self.model.config.backend_units,
                         "tags": self.model.config.num_labels}

    def _embed_batch(self, windows: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        feats = self.fe(list(windows), sampling_rate=SAMPLE_RATE, return_tensors="pt")["input_features"]
        patches, _ = self.model._patches(feats.to(self.device), None)
        if patches.shape[0] != len(windows):
            raise ValueError(f"{self.name}: windows must be at most {WINDOW_SECONDS:g} s (one patch each)")
        hidden, pooled = self.model.musicnn(patches)
        return {"pooled": pooled, "penultimate": hidden, "tags": torch.sigmoid(self.model.classifier(hidden))}


class YamnetBackbone(Backbone):
    """YAMNet (``genre_models/pretrained/<name>``): a window's 0.96-s patches (hop 0.48 s) pooled over
    its real patches, as the shipped YAMNet genre model pools them (``masked_patch_mean``)."""

    def __init__(self, name: str, folder: str | Path | None = None, emulation: str = YAMNET_EMULATION):
        super().__init__()
        from .hf_models.yamnet import YAMNetFeatureExtractor, YAMNetForAudioClassification

        self.name, self.folder = name, Path(folder) if folder else PRETRAINED / name
        self.emulation = emulation
        self.fe = YAMNetFeatureExtractor.from_pretrained(self.folder)
        self.model = YAMNetForAudioClassification.from_pretrained(self.folder, use_safetensors=True,
                                                                  emulation=emulation).eval()
        self.model.requires_grad_(False)
        width = int(self.model.config.layer_filters[-1])
        self.variants = {"mean": width, "meanmax": 2 * width, "scores": self.model.config.num_labels, "flatness": 1}
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    def _embed_batch(self, windows: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        from .hf_models.yamnet import masked_patch_mean, spectral_flatness

        inputs = self.fe(list(windows), sampling_rate=SAMPLE_RATE, return_tensors="pt").to(self.device)
        out = self.model.patch_outputs(inputs["input_features"], inputs["attention_mask"])
        mean = masked_patch_mean(out.embeddings, out.mask)
        high = out.embeddings.masked_fill(~out.mask[..., None], float("-inf")).amax(dim=1)
        return {"mean": mean, "meanmax": torch.cat([mean, high], dim=-1),
                "scores": masked_patch_mean(out.scores, out.mask),
                "flatness": spectral_flatness(inputs["input_features"], inputs["attention_mask"])[:, None]}


class VggBackbone(Backbone):
    """The musicnn package's VGG tagger (``genre_models/pretrained/<name>``, ``msd-vgg`` / ``mtt-vgg``): one
    187-frame patch per window, as musicnn; ``pooled`` is the max and mean of the fifth conv block over
    all its positions, ``penultimate`` the flattened last pool the tag layer reads, ``tags`` its sigmoid."""

    def __init__(self, name: str, folder: str | Path | None = None):
        super().__init__()
        from .hf_models.musicnn import MusiCNNFeatureExtractor
        from .hf_models.musicnn_vgg import MusiCNNVGGForAudioClassification

        self.name, self.folder = name, Path(folder) if folder else PRETRAINED / name
        self.fe = MusiCNNFeatureExtractor.from_pretrained(self.folder)
        self.model = MusiCNNVGGForAudioClassification.from_pretrained(self.folder, use_safetensors=True).eval()
        self.model.requires_grad_(False)
        self.variants = {"pooled": self.model.vgg.pooled_size, "penultimate": self.model.vgg.penultimate_size,
                         "tags": self.model.config.num_labels}

    def _embed_batch(self, windows: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        feats = self.fe(list(windows), sampling_rate=SAMPLE_RATE, return_tensors="pt")["input_features"]
        patches, _ = self.model._patches(feats.to(self.device), None)
        if patches.shape[0] != len(windows):
            raise ValueError(f"{self.name}: windows must be at most {WINDOW_SECONDS:g} s (one patch each)")
        penultimate, pooled = self.model.vgg(patches)
        return {"pooled": pooled, "penultimate": penultimate, "tags": torch.sigmoid(self.model.classifier(penultimate))}


@dataclass(frozen=True)
class BackboneKind:
    """A backbone by name: its variants' widths (known without loading it), how to load it, and what
    its vectors depend on (the files of ``folder``, default ``genre_models/pretrained/<name>``, and
    ``settings`` such as YAMNet's emulation): a cache of its vectors is keyed on those."""

    name: str
    variants: Mapping[str, int]
    load: Callable[[], Backbone]
    default_variant: str = ""
    about: str = ""
    folder: Path | None = None
    settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.default_variant:
            object.__setattr__(self, "default_variant", next(iter(self.variants)))
        if self.folder is None:
            object.__setattr__(self, "folder", PRETRAINED / self.name)


BACKBONES: dict[str, BackboneKind] = {}
_LOADED: dict[str, Backbone] = {}
_LOAD_LOCK = threading.Lock()
_IDENTITY: dict[str, dict] = {}


def register_backbone(kind: BackboneKind) -> None:
    """Make ``kind.name`` usable in features, ``teach --backbones`` and model folders (replaces one of
    the same name)."""
    BACKBONES[kind.name] = kind
    _LOADED.pop(kind.name, None)
    _IDENTITY.pop(kind.name, None)


def backbone_kind(name: str) -> BackboneKind:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]


def load_backbone(name: str) -> Backbone:
    """The backbone ``name``, loaded once per process and shared (thread-safe); frozen, in eval mode."""
    kind = backbone_kind(name)
    with _LOAD_LOCK:
        if name not in _LOADED:
            backbone = kind.load().eval()
            backbone.requires_grad_(False)
            if dict(backbone.variants) != dict(kind.variants):
                raise ValueError(f"backbone {name!r} gives {backbone.variants}, registered as {dict(kind.variants)}")
            _LOADED[name] = backbone
        return _LOADED[name]


register_backbone(BackboneKind("msd-musicnn", MUSICNN_VARIANTS, lambda: MusicnnBackbone("msd-musicnn"), "pooled",
                               "musicnn's Million Song Dataset tagger (ISC)"))
register_backbone(BackboneKind("yamnet-audioset", YAMNET_VARIANTS, lambda: YamnetBackbone("yamnet-audioset"),
                               "meanmax", "YAMNet, AudioSet's 521 classes (Apache-2.0)",
                               settings={"emulation": YAMNET_EMULATION}))
register_backbone(BackboneKind("mtt-musicnn", MUSICNN_VARIANTS, lambda: MusicnnBackbone("mtt-musicnn"), "pooled",
                               "musicnn's MagnaTagATune tagger (ISC)"))
register_backbone(BackboneKind("msd-vgg", VGG_VARIANTS, lambda: VggBackbone("msd-vgg"), "pooled",
                               "the musicnn package's VGG, Million Song Dataset tags (ISC)"))
register_backbone(BackboneKind("mtt-vgg", VGG_VARIANTS, lambda: VggBackbone("mtt-vgg"), "pooled",
                               "the musicnn package's VGG, MagnaTagATune tags (ISC)"))

def backbone_identity(name: str) -> dict:
    """``{"name", "weights": sha256 of the folder's config and weights, **settings}``, without loading
    the network (cached per process)."""
    kind = backbone_kind(name)
    if name not in _IDENTITY:
        digest = hashlib.sha256()
        for fname in ("config.json", "preprocessor_config.json", "model.safetensors"):
            path = Path(kind.folder) / fname
            if path.is_file():
                digest.update(fname.encode())
                digest.update(path.read_bytes())
        _IDENTITY[name] = {"name": name, "weights": digest.hexdigest()[:16], **dict(kind.settings)}
    return dict(_IDENTITY[name])


def window_vectors(windows: Sequence[np.ndarray], backbones: Iterable[Backbone]) -> dict[str, dict[str, torch.Tensor]]:
    """backbone name → variant → ``(len(windows), width)``: every variant of every backbone.

    Passes are shared (:class:`SharedPasses`): several models reading one backbone (the default
    ensemble's members, a taught model beside them) embed the same windows once between them."""
    return {b.name: SHARED_PASSES.embed(b, windows) for b in backbones}


class SharedPasses:
    """The last few backbone passes, keyed by backbone and the windows' bytes, computed once even when
    models ask at the same time from several threads (the ensemble scores its members side by side):
    the first asker computes, the others wait for its result. Small (``size`` passes), so memory stays
    bounded; a pass that fails is not kept (each asker then tries on its own)."""

    def __init__(self, size: int = 8):
        self.size = size
        self._lock = threading.Lock()
        self._done: dict[tuple, dict[str, torch.Tensor]] = {}
        self._running: dict[tuple, threading.Event] = {}

    @staticmethod
    def key(backbone: Backbone, windows: Sequence[np.ndarray]) -> tuple:
        digest = hashlib.blake2b(digest_size=16)
        for w in windows:
            a = np.ascontiguousarray(w, dtype=np.float32)
            digest.update(len(a).to_bytes(8, "little"))
            digest.update(a.tobytes())
        return (backbone.name, id(backbone), str(backbone.device), digest.hexdigest())

    def clear(self) -> None:
        """Forget the kept passes (a benchmark timing a song it has scored before, a test)."""
        with self._lock:
            self._done.clear()

    def embed(self, backbone: Backbone, windows: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        key = self.key(backbone, windows)
        while True:
            with self._lock:
                if key in self._done:
                    self._done[key] = self._done.pop(key)  # most recently used last
                    return self._done[key]
                event = self._running.get(key)
                if event is None:
                    event = self._running[key] = threading.Event()
                    break
            event.wait()
            with self._lock:
                if key not in self._done:  # the computing thread failed: compute here
                    return backbone.embed(windows)
        try:
            out = backbone.embed(windows)
            with self._lock:
                self._done[key] = out
                while len(self._done) > self.size:
                    self._done.pop(next(iter(self._done)))
            return out
        finally:
            with self._lock:
                self._running.pop(key, None)
            event.set()


SHARED_PASSES = SharedPasses()


# ---------------------------------------------------------------------------------------------
# songs
# ---------------------------------------------------------------------------------------------
def audio_windows(source: AudioSource, *, window_seconds: float = WINDOW_SECONDS, max_windows: int | None = None,
                  max_seconds: float | None = None, on_block: Callable[[np.ndarray], None] | None = None
                  ) -> Iterator[Window]:
    """The windows the app scores, streamed at 16 kHz (see the module docstring); ``on_block`` sees
    every decoded block (e.g. to hash the audio). Raises :class:`~genre_models.audio.AudioLoadError`."""
    from .prediction import spread_hop

    size = int(round(window_seconds * SAMPLE_RATE))
    hop_seconds = spread_hop(source, window_seconds, max_windows) if max_windows else None
    hop = int(round((hop_seconds or window_seconds) * SAMPLE_RATE))
    blocks = stream_audio(source, SAMPLE_RATE, max_seconds=max_seconds)
    if on_block is not None:
        blocks = _tap(blocks, on_block)
    total = 0
    for win in iter_windows(blocks, size, hop):
        if win.end - win.start < size:  # the whole song, shorter than a window
            check_duration(win.end - win.start, SAMPLE_RATE)
        total = max(total, win.end)
        yield win
    check_duration(total, SAMPLE_RATE)


def _tap(blocks: Iterable[np.ndarray], fn: Callable[[np.ndarray], None]) -> Iterator[np.ndarray]:
    for block in blocks:
        fn(block)
        yield block


class AudioDigest:
    """sha256 of the decoded 16-kHz stream: the same audio under other tags (a retagged file) has the
    same digest, so its embeddings are reused."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.samples = 0

    def __call__(self, block: np.ndarray) -> None:
        self._h.update(np.ascontiguousarray(block, dtype="<f4").tobytes())
        self.samples += len(block)

    def hexdigest(self) -> str:
        return f"{self._h.hexdigest()[:32]}-{self.samples}"


def audio_digest(source: AudioSource, max_seconds: float | None = None) -> str:
    """The :class:`AudioDigest` of a file (decodes it, embeds nothing)."""
    digest = AudioDigest()
    for block in stream_audio(source, SAMPLE_RATE, max_seconds=max_seconds):
        digest(block)
    check_duration(digest.samples, SAMPLE_RATE)
    return digest.hexdigest()


@dataclass
class FileEmbedding:
    """One song's windows and their vectors (numpy float32): backbone → variant → ``(windows, width)``."""

    spans: np.ndarray  # (windows, 2) seconds
    duration: float  # seconds decoded
    digest: str
    vectors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def n_windows(self) -> int:
        return len(self.spans)


def embed_file(source: AudioSource, backbones: Sequence[str | Backbone], *, window_seconds: float = WINDOW_SECONDS,
               max_windows: int | None = None, max_seconds: float | None = None) -> FileEmbedding:
    """Decode ``source`` once and embed its windows with every backbone (loaded once per process)."""
    models = [load_backbone(b) if isinstance(b, str) else b for b in backbones]
    digest = AudioDigest()
    spans: list[tuple[int, int]] = []
    parts: dict[str, dict[str, list[np.ndarray]]] = {m.name: {} for m in models}
    batch: list[np.ndarray] = []

    def flush() -> None:
        if batch:
            for m in models:
                for v, t in m.embed(batch).items():
                    parts[m.name].setdefault(v, []).append(t.cpu().numpy().astype(np.float32, copy=False))
            batch.clear()

    for win in audio_windows(source, window_seconds=window_seconds, max_windows=max_windows, max_seconds=max_seconds,
                             on_block=digest):
        spans.append((win.start, win.end))
        batch.append(win.samples)
        if len(batch) >= BATCH_WINDOWS:
            flush()
    flush()
    vectors = {name: {v: np.concatenate(a) for v, a in d.items()} for name, d in parts.items()}
    return FileEmbedding(np.asarray(spans, dtype=np.float64).reshape(-1, 2) / SAMPLE_RATE,
                         digest.samples / SAMPLE_RATE, digest.hexdigest(), vectors)


def recipe(backbone: str, window_seconds: float = WINDOW_SECONDS, max_windows: int | None = None) -> dict:
    """Everything a song's cached vectors of one backbone depend on (besides the audio)."""
    return {**backbone_identity(backbone), "sample_rate": SAMPLE_RATE, "window_seconds": float(window_seconds),
            "max_windows": max_windows, "layout": "plan_windows hop=window; spread_hop for max_windows", "version": 1}


def recipe_id(r: Mapping) -> str:
    return hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest()[:12]


__all__ = [
    "BACKBONES", "BATCH_WINDOWS", "Backbone", "BackboneKind", "AudioDigest", "Feature", "FileEmbedding",
    "MUSICNN_VARIANTS", "MusicnnBackbone", "SAMPLE_RATE", "WINDOW_SECONDS", "YAMNET_VARIANTS", "YamnetBackbone",
    "SHARED_PASSES", "SharedPasses", "audio_digest", "audio_windows", "backbone_identity", "backbone_kind",
    "embed_file", "load_backbone", "parse_features", "recipe", "recipe_id", "register_backbone", "stack_features",
    "window_vectors",
]
