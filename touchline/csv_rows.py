"""A CSV file's rows, streamed one at a time and numbered by line: shared by the readers of
segment files (``touchline launch``) and purchase files (``touchline import purchases``).

The header is checked before any row is read (empty file, unreadable, a column named
twice, a required column missing): such a file cannot be read at all and raises. A bad row
(unreadable CSV, the wrong number of fields) is yielded as a ``RejectedRow`` naming its line,
and the rest of the file is still read. ``bytes_read`` feeds a progress bar without a
counting pass over a file that may hold millions of rows.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from touchline.errors import Problem, ValidationError


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: list[str]


class CsvRows:
    """Iterates a CSV file's data rows (blank lines skipped); ``header`` is set once the
    iteration started. A file that cannot be read at all raises ``error``."""

    def __init__(
        self,
        path: Path,
        *,
        required: Sequence[str] = (),
        error: type[ValidationError] = ValidationError,
    ):
        self.path = path
        self.size = path.stat().st_size
        self.bytes_read = 0
        self.required = tuple(required)
        self.error = error
        self.header: list[str] = []

    def __iter__(self) -> Iterator[CsvRow | RejectedRow]:
        with self.path.open("rb") as raw:
            feed = _LineFeed(self._lines(raw))
            reader = csv.reader(feed)
            self.header = self._header(reader)
            width = len(self.header)
            while True:
                feed.start_record()
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    values, error = None, exc
                else:
                    error = None
                record = feed.record
                first = record[0][0] if record else feed.line
                if len(record) > 1 and (
                    error is not None or len(values or ()) != width or _unclosed(record)
                ):
                    # A quote opened and never closed swallows every line after it into one
                    # field: blame the line where it opened, and read the lines it swallowed
                    # again as the rows they are — none is lost without a word.
                    yield RejectedRow(
                        first,
                        "a quote opened on this line is never closed (it ran on to line "
                        f"{record[-1][0]}); close it or remove it — the lines after it are read again",
                    )
                    feed.replay(record[1:])
                    reader = csv.reader(feed)  # a fresh parser: the old one is mid-field
                    continue
                if error is not None:
                    yield RejectedRow(first, f"unreadable CSV: {error}")
                    continue
                assert values is not None
                if not any(v.strip() for v in values):
                    continue  # blank lines are not rows
                if len(values) != width:
                    yield RejectedRow(first, f"{len(values)} fields, the header has {width}")
                    continue
                yield CsvRow(first, values)

    def index(self, column: str) -> int:
        return self.header.index(column)

    def _lines(self, raw: BinaryIO) -> Iterator[str]:
        # utf-8-sig: spreadsheets save a byte-order mark that would otherwise become part
        # of the first column's name.
        first = True
        for line in raw:
            self.bytes_read += len(line)
            try:
                text = line.decode("utf-8-sig" if first else "utf-8")
            except UnicodeDecodeError:
                # U+FFFD marks the damage; readers reject a row whose key field has it.
                text = line.decode("utf-8", errors="replace")
            first = False
            yield text

    def _fail(self, field: str, message: str, line: int | None = 1) -> ValidationError:
        return self.error([Problem(field, message, source=str(self.path), line=line)])

    def _header(self, reader: Any) -> list[str]:  # type: ignore[name-defined]
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise self._fail("", "the file is empty", line=None) from None
        except csv.Error as exc:
            raise self._fail("header", f"unreadable: {exc}") from exc
        found = ", ".join(h for h in header if h) or "none"
        for column in self.required:
            if column not in header:
                raise self._fail("header", f"no '{column}' column (columns: {found})")
        duplicated = sorted({h for h in header if h and header.count(h) > 1})
        if duplicated:
            raise self._fail("header", f"column names used twice: {', '.join(duplicated)}")
        return header


def _unclosed(record: list[tuple[int, str]]) -> bool:
    """Whether a record that spans lines only ended because the file did, inside a quote
    (the lenient parser returns such a record whole; the strict one says so)."""
    try:
        list(csv.reader(io.StringIO("".join(text for _, text in record)), strict=True))
    except csv.Error:
        return True
    return False


class _LineFeed:
    """The file's lines for the csv parser, numbered, remembering the lines of the record
    being parsed so that they can be fed again (after an unclosed quote)."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self._pending: deque[tuple[int, str]] = deque()
        self.line = 0  # the number of the last line read from the file
        self.record: list[tuple[int, str]] = []

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self._pending:
            number, text = self._pending.popleft()
        else:
            text = next(self._lines)
            self.line += 1
            number = self.line
        self.record.append((number, text))
        return text

    def start_record(self) -> None:
        self.record = []

    def replay(self, lines: list[tuple[int, str]]) -> None:
        self._pending.extendleft(reversed(lines))
