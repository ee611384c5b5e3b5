"""The journey language, executed: trigger filters, re-entry, holdout, splits, waits for a
window or an event, frequency caps, "best" channel and time — on both backends."""

import json
import zlib
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from channels.webhooks import ProviderEvent
from preference_center.learning import refresh
from sandbox import SandboxClient
from tests.conftest import START
from touchline import ids
from touchline.config import PROJECT_ROOT
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import BatchReport, Engine, advance_next_batch
from touchline.inbound import record_provider_events
from touchline.intake import ingest
from touchline.journeys.loader import LoadedJourney, parse_journey
from touchline.journeys.store import publish
from touchline.record import Enrollment, Interaction, Touch

# The sign-up form already did the SMS double opt-in (a one-time code).
CONFIRMED = {"confirmed_at": "2026-11-01T09:00:00Z", "method": "one-time code"}


def journey(db: Database, catalog: TemplateCatalog, text: str) -> None:
    definition = parse_journey(text, "test.yaml", catalog)
    with db.session() as session:
        publish(session, LoadedJourney(definition, PROJECT_ROOT / "journeys" / "test.yaml"), START)


def phone(cid: str) -> str:
    """Unique and stable per customer: c17 → ...0017; named customers by their checksum."""
    digits = "".join(ch for ch in cid if ch.isdigit())
    return f"+1415555{int(digits) if digits else zlib.crc32(cid.encode()) % 9000 + 1000:04d}"


def customer(
    cid: str, *, tz: str = "Europe/London", order: list[str] | None = None, **payload: object
) -> dict:
    return {
        "id": f"signup-{cid}",
        "type": "customer.signed_up",
        "customer_id": cid,
        "occurred_at": START.isoformat(),
        "payload": payload,
        "profile": {
            "email": f"{cid}@example.com",
            "phone": phone(cid),
            "attributes": {"first_name": cid.upper()},
        },
        "preferences": {"timezone": tz, **({"channel_order": order} if order else {})},
        "consents": [
            {"channel": "email", "status": "granted"},
            {"channel": "sms", "status": "granted", "evidence": CONFIRMED},
        ],
    }


def event(eid: str, etype: str, cid: str, at: datetime, **payload: object) -> dict:
    return {
        "id": eid,
        "type": etype,
        "customer_id": cid,
        "occurred_at": at.isoformat(),
        "payload": payload,
    }


def send(db: Database, *events: dict, now: datetime = START) -> None:
    report = ingest(
        db, [(n, json.dumps(e)) for n, e in enumerate(events, 1)], now=now, source="test"
    )
    assert not report.rejected, report.rejected


def advance(engine: Engine, now: datetime) -> BatchReport:
    total = BatchReport()
    while (report := advance_next_batch(engine, now)).claimed:
        total.merge(report)
    return total


def enrollments(db: Database) -> dict[str, Enrollment]:
    with db.session() as session:
        query = select(Enrollment).where(Enrollment.journey_key != "past")
        return {e.customer_id: e for e in session.execute(query).scalars()}


def outcomes(db: Database) -> dict[tuple[str, str], tuple[str | None, str, str | None]]:
    """(customer, step) -> (channel, outcome, reason)."""
    with db.session() as session:
        rows = session.execute(
            select(
                Touch.customer_id,
                Touch.step_id,
                Touch.channel,
                Interaction.kind,
                Interaction.detail,
            )
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(Interaction.kind.in_(["sent", "failed", "skipped"]))
        ).all()
    return {(c, s): (ch, k, d.get("reason")) for c, s, ch, k, d in rows}


HEAD = """key: test
name: Test
trigger: {event: customer.signed_up}
context:
  offer: {code: TEST10, discount_percent: 10, valid_days: 7}
  shop_url: https://shop.example/
"""


def test_a_trigger_filter_on_the_payload(
    engine: Engine, db: Database, catalog: TemplateCatalog
) -> None:
    journey(db, catalog, HEAD.replace("{event: customer.signed_up}", "{event: customer.signed_up, where: {payload: plan, in: [plus, pro]}}")
            + "steps:\n  - {id: hello, type: send, channel: email, template: welcome/welcome}\n")  # fmt: skip
    send(db, customer("c1", plan="pro"), customer("c2", plan="free"), customer("c3"))
    assert set(enrollments(db)) == {"c1"}


def test_reentry_once_per_window(engine: Engine, db: Database, catalog: TemplateCatalog) -> None:
    journey(
        db,
        catalog,
        HEAD.replace("customer.signed_up", "cart.abandoned")
        + "reentry: {window: 3d}\nsteps:\n  - {id: w, type: wait, duration: 1h}\n",
    )
    carts = [
        event(f"cart-{d}", "cart.abandoned", "c1", START + timedelta(days=d))
        for d in (0, 1, 2, 3, 5, 7)
    ]
    send(db, customer("c1"), *carts, now=START + timedelta(days=8))
    with db.session() as session:
        entered = sorted(e.trigger_event_id for e in session.execute(select(Enrollment)).scalars())
    assert entered == ["cart-0", "cart-3", "cart-7"]


def test_reentry_every_event_and_once(
    engine: Engine, db: Database, catalog: TemplateCatalog
) -> None:
    journey(
        db,
        catalog,
        HEAD.replace("customer.signed_up", "cart.abandoned")
        + "reentry: every_event\nsteps:\n  - {id: w, type: wait, duration: 1h}\n",
    )
    send(
        db,
        customer("c1"),
        *(
            event(f"cart-{n}", "cart.abandoned", "c1", START + timedelta(minutes=n))
            for n in range(3)
        ),
    )
    with db.session() as session:
        assert len(session.execute(select(Enrollment)).all()) == 3


def test_holdout_is_deterministic_recorded_and_sent_nothing(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    journey(
        db,
        catalog,
        HEAD
        + "holdout: 30\nsteps:\n  - {id: hello, type: send, channel: email, template: welcome/welcome}\n",
    )
    send(db, *(customer(f"c{n}") for n in range(200)))
    advance(engine, START)
    held = {c for c, e in enrollments(db).items() if e.holdout}
    assert 40 <= len(held) <= 80  # 30 % of 200, give or take chance
    assert held == {f"c{n}" for n in range(200) if ids.fraction("holdout", "test", f"c{n}") < 0.3}
    sent_to = {m["to"].split("@")[0] for m in sandbox_client.emails()}
    assert not sent_to & held and len(sent_to) == 200 - len(held)
    reasons = {outcomes(db)[(c, "hello")] for c in held}
    assert reasons == {(None, "skipped", "holdout: in the control group, sent nothing")}


def test_a_split_assigns_variants_by_weight_the_same_way_every_time(
    engine: Engine, db: Database, catalog: TemplateCatalog
) -> None:
    journey(
        db,
        catalog,
        HEAD
        + """steps:
  - id: ab
    type: split
    variants:
      - {name: a, weight: 80, next: a_mail}
      - {name: b, weight: 20, next: b_sms}
  - {id: a_mail, type: send, channel: email, template: welcome/welcome}
  - {id: a_done, type: exit}
  - {id: b_sms, type: send, channel: sms, template: welcome/nudge}
""",
    )
    send(db, *(customer(f"c{n}") for n in range(300)))
    advance(engine, START)
    assigned = {c: e.context["variants"]["ab"] for c, e in enrollments(db).items()}
    counts = Counter(assigned.values())
    assert 200 <= counts["a"] <= 280 and counts["a"] + counts["b"] == 300
    done = outcomes(db)
    assert all(
        done.get((c, "a_mail" if v == "a" else "b_sms"), (None, ""))[1] == "sent"
        for c, v in assigned.items()
    )
    assert not any((c, "b_sms") in done for c, v in assigned.items() if v == "a")


def test_wait_until_a_weekday_window_in_the_customers_time_zone(
    engine: Engine, db: Database, catalog: TemplateCatalog
) -> None:
    journey(
        db,
        catalog,
        HEAD
        + """steps:
  - {id: office_hours, type: wait, until: {days: [mon, tue, wed, thu, fri], between: ["09:00", "17:00"]}}
  - {id: hello, type: send, channel: email, template: welcome/welcome}
""",
    )
    friday_evening = datetime.fromisoformat(
        "2026-11-27T18:00:00+00:00"
    )  # 19:00 Paris, 10:00 Los Angeles
    send(
        db,
        customer("paris", tz="Europe/Paris"),
        customer("la", tz="America/Los_Angeles"),
        now=friday_evening,
    )
    advance(engine, friday_evening)
    state = enrollments(db)
    assert state["la"].current_step == "hello" and state["la"].status == "completed"
    assert state["paris"].next_action_at == datetime.fromisoformat(
        "2026-11-30T08:00:00+00:00"
    )  # Monday 09:00 Paris


def test_wait_for_an_event_leaves_as_soon_as_it_arrives(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    journey(
        db,
        catalog,
        HEAD
        + """steps:
  - {id: grace, type: wait, for_event: order.placed, timeout: 1h, on_event: thanks, on_timeout: nudge}
  - {id: nudge, type: send, channel: email, template: welcome/welcome}
  - {id: nudge_done, type: exit}
  - {id: thanks, type: send, channel: sms, template: welcome/nudge}
""",
    )
    send(db, customer("buyer"), customer("idle"), customer("early"))
    send(
        db, event("o-early", "order.placed", "early", START - timedelta(minutes=1))
    )  # before entering: does not count
    advance(engine, START)
    assert enrollments(db)["buyer"].waiting_for == "order.placed"
    # The order arrives 20 minutes in: the enrollment is due at once, not at the timeout.
    send(
        db,
        event("o-1", "order.placed", "buyer", START + timedelta(minutes=20)),
        now=START + timedelta(minutes=20),
    )
    assert enrollments(db)["buyer"].next_action_at == START + timedelta(minutes=20)
    advance(engine, START + timedelta(minutes=20))
    done = outcomes(db)
    assert done[("buyer", "thanks")][:2] == ("sms", "sent")
    assert enrollments(db)["buyer"].context["waits"]["grace"]["event_id"] == "o-1"
    assert ("idle", "nudge") not in done
    advance(engine, START + timedelta(hours=1))
    done = outcomes(db)
    assert done[("idle", "nudge")][:2] == ("email", "sent") and done[("early", "nudge")][:2] == (
        "email",
        "sent",
    )
    assert enrollments(db)["idle"].context["waits"]["grace"]["outcome"] == "timeout"


def test_an_event_during_a_batch_is_not_lost(
    engine: Engine, db: Database, catalog: TemplateCatalog
) -> None:
    """The wake-up bumps the revision; the worker's stale save is refused and the step runs
    again, now seeing the event."""
    from touchline.engine.advance import advance_batch
    from touchline.engine.claim import claim_due

    journey(
        db,
        catalog,
        HEAD
        + "steps:\n  - {id: grace, type: wait, for_event: order.placed, timeout: 1h, on_event: exit}\n  - {id: nudge, type: send, channel: email, template: welcome/welcome}\n",
    )
    send(db, customer("c1"))
    advance(engine, START)  # now waiting, due at the timeout
    later = START + timedelta(minutes=10)
    with db.session() as session:
        session.execute(Enrollment.__table__.update().values(next_action_at=later))
        claimed = claim_due(
            session, now=later, limit=10, worker=engine.worker_id, lease=timedelta(minutes=5)
        )
        # the order arrives while this worker holds the batch
        send(db, event("o-1", "order.placed", "c1", later - timedelta(minutes=1)), now=later)
        advance_batch(
            engine, session, claimed, START + timedelta(minutes=5)
        )  # a worker whose "now" predates the event
    assert enrollments(db)["c1"].status == "active"  # its stale "keep waiting" was not saved
    advance(engine, later)
    assert enrollments(db)["c1"].status == "completed"
    assert ("c1", "nudge") not in outcomes(db)


def test_the_frequency_cap_counts_every_journey_and_channel(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    journey(
        db,
        catalog,
        HEAD
        + """steps:
  - {id: one, type: send, channel: email, template: welcome/welcome}
  - {id: two, type: send, channel: sms, template: welcome/nudge}
  - {id: three, type: send, channel: email, template: welcome/welcome}
""",
    )
    other = HEAD.replace("key: test", "key: other").replace(
        "customer.signed_up", "customer.upgraded"
    )
    journey(
        db,
        catalog,
        other + "steps:\n  - {id: four, type: send, channel: sms, template: welcome/nudge}\n",
    )
    send(db, customer("c1"))
    advance(engine, START)
    send(
        db,
        event("up-1", "customer.upgraded", "c1", START + timedelta(hours=1)),
        now=START + timedelta(hours=1),
    )
    advance(engine, START + timedelta(hours=1))
    done = outcomes(db)
    assert [done[("c1", s)][1] for s in ("one", "two", "three", "four")] == [
        "sent",
        "sent",
        "sent",
        "skipped",
    ]
    assert (
        done[("c1", "four")][2]
        == "frequency cap: 3 marketing messages in the last 7 days (at most 3)"
    )
    # a week later the window has moved on
    send(
        db,
        event("up-2", "customer.upgraded", "c1", START + timedelta(days=8)),
        now=START + timedelta(days=8),
    )


def test_transactional_messages_bypass_the_cap_but_never_consent(
    engine: Engine, db: Database, catalog: TemplateCatalog
) -> None:
    receipts = (
        HEAD.replace("key: test", "key: receipts").replace("customer.signed_up", "order.placed")
        + "purpose: transactional\nreentry: every_event\n"
    )
    journey(
        db,
        catalog,
        receipts + "steps:\n  - {id: receipt, type: send, channel: sms, template: welcome/nudge}\n",
    )
    send(db, customer("c1"), customer("c2"))
    stop = {
        "id": "stop-c2",
        "type": "customer.consent_changed",
        "customer_id": "c2",
        "occurred_at": START.isoformat(),
        "consents": [{"channel": "sms", "purpose": "transactional", "status": "revoked"}],
    }
    send(
        db,
        stop,
        *(
            event(f"o{n}-{c}", "order.placed", c, START + timedelta(minutes=n))
            for n in range(5)
            for c in ("c1", "c2")
        ),
    )
    advance(engine, START + timedelta(hours=1))
    done = outcomes(db)
    with db.session() as session:
        kinds = Counter(
            (t.customer_id, k)
            for t, k in session.execute(
                select(Touch, Interaction.kind)
                .join(Interaction, Interaction.touch_id == Touch.id)
                .where(Interaction.kind.in_(["sent", "skipped"]))
            )
        )
    assert kinds[("c1", "sent")] == 5  # five receipts, no cap
    assert kinds[("c2", "skipped")] == 5 and kinds[("c2", "sent")] == 0
    assert done  # touched


def history(
    db: Database, cid: str, channel: str, sent: int, engaged: int, at_hour: int = 19
) -> None:
    """Past touches of another journey, with their engagement, as the record would hold them."""
    with db.session() as session:
        from touchline.record import Journey

        jid = session.execute(select(Journey.id).limit(1)).scalar()
        for n in range(sent):
            eid = ids.enrollment_id("past", cid, f"{channel}{n}")
            # Mondays, three a week, 2 to 4 weeks back: after the DST change (so the hour
            # means the same in London), before the cap window, and on the weekday of START
            # (timing is learned by hour of week).
            past = START - timedelta(days=7 * (n // 3 + 2), hours=START.hour - at_hour)
            session.add(
                Enrollment(
                    id=eid,
                    journey_id=jid,
                    journey_key="past",
                    journey_version=1,
                    customer_id=cid,
                    trigger_at=past,
                    entered_at=past,
                    updated_at=past,
                    status="completed",
                    context={},
                )
            )
            session.flush()
            tid = ids.touch_id(eid, "s")
            session.add(
                Touch(
                    id=tid,
                    enrollment_id=eid,
                    customer_id=cid,
                    journey_key="past",
                    journey_version=1,
                    step_id="s",
                    purpose="marketing",
                    channel=channel,
                    decision={},
                    scheduled_for=past,
                    created_at=past,
                )
            )
            session.flush()
            session.add(
                Interaction(
                    id=ids.interaction_id(tid, "outcome"),
                    touch_id=tid,
                    customer_id=cid,
                    kind="sent",
                    channel=channel,
                    occurred_at=past,
                    recorded_at=past,
                    detail={},
                )
            )
            if n < engaged:
                event = ProviderEvent(
                    "test", f"{tid}-open", "opened", None, tid, None, past + timedelta(minutes=5)
                )
                record_provider_events(session, [event], past)


@pytest.fixture
def bilingual(engine: Engine, tmp_path: Path) -> tuple[Engine, TemplateCatalog]:
    """A template that speaks email and SMS, and an engine that reads it ("best" chooses)."""
    (tmp_path / "t").mkdir()
    for part, body in {
        "subject": "Hi {{ customer.first_name }}",
        "html": "<p>Hi</p>",
        "text": "Hi",
        "sms": "Hi {{ customer.first_name }}",
    }.items():
        (tmp_path / "t" / f"both.{part}.j2").write_text(body)
    catalog = TemplateCatalog(tmp_path)
    return replace(engine, catalog=catalog), catalog


def decision_reasons(db: Database, cid: str, step: str) -> list[str]:
    with db.session() as session:
        touch = session.execute(
            select(Touch).where(Touch.customer_id == cid, Touch.step_id == step)
        ).scalar_one()
    return [r["message"] for r in touch.decision["reasons"]]


def test_best_channel_follows_engagement_and_keeps_the_stated_preference(
    db: Database, bilingual: tuple[Engine, TemplateCatalog]
) -> None:
    engine, catalog = bilingual
    journey(
        db, catalog, HEAD + "steps:\n  - {id: hello, type: send, channel: best, template: t/both}\n"
    )
    send(
        db,
        customer("reader", order=["email", "sms"]),
        customer("texter", order=["email", "sms"]),
        customer("newcomer", order=["sms", "email"]),
    )
    history(db, "reader", "email", sent=6, engaged=5)
    history(db, "reader", "sms", sent=4, engaged=0)
    history(db, "texter", "email", sent=8, engaged=0)  # states email first, answers SMS
    history(db, "texter", "sms", sent=4, engaged=4)
    history(db, "newcomer", "email", sent=2, engaged=2)  # too little to rank
    refresh(db, START)  # the daily refresh learns from the record; decisions read it
    advance(engine, START)
    done = outcomes(db)
    assert done[("reader", "hello")][0] == "email"
    assert done[("texter", "hello")][0] == "sms"
    assert done[("newcomer", "hello")][0] == "sms"  # stated order
    texter = decision_reasons(db, "texter", "hello")[0]
    assert texter.startswith("best: sms ") and "(4 of 4), email" in texter
    assert "this customer's history for marketing" in texter
    assert "although the customer states email first" in texter
    # Too little history of their own: everyone's rates decide, and the reason says so.
    newcomer = decision_reasons(db, "newcomer", "hello")[0]
    assert newcomer.startswith("best: sms ") and "— all customers for marketing" in newcomer
    assert "(this customer's history: 2 messages on 1 channel)" in newcomer


def test_preferred_follows_the_stated_order_whatever_the_data(
    db: Database, bilingual: tuple[Engine, TemplateCatalog]
) -> None:
    engine, catalog = bilingual
    journey(
        db,
        catalog,
        HEAD + "steps:\n  - {id: hello, type: send, channel: preferred, template: t/both}\n",
    )
    send(db, customer("texter", order=["email", "sms"]))
    history(db, "texter", "email", sent=8, engaged=0)
    history(db, "texter", "sms", sent=4, engaged=4)
    refresh(db, START)
    advance(engine, START)
    assert outcomes(db)[("texter", "hello")][0] == "email"


def test_best_time_sends_at_the_customers_own_hour(
    db: Database, bilingual: tuple[Engine, TemplateCatalog], sandbox_client: SandboxClient
) -> None:
    engine, catalog = bilingual
    journey(
        db,
        catalog,
        HEAD
        + "steps:\n  - {id: hello, type: send, channel: email, template: t/both, send_time: {best_within: 24h}}\n",
    )
    send(db, customer("owl", tz="Europe/London"), customer("newcomer", tz="Europe/London"))
    history(db, "owl", "email", sent=5, engaged=5, at_hour=20)  # always reads at 20:00
    refresh(db, START)
    advance(engine, START)  # 14:00 London
    state = enrollments(db)
    assert state["owl"].next_action_at == START.replace(hour=20)
    # No history of their own: what everyone's engagement says about Monday evenings.
    assert state["newcomer"].next_action_at == START.replace(hour=20)
    assert "5 of 5 engaged when sent at Mon 20:00" in " ".join(decision_reasons(db, "owl", "hello"))
    advance(engine, START.replace(hour=20))
    assert len(sandbox_client.emails()) == 2


def test_a_journey_that_loops_back_to_a_send_step_sends_a_new_touch_each_visit(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: SandboxClient
) -> None:
    journey(
        db,
        catalog,
        HEAD
        + """steps:
  - {id: hello, type: send, channel: email, template: welcome/welcome}
  - {id: a_day, type: wait, duration: 1d}
  - id: opened_yet
    type: branch
    if: {step: hello, engaged: opened}
    then: exit
    else: hello
""",
    )
    send(db, customer("c1"))
    for day in range(3):
        advance(engine, START + timedelta(days=day))
        advance(engine, START + timedelta(days=day))  # a replayed run sends nothing more

    with db.session() as session:
        touches = (
            session.execute(
                select(Touch.id).where(Touch.journey_key == "test").order_by(Touch.created_at)
            )
            .scalars()
            .all()
        )
        [enrollment] = (
            session.execute(select(Enrollment).where(Enrollment.journey_key == "test"))
            .scalars()
            .all()
        )
    assert len(touches) == len(set(touches)) == 3
    assert touches[0] == ids.touch_id(enrollment.id, "hello")  # the first visit's id is unchanged
    assert enrollment.context["visits"] == {"hello": 3, "a_day": 2, "opened_yet": 2}
    received = [m["touch_id"] for m in sandbox_client.emails()]
    assert sorted(received) == sorted(touches)


def test_contains_any_finds_words_in_text_whatever_their_case() -> None:
    from touchline.engine.conditions import compare
    from touchline.journeys.model import PayloadCondition

    complaint = PayloadCondition.model_validate(
        {"payload": "text", "contains_any": ["refund", "never arrived"]}
    )
    assert compare(complaint, "My parcel NEVER ARRIVED, I want a Refund")
    assert not compare(complaint, "Thanks, all arrived")
    assert compare(complaint, ["refund", "other"])  # a list: any element
    assert not compare(complaint, 42)
    with pytest.raises(ValueError, match="contains_any"):
        PayloadCondition.model_validate({"payload": "text", "contains_any": []})
