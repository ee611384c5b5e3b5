"""Reading a segment file: CSV, streamed row by row, never held in memory.

The file needs a header with a ``customer_id`` column; any other columns travel with the
enrollment as ``segment.<column>`` for the templates (a store, an offer code). A bad row is
reported with its line number and skipped; the rest of the file still goes in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from touchline.csv_rows import CsvRows, RejectedRow
from touchline.errors import SegmentFileError

__all__ = ["CUSTOMER_COLUMN", "RejectedRow", "SegmentReader", "SegmentRow", "file_sha256"]

CUSTOMER_COLUMN = "customer_id"
MAX_ID_LENGTH = 128  # the record's customer.id column
HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class SegmentRow:
    line: int
    customer_id: str
    columns: dict[str, str] = field(default_factory=dict)


class SegmentReader:
    """Iterates a segment file's rows (the streaming and line numbering are
    ``touchline.csv_rows``'s)."""

    def __init__(self, path: Path):
        self.path = path
        self._rows = CsvRows(path, required=[CUSTOMER_COLUMN], error=SegmentFileError)
        self.size = self._rows.size

    @property
    def bytes_read(self) -> int:
        return self._rows.bytes_read

    def __iter__(self) -> Iterator[SegmentRow | RejectedRow]:
        key: int | None = None
        extra: list[tuple[int, str]] = []
        for row in self._rows:
            if isinstance(row, RejectedRow):
                yield row
                continue
            if key is None:
                key = self._rows.index(CUSTOMER_COLUMN)
                extra = [(i, name) for i, name in enumerate(self._rows.header) if i != key and name]
            yield _row(row.line, row.values, key, extra)


def _row(
    line: int, values: list[str], key: int, extra: list[tuple[int, str]]
) -> SegmentRow | RejectedRow:
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
