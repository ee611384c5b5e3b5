"""The marketer's tools: `touchline journeys graph` and `touchline journeys simulate`, and the
dry run behind the latter (synthetic events, a temporary record, the emulators)."""

import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import START
from touchline.cli import app
from touchline.config import PROJECT_ROOT, reset_settings_cache
from touchline.content import TemplateCatalog
from touchline.demo.dry_run import DryRunResult, dry_run
from touchline.demo.dry_run_events import fill, synthetic_events
from touchline.engine.conditions import holds
from touchline.journeys import LoadedJourney, load_journey
from touchline.journeys.loader import parse_journey

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CUSTOMERS = 200


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Default settings (the project's journeys and templates), local state in tmp_path."""
    monkeypatch.setenv("TOUCHLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at the terminal's width
    reset_settings_cache()
    yield
    reset_settings_cache()


def loaded(key: str) -> LoadedJourney:
    return load_journey(
        PROJECT_ROOT / "journeys" / f"{key}.yaml", TemplateCatalog(PROJECT_ROOT / "templates")
    )


@pytest.fixture(scope="module")
def welcome_run() -> DryRunResult:
    """One dry run of the welcome journey, shared: each costs a couple of seconds."""
    return dry_run(loaded("welcome"), customers=CUSTOMERS, days=3, seed=11, start=START)


# --- graph --------------------------------------------------------------------------------


def test_graph_prints_mermaid_and_writes_both_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["journeys", "graph", "welcome", "--out", str(tmp_path / "g")])

    assert result.exit_code == 0, result.output
    # stdout is the Mermaid text alone, ready to pipe; the file names go to stderr.
    assert result.stdout.startswith("%% Welcome series (welcome)\nflowchart TD\n")
    assert '    s_opened_welcome -->|"yes"| x_exit\n' in result.stdout
    assert "✓" not in result.stdout and str(tmp_path / "g" / "welcome.png") in result.stderr
    assert (tmp_path / "g" / "welcome.mmd").read_text() == result.stdout
    png = (tmp_path / "g" / "welcome.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000


def test_graph_takes_a_file_and_defaults_to_the_home_folder(tmp_path: Path) -> None:
    path = PROJECT_ROOT / "journeys" / "cart_abandonment.yaml"
    result = runner.invoke(app, ["journeys", "graph", str(path)])

    assert result.exit_code == 0, result.output
    assert '    s_grace_hour -->|"timeout 1h"| s_cart_email\n' in result.stdout
    graphs = tmp_path / "home" / "graphs"
    assert sorted(p.name for p in graphs.iterdir()) == [
        "cart_abandonment.mmd",
        "cart_abandonment.png",
    ]


@pytest.mark.parametrize("command", ["graph", "simulate"])
def test_an_unknown_journey_is_named_with_the_known_ones(command: str) -> None:
    result = runner.invoke(app, ["journeys", command, "nope"])

    assert result.exit_code == 1
    assert "✗ no journey 'nope' in" in result.output
    assert "cart_abandonment" in result.output and "welcome" in result.output


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["journeys", "graph", str(tmp_path / "gone.yaml")])
    assert result.exit_code == 1
    assert f"✗ no journey file {tmp_path / 'gone.yaml'}" in result.output


def test_a_broken_journey_file_shows_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (PROJECT_ROOT / "journeys" / "welcome.yaml")
        .read_text()
        .replace("duration: 2d", "duration: soon")
    )
    result = runner.invoke(app, ["journeys", "graph", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:34: steps[1].duration: 'soon' is not a duration" in result.output


# --- the synthetic events --------------------------------------------------------------------


def test_trigger_events_match_the_journey_and_mostly_pass_its_filter() -> None:
    definition = loaded("cart_abandonment").definition
    events = synthetic_events(definition, 300, 3, 5, START)

    triggers = [e for e in events if e["type"] == "cart.abandoned"]
    assert len(triggers) == 300 and len({e["customer_id"] for e in triggers}) == 300
    assert all(
        START <= datetime.fromisoformat(e["occurred_at"]) < START + timedelta(days=1)
        for e in triggers
    )
    assert definition.trigger.where is not None
    passing = [
        e
        for e in triggers
        if holds(
            definition.trigger.where, attributes=e["profile"]["attributes"], payload=e["payload"]
        )
    ]
    assert 0.75 < len(passing) / len(triggers) < 0.95
    # A cart the reminder templates can show: items whose prices add up to the total.
    cart = triggers[0]["payload"]["cart"]
    assert cart["items"] and cart["url"].startswith("https://")
    assert sum(i["price"] for i in cart["items"]) == pytest.approx(cart["total"], abs=0.05)

    # Later: orders (exit, goal, and what the grace hour waits for), after the trigger.
    trigger_at = {e["customer_id"]: e["occurred_at"] for e in triggers}
    later = [e for e in events if e["type"] != "cart.abandoned"]
    assert {e["type"] for e in later} == {"order.placed"}
    assert 0.15 < len(later) / 300 < 0.5
    assert all(e["occurred_at"] > trigger_at[e["customer_id"]] for e in later)
    assert all("revenue" in e["payload"] for e in later)

    assert [e["occurred_at"] for e in events] == sorted(e["occurred_at"] for e in events)
    assert synthetic_events(definition, 300, 3, 5, START) == events  # the seed decides
    assert synthetic_events(definition, 300, 3, 6, START) != events


@pytest.mark.parametrize("want", [True, False])
def test_filters_are_filled_to_hold_or_not(want: bool) -> None:
    text = """
key: filtered
name: Filtered
trigger:
  event: cart.abandoned
  where:
    all:
      - {payload: cart.total, lt: 50}
      - any:
          - {attribute: plan, in: [plus, pro]}
          - {attribute: account.age_days, gte: 30}
      - not: {payload: coupon, exists: true}
      - {payload: channel, not_equals: pos}
steps:
  - {id: pause, type: wait, duration: 1d}
"""
    condition = parse_journey(text, "f.yaml", TemplateCatalog(PROJECT_ROOT / "templates"))
    where = condition.trigger.where
    rng = random.Random(1)
    for _ in range(200):
        payload, attributes = {"coupon": "X"}, {}
        fill(where, want, rng, payload, attributes)
        assert holds(where, attributes=attributes, payload=payload) is want, (payload, attributes)


# --- the dry run ---------------------------------------------------------------------------------


def test_the_dry_run_funnel_comes_from_the_record(welcome_run: DryRunResult) -> None:
    run = welcome_run
    steps = [row.step_id for row in run.funnel]
    assert steps == ["welcome_email", "wait_two_days", "opened_welcome", "nudge_sms"]
    assert run.triggers == CUSTOMERS and run.enrolled == CUSTOMERS and run.holdout == 0
    reached = [row.reached for row in run.funnel]
    assert reached[0] == run.enrolled
    assert reached == sorted(reached, reverse=True)  # welcome is linear: nobody skips ahead
    assert reached[-1] < reached[0]  # openers and buyers left before the SMS
    # Everyone who entered ended somewhere or is still on a step.
    assert sum(run.endings.values()) == run.enrolled
    assert sum(r.ended_here + r.waiting_here for r in run.funnel) == run.enrolled
    # Each welcome email touch has one outcome; the send step's counts add up.
    email = run.funnel[0]
    assert sum(email.outcomes.values()) == email.reached

    assert run.sent["email"] > 0.7 * CUSTOMERS and run.sent["sms"] > 0
    assert run.skips and all(step in steps for step, _ in run.skips)
    assert run.engagement[("email", "opened")] > 0  # webhooks came back and were recorded
    assert run.endings[("completed", "left at opened_welcome: condition true")] > 0
    assert run.endings[("exited", "exit event customer.first_purchase")] > 0
    assert 0 < run.conversions <= run.events["customer.first_purchase"]
    assert run.problems == []


def test_the_emulators_received_what_the_record_says_was_sent(welcome_run: DryRunResult) -> None:
    assert welcome_run.emulator_accepted == {
        "email": welcome_run.sent["email"],
        "sms": welcome_run.sent["sms"],
    }
    assert welcome_run.duplicate_touches == 0
    touches = Counter(
        {channel: n for (channel, outcome), n in welcome_run.touches.items() if outcome == "sent"}
    )
    assert touches == Counter(welcome_run.emulator_accepted)


def test_simulate_prints_the_funnel_and_the_cross_check() -> None:
    result = runner.invoke(
        app, ["journeys", "simulate", "welcome", "--customers", "60", "--days", "3"]
    )

    assert result.exit_code == 0, result.output
    output = result.output
    assert "Dry run of Welcome series (welcome): 60 synthetic customers over 3 days" in output
    assert "60 customer.signed_up events → 60 entered" in output
    assert "Funnel: enrollments that reached each step (of 60 entered)" in output
    assert output.index("welcome_email") < output.index("wait_two_days") < output.index("nudge_sms")
    assert "Touches by channel and outcome" in output
    assert "How enrollments ended" in output
    assert "Conversions (customer.first_purchase within 2w):" in output
    assert "✓ the SendGrid emulator accepted" in output
    assert "✓ the Twilio emulator accepted" in output


def test_a_launched_journey_is_dry_run_as_one_segment_launch() -> None:
    run = dry_run(loaded("winter_sale"), customers=120, days=3, seed=5, start=START)
    assert run.launched and run.triggers == 120 and run.enrolled == 120
    assert 0 < run.holdout < 30  # a tenth or so held out
    announce = run.funnel[0]
    assert announce.step_id == "announce" and announce.reached == 120
    assert sum(announce.outcomes.values()) == 120
    assert run.sent and run.consistent and run.problems == []
