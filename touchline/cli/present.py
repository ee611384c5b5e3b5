"""Rich output shared by the commands: DataFrames as tables, timelines."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from touchline.timeline import Entry

KIND_STYLE = {
    "sent": "green", "delivered": "green", "opened": "bold green", "clicked": "bold green",
    "failed": "red", "bounced": "red", "undelivered": "red", "skipped": "yellow",
    "decision": "cyan", "event": "magenta", "consent": "blue", "converted": "bold magenta",
    "replied": "bold green", "received": "magenta", "identity": "blue", "merge": "bold blue",
    "suppressed": "red", "unsuppressed": "yellow",
}  # fmt: skip


def frame_table(frame: pd.DataFrame, title: str | None = None, index: bool = True) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    data = frame.reset_index() if index and not isinstance(frame.index, pd.RangeIndex) else frame
    for column in data.columns:
        numeric = pd.api.types.is_numeric_dtype(data[column])
        table.add_column(str(column), justify="right" if numeric else "left", overflow="fold")
    for row in data.itertuples(index=False):
        table.add_row(
            *[("" if pd.isna(v) else str(v)) if not isinstance(v, list) else str(v) for v in row]
        )
    return table


def when(at: datetime, now: datetime, zone: ZoneInfo | None = None) -> str:
    """A timeline date: the weekday and day, and the month and year when it is not the
    current year's (an event dated 2030 must not pass for this year's)."""
    local = at.astimezone(zone) if zone else at
    if local.year != now.year:
        return f"{local:%a %d %b %Y %H:%M}"
    return f"{local:%a %d %H:%M}" if zone is None else f"{local:%a %H:%M}"


def timeline_table(
    entries: list[Entry], customer_id: str, timezone: str | None, now: datetime | None = None
) -> Table:
    zone = ZoneInfo(timezone) if timezone else None
    now = now or datetime.now(UTC)
    table = Table(
        title=f"Timeline of {customer_id}" + (f" ({timezone})" if timezone else ""),
        title_justify="left",
        header_style="bold",
    )
    table.add_column("UTC", no_wrap=True)
    if zone:
        table.add_column("local", no_wrap=True)
    table.add_column("what", no_wrap=True)
    table.add_column("channel", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for entry in entries:
        style = KIND_STYLE.get(entry.kind, "")
        cells = [when(entry.at, now)]
        if zone:
            cells.append(when(entry.at, now, zone))
        cells += [
            f"[{style}]{entry.kind}[/]" if style else entry.kind,
            entry.channel or "",
            entry.summary,
        ]
        table.add_row(*cells)
    return table


# Piped into a file, less or grep, there is no terminal to fit: rich would fall back to 80
# columns and cut table headers to "enrollm…". Lay tables out at their natural width instead.
PIPED_WIDTH = 1000


def console(stderr: bool = False) -> Console:
    """The commands' console; when the stream is not a terminal (and COLUMNS does not say
    otherwise), wide enough that no header or cell is cut."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not stream.isatty() and not os.environ.get("COLUMNS")
    return Console(highlight=False, stderr=stderr, width=PIPED_WIDTH if piped else None)


def file_progress(out: Console, counters: str) -> Progress:
    """A progress bar for a file read as a stream: bytes read of the file's size, and the
    task's own ``counters`` (a format string over its fields, e.g. "{task.fields[n]:,} rows")."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn(counters),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=out,
        transient=True,
    )
