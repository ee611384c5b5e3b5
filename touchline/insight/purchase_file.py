"""Purchase history from a CSV file into the record, as purchase events through intake.

Any column layout: the caller names the columns for customer, date and amount (and
optionally currency and order id). Each good row becomes one event (type
``order.placed`` unless told otherwise) with the amount in the payload field the RFM reads
(``settings.purchase_amount_field``). Bad rows — no customer, a date that cannot be read or
has no time zone (unless ``timezone`` is given for the file), an amount that is not a
number or is negative — are rejected with their line number; the rest of the file goes in.

Event ids are deterministic, so importing the same file again loads nothing twice:

- with an order-id column: ``<type>:<order id>``. A file that overlaps an earlier one loads
  only the new orders; an order id repeated inside the file is loaded once and the repeat
  is reported with the line it repeats;
- without one: a digest of the file's content (SHA-256) and the line number. Two identical
  rows (same customer, time and amount) are two purchases — a shop's export without order
  ids has real repeat purchases that look alike, and merging them lost sales. The price: a
  *different* file holding the same rows (an overlapping export) loads them again, so give
  ``--id`` when exports overlap.

Rows not loaded because they were loaded before are listed with their line and why
(``PurchaseImportReport.duplicates``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from touchline.config import Settings, get_settings
from touchline.csv_rows import CsvRow, CsvRows, RejectedRow
from touchline.db import Database
from touchline.intake.ingest import Item, ingest
from touchline.intake.schema import ID_PATTERN
from touchline.launch.segment_file import file_sha256

SOURCE = "purchase_import"
MAX_ID_LENGTH = 128
_NAMESPACE = uuid.UUID("5a0e3f4b-9c2d-4e7a-8b1f-2d6c7e9a0b13")


@dataclass(frozen=True)
class PurchaseColumns:
    customer: str
    date: str
    amount: str
    currency: str | None = None
    id: str | None = None

    def required(self) -> list[str]:
        named = [self.customer, self.date, self.amount, self.currency, self.id]
        return [c for c in named if c]


@dataclass
class PurchaseImportReport:
    event_type: str
    rows_read: int = 0
    loaded: int = 0
    already_loaded: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    # Rows not loaded because they already were (line, why), in line order.
    duplicates: list[RejectedRow] = field(default_factory=list)
    enrolled: int = 0
    exited: int = 0
    converted: int = 0

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)


def parse_instant(value: str, zone: ZoneInfo | None) -> datetime:
    """ISO 8601 with a time zone; a bare date or local time only with ``zone``."""
    text = value.strip()
    if not text:
        raise ValueError("the date is empty")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not a date; write ISO 8601, e.g. 2026-11-23T09:12:00+01:00"
        ) from None
    if parsed.tzinfo is None:
        if zone is None:
            raise ValueError(
                f"'{text}' has no time zone; write one (2026-11-23T09:12:00+01:00, …Z) "
                "or give the file's with --timezone"
            )
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def parse_amount(value: str) -> float:
    text = value.strip()
    try:
        amount = float(text)
    except ValueError:
        raise ValueError(f"amount '{text}' is not a number (write 1234.50)") from None
    if not math.isfinite(amount):
        raise ValueError(f"amount '{text}' is not a number (write 1234.50)")
    if amount < 0:
        raise ValueError(f"amount {text} is negative; refunds are not purchases")
    return amount


def purchase_event_id(event_type: str, order_id: str | None, file_digest: str, line: int) -> str:
    """From the order id when there is one, else from the file's content and the line."""
    if order_id:
        candidate = f"{event_type}:{order_id}"
        if len(candidate) <= MAX_ID_LENGTH and ID_PATTERN.match(candidate):
            return candidate
        return f"{event_type}:{uuid.uuid5(_NAMESPACE, 'order' + chr(31) + order_id)}"
    digest = uuid.uuid5(_NAMESPACE, f"file{chr(31)}{file_digest}{chr(31)}{line}")
    return f"{event_type}:{digest}"


class PurchaseFile:
    """A purchase CSV read as events: yields (line, event) items for intake; bad rows land in
    ``rejected`` with their line numbers."""

    def __init__(
        self,
        path: Path,
        columns: PurchaseColumns,
        *,
        event_type: str,
        amount_field: str,
        timezone: ZoneInfo | None = None,
    ):
        self.path = path
        self.columns = columns
        self.event_type = event_type
        self.amount_field = amount_field
        self.zone = timezone
        self.rows = CsvRows(path, required=columns.required())
        self.rejected: list[RejectedRow] = []
        self.rows_read = 0
        # Ids only mean "this line of this content" without an order-id column.
        self.digest = "" if columns.id else file_sha256(path)
        self.lines: dict[str, int] = {}  # event id -> the line it came from
        self.repeated: list[RejectedRow] = []  # order ids repeated inside this file

    @property
    def size(self) -> int:
        return self.rows.size

    @property
    def bytes_read(self) -> int:
        return self.rows.bytes_read

    def __iter__(self) -> Iterator[Item]:
        for row in self.rows:
            self.rows_read += 1
            if isinstance(row, RejectedRow):
                self.rejected.append(row)
                continue
            try:
                event = self._event(row)
            except ValueError as exc:
                self.rejected.append(RejectedRow(row.line, str(exc)))
                continue
            first = self.lines.setdefault(str(event["id"]), row.line)
            if first != row.line:
                order = event["payload"]["order_id"]  # type: ignore[index]
                self.repeated.append(
                    RejectedRow(row.line, f"order id {order} repeats line {first}")
                )
                continue
            yield row.line, event

    def _value(self, row: CsvRow, column: str | None) -> str | None:
        if column is None:
            return None
        return row.values[self.rows.index(column)].strip()

    def _event(self, row: CsvRow) -> dict[str, object]:
        customer = self._value(row, self.columns.customer) or ""
        if not customer:
            raise ValueError(f"{self.columns.customer} is empty")
        if "\ufffd" in customer:
            raise ValueError("not UTF-8 text")
        if len(customer) > MAX_ID_LENGTH or not ID_PATTERN.match(customer):
            raise ValueError(
                f"{self.columns.customer} '{customer[:40]}' is not a customer id "
                "(1-128 letters, digits and . _ : @ -)"
            )
        at = parse_instant(self._value(row, self.columns.date) or "", self.zone)
        amount = parse_amount(self._value(row, self.columns.amount) or "")
        currency = self._value(row, self.columns.currency) or None
        order_id = self._value(row, self.columns.id) or None
        if self.columns.id and not order_id:
            raise ValueError(f"{self.columns.id} is empty")
        payload: dict[str, object] = {self.amount_field: amount}
        if currency:
            payload["currency"] = currency.upper()
        if order_id:
            payload["order_id"] = order_id
        return {
            "id": purchase_event_id(self.event_type, order_id, self.digest, row.line),
            "type": self.event_type,
            "customer_id": customer,
            "occurred_at": at.isoformat(),
            "payload": payload,
        }


def import_purchases(
    db: Database,
    path: Path,
    columns: PurchaseColumns,
    *,
    now: datetime,
    event_type: str | None = None,
    timezone: str | None = None,
    batch_size: int = 1000,
    on_progress: Callable[[PurchaseImportReport, int, int], None] | None = None,
    settings: Settings | None = None,
) -> PurchaseImportReport:
    """Load a purchase CSV through intake, in batches of ``batch_size`` events."""
    settings = settings or get_settings()
    kind = event_type or settings.purchase_event_types[0]
    source = PurchaseFile(
        path, columns, event_type=kind, amount_field=settings.purchase_amount_field,
        timezone=ZoneInfo(timezone) if timezone else None,
    )  # fmt: skip
    report = PurchaseImportReport(event_type=kind)

    def progress(_: int) -> None:
        report.rows_read = source.rows_read
        if on_progress:
            on_progress(report, source.bytes_read, source.size)

    intake = ingest(
        db, source, now=now, source=SOURCE, batch_size=batch_size, on_progress=progress,
        settings=settings,
    )  # fmt: skip
    report.rows_read = source.rows_read
    report.loaded = len(intake.accepted)
    loaded_before = [
        RejectedRow(
            source.lines[event_id],
            "its order id is already in the record (loaded before)"
            if columns.id
            else "this file was loaded before (same content, same line)",
        )
        for event_id in intake.duplicates
    ]
    report.duplicates = sorted(loaded_before + source.repeated, key=lambda r: r.line)
    report.already_loaded = len(report.duplicates)
    report.enrolled, report.exited, report.converted = (
        intake.enrolled, intake.exited, intake.converted,
    )  # fmt: skip
    rejected = list(source.rejected)
    # Intake's own checks (an event it refuses) come back with the line we gave it.
    rejected += [RejectedRow(p.line or 0, f"{p.field}: {p.message}") for p in intake.rejected]
    report.rejected = sorted(rejected, key=lambda r: r.line)
    if on_progress:
        on_progress(report, source.size, source.size)
    return report
