"""A worker loop outside Prefect: claim, advance, repeat.

The advance-journeys flow is the operator's way to run the engine (schedules, UI, logs).
This loop is the same engine for a dedicated process — several of them side by side on
PostgreSQL, or a container that should just keep going. A SIGTERM lets the batch in hand
finish; a SIGKILL loses nothing either (leases expire, sends in doubt are looked up).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import datetime

from touchline.engine.advance import advance_next_batch
from touchline.engine.context import Engine
from touchline.engine.report import BatchReport

OnBatch = Callable[[int, BatchReport], None]


def run_worker(
    engine: Engine,
    now: Callable[[], datetime],
    *,
    batch_size: int | None = None,
    poll_seconds: float | None = None,
    on_batch: OnBatch = lambda _n, _r: None,
    stop: threading.Event | None = None,
) -> BatchReport:
    """Advance due work until none is left (``poll_seconds`` None) or until stopped."""
    stop = stop or threading.Event()
    total = BatchReport()
    number = 0
    while not stop.is_set():
        report = advance_next_batch(engine, now(), batch_size)
        if report.claimed:
            number += 1
            total.merge(report)
            on_batch(number, report)
        if report.aborted:
            break
        if not report.claimed:
            if poll_seconds is None:
                break
            stop.wait(poll_seconds)
    return total


def stop_on_sigterm() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the batch in hand finishes, then the loop ends."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
