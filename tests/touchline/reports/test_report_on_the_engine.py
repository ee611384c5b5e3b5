"""The report reads what the engine writes: a journey with a holdout, a split and a goal,
run through intake and the advance engine against the emulators, then reported."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import START
from tests.touchline.engine.test_language import HEAD, advance, customer, event, journey, send
from touchline import ids
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine
from touchline.reports.attribution import NO_TOUCH
from touchline.reports.journey import build_report


def test_a_run_journey_reports_its_holdout_variants_conversions_and_credit(
    engine: Engine, db: Database, catalog: TemplateCatalog, sandbox_client: object
) -> None:
    journey(
        db,
        catalog,
        HEAD
        + """holdout: 30
goal: {event: order.placed, within: 7d}
steps:
  - id: ab
    type: split
    variants: [{name: a, weight: 1}, {name: b, weight: 1}]
  - {id: hello, type: send, channel: email, template: welcome/welcome}
""",
    )
    people = [f"c{n}" for n in range(120)]
    send(db, *(customer(c) for c in people))
    advance(engine, START)
    buyers = people[::3]
    send(
        db,
        *(
            event(f"o-{c}", "order.placed", c, START + timedelta(days=1), revenue=30)
            for c in buyers
        ),
        now=START + timedelta(days=1),
    )
    with db.session() as session:
        report = build_report(session, "test")

    held = {c for c in people if ids.fraction("holdout", "test", c) * 100 < 30}
    outcomes = report.outcomes
    assert outcomes.loc["holdout", "enrollments"] == len(held)
    assert outcomes.loc["treatment", "enrollments"] == len(people) - len(held)
    assert outcomes.loc["holdout", "conversions"] == len(set(buyers) & held)
    assert outcomes.loc["treatment", "conversions"] == len(set(buyers) - held)
    assert outcomes.loc["treatment", "revenue"] == 30 * len(set(buyers) - held)
    assert report.funnel.loc[("hello", "email"), "sent"] == len(people) - len(held)
    assert report.funnel.loc[("hello", "email"), "converted"] == len(set(buyers) - held)
    # The engine assigns the holdout a variant too: every enrollment reached the split.
    assert report.variants["enrollments"].sum() == len(people)
    assert report.variants.loc[("ab", "holdout"), "enrollments"] == len(held)
    assert report.attribution.loc["email", "last_touch"] == len(set(buyers) - held)
    assert report.attribution.loc[NO_TOUCH, "last_touch"] == len(set(buyers) & held)
    # The touches not sent are in the report with the engine's reason.
    skipped = report.not_sent.set_index(["step", "outcome", "reason"])["touches"]
    assert skipped.loc[("hello", "skipped", "holdout: in the control group, sent nothing")] == len(
        held
    )
    # No provider webhook reached the record: engagement is unknown, not zero.
    assert report.silent_channels == ["email"]
    main = report.lift.set_index(["comparison", "metric"])
    assert main.loc[("treatment vs holdout", "conversion_rate"), "absolute"] == pytest.approx(
        len(set(buyers) - held) / (len(people) - len(held)) - len(set(buyers) & held) / len(held)
    )
