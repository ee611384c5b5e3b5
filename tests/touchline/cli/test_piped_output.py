"""What the commands print when their output goes to a pipe or a file: tables keep their
headers whole, counts agree in number, and a customer's timeline reads in causal order even
when a provider's timestamps are coarser than ours."""

from __future__ import annotations

import io
from datetime import timedelta

import pandas as pd
import pytest

from tests.conftest import START
from tests.touchline.reports.builders import PROMO, RecordBuilder
from touchline.cli.present import console, frame_table
from touchline.db import Database
from touchline.timeline import customer_timeline
from touchline.words import counted, plural

HEADERS = [
    "journey", "step", "channel", "enrollments", "decided", "sent", "skipped", "failed",
    "deferred", "delivered", "opened", "clicked", "converted", "unsubscribed",
]  # fmt: skip


def test_a_piped_table_keeps_every_header_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    piped = io.StringIO()
    monkeypatch.setattr("sys.stdout", piped)
    frame = pd.DataFrame([["welcome", "welcome_email", "email"] + [1234] * 11], columns=HEADERS)
    console().print(frame_table(frame, "Touches per step and channel", index=False))
    header = next(line for line in piped.getvalue().splitlines() if "journey" in line)
    for name in HEADERS:
        assert f" {name} " in header, f"{name!r} was cut in {header!r}"
    assert "…" not in piped.getvalue()


def test_columns_still_decides_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert console().width == 100


@pytest.mark.parametrize(
    ("n", "noun", "expected"),
    [
        (0, "step", "0 steps"),
        (1, "step", "1 step"),
        (2, "step", "2 steps"),
        (1, "batch", "1 batch"),
        (3, "batch", "3 batches"),
        (2, "entry", "2 entries"),
        (2, "day", "2 days"),
        (1_204, "customer", "1,204 customers"),
        (1, "address", "1 address"),
        (2, "address", "2 addresses"),
    ],
)
def test_counts_agree_in_number(n: int, noun: str, expected: str) -> None:
    assert counted(n, noun) == expected


def test_irregular_plurals_are_given() -> None:
    assert counted(2, "person", "people") == "2 people"
    assert counted(1, "person", "people") == "1 person"
    assert plural("x") == "xes"


def test_timeline_puts_the_decision_before_what_the_provider_reported(db: Database) -> None:
    """Our decision at 12:00:05.300; SendGrid says "processed" at 12:00:05 (whole seconds)
    and its "delivered" clock is a second behind ours: both still come after the decision."""
    decided = START + timedelta(seconds=5, milliseconds=300)
    with db.session() as session:
        build = RecordBuilder(session)
        build.journey(PROMO)
        enrollment = build.enroll("c1", entered=START + timedelta(seconds=5, milliseconds=100))
        touch = build.touch(enrollment, "c1", "first_email", "email", decided)
        build.interaction(touch, "c1", "delivered", "email", START + timedelta(seconds=4))
        build.interaction(touch, "c1", "processed", "email", START + timedelta(seconds=5))
        build.interaction(touch, "c1", "opened", "email", START + timedelta(seconds=5))
        session.commit()
    with db.session() as session:
        kinds = [e.kind for e in customer_timeline(session, "c1")]
    story = [k for k in kinds if k in {"enrolled", "decision", "processed", "delivered", "opened"}]
    assert story.index("enrolled") < story.index("decision") < story.index("processed")
    assert story.index("processed") < story.index("delivered") < story.index("opened")


def test_timeline_keeps_the_real_times_it_sorts_by(db: Database) -> None:
    """Sorting after the decision does not rewrite when the provider said it happened."""
    with db.session() as session:
        build = RecordBuilder(session)
        build.journey(PROMO)
        enrollment = build.enroll("c2")
        touch = build.touch(enrollment, "c2", "first_email", "email", START + timedelta(hours=1))
        build.interaction(touch, "c2", "delivered", "email", START + timedelta(minutes=59))
        session.commit()
    with db.session() as session:
        delivered = [e for e in customer_timeline(session, "c2") if e.kind == "delivered"]
    assert [e.at for e in delivered] == [START + timedelta(minutes=59)]
