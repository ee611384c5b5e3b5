"""The PostgreSQL fence shares holds among a process's requests: a few connections for many
requests in flight, none left holding the lock when the requests are done, and a pause that
still gets through a steady stream of requests — after which none starts."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, event

from tests.conftest import START
from tests.touchline.engine.test_language import journey
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.lifecycle.fence import _postgres_gate
from touchline.lifecycle.states import PAUSED, PAUSED_REASON, change_state, ensure_state_row

CAMPAIGN = """key: blast
name: Blast
trigger: segment
reentry: every_event
context: {sale_code: SNOW25, sale_ends: December 6, shop_url: "https://shop.example"}
steps:
  - {id: announce, type: send, channel: email, template: winter_sale/announce}
"""


@pytest.fixture
def pg(db: Database) -> Database:
    if not db.is_postgres:
        pytest.skip("the shared holds are PostgreSQL's fence (SQLite's is file locks)")
    return db


def counted_engine(url: str) -> tuple[object, dict[str, int]]:
    """An engine whose connections checked out at once are counted (now and at most)."""
    engine = create_engine(url, pool_size=64, max_overflow=64, pool_timeout=60)
    seen = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def checkout(*_args: object) -> None:
        with lock:
            seen["now"] += 1
            seen["peak"] = max(seen["peak"], seen["now"])

    def checkin(*_args: object) -> None:
        with lock:
            seen["now"] -= 1

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    return engine, seen


def test_requests_in_flight_share_a_few_connections_and_leave_none_open(
    pg: Database, catalog: TemplateCatalog
) -> None:
    journey(pg, catalog, CAMPAIGN)
    ensure_state_row(pg, "blast", START)
    engine, seen = counted_engine(pg.url)
    gate = _postgres_gate(engine, "blast")  # type: ignore[arg-type]
    answers: list[str | None] = []

    def request() -> None:
        for _ in range(10):
            with gate() as why:
                answers.append(why)
                time.sleep(0.05)  # a provider answering after 50 ms

    threads = [threading.Thread(target=request) for _ in range(48)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [None] * 480
    # One connection per request in flight was 48; holds are taken afresh every 0.25 s,
    # and an old one ends with its last request, so a few overlap.
    assert seen["peak"] <= 6, seen
    assert seen["now"] == 0  # every hold released: no lock left behind
    engine.dispose()  # type: ignore[attr-defined]


def test_a_pause_gets_through_a_steady_stream_and_no_request_starts_after_it(
    pg: Database, catalog: TemplateCatalog
) -> None:
    journey(pg, catalog, CAMPAIGN)
    ensure_state_row(pg, "blast", START)
    engine, _seen = counted_engine(pg.url)
    gate = _postgres_gate(engine, "blast")  # type: ignore[arg-type]
    started: list[tuple[float, str | None]] = []
    answered: list[float] = []
    stop = threading.Event()

    def request() -> None:
        while not stop.is_set():
            with gate() as why:
                started.append((time.time(), why))
                if why is None:
                    time.sleep(0.05)
                    answered.append(time.time())

    threads = [threading.Thread(target=request) for _ in range(32)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    asked = time.time()
    change = change_state(pg, "blast", PAUSED, reason="wrong price", who="test", now=START)
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join(60)
    engine.dispose()  # type: ignore[attr-defined]

    # Through 32 threads asking without pause, the pause waited for one hold's worth
    # (0.25 s) and the requests in flight, not for the stream to dry up.
    assert change.committed_at - asked < 2
    sent_before = [t for t, why in started if why is None]
    assert sent_before and max(sent_before) <= change.committed_at
    assert max(answered) <= change.committed_at  # in flight: answered before the commit
    after = [why for t, why in started if t > change.committed_at]
    assert after and set(after) == {PAUSED_REASON}
