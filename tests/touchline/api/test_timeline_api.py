"""GET /customers/{id}/timeline: the single customer view over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from sandbox import ThreadedApp
from tests.conftest import START
from tests.touchline.reports.builders import PROMO, RecordBuilder
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings, reset_settings_cache
from touchline.db import Database
from touchline.record import Consent, CustomerMerge, Event, Identity, Preference, Suppression

TOKEN = "operator-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(
    db: Database,
    api_server: ThreadedApp,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[httpx.Client]:
    for key, value in {
        "TOUCHLINE_HOME": str(tmp_path / "home"),
        "TOUCHLINE_DATABASE_URL": db.url,
        "TOUCHLINE_API_TOKEN": TOKEN,
        "TOUCHLINE_LINK_SECRET": "test-link-secret",
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    api_server.start(create_app(Settings(), db, clock))
    with httpx.Client(base_url=api_server.url, timeout=10) as http:
        yield http
    reset_settings_cache()


@pytest.fixture
def story(db: Database) -> None:
    """c1 signs up, consents, is sent an email that bounces (the address is suppressed),
    leaves the promotions topic by SMS keyword, converts; c0 was merged into c1."""
    minute = timedelta(minutes=1)
    with db.session() as session:
        build = RecordBuilder(session)
        build.journey(PROMO)
        build.customer("c0")
        build.customer("c1")
        session.add_all(
            [
                Event(id="e1", type="cart.abandoned", customer_id="c1", occurred_at=START,
                      received_at=START, source="api", payload={"cart": {"total": 42}}),
                Identity(customer_id="c1", kind="email", value="ada@example.com",
                         source="signup_form", evidence={"event_id": "e1"}, created_at=START),
                Consent(customer_id="c1", channel="email", purpose="marketing",
                        status="granted", source="signup_form", evidence={"event_id": "e1"},
                        recorded_at=START),
                Consent(customer_id="c1", channel="all", purpose="marketing", topic="promotions",
                        status="revoked", source="sms_keyword", evidence={"body": "STOP"},
                        recorded_at=START + 30 * minute),
                Suppression(kind="email", value="ada@example.com", reason="bounce",
                            source="sendgrid", evidence={}, created_at=START + 3 * minute),
                Suppression(kind="email", value="someone@else.com", reason="bounce",
                            source="sendgrid", evidence={}, created_at=START),
                CustomerMerge(source_customer_id="c0", target_customer_id="c1", actor="ops",
                              reason="same person", evidence={}, moved={"events": 1},
                              merged_at=START + 40 * minute),
                Preference(customer_id="c1", timezone="Europe/Paris", updated_at=START),
            ]
        )  # fmt: skip
        enrollment = build.enroll("c1")
        build.touch(enrollment, "c1", "first_email", "email", START + minute,
                    engagement=("bounced",))  # fmt: skip
        build.convert(enrollment, "c1", START + 60 * minute, 25)


@pytest.mark.usefixtures("story")
def test_the_timeline_lists_everything_in_order(client: httpx.Client) -> None:
    response = client.get("/customers/c1/timeline", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["customer_id"], body["merged_into"], body["timezone"]) == (
        "c1", None, "Europe/Paris",
    )  # fmt: skip
    kinds = [(e["kind"], e["channel"]) for e in body["entries"]]
    assert kinds == [
        ("event", None),
        ("consent", "email"),
        ("identity", "email"),
        ("enrolled", None),
        ("decision", "email"),
        ("sent", "email"),
        ("bounced", "email"),
        ("suppressed", "email"),
        ("consent", "all"),
        ("merge", None),
        ("converted", None),
    ]
    at = [e["at"] for e in body["entries"]]
    assert at == sorted(at)
    topic = body["entries"][8]
    assert topic["summary"] == "topic promotions (marketing) revoked via sms_keyword"
    assert topic["detail"] == {"purpose": "marketing", "status": "revoked", "topic": "promotions",
                               "source": "sms_keyword", "evidence": {"body": "STOP"}}  # fmt: skip
    assert body["entries"][7]["summary"] == "email ada@example.com suppressed: bounce (sendgrid)"
    assert body["entries"][9]["summary"] == "c0 merged into c1 by ops: same person"
    assert body["entries"][10]["detail"]["revenue"] == 25


@pytest.mark.usefixtures("story")
def test_the_merged_profile_points_to_its_person(client: httpx.Client, db: Database) -> None:
    from touchline.record import Customer

    with db.session() as session:
        session.get(Customer, "c0").merged_into = "c1"
    body = client.get("/customers/c0/timeline", headers=AUTH).json()
    assert body["merged_into"] == "c1"
    assert [e["kind"] for e in body["entries"]] == ["merge"]


@pytest.mark.usefixtures("story")
def test_unknown_customers_and_missing_tokens_are_refused(client: httpx.Client) -> None:
    unknown = client.get("/customers/nobody/timeline", headers=AUTH)
    assert unknown.status_code == 404
    assert "nobody" in unknown.json()["detail"]
    assert client.get("/customers/c1/timeline").status_code == 401
    wrong = client.get("/customers/c1/timeline", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
