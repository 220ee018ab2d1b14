"""An ensemble on the 240 AllMusic previews (outside GTZAN), through the app's own path.

    python benchmarks/outside_gtzan.py                                  # the shipped default ensemble
    python benchmarks/outside_gtzan.py --ensemble other/ensemble.json   # any ensemble.json

Why: a model that never trained on these previews (198 artists, none in GTZAN but Motörhead) shows
how it holds up on music from elsewhere. A preview's label is the *set* of GTZAN genres its AllMusic
genres allow (``metal|pop|rock`` for Pop/Rock), so an answer in the set is right; the table also gives
the single-genre previews apart (``jazz``, ``hiphop``, ...), where right means exactly that genre.

The scores are honest only for models that never trained on the previews: a member whose track record
lists AllMusic ids is refused (``--allow_train_overlap`` scores it anyway and says so). The default
shipped from ``benchmarks/default_ensemble.py`` trained on all of them; its AllMusic figures are that
script's test folds.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from finetune.folds import ALLMUSIC_DIR, GTZAN_DIR, real_audio_tracks  # noqa: E402
from finetune.provenance import learned_from, read_record  # noqa: E402
from genre_models.ensemble import DEFAULT_ENSEMBLE_FILE, Ensemble  # noqa: E402
from genre_models.labels import GTZAN_GENRES  # noqa: E402


def member_folders(path: Path) -> list[str]:
    """The members of an ``ensemble.json`` as :func:`~finetune.provenance.read_record` takes them (a
    relative folder is relative to the file)."""
    out = []
    for entry in json.loads(path.read_text())["models"]:
        name = entry["model"] if isinstance(entry, dict) else entry
        out.append(str(path.parent / name) if (path.parent / name).is_dir() else name)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ensemble", type=Path, default=DEFAULT_ENSEMBLE_FILE)
    parser.add_argument("--gtzan_dir", type=Path, default=GTZAN_DIR)
    parser.add_argument("--allmusic_dir", type=Path, default=ALLMUSIC_DIR)
    parser.add_argument("--allow_train_overlap", action="store_true")
    args = parser.parse_args(argv)
    tracks = [t for t in real_audio_tracks(args.gtzan_dir, ("allmusic",), args.allmusic_dir)]
    ensemble = Ensemble.from_file(args.ensemble, strict=True)
    ids = {t.stem for t in tracks}
    for name in member_folders(args.ensemble):
        seen = learned_from(read_record(name) or {}) & ids
        if seen and not args.allow_train_overlap:
            raise SystemExit(f"{name} trained or validated on {len(seen)} of these previews: its score here would "
                             "be memory (default_ensemble.py's test folds score it honestly; or --allow_train_overlap)")
    right, by_set, wrong_as = 0, Counter(), Counter()
    totals = Counter()
    for t in tracks:
        [answer] = ensemble.predict(t.source)
        pick = GTZAN_GENRES.index(answer.genre)
        key = "|".join(GTZAN_GENRES[i] for i in t.allowed_labels)
        totals[key] += 1
        if pick in t.allowed_labels:
            right += 1
            by_set[key] += 1
        else:
            wrong_as[(key, answer.genre)] += 1
    print(f"{args.ensemble}: {right}/{len(tracks)} AllMusic previews answered within their set "
          f"({right / len(tracks):.3f})\n\n| label set | previews | right |\n|---|---|---|")
    for key, n in totals.most_common():
        print(f"| {key} | {n} | {by_set[key]} |")
    single = [k for k in totals if "|" not in k]
    print(f"\nsingle-genre previews: {sum(by_set[k] for k in single)}/{sum(totals[k] for k in single)}; "
          "most frequent misses: " + ", ".join(f"{k} -> {g} ({n})" for (k, g), n in wrong_as.most_common(6)))


if __name__ == "__main__":
    main()
