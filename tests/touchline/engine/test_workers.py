"""Real worker processes: several side by side on the same due work, and one killed with
SIGKILL in the middle of a batch — compared afterwards with what the emulators received."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sandbox import SandboxClient, SandboxServer
from tests.conftest import START
from tests.touchline.engine.test_language import customer, journey, send
from touchline.config import Settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.launch import launch
from touchline.record import Enrollment, Interaction, Touch
from touchline.record.touches import DISPATCHING, TERMINAL_OUTCOMES

TOUCHLINE = str(Path(sys.executable).parent / "touchline")
CAMPAIGN = """key: blast
name: Blast
trigger: segment
reentry: every_event
context: {sale_code: SNOW25, sale_ends: December 6, shop_url: "https://shop.example"}
steps:
  - {id: announce, type: send, channel: preferred, template: winter_sale/announce}
"""


def audience(db: Database, catalog: TemplateCatalog, tmp_path: Path, count: int) -> Path:
    """Customers split between email-first and SMS-first, and a launched campaign file."""
    journey(db, catalog, CAMPAIGN)
    ids = [f"w{n}" for n in range(1, count + 1)]
    send(db, *(customer(c, order=["sms", "email"] if n % 2 else None) for n, c in enumerate(ids)))
    path = tmp_path / "segment.csv"
    path.write_text("customer_id\n" + "\n".join(ids) + "\n")
    return path


def worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [TOUCHLINE, "worker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )


def stamp(moment) -> str:  # typer's datetime option takes naive ISO times (UTC here)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def compare_with_emulators(db: Database, emulators: SandboxServer) -> tuple[int, int]:
    """Every sent touch reached its provider exactly once and nothing else did.
    Returns (touches sent, of which found at the provider after a crash)."""
    with db.session() as session:
        rows = session.execute(
            select(Touch.id, Interaction.kind, Interaction.detail)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(Touch.journey_key == "blast", Interaction.kind.in_(TERMINAL_OUTCOMES))
        ).all()
        enrollments = session.execute(
            select(Enrollment.status, func.count()).where(Enrollment.journey_key == "blast")
            .group_by(Enrollment.status)
        ).all()  # fmt: skip
    outcomes = Counter(tid for tid, _, _ in rows)
    assert max(outcomes.values()) == 1, "a touch has two outcomes"
    sent = {tid for tid, kind, _ in rows if kind == "sent"}
    accepted = Counter()
    for (_provider, tid), n in emulators.sandbox.accepted_by_touch.items():
        accepted[tid] += n
    campaign = {tid: n for tid, n in accepted.items() if tid in outcomes}
    assert all(n == 1 for n in campaign.values()), Counter(campaign.values())
    assert set(campaign) == sent
    assert dict(enrollments) == {"completed": len(outcomes)}
    return len(sent), sum(1 for _, kind, d in rows if kind == "sent" and d.get("reconciled"))


def in_doubt(db: Database) -> int:
    """Touches with a send attempt under way and no outcome: what a crash leaves behind."""
    with db.session() as session:
        marked = set(
            session.execute(
                select(Interaction.touch_id).where(Interaction.kind == DISPATCHING)
            ).scalars()
        )
        settled = set(
            session.execute(
                select(Interaction.touch_id).where(Interaction.kind.in_(TERMINAL_OUTCOMES))
            ).scalars()
        )
    return len(marked - settled)


def test_a_worker_killed_mid_batch_leaves_every_step_executed_once(
    settings: Settings, db: Database, catalog: TemplateCatalog, emulators: SandboxServer,
    sandbox_client: SandboxClient, tmp_path: Path,
) -> None:  # fmt: skip
    segment = audience(db, catalog, tmp_path, 200)
    launch(db, "blast", segment, now=START)
    sandbox_client.set_time(START)
    # Slow providers keep a batch's requests in flight long enough to die in the middle.
    for provider in ("sendgrid", "twilio"):
        sandbox_client.faults(provider, latency_ms=40)

    first = worker("--as-of", stamp(START))
    accepted = emulators.sandbox.accepted_by_touch
    deadline = time.monotonic() + 60
    while sum(accepted.values()) < 40:
        assert first.poll() is None, first.stdout.read() if first.stdout else ""
        assert time.monotonic() < deadline, "the worker never got going"
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    time.sleep(0.3)  # requests the emulators were serving when the worker died complete
    assert first.returncode == -signal.SIGKILL
    left_in_doubt = in_doubt(db)
    assert left_in_doubt > 0, "the kill did not land in the middle of a dispatch"

    # The first worker's lease must run out before anyone else may take its batch.
    restarted = worker("--as-of", stamp(START + timedelta(seconds=settings.lease_seconds + 1)))
    output, _ = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, output

    sent, reconciled = compare_with_emulators(db, emulators)
    assert sent == 200
    assert reconciled >= 1, "no in-flight message was found at the provider"
    print(f"killed with {left_in_doubt} touches in doubt; {reconciled} found at the provider")
    assert in_doubt(db) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # SKIP LOCKED is PostgreSQL's
def test_workers_side_by_side_on_postgresql_never_execute_a_step_twice(
    settings: Settings, db: Database, catalog: TemplateCatalog, emulators: SandboxServer,
    sandbox_client: SandboxClient, tmp_path: Path,
) -> None:  # fmt: skip
    assert db.is_postgres
    segment = audience(db, catalog, tmp_path, 600)
    for provider in ("sendgrid", "twilio"):
        sandbox_client.faults(provider, latency_ms=10)
    workers = [
        worker("--as-of", stamp(START), "--batch-size", "20", "--poll", "0.05") for _ in range(3)
    ]
    outputs: list[list[str]] = [[] for _ in workers]
    readers = [
        threading.Thread(target=lambda p=p, out=out: out.extend(p.stdout), daemon=True)
        for p, out in zip(workers, outputs, strict=True)
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 60
    while not all(any("started" in line for line in out) for out in outputs):
        assert time.monotonic() < deadline, outputs
        time.sleep(0.05)

    # All three are polling; the work appears at once and they race for it.
    launch(db, "blast", segment, now=START)
    while True:
        with db.session() as session:
            active = session.execute(
                select(func.count()).where(Enrollment.journey_key == "blast", Enrollment.status == "active")
            ).scalar_one()  # fmt: skip
        if not active:
            break
        assert time.monotonic() < deadline + 120, f"{active} enrollments still active"
        time.sleep(0.1)
    for process in workers:
        process.send_signal(signal.SIGTERM)
    for process, reader in zip(workers, readers, strict=True):
        assert process.wait(30) == 0
        reader.join(5)

    batches = [sum(1 for line in out if line.startswith("batch ")) for out in outputs]
    assert all(n > 0 for n in batches), batches  # every worker took part
    claimed = sum(
        int(line.split(": ")[1].split()[0])
        for out in outputs
        for line in out
        if line.startswith("batch ")
    )
    assert claimed == 600  # no enrollment was claimed by two workers
    sent, _ = compare_with_emulators(db, emulators)
    assert sent == 600
