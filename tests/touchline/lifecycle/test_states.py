"""The lifecycle through the engine and the emulators: paused triggers are recorded (not
lost), stop --drain lets enrollments finish while nobody enters, stop --exit ends them all,
every change is stored with who/when/why, and the status counts what happened."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from sandbox import SandboxClient
from tests.conftest import START
from tests.touchline.engine.test_language import (
    advance,
    customer,
    enrollments,
    event,
    journey,
    send,
)
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine
from touchline.engine.enroll import NOT_ENROLLED
from touchline.errors import JourneyNotFoundError
from touchline.lifecycle.states import (
    ARCHIVED,
    DRAIN,
    EXIT,
    LIVE,
    PAUSED,
    STOPPED,
    LifecycleError,
    change_state,
    history,
)  # fmt: skip
from touchline.lifecycle.status import journey_status
from touchline.record import Interaction
from touchline.record.enrollments import ACTIVE, EXITED

ONBOARD = """key: onboard
name: Onboard
trigger: {event: account.opened}
reentry: every_event
context:
  offer: {code: WELCOME15, discount_percent: 15, valid_days: 14}
  shop_url: https://shop.example
steps:
  - {id: hello, type: send, channel: email, template: welcome/welcome}
  - {id: later, type: wait, duration: 1d}
  - {id: again, type: send, channel: email, template: welcome/welcome}
"""


def opened(eid: str, cid: str, minutes: int = 0) -> dict:
    return event(eid, "account.opened", cid, START + timedelta(minutes=minutes))


@pytest.fixture
def onboard(db: Database, catalog: TemplateCatalog) -> None:
    journey(db, catalog, ONBOARD)
    send(db, *(customer(c) for c in ("ann", "bob", "cy")))


def change(db: Database, to: str, reason: str = "because", mode: str | None = None, at=START):
    return change_state(db, "onboard", to, reason=reason, who="ops@example.com", now=at,
                        stop_mode=mode)  # fmt: skip


def not_enrolled(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        rows = session.execute(select(Interaction).where(Interaction.kind == NOT_ENROLLED))
        return sorted((i.customer_id, i.detail["reason"]) for i in rows.scalars())


def test_triggers_while_paused_are_recorded_not_lost(
    engine: Engine, db: Database, onboard: None, sandbox_client: SandboxClient
) -> None:
    change(db, PAUSED, "legal review")
    send(db, opened("o1", "ann"), opened("o2", "bob"))
    assert enrollments(db) == {}
    assert not_enrolled(db) == [("ann", "journey paused"), ("bob", "journey paused")]
    # Replaying the same events records nothing twice.
    send(db, opened("o1", "ann"))
    assert len(not_enrolled(db)) == 2
    with db.session() as session:
        [status] = journey_status(session, START, "onboard")
    assert status.standing.state == PAUSED and status.not_enrolled_today == 2

    change(db, LIVE, "review done")
    send(db, opened("o3", "cy", minutes=1))
    assert [e.customer_id for e in enrollments(db).values()] == ["cy"]
    advance(engine, START + timedelta(minutes=2))
    assert [m["to"] for m in sandbox_client.emails()] == ["cy@example.com"]


def test_enrollments_of_a_paused_journey_hold_and_resume_where_they_were(
    engine: Engine, db: Database, onboard: None, sandbox_client: SandboxClient
) -> None:
    send(db, opened("o1", "ann"))
    change(db, PAUSED)
    assert advance(engine, START).claimed == 0
    assert sandbox_client.emails() == []
    [held] = enrollments(db).values()
    assert (held.status, held.current_step) == (ACTIVE, "hello")
    change(db, LIVE)
    advance(engine, START)
    assert len(sandbox_client.emails()) == 1


def test_stop_drain_lets_enrollments_finish_while_nobody_enters(
    engine: Engine, db: Database, onboard: None, sandbox_client: SandboxClient
) -> None:
    send(db, opened("o1", "ann"))
    advance(engine, START)  # hello sent, waiting a day
    change(db, STOPPED, "season over", DRAIN)
    send(db, opened("o2", "bob", minutes=5))
    assert not_enrolled(db) == [("bob", "journey stopped")]
    advance(engine, START + timedelta(days=1, minutes=1))
    assert [m["to"] for m in sandbox_client.emails()] == ["ann@example.com"] * 2
    assert {e.status for e in enrollments(db).values()} == {"completed"}


def test_stop_exit_ends_every_active_enrollment_now_with_the_reason(
    engine: Engine, db: Database, onboard: None, sandbox_client: SandboxClient
) -> None:
    send(db, opened("o1", "ann"), opened("o2", "bob"))
    advance(engine, START)
    result = change(db, STOPPED, "wrong audience", EXIT)
    assert result.ended == 2
    ended = enrollments(db).values()
    assert {(e.status, e.end_reason) for e in ended} == {
        (EXITED, "journey stopped: wrong audience")
    }
    advance(engine, START + timedelta(days=2))
    assert len(sandbox_client.emails()) == 2  # the first step's emails only
    # Archived afterwards; nothing can bring it back.
    change(db, ARCHIVED, "cleanup")
    with pytest.raises(LifecycleError, match="archived; it cannot become live"):
        change(db, LIVE)
    with db.session() as session:
        steps = [
            (c.from_state, c.to_state, c.stop_mode, c.changed_by)
            for c in history(session, "onboard")
        ]
    assert steps == [
        ("live", "stopped", "exit", "ops@example.com"),
        ("stopped", "archived", None, "ops@example.com"),
    ]


def test_changes_that_make_no_sense_are_refused_with_the_way_out(
    db: Database, onboard: None
) -> None:
    with pytest.raises(LifecycleError, match="live; it cannot become live"):
        change(db, LIVE)
    with pytest.raises(LifecycleError, match="give a reason"):
        change(db, PAUSED, "  ")
    with pytest.raises(LifecycleError, match=r"--drain .* or --exit"):
        change(db, STOPPED, "x")
    with pytest.raises(JourneyNotFoundError, match="no published journey 'nope'"):
        change_state(db, "nope", PAUSED, reason="x", who="me", now=START)
    change(db, STOPPED, "first drain", DRAIN)
    change(db, STOPPED, "drain too slow", EXIT)  # drain → exit is allowed, not back
    with pytest.raises(
        LifecycleError, match="stopped \\(exit\\); it cannot become stopped \\(drain\\)"
    ):
        change(db, STOPPED, "x", DRAIN)


def test_status_counts_steps_waiting_due_sent_failed_and_conversions(
    engine: Engine, db: Database, onboard: None, sandbox_client: SandboxClient
) -> None:
    send(db, opened("o1", "ann"), opened("o2", "bob"))
    advance(engine, START)  # both sent, both waiting a day
    send(db, opened("o3", "cy", minutes=1))  # due now
    with db.session() as session:
        [status] = journey_status(session, START + timedelta(minutes=1), "onboard")
    assert status.standing.state == LIVE
    assert status.active_by_step == {"later": 2, "hello": 1}
    assert (status.waiting, status.due_within_hour) == (2, 1)
    assert status.sent_today == {"email": 2} and status.failed_today == 0
