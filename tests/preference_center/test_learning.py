"""The refresh: counts from the record, smoothed scope by scope, written wholesale."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from preference_center.learning import refresh
from touchline.config import Settings
from touchline.db import Database
from touchline.record import (
    ChannelEffectiveness,
    Customer,
    Enrollment,
    Interaction,
    Journey,
    Preference,
    TimingEffectiveness,
    Touch,
)

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # a Monday
SETTINGS = Settings(
    channel_prior={"email": 0.2, "sms": 0.3},
    prior_strength=4.0,
    history_window=timedelta(days=180),
    default_timezone="UTC",
    segment_attribute="segment",
)
S = 4.0


def smooth(engaged: float, sent: float, prior: float) -> float:
    return (engaged + prior * S) / (sent + S)


class Record:
    """Customers and their past messages, written as the engine and webhooks would."""

    def __init__(self, db: Database):
        self.db = db
        with db.session() as session:
            self.journey_id = session.execute(
                insert(Journey).returning(Journey.id),
                [
                    {
                        "key": "past",
                        "version": 1,
                        "name": "Past",
                        "definition": {},
                        "digest": "x",
                        "published_at": NOW,
                    }
                ],
            ).scalar_one()

    def customer(self, cid: str, *, segment: object = None, tz: str | None = None) -> Record:
        attributes = {"segment": segment} if segment is not None else {}
        with self.db.session() as session:
            session.execute(
                insert(Customer),
                [{"id": cid, "attributes": attributes, "created_at": NOW, "updated_at": NOW}],
            )
            session.execute(
                insert(Enrollment),
                [
                    {
                        "id": f"e-{cid}",
                        "journey_id": self.journey_id,
                        "journey_key": "past",
                        "journey_version": 1,
                        "customer_id": cid,
                        "trigger_at": NOW,
                        "entered_at": NOW,
                        "updated_at": NOW,
                        "status": "completed",
                        "context": {},
                    }
                ],
            )
            if tz:
                session.execute(
                    insert(Preference),
                    [{"customer_id": cid, "channel_order": [], "timezone": tz, "updated_at": NOW}],
                )
        return self

    def messages(
        self,
        cid: str,
        channel: str,
        *,
        sent: int,
        engaged: int = 0,
        at: datetime = NOW - timedelta(days=30),
        every: timedelta = timedelta(days=1),
        topic: str | None = "promotions",
        purpose: str = "marketing",
        outcome: str = "sent",
    ) -> Record:
        """``sent`` touches at ``at``, ``at + every`` …; the first ``engaged`` are opened
        and clicked (one engaged message, however many engagements)."""
        touches, interactions = [], []
        for n in range(sent):
            moment = at + n * every
            tid = uuid.uuid4().hex[:32]
            touches.append(
                {"id": tid, "enrollment_id": f"e-{cid}", "customer_id": cid, "journey_key": "past",
                 "journey_version": 1, "step_id": f"s{n}", "purpose": purpose, "topic": topic,
                 "channel": channel, "decision": {}, "scheduled_for": moment, "created_at": moment}
            )  # fmt: skip
            kinds = [outcome] + (
                ["delivered", "opened", "clicked"] if n < engaged else ["delivered"]
            )
            for k, kind in enumerate(kinds):
                interactions.append(
                    {"id": uuid.uuid4().hex[:32], "touch_id": tid, "customer_id": cid, "kind": kind,
                     "channel": channel, "occurred_at": moment + timedelta(minutes=5 * k),
                     "recorded_at": moment, "detail": {}}
                )  # fmt: skip
        with self.db.session() as session:
            session.execute(insert(Touch), touches)
            session.execute(insert(Interaction), interactions)
        return self


def channel_rows(db: Database) -> dict[tuple[str, str, str, str], tuple[int, int, float]]:
    with db.session() as session:
        return {
            (r.scope, r.scope_key, r.kind, r.channel): (r.sent, r.engaged, r.rate)
            for r in session.execute(select(ChannelEffectiveness)).scalars()
        }


def timing_rows(db: Database) -> dict[tuple[str, str, str, int], tuple[int, int, float]]:
    with db.session() as session:
        return {
            (r.scope, r.scope_key, r.channel, r.hour_of_week): (r.sent, r.engaged, r.score)
            for r in session.execute(select(TimingEffectiveness)).scalars()
        }


@pytest.fixture
def record(db: Database) -> Record:
    return Record(db)


def test_rates_are_smoothed_toward_the_enclosing_scope(db: Database, record: Record) -> None:
    record.customer("a", segment="vip").customer("b", segment="vip").customer("c")
    record.messages("a", "email", sent=10, engaged=2).messages("a", "sms", sent=5, engaged=4)
    record.messages("b", "email", sent=6, engaged=3)
    record.messages("c", "sms", sent=3).messages("c", "email", sent=1, engaged=1)

    report = refresh(db, NOW, SETTINGS)
    rows = channel_rows(db)

    email, sms = smooth(6, 17, 0.2), smooth(4, 8, 0.3)  # everyone
    assert rows[("global", "*", "promotions", "email")] == (17, 6, pytest.approx(email))
    assert rows[("global", "*", "promotions", "sms")] == (8, 4, pytest.approx(sms))
    vip_email, vip_sms = smooth(5, 16, email), smooth(4, 5, sms)  # toward everyone's
    assert rows[("segment", "vip", "promotions", "email")] == (16, 5, pytest.approx(vip_email))
    assert rows[("segment", "vip", "promotions", "sms")] == (5, 4, pytest.approx(vip_sms))
    # Customers toward their segment's; "c" is in no segment: toward everyone's.
    assert rows[("customer", "a", "promotions", "email")][2] == pytest.approx(
        smooth(2, 10, vip_email)
    )
    assert rows[("customer", "a", "promotions", "sms")][2] == pytest.approx(smooth(4, 5, vip_sms))
    assert rows[("customer", "b", "promotions", "email")][2] == pytest.approx(
        smooth(3, 6, vip_email)
    )
    assert rows[("customer", "c", "promotions", "sms")] == (3, 0, pytest.approx(smooth(0, 3, sms)))
    assert rows[("customer", "c", "promotions", "email")][2] == pytest.approx(smooth(1, 1, email))
    assert len(rows) == 2 + 2 + 5  # sparse: only what has data

    assert (report.messages, report.engaged, report.customers, report.segments) == (25, 10, 3, 1)
    assert report.customers_ranked == 2  # a: 15 on 2 channels; c: 4 on 2; b: 6 on 1
    assert report.channel_rows == 9 and report.timing_rows == len(timing_rows(db))
    assert [(g.kind, g.channel, g.sent, g.engaged) for g in report.global_rates] == [
        ("promotions", "email", 17, 6),
        ("promotions", "sms", 8, 4),
    ]


def test_what_counts_is_a_sent_touch_in_the_window_and_its_kind(
    db: Database, record: Record
) -> None:
    record.customer("a")
    record.messages("a", "email", sent=2, engaged=1, topic=None)  # kind: its purpose
    record.messages("a", "email", sent=1, engaged=1, topic=None, purpose="transactional")
    record.messages("a", "email", sent=3, engaged=3, outcome="skipped")  # never sent
    record.messages("a", "email", sent=1, engaged=1, at=NOW - timedelta(days=181))  # too old
    record.messages("a", "email", sent=1, engaged=1, at=NOW + timedelta(hours=1))  # not yet
    refresh(db, NOW, SETTINGS)
    rows = channel_rows(db)
    assert {k[2]: v[:2] for k, v in rows.items() if k[0] == "global"} == {
        "marketing": (2, 1),
        "transactional": (1, 1),
    }


def test_hours_of_week_are_the_customers_own(db: Database, record: Record) -> None:
    monday_night = datetime(2026, 11, 16, 23, 30, tzinfo=UTC)
    record.customer("tokyo", tz="Asia/Tokyo").customer("utc").customer("bad", tz="Mars/Olympus")
    record.customer("ny", tz="America/New_York")
    record.messages("tokyo", "email", sent=1, engaged=1, at=monday_night)  # Tue 08:30 in Tokyo
    record.messages("utc", "email", sent=1, at=monday_night)  # no zone: the default, UTC
    record.messages("bad", "email", sent=1, at=monday_night)  # unknown zone: the default too
    # New York is UTC-4 in July (daylight time) and UTC-5 in November.
    record.messages("ny", "sms", sent=1, engaged=1, at=datetime(2026, 7, 6, 14, tzinfo=UTC))
    record.messages("ny", "sms", sent=1, at=NOW - timedelta(days=7))
    refresh(db, NOW, SETTINGS)
    rows = timing_rows(db)
    own = {(k[1], k[3]): v[:2] for k, v in rows.items() if k[0] == "customer"}
    assert own == {
        ("tokyo", 1 * 24 + 8): (1, 1),
        ("utc", 0 * 24 + 23): (1, 0),
        ("bad", 0 * 24 + 23): (1, 0),
        ("ny", 0 * 24 + 10): (1, 1),  # Monday 10:00 EDT
        ("ny", 0 * 24 + 9): (1, 0),  # Monday 09:00 EST
    }


def test_hour_scores_are_smoothed_toward_the_enclosing_scope(db: Database, record: Record) -> None:
    at = datetime(2026, 11, 2, 20, tzinfo=UTC)  # Monday 20:00 UTC = hour 20
    record.customer("a", segment="vip").customer("b")
    record.messages("a", "email", sent=3, engaged=3, at=at, every=timedelta(weeks=1))
    record.messages("a", "email", sent=1, at=at - timedelta(hours=5))  # Monday 15:00
    record.messages("b", "email", sent=2, engaged=0, at=at, every=timedelta(weeks=1))
    refresh(db, NOW, SETTINGS)
    rows = timing_rows(db)

    channel = smooth(3, 6, 0.2)  # email's overall rate: what an hour starts from
    assert sum(1 for k in rows if k[0] == "global") == 168  # every hour of a channel with data
    assert rows[("global", "*", "email", 3)] == (0, 0, pytest.approx(channel))
    at_20 = smooth(3, 5, channel)
    assert rows[("global", "*", "email", 20)] == (5, 3, pytest.approx(at_20))
    vip_20, vip_15 = smooth(3, 3, at_20), smooth(0, 1, smooth(0, 1, channel))
    assert rows[("segment", "vip", "email", 20)] == (3, 3, pytest.approx(vip_20))
    assert rows[("segment", "vip", "email", 15)] == (1, 0, pytest.approx(vip_15))
    assert rows[("customer", "a", "email", 20)][2] == pytest.approx(smooth(3, 3, vip_20))
    assert rows[("customer", "b", "email", 20)][2] == pytest.approx(smooth(0, 2, at_20))
    assert {k[:2] for k in rows if k[0] != "global"} == {
        ("segment", "vip"),
        ("customer", "a"),
        ("customer", "b"),
    }


def test_a_refresh_replaces_everything_learned_before(db: Database, record: Record) -> None:
    record.customer("a", segment="vip")
    record.messages("a", "email", sent=2, engaged=1)
    refresh(db, NOW, SETTINGS)
    # Half a year later the messages are out of the window: nothing is left to claim.
    report = refresh(db, NOW + timedelta(days=200), SETTINGS)
    assert report.messages == 0 and report.rows_written == 0
    assert channel_rows(db) == {} and timing_rows(db) == {}


def test_only_a_string_attribute_names_a_segment(db: Database, record: Record) -> None:
    record.customer("n", segment=7).customer("e", segment="").customer("s", segment="gold")
    for cid in ("n", "e", "s"):
        record.messages(cid, "email", sent=1)
    report = refresh(db, NOW, SETTINGS)
    assert report.segments == 1
    assert {k[1] for k in channel_rows(db) if k[0] == "segment"} == {"gold"}
