"""Admission at POST /events, event by event: the tracking plan (undeclared types refused
with a suggestion, payloads checked against their schema, a permissive mode that warns and
counts), time at intake (no future occurred_at beyond the skew tolerance), phone numbers
read in the customer's country — and one bad event in a batch refusing only itself."""

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from sandbox import ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.intake import ingest
from touchline.intake.stats import event_stats
from touchline.intake.tracking_plan import load_plan
from touchline.record import Enrollment, Event, Identity

AUTH = {"Authorization": "Bearer dev-token"}


def serve(
    settings: Settings, db: Database, server: ThreadedApp, clock: ManualClock
) -> httpx.Client:
    server.start(create_app(settings, db, clock))
    return httpx.Client(base_url=server.url, timeout=10, headers=AUTH)


@pytest.fixture
def api(
    settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock, published: None
) -> Iterator[httpx.Client]:
    with serve(settings, db, api_server, clock) as client:
        yield client


def event(n: int, **overrides: object) -> dict:
    return {"id": f"e-{n}", "type": "customer.signed_up", "customer_id": f"c{n}",
            "occurred_at": START.isoformat(), "profile": {"email": f"c{n}@example.com"},
            **overrides}  # fmt: skip


def cart(n: int, total: object = 84.5, **overrides: object) -> dict:
    return event(n, type="cart.abandoned",
                 payload={"cart": {"total": total, "currency": "EUR"}}, **overrides)  # fmt: skip


def count(db: Database, table: type, *where: object) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_one_bad_event_refuses_only_itself_with_its_index_and_reason(
    api: httpx.Client, db: Database
) -> None:
    batch = [
        event(0),
        event(1, type="customer.signedup"),
        event(2, occurred_at="2030-01-01T00:00:00Z"),
        cart(3, total="a lot"),
        event(4, profile={"phone": "06 12 34 56 78"}),
        event(5, occurred_at="2026-11-23T09:00:00"),
        event(6),
    ]
    response = api.post("/events", json={"events": batch})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == ["e-0", "e-6"] and body["enrolled"] == 2
    reasons = {r["index"]: r for r in body["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert reasons[1]["id"] == "e-1"
    assert reasons[1]["reason"] == (
        "events[1].type: unknown event type 'customer.signedup'; did you mean 'customer.signed_up'?"
    )
    assert "2030-01-01T00:00:00+00:00 is in the future" in reasons[2]["reason"]
    assert reasons[3]["problems"][0]["field"] == "events[3].payload.cart.total"
    assert "'a lot' is not of type 'number'" in reasons[3]["reason"]
    assert "+33 6 12 34 56 78" in reasons[4]["reason"]
    assert "needs a time zone" in reasons[5]["reason"]
    assert count(db, Event) == 2


def test_a_single_refused_event_and_a_batch_of_refused_events_are_422(
    api: httpx.Client, db: Database
) -> None:
    single = api.post("/events", json=event(1, type="customer.signedup"))
    assert single.status_code == 422
    assert single.json()["problems"] == [
        {"field": "type",
         "message": "unknown event type 'customer.signedup'; did you mean 'customer.signed_up'?"}
    ]  # fmt: skip
    batch = api.post("/events", json={"events": [event(1, type="nobody.knows_me"),
                                                 event(2, occurred_at="2030-01-01T00:00:00Z")]})  # fmt: skip
    assert batch.status_code == 422
    assert batch.json()["detail"] == "every event was refused; nothing was stored"
    assert [r["index"] for r in batch.json()["rejected"]] == [0, 1]
    assert "declare it in events.yaml" in batch.json()["rejected"][0]["reason"]
    assert count(db, Event) == 0


def test_files_and_http_refuse_the_same_events_for_the_same_reasons(
    api: httpx.Client, db: Database, settings: Settings
) -> None:
    bad = [event(1, type="customer.signedup"), cart(2, total="x"),
           event(3, occurred_at="2030-01-01T00:00:00Z")]  # fmt: skip
    http = api.post("/events", json={"events": [event(0), *bad]}).json()
    report = ingest(db, [(n, e) for n, e in enumerate([event(10), *bad], start=1)],
                    now=START, source="file.jsonl", settings=settings)  # fmt: skip
    assert report.accepted == ["e-10"] and report.rejected_events == 3
    from_file = [(p.line - 1, p.message) for p in report.rejected]
    from_http = [(r["index"], p["message"]) for r in http["rejected"] for p in r["problems"]]
    assert from_file == from_http


def test_within_the_skew_tolerance_an_event_counts_from_its_receipt(
    api: httpx.Client, db: Database
) -> None:
    ahead = (START + timedelta(minutes=4)).isoformat()
    assert api.post("/events", json=cart(1, occurred_at=ahead)).status_code == 202
    with db.session() as session:
        enrollment = session.execute(select(Enrollment)).scalar_one()
    assert enrollment.trigger_at.replace(tzinfo=START.tzinfo) == START  # not 4 minutes ahead
    late = api.post("/events", json=cart(2, occurred_at=(START + timedelta(minutes=6)).isoformat()))
    assert late.status_code == 422
    assert "TOUCHLINE_CLOCK_SKEW_TOLERANCE" in late.json()["problems"][0]["message"]


def test_a_future_date_cannot_open_the_reentry_window_early(
    api: httpx.Client, db: Database, clock: ManualClock
) -> None:
    """Reproduced: occurred_at 2030-01-01 let the same customer enter cart_abandonment
    twice in five minutes despite `reentry: {window: 3d}`."""
    assert api.post("/events", json=cart(1, id="cart-1", customer_id="ada")).status_code == 202
    clock.advance(timedelta(minutes=5))
    future = api.post("/events", json=cart(2, id="cart-2", customer_id="ada",
                                          occurred_at="2030-01-01T00:00:00Z"))  # fmt: skip
    assert future.status_code == 422
    assert "is in the future" in future.json()["problems"][0]["message"]
    now = (START + timedelta(minutes=5)).isoformat()
    again = api.post("/events", json=cart(3, id="cart-3", customer_id="ada", occurred_at=now))
    assert again.status_code == 202 and again.json()["enrolled"] == 0
    assert count(db, Enrollment, Enrollment.customer_id == "ada") == 1


def test_a_national_number_is_read_in_the_customers_country(
    api: httpx.Client, db: Database
) -> None:
    by_zone = event(1, profile={"phone": "06 12 34 56 78"},
                    preferences={"timezone": "Europe/Paris"})  # fmt: skip
    by_country = event(2, profile={"phone": "(415) 555-0134", "country": "us"})
    response = api.post("/events", json={"events": [by_zone, by_country]})
    assert response.json()["rejected"] == []
    with db.session() as session:
        numbers = dict(
            session.execute(
                select(Identity.customer_id, Identity.value).where(Identity.kind == "phone")
            ).all()
        )
    assert numbers == {"c1": "+33612345678", "c2": "+14155550134"}
    wrong = api.post("/events", json=event(3, profile={"phone": "12", "country": "FR"}))
    assert wrong.status_code == 422
    message = wrong.json()["problems"][0]["message"]
    assert "read as a number of FR" in message and "+33 6 12 34 56 78" in message


def test_permissive_mode_accepts_unknown_types_with_a_warning_and_counts_them(
    settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock, published: None
) -> None:
    permissive = settings.model_copy(update={"tracking_plan": "permissive"})
    with serve(permissive, db, api_server, clock) as client:
        response = client.post("/events", json={"events": [event(1, type="customer.signedup"),
                                                           event(2, type="customer.signedup")]})  # fmt: skip
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == ["e-1", "e-2"] and body["enrolled"] == 0
    assert body["warnings"][0] == {
        "field": "events[0].type",
        "message": "unknown event type 'customer.signedup'; did you mean 'customer.signed_up'? "
        "(accepted: the tracking plan is permissive)",
    }
    stats = event_stats(db, load_plan(settings.tracking_plan_file))
    assert [(t.type, t.events) for t in stats.unknown] == [("customer.signedup", 2)]
    assert stats.unknown_events == 2
