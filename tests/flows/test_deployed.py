"""Touchline deployed: a real Prefect server (its own database on SQLite, then on
PostgreSQL), `prefect deploy --all`, process workers, the API and the emulators — each a
process of its own, started by `touchline serve`'s supervisor on free ports. An event posted
over HTTP reaches the provider through a flow run of the `advance-continuously` deployment,
and two workers advancing the same journey at once send nothing twice.

These are the slow, whole-system tests (about a minute per stack); their ids say which
Prefect database they run on.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sandbox import SandboxClient
from tests.conftest import PG_ADMIN_URL, _postgres_reachable
from tests.served import post_events, served, stack_plan, wait
from touchline.db import Database
from touchline.record import Consent, Interaction, Touch
from touchline.serve import RunningStack

pytestmark = [pytest.mark.prefect]
CONTINUOUS = "advance-continuously/advance-continuously"


class _Postgres:
    """Fresh databases on the PostgreSQL at 127.0.0.1:5432, dropped afterwards."""

    def __init__(self) -> None:
        import psycopg

        self._psycopg = psycopg
        self._admin = PG_ADMIN_URL.replace("+psycopg", "")
        self.names: list[str] = []

    def create(self, prefix: str) -> str:
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with self._psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def drop_all(self) -> None:
        with self._psycopg.connect(self._admin, autocommit=True) as conn:
            for name in self.names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    scope="module",
    params=["prefect-on-sqlite", pytest.param("prefect-on-postgresql", marks=pytest.mark.postgres)],
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """The whole system. On PostgreSQL: Touchline's record there too, and two workers that
    take one flow run each, so two runs advance the same journey at once."""
    on_postgres = request.param == "prefect-on-postgresql"
    postgres: _Postgres | None = None
    if on_postgres:
        if reason := _postgres_reachable():
            if os.environ.get("CI"):
                pytest.fail(
                    f"CI has PostgreSQL at 127.0.0.1:5432, but it does not answer: {reason}"
                )
            pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({reason})")
        postgres = _Postgres()
    home = tmp_path_factory.mktemp(request.param)
    try:
        plan = stack_plan(
            home,
            database_url=postgres.create("touchline_deployed") if postgres else "",
            prefect_database_url=postgres.create("prefect") if postgres else "",
            workers=2 if on_postgres else 1,
            worker_limit=1 if on_postgres else None,
            # Small batches, so that two runs both find work in a few hundred enrollments.
            extra_env={"TOUCHLINE_BATCH_SIZE": "20",
                       # The workers' logs say which flow runs each one took.
                       "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "INFO"},
            timeout=120,
        )  # fmt: skip
        with served(plan) as running:
            yield running
    finally:
        if postgres:
            postgres.drop_all()


def _signup(customer_id: str) -> dict[str, Any]:
    return {
        "id": f"signup-{customer_id}",
        "type": "customer.signed_up",
        "customer_id": customer_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "profile": {"email": f"{customer_id}@example.com", "attributes": {"first_name": "Ada"}},
        "consents": [{"channel": "email", "purpose": "marketing", "status": "granted"}],
    }


class _Prefect:
    """Prefect's own client, pointed at the stack's server."""

    def __init__(self, api_url: str):
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        self._settings = temporary_settings({PREFECT_API_URL: api_url})
        self._settings.__enter__()
        self.client = get_client(sync_client=True)
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self._settings.__exit__(None, None, None)

    def runs(self, deployment: str, state: str | None = None) -> list[Any]:
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )  # fmt: skip

        found = self.client.read_deployment_by_name(deployment)
        flow_runs = None
        if state:
            flow_runs = FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[state]))
            )
        return self.client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            flow_run_filter=flow_runs,
        )

    def batches_since(self, flow_run_id: Any, since: datetime) -> list[Any]:
        """The run's completed batch task runs that started after ``since``."""
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        tasks = self.client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        return [
            t for t in tasks
            if t.name.startswith("batch ") and t.state and t.state.is_completed()
            and t.start_time and t.start_time >= since
        ]  # fmt: skip


@pytest.fixture
def prefect(stack: RunningStack) -> Iterator[_Prefect]:
    client = _Prefect(stack.plan.prefect_api_url)
    yield client
    client.close()


@pytest.fixture
def emulator(stack: RunningStack) -> Iterator[SandboxClient]:
    client = SandboxClient(stack.plan.sendgrid_url)
    yield client
    client.close()


def test_an_event_posted_over_http_reaches_the_provider_through_a_deployed_flow_run(
    stack: RunningStack, prefect: _Prefect, emulator: SandboxClient
) -> None:
    [running] = wait(
        "a running advance-continuously flow run",
        lambda: prefect.runs(CONTINUOUS, "RUNNING")[:1],
    )
    customer = f"d{uuid.uuid4().hex[:8]}"
    posted_at = datetime.now(UTC)
    assert post_events(stack, [_signup(customer)])["enrolled"] == 1

    [email] = wait(
        "the welcome email at the SendGrid emulator",
        lambda: emulator.emails(to=f"{customer}@example.com"),
    )
    db = Database(stack.plan.database_url)
    try:
        with db.session() as session:
            touch = session.get(Touch, email["touch_id"])
            sent = session.execute(
                select(Interaction.kind).where(Interaction.touch_id == touch.id)
            ).scalars().all()  # fmt: skip
    finally:
        db.dispose()
    assert (touch.customer_id, touch.journey_key, touch.step_id) == (
        customer, "welcome", "welcome_email",
    )  # fmt: skip
    assert "sent" in sent
    assert emulator.stats()["duplicate_touches"] == {}
    # The work was done by a batch task run of a deployed advance-continuously run.
    batches = wait(
        "the batch task run recorded by Prefect",
        lambda: [
            (run, batch)
            for run in prefect.runs(CONTINUOUS)
            for batch in prefect.batches_since(run.id, posted_at)
        ],
        timeout=30,
    )
    assert {run.id for run, _ in batches} <= {r.id for r in prefect.runs(CONTINUOUS)}
    assert running.deployment_id is not None


def test_the_schedules_put_runs_in_place(stack: RunningStack, prefect: _Prefect) -> None:
    """The server's scheduler creates the next runs of every scheduled deployment: this is
    what keeps an advance-continuously run polling after the first one's window ends."""
    for deployment in ("advance-journeys/advance-journeys", CONTINUOUS):
        wait(
            f"scheduled runs of {deployment}",
            lambda deployment=deployment: [
                r for r in prefect.runs(deployment, "SCHEDULED") if r.auto_scheduled
            ],
            timeout=30,
        )


@pytest.mark.postgres
@pytest.mark.parametrize("stack", ["prefect-on-postgresql"], indirect=True)
def test_two_workers_advance_the_same_journey_at_once_without_sending_twice(
    stack: RunningStack, prefect: _Prefect, emulator: SandboxClient
) -> None:
    deployment = prefect.client.read_deployment_by_name(CONTINUOUS)
    if len(prefect.runs(CONTINUOUS, "RUNNING")) < 2:
        prefect.client.create_flow_run_from_deployment(deployment.id, tags=["second-runner"])
    runs = wait(
        "two advance-continuously runs at once", lambda: prefect.runs(CONTINUOUS, "RUNNING")[1:] and
        prefect.runs(CONTINUOUS, "RUNNING"), timeout=120,
    )  # fmt: skip
    # Each worker takes one flow run at most (--limit 1): two running runs are two workers.
    logs = {path.name: path.read_text() for path in Path(stack.plan.logs).glob("worker-*.log")}
    owners = {run.id: [n for n, text in logs.items() if f"submitting flow run '{run.id}'" in text]
              for run in runs}  # fmt: skip
    assert len({owner for names in owners.values() for owner in names}) == 2, owners

    emulator.reset()
    count = 400
    prefix = f"t{uuid.uuid4().hex[:6]}"
    posted_at = datetime.now(UTC)
    result = post_events(stack, [_signup(f"{prefix}{n:04d}") for n in range(count)])
    assert result["enrolled"] == count

    wait(
        f"{count} welcome emails at the emulator",
        lambda: emulator.stats()["accepted"]["sendgrid"] >= count,
        timeout=120,
    )
    time.sleep(2)  # anything sent twice would arrive now
    stats = emulator.stats()
    emails = emulator.emails()
    assert stats["duplicate_touches"] == {}
    assert stats["accepted"]["sendgrid"] == len({e["touch_id"] for e in emails}) == count
    assert {e["to"] for e in emails} == {f"{prefix}{n:04d}@example.com" for n in range(count)}
    db = Database(stack.plan.database_url)
    try:
        with db.session() as session:
            touched = session.execute(
                select(Touch.id).where(Touch.customer_id.like(f"{prefix}%"))
            ).scalars().all()  # fmt: skip
    finally:
        db.dispose()
    assert sorted(touched) == sorted(e["touch_id"] for e in emails)
    # Both runs did part of the work, in batch task runs.
    worked = wait(
        "batch task runs of both flow runs",
        lambda: (
            (w := {run.id for run in runs if prefect.batches_since(run.id, posted_at)})
            and len(w) == 2
            and w
        ),
        timeout=30,
    )
    assert worked == {run.id for run in runs}


def _sms_consents(stack: RunningStack, customer: str) -> list[tuple[str, str, str, str]]:
    db = Database(stack.plan.database_url)
    try:
        with db.session() as session:
            rows = session.execute(
                select(Consent.purpose, Consent.status, Consent.source, Consent.evidence)
                .where(Consent.customer_id == customer, Consent.channel == "sms")
                .order_by(Consent.received_at, Consent.id)
            ).all()
    finally:
        db.dispose()
    return [(p, s, src, (ev or {}).get("rule", "")) for p, s, src, ev in rows]


def test_a_customer_texting_stop_then_yes_reaches_the_ledger_on_the_served_stack(
    stack: RunningStack, emulator: SandboxClient
) -> None:
    """Under `make serve` the Twilio emulator posts customers' texts to the API: a STOP (as
    people type it) revokes with one confirmation, and Twilio refuses sends until YES."""
    customer = f"t{uuid.uuid4().hex[:8]}"
    phone = f"+1415555{uuid.uuid4().int % 10_000:04d}"
    signup = _signup(customer)
    signup["profile"]["phone"] = phone
    signup["consents"].append({"channel": "sms", "purpose": "marketing", "status": "granted",
                               "evidence": {"confirmed_at": signup["occurred_at"]}})  # fmt: skip
    post_events(stack, [signup])
    assert _sms_consents(stack, customer)[-1][:2] == ("marketing", "granted")

    stop = emulator.sms_inbound(phone, "Stop!")
    assert stop["posted"] and stop["status"] == 200 and len(stop["replies"]) == 1
    assert [(p, s, r) for p, s, _, r in _sms_consents(stack, customer)[-2:]] == [
        ("marketing", "revoked", "keyword"), ("transactional", "revoked", "keyword"),
    ]  # fmt: skip
    assert emulator.sms_inbound(phone, "STOP")["replies"] == []  # confirmed once already

    yes = emulator.sms_inbound(phone, "YES")
    assert yes["posted"] and len(yes["replies"]) == 1
    assert {(p, s) for p, s, _, _ in _sms_consents(stack, customer)[-2:]} == {
        ("marketing", "granted"), ("transactional", "granted"),
    }  # fmt: skip
    assert emulator.stats()["webhooks"].get("twilio_inbound_no_url", 0) == 0
