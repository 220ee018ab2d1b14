"""Issue N's evidence, reproduced with the real commands: teach a model from real songs outside GTZAN
whose tags name one genre, then label held-out GTZAN clips of those genres through ``predict --model``.

The songs: ``../shared/data/allmusic4q`` previews (30 s, 198 artists, none in GTZAN) whose ``genres`` set
is a single GTZAN genre; copied into a temp dir and tagged there (genre and artist, mutagen; nothing is
written into shared/), the genre spelt as a user's library might ("Hip-Hop", "hip hop", "HipHop").
Labels with fewer than ``--min-songs`` songs are skipped by ``teach`` itself. The held-out songs: the
full 30-s GTZAN clips of ``../shared/data/gtzan/audio`` of the taught genres (different artists, a
different corpus). Printed: teach's own report (labels, CV grouped by artist, confusion matrix) and
the held-out accuracy per genre, with the commands.

    python benchmarks/teach_real_audio.py                      # default model: musicnn + YAMNet heads
    python benchmarks/teach_real_audio.py --backbones msd-musicnn:pooled --cache runs/emb
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genre_models.cli import main as cli  # noqa: E402
from genre_models.filetags import label_key  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
SPELLINGS = {"hiphop": ["Hip-Hop", "hip hop", "HipHop"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allmusic", type=Path, default=SHARED / "allmusic4q")
    parser.add_argument("--gtzan", type=Path, default=SHARED / "gtzan" / "audio")
    parser.add_argument("--min-songs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=None, help="teach's embedding cache (default: its own)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--backbones", default=None, help="teach --backbones (default: teach's)")
    parser.add_argument("--no-balance", action="store_true", help="teach --no-balance")
    parser.add_argument("--keep", type=Path, default=None,
                        help="make the tagged library (and the model) here and keep them, so a rerun with --cache "
                             "embeds nothing again (default: a temp dir)")
    args = parser.parse_args()
    if not (args.allmusic / "tracks.csv").is_file() or not args.gtzan.is_dir():
        raise SystemExit(f"real data not found ({args.allmusic}, {args.gtzan}): this benchmark needs ../shared/data")

    with tempfile.TemporaryDirectory(prefix="teach-real-") as tmp:
        root = args.keep or Path(tmp)
        lib, model, table = root / "library", root / "model", Path(tmp) / "heldout.csv"
        lib.mkdir(parents=True, exist_ok=True)
        import mutagen

        rows = [r for r in csv.DictReader((args.allmusic / "tracks.csv").open()) if "|" not in r["genres"]]
        for i, r in enumerate(rows):
            dst = lib / r["filename"]
            if dst.is_file():  # a kept library: tagged already (re-tagging would change its files' time)
                continue
            shutil.copy(args.allmusic / "audio" / r["filename"], dst)
            audio = mutagen.File(dst, easy=True)
            if audio.tags is None:
                audio.add_tags()
            spellings = SPELLINGS.get(r["genres"], [r["genres"].capitalize()])
            audio.tags["genre"] = [spellings[i % len(spellings)]]
            audio.tags["artist"] = [r["artist"]]
            audio.save()
        genres = dict(Counter(r["genres"] for r in rows))
        print(f"{len(rows)} single-genre previews tagged in a temp library: {genres}\n")
        teach = ["teach", str(lib), "--labels-from-tags", "--out", str(model), "--min-songs", str(args.min_songs),
                 "--jobs", str(args.jobs)]
        teach += ["--cache", str(args.cache)] if args.cache else []
        teach += ["--backbones", args.backbones] if args.backbones else []
        teach += ["--no-balance"] if args.no_balance else []
        if cli(teach) != 0:
            raise SystemExit("teach failed")
        import json

        labels = json.loads((model / "config.json").read_text())["id2label"].values()
        taught = {label_key(label): label for label in labels}
        held = sorted(p for p in args.gtzan.glob("*.wav") if p.name.split(".")[0] in taught)
        print(f"\nheld out: {len(held)} GTZAN clips of {', '.join(sorted(taught))}", flush=True)
        predict = ["predict", *map(str, held), "--model", str(model), "--csv", str(table), "--jobs", str(args.jobs)]
        with open(tmp + "/stdout.txt", "w") as quiet:  # the rows go to the table; stdout gets the summary below
            saved, sys.stdout = sys.stdout, quiet
            try:
                code = cli(predict)
            finally:
                sys.stdout = saved
        if code not in (0, 1):
            raise SystemExit("predict failed")
        answers = {r["path"]: r["genre"] for r in csv.DictReader(table.open())}
    right: Counter = Counter()
    total: Counter = Counter()
    for path in held:
        truth = taught[path.name.split(".")[0]]
        total[truth] += 1
        right[truth] += answers.get(str(path)) == truth
    per_genre = ", ".join(f"{label} {right[label]}/{total[label]}" for label in sorted(total))
    print(f"\nheld-out GTZAN clips labelled right through `predict --model`: {sum(right.values())}/"
          f"{sum(total.values())} ({per_genre})")
    shown = teach[:1] + ["LIBRARY"] + teach[2:3] + ["--out", "MODEL"] + teach[5:]
    print("commands: python -m genre_models " + " ".join(shown) + "; python -m genre_models predict CLIPS "
          "--model MODEL")


if __name__ == "__main__":
    main()
