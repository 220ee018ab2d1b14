"""Append-only CSV tables that survive ``kill -9``: what a library run writes as files finish.

Every append is one ``os.write`` of complete lines to a file opened with ``O_APPEND``: a process
killed at any moment leaves whole rows behind, and at worst (power cut, full disk) one torn last
line, which :func:`recover` cuts off before the next run appends. Rows are fsynced every
:data:`FSYNC_EVERY_ROWS` rows or :data:`FSYNC_EVERY_SECONDS` seconds, and on close.

A record ends at a newline outside quotes (an even number of ``"`` so far), so even a path with
a newline in it is read back whole. Text is UTF-8 with ``surrogateescape``: a file name that is
not valid UTF-8 round-trips to the same ``str`` the run compares paths with.
"""
from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

FSYNC_EVERY_ROWS = 64
FSYNC_EVERY_SECONDS = 5.0
ENCODING, ERRORS = "utf-8", "surrogateescape"


def encode_rows(columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> bytes:
    """CSV lines for ``rows`` (each must have exactly ``columns``), as one buffer."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row has columns {list(row)}, the table {list(columns)}")
        writer.writerow([row[c] for c in columns])
    return buf.getvalue().encode(ENCODING, ERRORS)


def complete_length(path: Path) -> int:
    """Bytes of ``path`` that hold complete records (all of it unless the last line is torn)."""
    good = pos = quotes = 0
    with open(path, "rb") as fh:
        for raw in fh:
            pos += len(raw)
            quotes += raw.count(b'"')
            if raw.endswith(b"\n") and quotes % 2 == 0:
                good = pos
    return good


def _lines(path: Path, limit: int) -> Iterator[str]:
    with open(path, "rb") as fh:
        pos = 0
        for raw in fh:
            pos += len(raw)
            if pos > limit:
                return
            yield raw.decode(ENCODING, ERRORS)


def read_table(path: Path) -> tuple[list[str] | None, Iterator[list[str]]]:
    """The header and an iterator over the complete records of ``path`` (a torn tail is ignored,
    never modified: other processes may read a table another one is writing).

    A missing or empty file has no header and no rows."""
    if not path.is_file():
        return None, iter(())
    reader = csv.reader(_lines(path, complete_length(path)))
    header = next(reader, None)
    return header, reader


def paths_in(path: Path) -> set[str]:
    """The first column (``path``) of every complete record of ``path``."""
    _, rows = read_table(path)
    return {row[0] for row in rows if row}


def rewrite(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    """Replace ``path`` atomically (write beside it, fsync, rename): a kill leaves the old or the new."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(encode_rows(columns, [dict(zip(columns, columns))]))
        for chunk in _chunks(rows, 4096):
            fh.write(encode_rows(columns, chunk))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _chunks(rows: Iterable[Mapping[str, str]], size: int) -> Iterator[list[Mapping[str, str]]]:
    chunk: list[Mapping[str, str]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def keep_rows(path: Path, keep: Callable[[str], bool]) -> int:
    """Drop the records whose path ``keep`` refuses (rewriting the file only when there are any,
    streaming: bounded memory); returns how many were dropped. Used to remove the rows of a file
    whose ledger row never came."""
    header, rows = read_table(path)
    if header is None:
        return 0
    dropped = sum(1 for row in rows if not (row and keep(row[0])))
    if dropped:
        _, rows = read_table(path)
        rewrite(path, header, (dict(zip(header, row)) for row in rows if row and keep(row[0])))
    return dropped


class Journal:
    """One append-only CSV table with a fixed header."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        self._fd: int | None = None
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def open(self, *, resume: bool) -> None:
        """Start the table (``resume=False``: afresh) or continue it: a torn last line is cut off,
        and a header that differs from this run's columns is an error (another model set wrote it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.is_file():
            good = complete_length(self.path)
            if good != self.path.stat().st_size:
                os.truncate(self.path, good)
            header, _ = read_table(self.path)
            if header is not None and header != self.columns:
                raise ValueError(f"{self.path} has the columns {header}, this run writes {self.columns}: "
                                 "use another output file, or drop --resume to start it afresh")
            fresh = header is None
        else:
            fresh = True
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if fresh else 0)
        self._fd = os.open(self.path, flags, 0o644)
        if fresh:
            self._write(encode_rows(self.columns, [dict(zip(self.columns, self.columns))]))
            self.sync()

    def append(self, rows: Sequence[Mapping[str, str]]) -> None:
        """Write ``rows`` with one ``os.write`` (complete lines), then fsync when one is due."""
        if not rows:
            return
        self._write(encode_rows(self.columns, rows))
        self._unsynced += len(rows)
        if self._unsynced >= FSYNC_EVERY_ROWS or time.monotonic() - self._synced_at >= FSYNC_EVERY_SECONDS:
            self.sync()

    def _write(self, data: bytes) -> None:
        assert self._fd is not None, "journal not open"
        view = memoryview(data)
        while view:  # a regular file takes it whole; a full disk raises, and recover() trims what it left
            view = view[os.write(self._fd, view):]

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
        self._unsynced, self._synced_at = 0, time.monotonic()

    def close(self) -> None:
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None


def csv_to_parquet(csv_path: Path, parquet_path: Path, string_columns: Sequence[str] = ("path", "genre")) -> int:
    """(Re)write ``parquet_path`` from a journal, streaming (bounded memory), atomically; returns
    the number of rows. ``string_columns`` stay text; the others get pyarrow's inferred types
    (the probabilities: float64)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    header, _ = read_table(csv_path)
    if header is None:
        raise ValueError(f"{csv_path} is empty")
    types = {c: pa.string() for c in string_columns if c in header}
    tmp = parquet_path.with_name(f".{parquet_path.name}.tmp-{os.getpid()}")
    n = 0
    # the journal has been recovered (no torn tail) before it is converted
    reader = pacsv.open_csv(pa.memory_map(str(csv_path)),
                            parse_options=pacsv.ParseOptions(newlines_in_values=True),
                            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))
    writer = None
    try:
        for batch in reader:
            if writer is None:
                writer = pq.ParquetWriter(tmp, batch.schema)
            writer.write_batch(batch)
            n += batch.num_rows
        if writer is None:  # no rows: an empty table with the journal's columns
            schema = pa.schema([(c, types.get(c, pa.float64())) for c in header])
            writer = pq.ParquetWriter(tmp, schema)
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, parquet_path)
    _fsync_dir(parquet_path.parent)
    return n
