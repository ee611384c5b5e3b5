"""The demo: the welcome journey, end to end, on a synthetic audience, in simulated time.

Everything is real but the time and the providers' far ends: events go through the intake
flow, journeys through the advance flow (Prefect, ephemeral mode), messages through the
SendGrid and Twilio SDKs over HTTP to the local emulators, engagement back through signed
webhooks into Touchline's API. The clock jumps from one due moment to the next, so three
days pass in seconds.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from sandbox import Sandbox, SandboxClient, SandboxConfig, SandboxServer, ThreadedApp
from touchline.clock import ManualClock
from touchline.config import get_settings, reset_settings_cache
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.demo.simulate import Simulation
from touchline.demo.synthetic import build_audience, write_lines
from touchline.intake import ingest, read_json_lines
from touchline.journeys import journey_files, load_journeys
from touchline.journeys.store import publish
from touchline.record import Interaction
from touchline.record.touches import SENT

# Monday afternoon in UTC: morning in the Americas, evening in Europe, night in Asia —
# the quiet hours of some customers are in force when the journey starts.
DEFAULT_START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
DAYS = 3


@dataclass
class DemoResult:
    home: Path
    database_url: str
    start: datetime
    customers: int
    wall_seconds: float = 0.0
    flow_runs: int = 0
    intake: dict[str, Any] = field(default_factory=dict)
    resend: dict[str, int] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # channel -> sent touches in the record
    emulator: dict[str, Any] = field(default_factory=dict)
    webhooks: dict[str, int] = field(default_factory=dict)

    @property
    def touches_sent(self) -> int:
        return sum(self.sent.values())

    @property
    def touches_per_second(self) -> float:
        return self.touches_sent / self.wall_seconds if self.wall_seconds else 0.0


def run_demo(
    *,
    customers: int = 1000,
    seed: int = 7,
    start: datetime = DEFAULT_START,
    home: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> DemoResult:
    began = time.perf_counter()
    home = (home or get_settings().home).resolve() / "demo"
    if home.exists():
        shutil.rmtree(home)  # every demo starts from nothing
    home.mkdir(parents=True)
    database_url = f"sqlite:///{home / 'touchline.db'}"
    result = DemoResult(home=home, database_url=database_url, start=start, customers=customers)
    clock = ManualClock(start)

    sandbox = Sandbox(SandboxConfig(state_dir=home / "sandbox"))
    with SandboxServer(sandbox) as emulators, ThreadedApp() as api:
        # The flows read their settings from the environment, like a deployed worker.
        os.environ.update(
            TOUCHLINE_DATABASE_URL=database_url,
            TOUCHLINE_SENDGRID_HOST=emulators.sendgrid_url,
            TOUCHLINE_TWILIO_BASE_URL=emulators.twilio_url,
            TOUCHLINE_PUBLIC_URL=api.url,
            TOUCHLINE_SENDGRID_WEBHOOK_PUBLIC_KEY=sandbox.signer.public_key_base64(),
        )
        reset_settings_cache()
        settings = get_settings()
        db = Database(database_url)
        db.upgrade()

        from flows import _runtime
        from flows.advance import advance_journeys
        from flows.intake import ingest_file
        from touchline.api import create_app

        _runtime.reset()
        api.start(create_app(settings, db, clock))
        control = SandboxClient(emulators.sendgrid_url)
        control.configure(event_webhook_url=f"{api.url}/webhooks/sendgrid/events")
        control.set_time(start)

        with db.session() as session:
            for loaded in load_journeys(
                journey_files(settings.journeys_dir), TemplateCatalog(settings.templates_dir)
            ):
                publish(session, loaded, start)

        audience = build_audience(customers, start, seed)
        signups = write_lines(home / "signups.jsonl", audience.signups)
        progress(f"{customers} sign-ups → intake flow")
        result.intake = ingest_file(str(signups), source="signup_form", as_of=start)
        result.flow_runs += 1
        with open(signups, encoding="utf-8") as stream:
            again = ingest(
                db, read_json_lines(stream), now=start, source=f"signup_form:{signups.name}"
            )
        result.resend = {
            "accepted": len(again.accepted),
            "duplicates": len(again.duplicates),
            "enrolled": again.enrolled,
        }
        result.rejected = [str(p) for p in again.rejected]

        simulation = Simulation(
            db=db,
            clock=clock,
            sandbox=control,
            advance=lambda at: advance_journeys(as_of=at),
            ingest_file=lambda path, source, at: ingest_file(str(path), source=source, as_of=at),
            workdir=home,
            on_advance=lambda at, run: (
                run["claimed"]
                and progress(
                    f"{at:%a %H:%M} UTC advance: {run['sent']} sent, {run['skipped']} skipped, {run['deferred']} deferred"
                )
            ),
        )
        simulation.run_until(start + timedelta(days=DAYS), audience.purchases)
        result.flow_runs += simulation.runs

        with db.session() as session:
            for channel, count in session.execute(
                select(Interaction.channel, func.count())
                .where(Interaction.kind == SENT)
                .group_by(Interaction.channel)
            ):
                result.sent[channel] = count
        stats = control.stats()
        result.emulator = {
            "emails": stats["accepted"]["sendgrid"],
            "sms": stats["accepted"]["twilio"],
            "duplicate_touches": stats["duplicate_touches"],
        }
        result.webhooks = stats["webhooks"]
        control.close()
    result.wall_seconds = time.perf_counter() - began
    return result
