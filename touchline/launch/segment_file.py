"""Reading a segment file: CSV, streamed row by row, never held in memory.

The file needs a header with a ``customer_id`` column; any other columns travel with the
enrollment as ``segment.<column>`` for the templates (a store, an offer code). A bad row is
reported with its line number and skipped; the rest of the file still goes in.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from touchline.errors import Problem, SegmentFileError

CUSTOMER_COLUMN = "customer_id"
MAX_ID_LENGTH = 128  # the record's customer.id column
HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class SegmentRow:
    line: int
    customer_id: str
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class SegmentReader:
    """Iterates a segment file's rows; ``bytes_read`` feeds a progress bar without a
    counting pass over a file that may hold millions of rows."""

    def __init__(self, path: Path):
        self.path = path
        self.size = path.stat().st_size
        self.bytes_read = 0

    def __iter__(self) -> Iterator[SegmentRow | RejectedRow]:
        with self.path.open("rb") as raw:
            reader = csv.reader(self._lines(raw))
            header = self._header(reader)
            key = header.index(CUSTOMER_COLUMN)
            extra = [(i, name) for i, name in enumerate(header) if i != key and name]
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield RejectedRow(reader.line_num, f"unreadable CSV: {exc}")
                    continue
                if not any(v.strip() for v in values):
                    continue  # blank lines are not rows
                yield _row(reader.line_num, values, key, extra, len(header))

    def _lines(self, raw: BinaryIO) -> Iterator[str]:
        # utf-8-sig: spreadsheets save a byte-order mark that would otherwise become part
        # of the first column's name.
        first = True
        for line in raw:
            self.bytes_read += len(line)
            try:
                text = line.decode("utf-8-sig" if first else "utf-8")
            except UnicodeDecodeError:
                text = line.decode("utf-8", errors="replace")  # the row is rejected below
            first = False
            yield text

    def _header(self, reader: csv.Reader) -> list[str]:  # type: ignore[name-defined]
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise SegmentFileError(
                [Problem("", "the file is empty", source=str(self.path))]
            ) from None
        except csv.Error as exc:
            raise SegmentFileError(
                [Problem("header", f"unreadable: {exc}", source=str(self.path), line=1)]
            ) from exc
        if CUSTOMER_COLUMN not in header:
            found = ", ".join(h for h in header if h) or "none"
            raise SegmentFileError(
                [
                    Problem(
                        "header",
                        f"no '{CUSTOMER_COLUMN}' column (columns: {found})",
                        source=str(self.path),
                        line=1,
                    )
                ]
            )
        duplicated = sorted({h for h in header if h and header.count(h) > 1})
        if duplicated:
            raise SegmentFileError(
                [
                    Problem(
                        "header",
                        f"column names used twice: {', '.join(duplicated)}",
                        source=str(self.path),
                        line=1,
                    )
                ]
            )
        return header


def _row(
    line: int, values: list[str], key: int, extra: list[tuple[int, str]], width: int
) -> SegmentRow | RejectedRow:
    if len(values) != width:
        return RejectedRow(line, f"{len(values)} fields, the header has {width}")
    customer_id = values[key].strip()
    if not customer_id:
        return RejectedRow(line, f"{CUSTOMER_COLUMN} is empty")
    if len(customer_id) > MAX_ID_LENGTH:
        return RejectedRow(line, f"{CUSTOMER_COLUMN} is longer than {MAX_ID_LENGTH} characters")
    if "\ufffd" in customer_id:
        return RejectedRow(line, "not UTF-8 text")
    return SegmentRow(line, customer_id, {name: values[i] for i, name in extra})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while block := raw.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
