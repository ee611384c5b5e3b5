"""`touchline report JOURNEY`: the tables on the terminal and three PNG charts on disk."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.touchline.reports.builders import PROMO, RecordBuilder, promo_record
from touchline.cli import app
from touchline.config import reset_settings_cache
from touchline.db import Database
from touchline.record import Interaction

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def cli_db(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", db.url)
    monkeypatch.setenv("TOUCHLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at the terminal's width
    reset_settings_cache()
    yield db
    reset_settings_cache()


def test_report_prints_the_tables_and_writes_the_charts(cli_db: Database, tmp_path: Path) -> None:
    with cli_db.session() as session:
        promo_record(session)
    result = runner.invoke(app, ["report", "promo"])
    assert result.exit_code == 0, result.output
    assert "Treatment: 12 of 40 converted (30.0%)" in result.output
    assert "Holdout: 2 of 20 converted (10.0%)" in result.output
    assert "Lift in conversion rate: +20.0 points (95% CI " in result.output
    assert "subject: B vs A" in result.output
    assert (
        "│ first_email │ email   │   38 │        36 │     20 │       8 │        12 │"
        in result.output
    )
    folder = tmp_path / "home" / "reports" / "promo"  # the default place
    for name in ("funnel", "conversion", "attribution"):
        png = folder / f"{name}.png"
        assert str(png) in result.output.replace("\n", "")
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC
        assert len(data) > 15_000  # bars, labels and a title, not an empty canvas
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width >= 600 and height >= 500


def test_report_with_nothing_sent_draws_what_it_can(cli_db: Database, tmp_path: Path) -> None:
    with cli_db.session() as session:
        build = RecordBuilder(session)
        build.journey(PROMO)
        build.enroll("c1")
    result = runner.invoke(app, ["report", "promo", "--out", str(tmp_path / "charts")])
    assert result.exit_code == 0, result.output
    assert "not enough data: no holdout enrollments" in result.output
    assert "funnel.png not drawn: no touch was sent" in result.output
    assert "attribution.png not drawn: no conversions" in result.output
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == ["conversion.png"]


def test_report_of_an_unknown_journey_or_a_bad_date_says_so(cli_db: Database) -> None:
    unknown = runner.invoke(app, ["report", "nope"])
    assert unknown.exit_code == 1
    assert "journey 'nope' is not published (published: none)" in unknown.output
    bad = runner.invoke(app, ["report", "nope", "--since", "last week"])
    assert bad.exit_code == 2
    assert "'last week' is not a time" in bad.output


def test_report_tells_what_was_not_sent_and_when_no_webhook_arrived(cli_db: Database) -> None:
    from datetime import timedelta

    from tests.conftest import START
    from touchline import ids
    from touchline.record import Touch

    with cli_db.session() as session:
        build = RecordBuilder(session)
        build.journey(PROMO)
        hour = timedelta(hours=1)
        for n in range(3):  # sent, and not one delivery/open/click reported
            cid = f"s{n}"
            build.touch(build.enroll(cid), cid, "first_email", "email", START + hour)
        blocked = build.enroll("k1")
        tid = build.touch(blocked, "k1", "first_email", None, START + hour, outcome="skipped")
        session.execute(
            Interaction.__table__.update()
            .where(Interaction.touch_id == tid)
            .values(detail={"reason": "sms: no consent to marketing on sms (+15551234567)"})
        )
        # Decided at 23:00, sent at 08:00: quiet hours.
        late = build.enroll("q1")
        session.add(
            Touch(
                id=ids.touch_id(late, "first_email"), enrollment_id=late, customer_id="q1",
                journey_key="promo", journey_version=1, step_id="first_email",
                purpose="marketing", channel="sms", address=None,
                decision={"reasons": [{"check": "quiet_hours", "outcome": "defer",
                                       "message": "23:00 local is within quiet hours 21:00-08:00"}]},
                scheduled_for=START + 9 * hour, created_at=START,
            )
        )  # fmt: skip
    result = runner.invoke(app, ["report", "promo"])
    assert result.exit_code == 0, result.output
    assert "no engagement webhooks received for email" in result.output
    assert "unknown (–), not zero" in result.output
    assert re.search(r"│ first_email │ email\s+│\s+3 │ –\s+│ –\s+│ –\s+│\s+0 │", result.output)
    assert "Not sent as decided" in result.output
    assert "sms: no consent to marketing on sms (…)" in result.output
    assert "quiet hours 21:00-08:00" in result.output and "deferred" in result.output
