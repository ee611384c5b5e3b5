"""Driving simulated time: jump from one due moment to the next, let the providers report
what happened meanwhile, feed in the events that occurred, advance again.

The demo and the end-to-end tests use it with the Prefect flows; anything that advances and
ingests (the plain functions, for instance) can drive it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from sandbox import SandboxClient
from touchline.clock import ManualClock
from touchline.db import Database
from touchline.demo.synthetic import write_lines
from touchline.record import Enrollment
from touchline.record.enrollments import ACTIVE

MAX_JUMP = timedelta(hours=6)
# What providers report within seconds (processed, delivered) arrives stamped near the
# send, not at the next jump.
SETTLE = timedelta(minutes=1)

Advance = Callable[[datetime], dict[str, Any]]
IngestFile = Callable[[Path, str, datetime], dict[str, Any]]


@dataclass
class Simulation:
    db: Database
    clock: ManualClock
    sandbox: SandboxClient
    advance: Advance
    ingest_file: IngestFile
    workdir: Path
    on_advance: Callable[[datetime, dict[str, Any]], None] = lambda _at, _run: None
    runs: int = 0

    def run_until(self, horizon: datetime, events: list[dict[str, Any]]) -> None:
        """Advance until ``horizon``, feeding each event in once its time has passed."""
        pending = sorted(events, key=lambda e: e["occurred_at"])
        batch = 0
        now = self.clock.now()
        while True:
            run = self.advance(now)
            self.runs += 1
            self.on_advance(now, run)
            if now >= horizon:
                return
            now = self.clock.advance(SETTLE)
            self.sandbox.set_time(now)
            with self.db.session() as session:
                next_due = session.execute(
                    select(func.min(Enrollment.next_action_at)).where(Enrollment.status == ACTIVE)
                ).scalar()
            now = self.clock.set(max(min(next_due or horizon, now + MAX_JUMP, horizon), now))
            self.sandbox.set_time(now)  # the engagement that happened by now is posted back
            due = [e for e in pending if datetime.fromisoformat(e["occurred_at"]) <= now]
            if due:
                pending = pending[len(due) :]
                batch += 1
                path = write_lines(
                    self.workdir / f"events-{batch:03d}.jsonl", [json.dumps(e) for e in due]
                )
                self.ingest_file(path, "shop", now)
                self.runs += 1
