"""POST /events: genesis events over HTTP — authenticated, admitted event by event (a bad
event refuses only itself, as files do), idempotent on the event id, 202 with the ids and
each refused event's index and reason; 422 and nothing stored when every event is refused."""

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from sandbox import ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.record import Enrollment, Event

AUTH = {"Authorization": "Bearer dev-token"}


@pytest.fixture
def api(
    settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock, published: None
) -> Iterator[httpx.Client]:
    api_server.start(create_app(settings, db, clock))
    with httpx.Client(base_url=api_server.url, timeout=10, headers=AUTH) as client:
        yield client


def signup(n: int, **overrides: object) -> dict:
    return {"id": f"signup-{n}", "type": "customer.signed_up", "customer_id": f"c{n}",
            "occurred_at": START.isoformat(), "profile": {"email": f"c{n}@example.com"},
            "consents": [{"channel": "email", "status": "granted"}], **overrides}  # fmt: skip


def count(db: Database, table: type) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_one_event_is_accepted_stored_and_enrolled(api: httpx.Client, db: Database) -> None:
    response = api.post("/events", json=signup(1))
    assert response.status_code == 202
    assert response.json() == {"accepted": ["signup-1"], "duplicates": [], "enrolled": 1,
                               "rejected": [], "warnings": []}  # fmt: skip
    with db.session() as session:
        enrollment = session.execute(select(Enrollment)).scalar_one()
    assert (enrollment.customer_id, enrollment.journey_key) == ("c1", "welcome")


def test_a_batch_is_idempotent_on_the_event_id(api: httpx.Client, db: Database) -> None:
    batch = {"events": [signup(n) for n in range(5)]}
    first = api.post("/events", json=batch).json()
    again = api.post("/events", json={"events": [signup(n) for n in range(3, 7)]}).json()
    assert first["accepted"] == [f"signup-{n}" for n in range(5)] and first["enrolled"] == 5
    assert again == {"accepted": ["signup-5", "signup-6"], "duplicates": ["signup-3", "signup-4"],
                     "enrolled": 2, "rejected": [], "warnings": []}  # fmt: skip
    assert count(db, Event) == 7 and count(db, Enrollment) == 7


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"events": [signup(2, occurred_at="2026-11-23T09:00:00")]},
         "events[0].occurred_at", "needs a time zone"),
        ({"events": [signup(1, type="Signed Up")]}, "events[0].type", "not an event type"),
        (signup(1, customer_id=""), "customer_id", "letters, digits"),
        (signup(1, profile={"email": "ada@"}), "profile.email", "after the @-sign"),
        (signup(1, consents=[{"channel": "pigeon", "status": "granted"}]), "consents.0.channel", "'email', 'sms', 'whatsapp', 'x' or 'all'"),
        (signup(1, colour="blue"), "colour", "is not a field of an event"),
        ({"events": []}, "events", "non-empty list"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field_and_stores_nothing(
    api: httpx.Client, db: Database, body: dict, field: str, words: str
) -> None:
    response = api.post("/events", json=body)
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any(p["field"] == field and words in p["message"] for p in problems), problems
    assert count(db, Event) == 0


def test_size_limits_and_authentication(api: httpx.Client, db: Database) -> None:
    big = signup(1, payload={"notes": "x" * 70_000})
    assert api.post("/events", json=big).status_code == 422
    too_many = {"events": [signup(n) for n in range(1001)]}
    assert api.post("/events", json=too_many).status_code == 413
    assert (
        api.post(
            "/events", content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 422
    )
    assert httpx.post(api.base_url.join("/events"), json=signup(1)).status_code == 401
    assert count(db, Event) == 0
    assert "/events" in api.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": "e1", "type": "customer.signed_up", "customer_id": "c1", '
        b'"occurred_at": "2026-11-23T09:00:00Z", "payload": {"score": NaN}}',
        b'{"id": "e1", "type": "customer.signed_up", "customer_id": "c1", '
        b'"occurred_at": "2026-11-23T09:00:00Z", "payload": {"note": "a\\u0000b"}}',
    ],
)
def test_values_postgresql_cannot_store_are_refused_not_a_500(
    api: httpx.Client, db: Database, raw: bytes
) -> None:
    response = api.post("/events", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert count(db, Event) == 0
