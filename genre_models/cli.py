"""``python -m genre_models``: predict genres or extract the GTZAN features of audio files.

A file that cannot be read is reported on stderr and skipped, the others are still processed;
the exit status is 1 when any file failed, so scripts notice.
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import quiet
from .audio import AudioLoadError, check_duration, stream_audio
from .features import FEATURE_NAMES, SAMPLE_RATE, extract_features
from .library import LibraryOptions, ModelSpec, ScoreSettings, run_library
from .metadata import TrackMetadata
from .space import add_parser as add_space_parser
from .space import run_space
from .teach import add_parser as add_teach_parser
from .teach import run as run_teach
from .windows import iter_windows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m genre_models", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="genre and per-genre probabilities, one row per file",
                       description="Genre and per-genre probabilities, one row per file. PATH may be a folder: "
                                   "its own audio files are taken, with --recursive those of every folder below "
                                   "it too. For a whole library: --csv OUT --jobs N --resume (see README).")
    p.add_argument("files", nargs="+", type=Path, metavar="PATH",
                   help="audio files and/or folders (a folder gives its own audio files; --recursive: its tree)")
    p.add_argument("--model", action="append", default=None, metavar="DIR_OR_HUB_ID",
                   help="model folder or Hub id; repeat to ensemble (default: the shipped ensemble of the musicnn and "
                        "YAMNet genre models)")
    p.add_argument("--ensemble", type=Path, default=None, metavar="ENSEMBLE_JSON",
                   help="an ensemble.json (models with weights and temperatures, e.g. from finetune/ensemble.py); "
                        "--model adds to it")
    p.add_argument("--csv", type=Path, metavar="OUT",
                   help="also write the rows to this table, as files finish (.csv, or .parquet with a "
                        "<stem>.journal.csv beside it); files that could not be read go to <stem>.errors.csv")
    p.add_argument("--windows-csv", type=Path, help="write per-window probabilities (path,model,start,end,...) here")
    p.add_argument("--hop", type=float, default=None,
                   help="seconds between window starts (default: the model's window)")
    p.add_argument("--max-seconds", type=float, default=None, help="refuse files longer than this")
    p.add_argument("--wide-genres", action="store_true",
                   help="add AudioSet's wider genre (YAMNet: techno, house, funk, soul, folk, latin, ...): columns "
                        "wide_genre, wide_score, outside_gtzan (its best has no GTZAN counterpart), wide_top3. "
                        "The music check (music, music_share) is always there")
    p.add_argument("--disagreements", action="store_true",
                   help="read each file's genre tag (as a model from `teach` reads them) and list the songs whose "
                        "tag the model contradicts, most confident first, instead of the rows on stdout; the table "
                        "(--csv) gets the columns tag and disagrees")
    p.add_argument("--confidence", type=float, default=0.5, metavar="P",
                   help="--disagreements lists contradictions the model is at least this sure of (default 0.5)")
    lib = p.add_argument_group("whole libraries", "also under torchrun / accelerate launch: each process scores a "
                               "share of the sorted files and process 0 merges the parts into OUT")
    lib.add_argument("--recursive", "-r", action="store_true", help="walk folders given as PATH, all the way down")
    lib.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                     help="score files in N worker processes, each with cores/N threads (default 1: in this process)")
    lib.add_argument("--resume", action="store_true",
                     help="keep the rows already in OUT (and the files listed in its errors) and add the rest")
    lib.add_argument("--retry-errors", action="store_true", help="with --resume: try the files listed as errors again")
    lib.add_argument("--device", default="auto", help="auto (a GPU when torch sees one), cpu, cuda or cuda:K")
    meta = p.add_argument_group("track metadata", "for models that read it (lstm_meta); other models ignore it. "
                                "A metadata model given none of its fields is left out, with a message.")
    meta.add_argument("--title", help="track title (applies to every file)")
    meta.add_argument("--artist", help="artist name (applies to every file)")
    for count in ("listens", "comments", "favorites"):
        meta.add_argument(f"--{count}", type=float, default=None, help=f"the track's {count} (applies to every file)")
    meta.add_argument("--metadata-csv", type=Path, default=None,
                      help="per-file metadata: a CSV with a path column and any of title,artist,listens,comments,"
                           "favorites; a file's row replaces the flags above")

    f = sub.add_parser("features", help="the 57 GTZAN feature columns, one row per file (or per window)")
    f.add_argument("files", nargs="+", type=Path)
    f.add_argument("--csv", type=Path, required=True)
    f.add_argument("--per-window", type=float, default=None, metavar="SECONDS",
                   help="one row per window of this many seconds instead of one per file")
    f.add_argument("--max-seconds", type=float, default=600.0, help="refuse files longer than this (default 10 min)")
    add_teach_parser(sub)
    add_space_parser(sub)
    for command in sub.choices.values():  # every subcommand: `predict song.mp3 --verbose`
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="let the libraries talk too (transformers' loading bars and warnings, the MP3 "
                                  "decoder's messages); default: only this program's own messages on stderr")
    return parser


def _fail(path: Path, err: Exception) -> None:
    print(f"{path}: {err}", file=sys.stderr)


def _write_csv(path: Path, header: Sequence[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def run_predict(args: argparse.Namespace) -> int:
    """Score each file with the ensemble; one table per label set (models are combined only
    within a label set, e.g. GTZAN's 10 genres apart from FMA's 8). The engine: :mod:`.library`."""
    return run_library(LibraryOptions(
        paths=args.files, out=args.csv, windows_out=args.windows_csv, recursive=args.recursive, jobs=args.jobs,
        resume=args.resume, retry_errors=args.retry_errors,
        models=ModelSpec(str(args.ensemble) if args.ensemble else None, tuple(args.model or ())),
        settings=ScoreSettings(args.hop, args.max_seconds, windows=args.windows_csv is not None,
                               wide_genres=args.wide_genres, disagreements=args.disagreements,
                               confidence=args.confidence),
        metadata=TrackMetadata(args.title, args.artist, args.listens, args.comments, args.favorites),
        metadata_csv=args.metadata_csv, device=args.device))


def _features_rows(path: Path, per_window: float | None, max_seconds: float) -> list[list]:
    blocks = stream_audio(path, SAMPLE_RATE, max_seconds=max_seconds)
    if per_window is None:
        y = np.concatenate(list(blocks) or [np.zeros(0, np.float32)])
        check_duration(len(y), SAMPLE_RATE)
        return [[path.name, len(y), *extract_features(y, SAMPLE_RATE)]]
    size = int(per_window * SAMPLE_RATE)
    rows = [[path.name, w.start / SAMPLE_RATE, w.end / SAMPLE_RATE, *extract_features(w.samples, SAMPLE_RATE)]
            for w in iter_windows(blocks, size, size) if w.end - w.start >= SAMPLE_RATE]
    if not rows:
        raise AudioLoadError("too_short", "The audio is shorter than 1 s.")
    return rows


def run_features(args: argparse.Namespace) -> int:
    lead = ["filename", "length"] if args.per_window is None else ["filename", "start", "end"]
    rows, failed = [], 0
    for path in args.files:
        try:
            rows.extend(_features_rows(path, args.per_window, args.max_seconds))
        except AudioLoadError as err:
            _fail(path, err)
            failed += 1
    _write_csv(args.csv, [*lead, *FEATURE_NAMES], rows)
    print(f"wrote {len(rows)} row(s) to {args.csv}")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with quiet.libraries(verbose=getattr(args, "verbose", False) or quiet.is_verbose()):
        try:
            return {"predict": run_predict, "features": run_features, "space": run_space,
                    "teach": run_teach}[args.command](args)
        except ValueError as err:  # a model that cannot be loaded, a bad option value
            print(f"error: {err}", file=sys.stderr)
            return 2
