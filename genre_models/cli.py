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

from .audio import AudioLoadError, check_duration, stream_audio
from .features import FEATURE_NAMES, SAMPLE_RATE, extract_features
from .ensemble import Ensemble
from .metadata import MetadataRequiredError, TrackMetadata, metadata_for_file, read_metadata_csv
from .space import add_parser as add_space_parser, run_space
from .windows import iter_windows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m genre_models", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="genre and per-genre probabilities, one row per file")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--model", action="append", default=None, metavar="DIR_OR_HUB_ID",
                   help="model folder or Hub id; repeat to ensemble (default: the shipped ensemble of the GTZAN "
                        "features model and the musicnn genre model)")
    p.add_argument("--ensemble", type=Path, default=None, metavar="ENSEMBLE_JSON",
                   help="an ensemble.json (models with weights and temperatures, e.g. from finetune/ensemble.py); "
                        "--model adds to it")
    p.add_argument("--csv", type=Path, help="also write the rows to this CSV file")
    p.add_argument("--windows-csv", type=Path, help="write per-window probabilities (path,start,end,...) here")
    p.add_argument("--hop", type=float, default=None, help="seconds between window starts (default: the model's window)")
    p.add_argument("--max-seconds", type=float, default=None, help="refuse files longer than this")
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
    add_space_parser(sub)
    return parser


def _fail(path: Path, err: Exception) -> None:
    print(f"{path}: {err}", file=sys.stderr)


def _write_csv(path: Path, header: Sequence[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _group_path(path: Path, k: int, n_groups: int) -> Path:
    """Group 1 writes to ``path``; with several label sets, group k to ``<stem>.group<k><suffix>``."""
    return path if k == 0 or n_groups == 1 else path.with_name(f"{path.stem}.group{k + 1}{path.suffix}")


def run_predict(args: argparse.Namespace) -> int:
    """Score each file with the ensemble; one table per label set (models are combined only
    within a label set, e.g. GTZAN's 10 genres apart from FMA's 8)."""
    ensemble = Ensemble.from_file(args.ensemble, strict=True) if args.ensemble else None
    extra = Ensemble.load(args.model, strict=True) if args.model else None
    if ensemble is None:
        ensemble = extra or Ensemble.default()
    elif extra is not None:
        ensemble.members.extend(extra.members)
    for problem in ensemble.problems:  # only the default ensemble is lenient; named models are strict
        print(f"warning: {problem}", file=sys.stderr)
    groups = ensemble.groups()
    headers = [["path", "genre", *group[0].model.labels] for group in groups]
    rows: list[list[list[str]]] = [[] for _ in groups]
    window_rows: list[list[list[str]]] = [[] for _ in groups]
    if len(groups) > 1:
        for k, group in enumerate(groups):
            print(f"# label set {k + 1}: " + ", ".join(m.model.name for m in group), file=sys.stderr)
    else:
        print(",".join(headers[0]))
    failed = 0
    shared = TrackMetadata(args.title, args.artist, args.listens, args.comments, args.favorites)
    per_file = read_metadata_csv(args.metadata_csv) if args.metadata_csv else {}
    for path in args.files:
        metadata = metadata_for_file(path, per_file) or shared
        try:
            answers = ensemble.predict(path, hop_seconds=args.hop, max_seconds=args.max_seconds,
                                       metadata=metadata if metadata.given() else None)
        except (AudioLoadError, MetadataRequiredError) as err:  # no model could answer this file
            _fail(path, err)
            failed += 1
            continue
        for problem in answers[0].problems:  # e.g. a metadata model left out for this file
            print(f"{path}: {problem}", file=sys.stderr)
        for k, pred in enumerate(answers):
            row = [str(path), pred.genre, *(f"{p:.6f}" for p in pred.probs)]
            rows[k].append(row)
            if len(groups) == 1:
                print(",".join(row), flush=True)
            for member in pred.members or [pred]:
                for (start, end), probs in zip(member.window_spans, member.window_probs):
                    window_rows[k].append([str(path), member.model, f"{start:.3f}", f"{end:.3f}",
                                           *(f"{p:.6f}" for p in probs)])
    if len(groups) > 1:  # one block per label set, after all files
        for k in range(len(groups)):
            print(f"\n# label set {k + 1}")
            print(",".join(headers[k]))
            for row in rows[k]:
                print(",".join(row))
    for k in range(len(groups)):
        if args.csv:
            _write_csv(_group_path(args.csv, k, len(groups)), headers[k], rows[k])
        if args.windows_csv:
            _write_csv(_group_path(args.windows_csv, k, len(groups)),
                       ["path", "model", "start", "end", *headers[k][2:]], window_rows[k])
    return 1 if failed else 0


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
    try:
        return {"predict": run_predict, "features": run_features, "space": run_space}[args.command](args)
    except ValueError as err:  # a model that cannot be loaded, a bad option value
        print(f"error: {err}", file=sys.stderr)
        return 2
