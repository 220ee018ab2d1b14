"""Label sets shared by every model: the order here is the id order in checkpoints."""
from __future__ import annotations

GTZAN_GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)


def id2label(labels: tuple[str, ...] | list[str]) -> dict[int, str]:
    """`config.json`-style mapping, ids in the given order."""
    return {i: name for i, name in enumerate(labels)}


def label2id(labels: tuple[str, ...] | list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(labels)}
