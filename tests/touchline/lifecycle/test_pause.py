"""A pause takes effect at once: during a large batch against a provider answering after
50 ms, no provider request starts after the pause is committed — on SQLite and PostgreSQL,
the pause committed by another thread (the bench does it from another process). The held
enrollments wait at their step and go on, each exactly once, when the journey resumes."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import create_engine, func, select

from channels import EmailMessage, build_channels
from sandbox import SandboxClient, SandboxServer
from tests.conftest import START
from tests.touchline.engine.test_language import advance, customer, journey, send
from touchline.config import Settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine
from touchline.engine.dispatch import HaltDeferred, Outgoing, RetryPolicy, dispatch
from touchline.launch import launch
from touchline.lifecycle.fence import _postgres_gate
from touchline.lifecycle.states import LIVE, PAUSED, change_state
from touchline.record import Enrollment, Interaction, JourneyStateChange, Touch
from touchline.record.enrollments import ACTIVE
from touchline.record.touches import SENT

CAMPAIGN = """key: blast
name: Blast
trigger: segment
reentry: every_event
context: {sale_code: SNOW25, sale_ends: December 6, shop_url: "https://shop.example"}
steps:
  - {id: announce, type: send, channel: email, template: winter_sale/announce}
"""
COUNT = 300


def audience(db: Database, catalog: TemplateCatalog, tmp_path: Path, count: int) -> Path:
    journey(db, catalog, CAMPAIGN)
    ids = [f"p{n}" for n in range(count)]
    send(db, *(customer(c) for c in ids))
    path = tmp_path / "segment.csv"
    path.write_text("customer_id\n" + "\n".join(ids) + "\n")
    return path


def test_no_request_starts_after_the_pause_is_committed(
    engine: Engine,
    db: Database,
    catalog: TemplateCatalog,
    emulators: SandboxServer,
    sandbox_client: SandboxClient,
    tmp_path: Path,
) -> None:
    launch(db, "blast", audience(db, catalog, tmp_path, COUNT), now=START)
    sandbox_client.faults("sendgrid", latency_ms=50)
    engine = replace(
        engine, settings=engine.settings.model_copy(update={"dispatch_concurrency": 8})
    )
    log = emulators.sandbox.request_log

    worker = threading.Thread(target=advance, args=(engine, START))
    worker.start()
    deadline = time.monotonic() + 60
    while len(log) < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    pause_issued = time.time()
    change = change_state(db, "blast", PAUSED, reason="wrong price in the email", who="test",
                          now=START)  # fmt: skip
    worker.join(60)
    assert not worker.is_alive()

    requests = list(log)
    started_after = [r for r in requests if r["started"] > change.committed_at]
    assert started_after == []
    # Requests were in flight when the pause was asked; it waited for them, no longer.
    assert 40 <= len(requests) < COUNT
    assert max(r["answered"] for r in requests) <= change.committed_at
    assert change.committed_at - pause_issued < 5

    with db.session() as session:
        sent = session.scalar(select(func.count()).where(Interaction.kind == SENT))
        held = session.execute(
            select(Enrollment.current_step, func.count())
            .where(Enrollment.status == ACTIVE).group_by(Enrollment.current_step)
        ).all()  # fmt: skip
        [stored] = session.execute(select(JourneyStateChange)).scalars().all()
    assert sent == len(requests)  # every request the provider saw is recorded as sent
    # Everybody else holds at the send step, nothing lost.
    assert held == [("announce", COUNT - sent)]
    assert (stored.from_state, stored.to_state, stored.changed_by) == ("live", "paused", "test")
    assert stored.reason == "wrong price in the email"

    # While paused, runs claim nothing of this journey.
    assert advance(engine, START).claimed == 0
    assert len(log) == len(requests)

    change_state(db, "blast", LIVE, reason="price fixed", who="test", now=START)
    sandbox_client.faults("sendgrid")
    advance(engine, START)
    stats = sandbox_client.stats()
    assert stats["accepted"]["sendgrid"] == COUNT
    assert not stats["duplicate_touches"]
    with db.session() as session:
        assert session.scalar(select(func.count()).where(Interaction.kind == SENT)) == COUNT
        assert session.scalar(select(func.count()).select_from(Touch)) == COUNT


def test_a_state_that_cannot_be_read_sends_nothing(
    settings: Settings, sandbox_client: SandboxClient
) -> None:
    """The safe answer when the fence cannot read the journey's state (the database is
    gone): not sending — the journey may have been paused. Nothing reaches the provider."""
    broken = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none",
                           connect_args={"connect_timeout": 2})  # fmt: skip
    outgoing = [
        Outgoing(f"t{i}", "email", EmailMessage(f"t{i}", f"c{i}@example.com", "s", "h", "t"))
        for i in range(5)
    ]
    results = dispatch(build_channels(settings), outgoing, concurrency=2,
                       retry=RetryPolicy(), halt=_postgres_gate(broken, "blast"))  # fmt: skip
    assert all(isinstance(r.error, HaltDeferred) and r.not_attempted for r in results)
    assert "journey state unreadable (OperationalError)" in results[0].error.message
    assert sandbox_client.request_log() == []
