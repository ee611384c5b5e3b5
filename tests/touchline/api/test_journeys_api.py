"""The journey lifecycle over HTTP, as an operator uses it: pause with a reason, a 409 for
a change the state does not allow, 404 for an unknown journey, 422 for a blank reason, 401
without the token, the status and the history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox import ThreadedApp
from tests.touchline.engine.test_language import customer, journey, send
from tests.touchline.lifecycle.test_states import ONBOARD, opened
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings, reset_settings_cache
from touchline.content import TemplateCatalog
from touchline.db import Database

TOKEN = "operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(
    db: Database,
    catalog: TemplateCatalog,
    api_server: ThreadedApp,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[httpx.Client]:
    for key, value in {
        "TOUCHLINE_HOME": str(tmp_path / "home"),
        "TOUCHLINE_DATABASE_URL": db.url,
        "TOUCHLINE_API_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    journey(db, catalog, ONBOARD)
    send(db, customer("ann"), opened("o1", "ann"))
    api_server.start(create_app(Settings(), db, clock))
    with httpx.Client(base_url=api_server.url, timeout=30, headers=AUTH) as http:
        yield http
    reset_settings_cache()


def test_pause_resume_stop_over_http(client: httpx.Client) -> None:
    paused = client.post("/journeys/onboard/pause", json={"reason": "legal review", "by": "ana"})
    assert paused.status_code == 200, paused.text
    assert paused.json() | {"changed_at": None} == {
        "journey": "onboard", "from_state": "live", "to_state": "paused", "stop_mode": None,
        "reason": "legal review", "changed_by": "ana", "changed_at": None, "enrollments_ended": 0,
    }  # fmt: skip
    status = client.get("/journeys/onboard/status").json()
    assert (status["state"], status["reason"], status["active_by_step"]) == (
        "paused", "legal review", {"hello": 1},
    )  # fmt: skip

    again = client.post("/journeys/onboard/pause", json={"reason": "twice"})
    assert again.status_code == 409
    assert "onboard is paused; it cannot become paused" in again.json()["detail"]

    stopped = client.post("/journeys/onboard/stop", json={"reason": "done", "mode": "exit"})
    assert stopped.json()["enrollments_ended"] == 1
    history = client.get("/journeys/onboard/history").json()
    assert [(h["from_state"], h["to_state"], h["changed_by"]) for h in history] == [
        ("live", "paused", "ana"), ("paused", "stopped", "api"),
    ]  # fmt: skip
    assert {s["journey"] for s in client.get("/journeys/status").json()} == {"onboard"}


def test_hostile_and_mistaken_requests_get_a_clear_4xx(client: httpx.Client) -> None:
    assert client.post("/journeys/nope/pause", json={"reason": "x"}).status_code == 404
    assert client.get("/journeys/nope/status").status_code == 404
    blank = client.post("/journeys/onboard/pause", json={"reason": "   "})
    assert blank.status_code == 422
    assert client.post("/journeys/onboard/pause", json={}).status_code == 422
    bad_mode = client.post("/journeys/onboard/stop", json={"reason": "x", "mode": "now"})
    assert bad_mode.status_code == 422
    assert client.post("/journeys/onboard/pause", content=b"\x00{").status_code == 422
    anonymous = httpx.post(f"{client.base_url}/journeys/onboard/pause", json={"reason": "x"})
    assert anonymous.status_code == 401
    assert client.get("/journeys/onboard/status").json()["state"] == "live"
