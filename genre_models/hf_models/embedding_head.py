"""``model_type`` ``genre_embedding_head``: a linear head on the window embeddings of shipped frozen
backbones (:mod:`genre_models.embeddings`), as a transformers model whose folder holds only the head.

Why: a head taught in minutes (``python -m genre_models teach``; or any :class:`~genre_models.heads.LinearHead`)
should be a model folder like every other one — ``config.json`` with the user's ``id2label``,
``model.safetensors``, ``preprocessor_config.json`` — that ``genre_models.load_model``, ``predict
--model``, the library labeller, the app and ``transformers.pipeline`` load in one call. The backbones
(musicnn, YAMNet: 3-4 MB each) ship inside the package, so the folder stores only the head (a few
hundred kB) and :meth:`EmbeddingHeadForAudioClassification.from_pretrained` fills the frozen backbones
from ``genre_models/pretrained`` (as ``gtzan-whisper`` fills its encoder), with no missing-weights noise.

* Input: raw 16-kHz mono audio (``WaveformFeatureExtractor`` with no resampling and no normalisation:
  ``input_values`` ``(batch, samples)`` + ``attention_mask``). Each example is cut into 3-s windows as
  the app cuts a song (``plan_windows``; at most ``config.max_windows`` spread evenly), every window goes
  through :meth:`genre_models.embeddings.Backbone.embed` — the code ``teach`` cached its vectors with —
  and the listed ``config.backbones`` variants are concatenated (:func:`~genre_models.embeddings.stack_features`).
* Output: per window ``log p = log_softmax(classifier(x))`` (``window_log_probs``), mixed log-linearly
  with ``config.priors``: a backbone's own genre classes read by name (AudioSet's for YAMNet, the
  MSD/MTT tags for musicnn; :mod:`genre_models.priors`), each calibrated (``scale``, ``bias``) and
  weighed (``weight``): ``log_softmax((1 − Σw)·log p + Σ w_k·log p_prior_k)``, the arithmetic
  ``benchmarks/default_ensemble.py`` fit them with. An example's ``logits`` are the log of its windows'
  mean probability, so ``softmax(logits)`` is the app's track answer. With YAMNet among the backbones,
  ``output_hidden_states=True`` gives ``(embedding, mean AudioSet scores, flatness)`` per example: the
  app's music check, same pass; with ``config.tag_labels`` (a musicnn tagger among them) it gives
  ``(embedding, mean tag probabilities, mean tag logits)``: the app's tags.
* ``config.head``: how the head was made (C, CV figures, songs); ``config.teach``: how ``teach`` read the
  labels from tags (the merged spellings), so ``predict --disagreements`` reads tags the same way.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
)
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .. import priors
from ..embeddings import SAMPLE_RATE, WINDOW_SECONDS, Feature, load_backbone, stack_features, window_vectors
from ..windows import plan_windows
from .configuration import REQUIRES
from .waveform_extraction import WaveformFeatureExtractor

AUDIOSET_BACKBONE = "yamnet-audioset"  # its "scores" and "flatness" feed the music check


class EmbeddingHeadConfig(PreTrainedConfig):
    """A linear head on frozen backbones' window embeddings; the backbones are not in the folder.

    Args:
        backbones: what the head reads, in order: ``[{"name": "msd-musicnn", "variant": "pooled"}, ...]``
            (names of :data:`genre_models.embeddings.BACKBONES`, shipped under ``genre_models/pretrained``).
        window_seconds: the scoring window (3 s; the backbones' embeddings are per 3-s window).
        sampling_rate: the input rate (16 kHz, the backbones').
        max_windows: score at most this many windows spread evenly over a long song (what the head was
            taught on; None = every window).
        head: how the head was fit (C, CV figures, songs, command): provenance, JSON.
        teach: how labels were read from tags or folders (separators, merged spellings), for
            ``predict --disagreements``.
        audioset_labels: AudioSet's class names when YAMNet is a backbone (the music check reads its scores).
        priors: log-linear priors mixed into the head: ``[{"name": "yamnet-audioset", "variant": "scores",
            "classes": {genre: [class names]}, "scale": a, "bias": [per label], "weight": w}, ...]``
            (:mod:`genre_models.priors`); the labels are ``id2label``'s.
        tag_labels: a musicnn tagger's tag names when its ``tags`` are to be shown (``tag_tagger`` names it).
        tag_tagger: the backbone whose ``tags`` the app shows (default the first musicnn one).
    """

    model_type = "genre_embedding_head"

    backbones: list[dict] | None = None
    window_seconds: float = WINDOW_SECONDS
    sampling_rate: int = SAMPLE_RATE
    max_windows: int | None = None
    head: dict | None = None
    teach: dict | None = None
    audioset_labels: list[str] | None = None
    priors: list[dict] | None = None
    tag_labels: list[str] | None = None
    tag_tagger: str | None = None
    feature_extractor_type: str = "WaveformFeatureExtractor"
    requires: str = REQUIRES

    @property
    def features(self) -> list[Feature]:
        return [Feature(b["name"], b["variant"]) for b in (self.backbones or [])]

    @property
    def backbone_names(self) -> list[str]:
        """Every backbone the model runs: those of its features, then those only its priors read."""
        names = [f.backbone for f in self.features] + [p["name"] for p in (self.priors or [])]
        if self.tag_tagger:
            names.append(self.tag_tagger)
        return list(dict.fromkeys(names))

    @property
    def embedding_size(self) -> int:
        return sum(f.width for f in self.features)


def embedding_head_feature_extractor() -> WaveformFeatureExtractor:
    """Raw 16-kHz audio as it is: the backbones' own extractors run inside the model (one path)."""
    return WaveformFeatureExtractor(sampling_rate=SAMPLE_RATE, target_sampling_rate=SAMPLE_RATE, do_normalize=False,
                                    return_attention_mask=True)


def window_spans(n_samples: int, window: int, max_windows: int | None = None) -> list[tuple[int, int]]:
    """The app's windows of an ``n_samples`` example: ``plan_windows`` with hop = window, or with
    ``max_windows`` spread evenly from start to end (``prediction.spread_hop``'s rule)."""
    hop = window
    if max_windows and max_windows > 1 and n_samples > window * max_windows:
        hop = max(1, int(round((n_samples - window) / (max_windows - 1))))
    return plan_windows(n_samples, window, hop)


class EmbeddingHeadForAudioClassification(PreTrainedModel):
    """Frozen backbones (filled from the package) → window vectors → ``Linear`` → genres (see the module
    docstring). ``save_pretrained`` writes only ``classifier.*``; the backbones are shared per process
    (:func:`genre_models.embeddings.load_backbone`) and never train."""

    config_class = EmbeddingHeadConfig
    base_model_prefix = "embedding_head"
    main_input_name = "input_values"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = False
    _keys_to_ignore_on_load_unexpected = [r"^backbones\."]  # never saved; from an older copy, ignored

    def __init__(self, config: EmbeddingHeadConfig):
        super().__init__(config)
        if not config.backbones:
            raise ValueError("an embedding head needs config.backbones, e.g. [{'name': 'msd-musicnn', "
                             "'variant': 'pooled'}]")
        self.features = config.features
        self.classifier = nn.Linear(config.embedding_size, config.num_labels)
        self.backbones = nn.ModuleList()  # filled by attach_backbones(): from_pretrained, or the first forward
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """A zero head (an untrained model answers uniformly); never touches the shared backbones."""
        if module is getattr(self, "classifier", None):
            init.zeros_(module.weight)
            init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None, *args: Any, **kwargs: Any):
        """The head from the folder, the frozen backbones from ``genre_models/pretrained``."""
        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        model.attach_backbones()
        return loaded

    def attach_backbones(self) -> None:
        """Load (once per process) and attach the backbones the features name, on the head's device."""
        if len(self.backbones):
            return
        device = self.classifier.weight.device
        for name in self.config.backbone_names:
            if self.config.audioset_labels is None and name == AUDIOSET_BACKBONE:
                self.config.audioset_labels = list(load_backbone(name).labels)
            self.backbones.append(load_backbone(name).to(device))

    def train(self, mode: bool = True) -> EmbeddingHeadForAudioClassification:
        """Only the head trains; the backbones stay frozen in eval mode."""
        self.training = mode
        self.classifier.train(mode)
        return self

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """Only the head is written; the backbones are the package's."""
        if kwargs.get("state_dict") is None:
            kwargs["state_dict"] = {k: v for k, v in self.state_dict().items() if not k.startswith("backbones.")}
        return super().save_pretrained(save_directory, *args, **kwargs)

    # -- the pass ------------------------------------------------------------------------------
    def _windows(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None
                 ) -> tuple[list[np.ndarray], np.ndarray]:
        """Every example's windows (numpy, 16 kHz) and the example each belongs to."""
        if input_values.dim() == 1:
            input_values = input_values[None]
        if input_values.dim() != 2:
            raise ValueError(f"expected input_values (batch, samples), got {tuple(input_values.shape)}")
        audio = input_values.detach().float().cpu().numpy()
        lengths = (attention_mask.detach().cpu().numpy().sum(axis=1).astype(int) if attention_mask is not None
                   else np.full(len(audio), audio.shape[1]))
        size = int(round(self.config.window_seconds * self.config.sampling_rate))
        windows, owner = [], []
        for i, (row, n) in enumerate(zip(audio, lengths)):
            for s, e in window_spans(max(int(n), 1), size, self.config.max_windows):
                windows.append(row[s:e])
                owner.append(i)
        return windows, np.asarray(owner)

    def window_vectors(self, windows: Sequence[np.ndarray]) -> dict[str, dict[str, torch.Tensor]]:
        """backbone → variant → ``(windows, width)``: :func:`genre_models.embeddings.window_vectors`."""
        self.attach_backbones()
        return window_vectors(windows, self.backbones)

    def window_log_probs(self, vectors: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        """``(windows, labels)`` log-probabilities of each window: the head on the stacked features,
        mixed with the calibrated priors read from the same ``vectors`` (:mod:`genre_models.priors`)."""
        x = stack_features(vectors, self.features).to(self.classifier.weight)
        log_p = F.log_softmax(self.classifier(x), dim=-1)
        if not self.config.priors:
            return log_p
        labels = [self.config.id2label[i] for i in range(self.config.num_labels)]
        parts, weights = [], []
        for prior in self.config.priors:
            index = self._prior_index(prior, labels)
            scores = vectors[prior["name"]][prior["variant"]].to(log_p)
            parts.append(priors.calibrated_log_probs(priors.prior_log_scores(scores, index), float(prior["scale"]),
                                                     prior["bias"]))
            weights.append(float(prior["weight"]))
        return priors.mix_log_probs(log_p, parts, weights)

    def _prior_index(self, prior: dict, labels: list[str]) -> list[list[int]]:
        """Per label, the indices of its mapped classes among the backbone variant's outputs (cached)."""
        key = (prior["name"], prior["variant"])
        cache = self.__dict__.setdefault("_prior_indices", {})
        if key not in cache:
            cache[key] = priors.class_index(prior["classes"], output_names(prior["name"], prior["variant"]), labels)
        return cache[key]

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput | tuple:
        windows, owner = self._windows(input_values, attention_mask)
        vectors = self.window_vectors(windows)
        log_p = self.window_log_probs(vectors)
        batch = int(owner.max()) + 1 if len(owner) else 0
        index = torch.as_tensor(owner, device=log_p.device)
        counts = torch.bincount(index, minlength=batch).to(log_p.dtype)
        probs = torch.zeros(batch, log_p.shape[1], dtype=log_p.dtype, device=log_p.device)
        probs.index_add_(0, index, log_p.exp())
        logits = torch.log((probs / counts[:, None]).clamp_min(1e-30))
        loss = None if labels is None else F.cross_entropy(logits, labels.to(logits.device).view(-1))
        hidden_states = None
        if output_hidden_states:
            def mean(t: torch.Tensor) -> torch.Tensor:
                t = t.to(log_p)
                out = torch.zeros(batch, *t.shape[1:], dtype=t.dtype, device=t.device).index_add_(0, index, t)
                return out / counts.view(-1, *([1] * (t.dim() - 1)))

            hidden_states = (mean(stack_features(vectors, self.features)),)
            if AUDIOSET_BACKBONE in vectors:  # (embedding, AudioSet scores, flatness): the music check's inputs
                hidden_states += (mean(vectors[AUDIOSET_BACKBONE]["scores"]),
                                  mean(vectors[AUDIOSET_BACKBONE]["flatness"])[:, 0])
            elif self.config.tag_labels:  # (embedding, tag probabilities, tag logits): the app's tags
                tags = mean(vectors[self.config.tag_tagger]["tags"])
                hidden_states += (tags, torch.logit(tags.clamp(1e-7, 1 - 1e-7)))
        if return_dict is False:
            out = (logits,) + ((hidden_states,) if hidden_states is not None else ())
            return (loss, *out) if loss is not None else out
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)


def output_names(backbone: str, variant: str) -> list[str]:
    """The class names of a backbone variant's outputs (AudioSet's 521 for YAMNet's ``scores``, the
    tagger's tags for a musicnn or VGG ``tags``)."""
    model = load_backbone(backbone).model
    return [model.config.id2label[i] for i in range(model.config.num_labels)]


def build_embedding_head(out_dir: str | os.PathLike, head: Any, features: Sequence[Feature | str], *,
                         max_windows: int | None = None, head_info: dict | None = None,
                         teach: dict | None = None, **config_fields: Any) -> Path:
    """Write a ``genre_embedding_head`` folder from a fitted :class:`~genre_models.heads.LinearHead` on
    ``features`` (in the order its columns were stacked): config.json, model.safetensors (the folded
    head, float32), preprocessor_config.json, and ``head.safetensors`` (the unfolded float64 head, so
    the folding can be re-checked). Nothing is downloaded; the backbones are not copied."""
    feats = [f if isinstance(f, Feature) else Feature.parse(f) for f in features]
    labels = list(head.labels)
    W, b = head.folded()
    width = sum(f.width for f in feats)
    if W.shape != (len(labels), width):
        raise ValueError(f"the head is {W.shape}, the features {[str(f) for f in feats]} need ({len(labels)}, {width})")
    config = EmbeddingHeadConfig(
        backbones=[f.as_dict() for f in feats], max_windows=max_windows, head=head_info, teach=teach,
        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
        architectures=[EmbeddingHeadForAudioClassification.__name__], **config_fields)
    if AUDIOSET_BACKBONE in config.backbone_names:
        config.audioset_labels = list(load_backbone(AUDIOSET_BACKBONE).labels)
    elif config.tag_tagger:
        config.tag_labels = output_names(config.tag_tagger, "tags")
    model = EmbeddingHeadForAudioClassification(config)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(np.asarray(W, dtype=np.float32)))
        model.classifier.bias.copy_(torch.from_numpy(np.asarray(b, dtype=np.float32)))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    embedding_head_feature_extractor().save_pretrained(out)
    head.save(out / "head.safetensors")
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.safetensors", "head.safetensors"):  # safetensors writes owner-only files
        (out / name).chmod(0o666 & ~umask)
    return out


def register() -> None:
    """Make ``genre_embedding_head`` folders load through the Auto classes (idempotent)."""
    AutoConfig.register(EmbeddingHeadConfig.model_type, EmbeddingHeadConfig, exist_ok=True)
    AutoModelForAudioClassification.register(EmbeddingHeadConfig, EmbeddingHeadForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(EmbeddingHeadConfig, WaveformFeatureExtractor, exist_ok=True)


register()

__all__ = ["EmbeddingHeadConfig", "EmbeddingHeadForAudioClassification", "build_embedding_head",
           "embedding_head_feature_extractor", "register", "window_spans"]
