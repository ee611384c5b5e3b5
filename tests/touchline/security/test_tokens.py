"""Two tokens: the integrators' events token may only POST /events; the operator token may
do everything (events included). Through the real API on a real port."""

from collections.abc import Iterator

import httpx
import pytest

from sandbox import ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database

OPERATOR = {"Authorization": "Bearer dev-token"}
EVENTS = {"Authorization": "Bearer dev-events-token"}
OPERATOR_ROUTES = [
    ("GET", "/customers/c1/preferences", None),
    ("PATCH", "/customers/c1/preferences", {"timezone": "Europe/Paris"}),
    ("GET", "/customers/c1/consents", None),
    ("POST", "/customers/c1/consents",
     {"changes": [{"channel": "email", "status": "granted"}], "evidence": {"form": "x"}}),
    ("GET", "/customers/c1/identities", None),
    ("POST", "/customers/c1/identities", {"kind": "email", "value": "x@example.com"}),
    ("DELETE", "/customers/c1/identities/email/x@example.com", None),
    ("POST", "/customers/c1/merge", {"source_customer_id": "c2", "reason": "same person"}),
    ("GET", "/customers/c1/timeline", None),
    ("GET", "/customers/c1/export?actor=ops", None),
    ("DELETE", "/customers/c1?actor=ops", None),
]  # fmt: skip


@pytest.fixture
def api(
    settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock, published: None
) -> Iterator[httpx.Client]:
    api_server.start(create_app(settings, db, clock))
    with httpx.Client(base_url=api_server.url, timeout=10) as client:
        yield client


def signup(n: int) -> dict:
    return {"id": f"signup-{n}", "type": "customer.signed_up", "customer_id": f"c{n}",
            "occurred_at": START.isoformat(), "profile": {"email": f"c{n}@example.com"}}  # fmt: skip


def test_the_events_token_posts_events(api: httpx.Client) -> None:
    response = api.post("/events", json=signup(1), headers=EVENTS)
    assert response.status_code == 202 and response.json()["accepted"] == ["signup-1"]


def test_the_operator_token_posts_events_too(api: httpx.Client) -> None:
    assert api.post("/events", json=signup(2), headers=OPERATOR).status_code == 202


@pytest.mark.parametrize(("method", "path", "body"), OPERATOR_ROUTES, ids=lambda v: str(v)[:40])
def test_the_events_token_gets_403_on_every_operator_route(
    api: httpx.Client, method: str, path: str, body: dict | None
) -> None:
    api.post("/events", json=signup(1), headers=OPERATOR)
    response = api.request(method, path, json=body, headers=EVENTS)
    assert response.status_code == 403
    assert "events token" in response.json()["detail"]
    # The same request with the operator token is not refused for its token.
    assert api.request(method, path, json=body, headers=OPERATOR).status_code not in (401, 403)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"},
                                     {"Authorization": "Basic ZGV2LXRva2Vu"}])  # fmt: skip
def test_no_or_a_wrong_token_gets_401(api: httpx.Client, headers: dict[str, str]) -> None:
    assert api.post("/events", json=signup(3), headers=headers).status_code == 401
    response = api.get("/customers/c1/preferences", headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
