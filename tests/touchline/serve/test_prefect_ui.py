"""The Prefect UI of the served stack, seen in a browser (Debian's Chromium, Playwright),
after some traffic: what an operator reads there is what the record holds.

- the runs list: the runs named for what they do (the continuous run, the safety net that
  ended at once), and nothing else: no flood of no-op runs;
- one continuous advance run's page: its three artifacts with descriptions that start with
  the counts, the progress artifact, and the touches table whose every row equals the
  record's count of touches for that journey, step, channel and outcome;
- its task runs: one per batch, each named for what it did, whose counts add up to the
  record's.

Screenshots of each page go to .touchline/test-artifacts/prefect-ui/ (printed). One
served stack for the module (about a minute to start); the pages take seconds each.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from tests.browsers import chromium
from tests.served import post_events, wait
from touchline.config import PROJECT_ROOT
from touchline.db import Database
from touchline.engine.report import NAME_SEPARATOR, NO_CHANNEL, OUTCOME_WORDS
from touchline.record import Interaction, Touch
from touchline.record.touches import TERMINAL_OUTCOMES
from touchline.serve import RunningStack
from touchline.serve.prefect_api import PrefectApi

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.prefect]

SHOTS = PROJECT_ROOT / ".touchline" / "test-artifacts" / "prefect-ui"
CONTINUOUS_NAME = "advance continuously for 60 min"
SAFETY_NET_NAME = "safety net: advance what is due unless a continuous run is polling"
# Sign-ups: with email consent (the welcome email goes), without (skipped: no consent), and
# with an unconfirmed "text me offers" (the SMS double opt-in asks, one to a Twilio test
# number that refuses it: failed). Batches of 25, so the run has several task runs.
EMAIL_ONLY, NO_CONSENT, TEXTERS = 40, 10, 8
BATCH_SIZE = 25
INVALID_NUMBER = "+15005550001"  # the Twilio emulator answers 21211


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    # Tables refreshed every 2 s instead of every minute: the test waits seconds, not one.
    return {"TOUCHLINE_BATCH_SIZE": str(BATCH_SIZE), "TOUCHLINE_PROGRESS_REFRESH_SECONDS": "2"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(30_000)
    # The UI's calls to the server's API: none may fail (a UI pointed at the wrong API URL
    # would fail them all). Its own script errors are Prefect's business, not checked.
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and "/api/" in response.url
            and failed.append(f"{response.url}: {response.status}"))  # fmt: skip
    yield page
    context.close()
    assert not failed, failed


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


@dataclass(frozen=True)
class Traffic:
    run_id: str  # the continuous run that advanced everyone
    rows: dict[tuple[str, str, str, str], int]  # (journey, step, channel, outcome) -> touches
    task_runs: list[str]  # their names, from the API

    def total(self, outcome: str) -> int:
        return sum(n for (_, _, _, o), n in self.rows.items() if o == outcome)

    def counts_in_words(self) -> str:
        """The touches part of our operators' words: ``45 sent, 10 skipped, 1 failed``."""
        return ", ".join(f"{self.total(o)} {o}" for o in OUTCOME_WORDS if self.total(o))


def _local_midday_zone() -> str:
    """A fixed-offset zone where it is about 13:00 now: no quiet hours defer anything."""
    offset = 13 - datetime.now(UTC).hour
    offset = offset - 24 if offset > 12 else offset + 24 if offset < -11 else offset
    return f"Etc/GMT{-offset:+d}"  # POSIX sign: Etc/GMT-5 is UTC+5


def _signups() -> list[dict[str, Any]]:
    prefix, zone = f"ui{uuid.uuid4().hex[:6]}", _local_midday_zone()
    events = []
    for n in range(EMAIL_ONLY + NO_CONSENT + TEXTERS):
        cid = f"{prefix}{n:03d}"
        event: dict[str, Any] = {
            "id": f"signup-{cid}", "type": "customer.signed_up", "customer_id": cid,
            "occurred_at": datetime.now(UTC).isoformat(),
            "profile": {"email": f"{cid}@example.com", "attributes": {"first_name": "Ada"}},
            "preferences": {"timezone": zone},
            "consents": [] if EMAIL_ONLY <= n < EMAIL_ONLY + NO_CONSENT else
            [{"channel": "email", "purpose": "marketing", "status": "granted"}],
        }  # fmt: skip
        if n >= EMAIL_ONLY + NO_CONSENT:
            texter = n - EMAIL_ONLY - NO_CONSENT
            event["profile"]["phone"] = INVALID_NUMBER if texter == 0 else f"+1415555{n:04d}"
            event["consents"].append({"channel": "sms", "purpose": "marketing",
                                      "status": "granted"})  # fmt: skip
        events.append(event)
    return events


def _record_rows(database_url: str) -> dict[tuple[str, str, str, str], int]:
    """Touches per journey, step, channel and outcome, from the record."""
    db = Database(database_url)
    try:
        with db.session() as session:
            found = session.execute(
                select(Touch.journey_key, Touch.step_id, Touch.channel, Interaction.kind)
                .join(Interaction, Interaction.touch_id == Touch.id)
                .where(Interaction.kind.in_(TERMINAL_OUTCOMES))
            ).all()
    finally:
        db.dispose()
    return dict(Counter((j, s, c or NO_CHANNEL, k) for j, s, c, k in found))


def _said(names: list[str]) -> dict[str, int]:
    """Touches per outcome that task-run names add up to (``24 sent, 1 failed, …``)."""
    return {o: sum(int(n.replace(",", "")) for name in names
                   for n in re.findall(rf"(\d[\d,]*) {o}\b", name))
            for o in TERMINAL_OUTCOMES}  # fmt: skip


def _totals(rows: dict[tuple[str, str, str, str], int]) -> dict[str, int]:
    return {
        o: sum(n for (_, _, _, kind), n in rows.items() if kind == o) for o in TERMINAL_OUTCOMES
    }


def _table(artifact: dict[str, Any]) -> dict[tuple[str, str, str, str], int]:
    rows = json.loads(artifact["data"])
    return {(r["journey"], r["step"], r["channel"], r["outcome"]): r["touches"] for r in rows}


@pytest.fixture(scope="module")
def traffic(stack: RunningStack) -> Traffic:
    """Sign-ups posted to the served API and advanced by the stack's continuous run; the
    hourly safety net run by hand, as its schedule would. Returns once Prefect has what the
    record has: the run's touches table equal to the record's counts, every batch renamed."""
    began = time.monotonic()
    prefect = PrefectApi(stack.plan.prefect_api_url)
    try:
        safety_net = prefect.deployment("advance-journeys")
        assert safety_net is not None
        # The continuous run polls first: the safety net then ends at once.
        run_id = stack.continuous_run_id
        assert run_id is not None
        wait("the continuous run running",
             lambda: prefect.flow_run(run_id)["state_type"] == "RUNNING", timeout=120)  # fmt: skip
        safety_run = prefect.run_deployment(safety_net["id"])["id"]
        events = _signups()
        assert post_events(stack, events)["enrolled"] >= len(events)

        touched = EMAIL_ONLY + NO_CONSENT + 2 * TEXTERS  # welcome email + the opt-in text
        rows = wait("every touch's outcome in the record", lambda: (
            r := _record_rows(stack.plan.database_url)) and sum(r.values()) == touched and r,
            timeout=120)  # fmt: skip

        def table_matches() -> bool:
            found = prefect.filter("artifacts", {"artifacts": {
                "flow_run_id": {"any_": [run_id]}, "key": {"any_": ["advance-touches"]}}})  # fmt: skip
            return bool(found) and _table(found[0]) == rows

        wait("the run's touches table as in the record", table_matches, timeout=60)

        def named_batches() -> list[str] | None:
            names = [t["name"] for t in prefect.filter("task_runs", {
                "flow_runs": {"id": {"any_": [run_id]}}})]  # fmt: skip
            renamed = names and all(NAME_SEPARATOR in n for n in names)
            # Every batch recorded: their names count all the record's touches.
            return names if renamed and _said(names) == _totals(rows) else None

        task_runs = wait("every batch task run recorded and renamed", named_batches, timeout=60)
        wait("the safety net finished",
             lambda: prefect.flow_run(safety_run)["state_type"] == "COMPLETED", timeout=90)  # fmt: skip
    finally:
        prefect.close()
    print(f"traffic advanced and recorded by Prefect in {time.monotonic() - began:.0f} s")
    return Traffic(run_id=run_id, rows=rows, task_runs=task_runs)


def test_the_runs_list_shows_runs_named_for_what_they_do_and_no_flood(
    stack: RunningStack, traffic: Traffic, page: Page
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{stack.plan.prefect_url}/runs")
    runs = page.locator("a[href^='/runs/flow-run/']")
    expect(runs.filter(has_text=CONTINUOUS_NAME)).to_have_count(1)
    expect(runs.filter(has_text=SAFETY_NET_NAME)).to_have_count(1)
    # Everything the stack did since it started: two runs, both named for what they do.
    expect(page.get_by_text(re.compile(r"^\d+ runs?$"))).to_have_text("2 runs")
    assert sorted(runs.all_inner_texts()) == sorted([CONTINUOUS_NAME, SAFETY_NET_NAME])
    shot(page, "runs-list")


def test_a_continuous_run_shows_progress_and_the_record_s_touches(
    stack: RunningStack, traffic: Traffic, page: Page
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{stack.plan.prefect_url}/runs/flow-run/{traffic.run_id}")
    expect(page.get_by_text(CONTINUOUS_NAME).first).to_be_visible()
    page.get_by_role("tablist").get_by_text("Artifacts", exact=True).click()
    panel = page.get_by_role("tabpanel")
    cards = panel.locator("a[href^='/artifacts/artifact/']")
    expect(cards).to_have_count(3)
    words = traffic.counts_in_words()
    # Every card has a description, and it starts with what the run did: a card shows one
    # line of it.
    description = {key: cards.filter(has_text=key).locator("article") for key in
                   ("advance-progress", "advance-touches", "advance-summary")}  # fmt: skip
    expect(description["advance-progress"]).to_have_text(
        re.compile(rf"^{words}, \d+ waiting.*: \d+ customers in \d+ batch")
    )
    expect(description["advance-touches"]).to_have_text(
        re.compile(rf"^{words}, .*: touches by journey, step, channel and outcome")
    )
    expect(description["advance-summary"]).to_have_text(
        re.compile(r"^What was sent, skipped, deferred and why")
    )
    shot(page, "flow-run-artifacts")

    cards.filter(has_text="advance-touches").click()
    table = page.get_by_role("table")
    expect(table.get_by_role("row")).to_have_count(len(traffic.rows) + 1)  # + the header
    shown = {}
    for row in table.get_by_role("row").all()[1:]:
        journey, step, channel, outcome, touches = (
            c.strip() for c in row.locator("td").all_inner_texts()
        )
        shown[(journey, step, channel, outcome)] = int(touches.replace(",", ""))
    assert shown == traffic.rows
    shot(page, "touches-table")

    page.go_back()
    page.get_by_role("tablist").get_by_text("Artifacts", exact=True).click()
    page.get_by_role("tabpanel").locator("a[href^='/artifacts/artifact/']").filter(
        has_text="advance-progress"
    ).click()
    # The share of its 60-minute window, and what it did so far, in words.
    expect(page.get_by_text(re.compile(r"Progress: \d+%"))).to_be_visible()
    expect(page.locator("article").first).to_have_text(
        re.compile(rf"^{words}, \d+ waiting.*: \d+ customers in \d+ batch")
    )
    shot(page, "progress")


def test_task_runs_are_named_for_what_each_batch_did(
    stack: RunningStack, traffic: Traffic, page: Page
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{stack.plan.prefect_url}/runs/flow-run/{traffic.run_id}")
    page.get_by_role("tablist").get_by_text("Task Runs", exact=True).click()
    panel = page.get_by_role("tabpanel")
    names = panel.locator("a[href^='/runs/task-run/']")
    expect(names).to_have_count(len(traffic.task_runs))
    expect(panel.get_by_text(re.compile(r"^\d+ Task runs?$"))).to_have_text(
        f"{len(traffic.task_runs)} Task run{'s' if len(traffic.task_runs) != 1 else ''}"
    )
    shown = names.all_inner_texts()
    assert sorted(shown) == sorted(traffic.task_runs)
    # batch 2 | welcome/welcome_email +1 | 20 sent, 4 skipped, 1 failed, 25 waiting
    pattern = re.compile(r"^batch \d+ \| ([a-z_]+/[a-z_]+( \+\d+)? \| .*\d+ (sent|skipped|failed)"
                         r"|nothing claimed \(held by another run\)$)")  # fmt: skip
    assert all(pattern.match(name) for name in shown), shown
    # Their counts add up to the record's.
    assert _said(shown) == _totals(traffic.rows), shown
    shot(page, "task-runs")
