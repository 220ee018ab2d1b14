"""Music tags (Last.fm-style: "rock", "female vocalists", "80s", "chillout", ...) for a song, offline.

Why: a genre answer says little about a song that is between genres; the 50 tags of musicnn's
Million Song Dataset tagger (``genre_models/pretrained/msd-musicnn``, converted from the musicnn
package) add moods, decades and voices, and ship in the repository, so the app can show them
without a network. Tags are independent (sigmoid) scores, not a distribution: several can be high.

    from genre_models.tagging import MusicTagger
    MusicTagger.load().tag_file("song.mp3").top(5)   # [('rock', 0.52), ('guitar', 0.31), ...]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import AudioSource, load_audio

DEFAULT_TAGGER_DIR: Path = Path(__file__).resolve().parent / "pretrained" / "msd-musicnn"


@dataclass
class Tags:
    """Every tag's score (sigmoid, 0-1) for one song, and how many 3-s patches were scored."""

    labels: list[str]
    scores: np.ndarray
    patches: int

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        order = np.argsort(-self.scores)[:k]
        return [(self.labels[i], float(self.scores[i])) for i in order]

    def as_dict(self) -> dict[str, float]:
        return {label: float(s) for label, s in zip(self.labels, self.scores)}


class MusicTagger:
    """musicnn over a whole song: consecutive 3-s patches, scores = sigmoid of the mean patch logit
    (what ``pipeline("audio-classification", model=DEFAULT_TAGGER_DIR)`` returns).

    ``max_patches`` bounds the work for long songs: that many patches, evenly spread over the song,
    are scored instead of all of them (None: all).
    """

    def __init__(self, model, feature_extractor, max_patches: int | None = None):
        self.model = model.eval()
        self.fe = feature_extractor
        self.max_patches = max_patches
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.sample_rate = int(feature_extractor.sampling_rate)

    @classmethod
    def load(cls, folder: str | os.PathLike = DEFAULT_TAGGER_DIR, max_patches: int | None = None) -> MusicTagger:
        """A converted musicnn tagging folder (default: the shipped MSD one); never the network."""
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        import genre_models.hf_models  # noqa: F401  (registers genre_musicnn)

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"no musicnn tagger at {folder}")
        model = AutoModelForAudioClassification.from_pretrained(folder, use_safetensors=True)
        if model.config.problem_type != "multi_label_classification":
            raise ValueError(f"{folder} is not a tagging (multi-label) model")
        return cls(model, AutoFeatureExtractor.from_pretrained(folder), max_patches)

    def tag_audio(self, y: np.ndarray) -> Tags:
        """Tags of mono audio already at :attr:`sample_rate`."""
        import torch

        feats = torch.from_numpy(self.fe(y, sampling_rate=self.sample_rate, return_tensors="np")["input_features"])
        with torch.inference_mode():
            patches, _ = self.model._patches(feats, None)
            if self.max_patches and len(patches) > self.max_patches:
                keep = np.linspace(0, len(patches) - 1, self.max_patches).round().astype(int)
                patches = patches[keep]
            logits = self.model.patch_logits(patches).mean(dim=0)
        return Tags(self.labels, torch.sigmoid(logits).numpy().astype(np.float64), len(patches))

    def tag_file(self, source: AudioSource, max_seconds: float | None = None) -> Tags:
        """Decode (any format :func:`genre_models.audio.load_audio` reads) and tag."""
        return self.tag_audio(load_audio(source, sr=self.sample_rate, max_seconds=max_seconds))


def tags_of(pred) -> Tags | None:
    """The tags carried by a :class:`~genre_models.prediction.Prediction` (or one of its members) whose
    model kept the tagger's layer (the shipped musicnn genre model): sigmoid of the mean logit over its
    windows, as :meth:`MusicTagger.tag_audio` computes over patches; None when no member has tags."""
    from .prediction import with_extra

    member = with_extra(pred, "tag_logits")
    if member is None:
        return None
    logits = np.asarray(member.extras["tag_logits"], dtype=np.float64).mean(axis=0)
    return Tags(list(member.extras_labels["tag_logits"]), 1.0 / (1.0 + np.exp(-logits)), len(member.window_spans))


__all__ = ["DEFAULT_TAGGER_DIR", "MusicTagger", "Tags", "tags_of"]
