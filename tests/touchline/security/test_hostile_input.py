"""Hostile input gets a 4xx, never a 500: oversized bodies stop being read at their route's
limit (413), deep JSON is refused (422), NUL characters never reach PostgreSQL (422).
Through the real API on a real port, on SQLite and PostgreSQL."""

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from sandbox import ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.api.guard import json_depth_exceeds
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.record import Customer, Event

OPERATOR = {"Authorization": "Bearer dev-token"}
MiB = 1024 * 1024


@pytest.fixture
def api(
    settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock, published: None
) -> Iterator[httpx.Client]:
    api_server.start(create_app(settings, db, clock))
    with httpx.Client(base_url=api_server.url, timeout=30, headers=OPERATOR) as client:
        client.post("/events", json=signup(1)).raise_for_status()
        yield client


def signup(n: int, **extra: object) -> dict:
    return {"id": f"signup-{n}", "type": "customer.signed_up", "customer_id": f"c{n}",
            "occurred_at": START.isoformat(), "profile": {"email": f"c{n}@example.com"}, **extra}  # fmt: skip


def count(db: Database, table: type) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


# --- size ---------------------------------------------------------------------------------

LIMITED = [("/webhooks/sendgrid/events", 1 * MiB), ("/webhooks/twilio/inbound", 1 * MiB),
           ("/webhooks/twilio/status", 1 * MiB), ("/webhooks/x", 1 * MiB), ("/events", 4 * MiB)]  # fmt: skip


@pytest.mark.parametrize(("path", "limit"), LIMITED)
def test_a_declared_oversized_body_is_413_before_it_is_read(
    api: httpx.Client, path: str, limit: int
) -> None:
    response = api.post(path, content=b"x" * (limit + 1))
    assert response.status_code == 413
    assert response.json()["problems"][0]["field"] == "body"
    assert f"{limit:,}" in response.json()["detail"]


@pytest.mark.parametrize(("path", "limit"), LIMITED)
def test_a_streamed_body_stops_being_read_at_the_limit(
    api: httpx.Client, path: str, limit: int
) -> None:
    """Chunked, no Content-Length: the guard counts as it reads and answers once past the
    limit; the client is not made to send the rest (256 MiB on offer here)."""
    offered = 0

    def body() -> Iterator[bytes]:
        nonlocal offered
        for _ in range(256):
            offered += MiB
            yield b"y" * MiB

    try:
        response = api.post(path, content=body())
        assert response.status_code == 413
    except httpx.TransportError:
        pass  # the server closed the connection while we were still sending: also refused
    assert offered < limit + 32 * MiB  # the rest of the 256 MiB was never pulled


def test_bodies_within_the_limit_still_work(api: httpx.Client, db: Database) -> None:
    padding = "p" * (60 * 1024)  # 60 KiB of payload: below 64 KiB an event, 4 MiB a request
    assert api.post("/events", json=signup(2, payload={"note": padding})).status_code == 202
    assert count(db, Event) == 2


def test_operator_routes_have_a_smaller_limit(api: httpx.Client) -> None:
    evidence = {"note": "n" * (300 * 1024)}
    response = api.post("/customers/c1/consents", json={
        "changes": [{"channel": "email", "status": "granted"}], "evidence": evidence})  # fmt: skip
    assert response.status_code == 413


# --- depth --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
@pytest.mark.parametrize("path", ["/events", "/customers/c1/consents", "/webhooks/sendgrid/events"])
def test_deeply_nested_json_is_422(api: httpx.Client, depth: int, path: str, db: Database) -> None:
    nested = "[" * depth + "]" * depth
    body = f'{{"id": "deep", "type": "customer.signed_up", "customer_id": "c9", "payload": {{"x": {nested}}}}}'
    response = api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "the JSON is nested too deeply"
    assert count(db, Event) == 1


def test_depth_counts_brackets_outside_strings_only() -> None:
    assert not json_depth_exceeds(b'{"a": "' + b"[" * 100 + b'"}', 32)
    assert not json_depth_exceeds(b'{"a": "\\"' + b"[" * 100 + b'"}', 32)
    assert json_depth_exceeds(b'{"a": "\\\\"' + b", " + b"[" * 40 + b"]" * 40 + b"}", 32)
    assert not json_depth_exceeds(b"[" * 32 + b"]" * 32, 32)
    assert json_depth_exceeds(b"[" * 33 + b"]" * 33, 32)


def test_nesting_within_the_limit_is_accepted(api: httpx.Client) -> None:
    nested: object = "leaf"
    for _ in range(20):
        nested = {"n": nested}
    assert api.post("/events", json=signup(3, payload={"deep": nested})).status_code == 202


# --- NUL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/customers/%00/preferences", "/customers/c1%00/consents", "/customers/c1/timeline?x=%00",
     "/customers/c1/identities/email/a%00b@example.com"],
)  # fmt: skip
def test_nul_in_the_path_or_query_is_422(api: httpx.Client, path: str) -> None:
    for method in ("GET", "DELETE"):
        response = api.request(method, path)
        assert response.status_code == 422, (method, response.text)
        assert response.json()["problems"][0]["field"] == "path"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/customers/c1/preferences", {"timezone": "Europe/Pa\x00ris"}),
        ("POST", "/customers/c1/identities", {"kind": "email", "value": "a\x00@example.com"}),
        ("POST", "/customers/c1/consents", {"changes": [{"channel": "email", "status": "granted"}],
                                            "evidence": {"note\x00": "x"}}),
        ("POST", "/customers/c1/merge", {"source_customer_id": "c\x002", "reason": "r"}),
        ("POST", "/events", signup(4, payload={"x": "\x00"})),
    ],
    ids=["preferences", "identity", "consent-evidence-key", "merge", "events"],
)  # fmt: skip
def test_nul_in_the_body_is_422_and_stores_nothing(
    api: httpx.Client, db: Database, method: str, path: str, body: dict
) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["detail"]
    assert count(db, Customer) == 1 and count(db, Event) == 1


def test_an_escaped_backslash_before_u0000_is_not_a_nul(api: httpx.Client) -> None:
    """The text \\u0000 (a backslash, then u0000) is six ordinary characters."""
    body = json.dumps(signup(5, payload={"x": "\\u0000"}))
    assert "\\\\u0000" in body
    response = api.post("/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text


# --- attributes ---------------------------------------------------------------------------


def with_attributes(n: int, customer: int, **attributes: object) -> dict:
    return {"id": f"attrs-{n}", "type": "customer.updated", "customer_id": f"c{customer}",
            "occurred_at": START.isoformat(), "profile": {"attributes": attributes}}  # fmt: skip


def stored_attributes(db: Database, customer_id: str) -> dict:
    with db.session() as session:
        return dict(session.get(Customer, customer_id).attributes)


def test_one_events_attributes_over_the_limit_are_422(api: httpx.Client, db: Database) -> None:
    response = api.post("/events", json=with_attributes(1, 1, bio="b" * (17 * 1024)))
    assert response.status_code == 422
    problem = response.json()["problems"][0]
    assert problem["field"] == "profile.attributes"
    assert "16,384 bytes" in problem["message"]
    assert "bio" not in stored_attributes(db, "c1")


def test_the_limit_is_on_the_total_a_customer_would_hold(api: httpx.Client, db: Database) -> None:
    """Each event is small; together they would pass 16 KiB: the one that would is refused,
    alone (a bad event in a batch refuses only itself: docs/tracking-plan.md)."""
    for n in range(3):
        part = {f"note{n}": "n" * (5 * 1024)}
        assert api.post("/events", json=with_attributes(n, 1, **part)).status_code == 202
    batch = {"events": [signup(7), with_attributes(3, 1, note3="n" * (5 * 1024))]}
    response = api.post("/events", json=batch)
    assert response.status_code == 202, response.text
    [refused] = response.json()["rejected"]
    assert refused["index"] == 1
    assert refused["problems"][0]["field"] == "events[1].profile.attributes"
    assert set(stored_attributes(db, "c1")) == {"note0", "note1", "note2"}
    assert count(db, Customer) == 2  # c7's signup went in: only the oversized event was refused
    # Replacing a value rather than adding one stays within the limit.
    again = with_attributes(4, 1, note0="short")
    assert api.post("/events", json=again).status_code == 202


def test_file_intake_rejects_the_event_that_would_pass_the_limit(
    db: Database, settings: Settings
) -> None:
    from touchline.intake.ingest import ingest

    items = [(1, with_attributes(1, 5, a="a" * 9000)), (2, with_attributes(2, 5, b="b" * 9000)),
             (3, with_attributes(3, 6, c="c" * 100))]  # fmt: skip
    report = ingest(db, items, now=START, source="file", settings=settings)
    assert report.accepted == ["attrs-1", "attrs-3"] and report.rejected_events == 1
    assert report.rejected[0].field == "profile.attributes"
    assert "attrs-2" in report.rejected[0].message
    assert set(stored_attributes(db, "c5")) == {"a"}
