"""The event log in CSV, Parquet and XES, and conformance to the designed path, on a
hand-built record (both backends) with one enrollment that left the design."""

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import START
from touchline import ids
from touchline.cli import app
from touchline.config import reset_settings_cache
from touchline.db import Database
from touchline.insight.conformance import DesignedPath, check_conformance
from touchline.insight.eventlog import export_event_log
from touchline.journeys.loader import LoadedJourney
from touchline.journeys.model import JourneyDefinition
from touchline.journeys.store import publish
from touchline.record import Customer, Enrollment, Interaction, Touch

NUDGE = {
    "key": "nudge",
    "name": "Nudge",
    "trigger": "order.placed",
    "exit_on": ["order.refunded"],
    "steps": [
        {"id": "first_email", "type": "send", "channel": "email", "template": "cart/reminder"},
        {"id": "wait_a_day", "type": "wait", "duration": "1d"},
        {"id": "clicked", "type": "branch", "if": {"step": "first_email", "engaged": "clicked"},
         "then": "exit"},
        {"id": "reminder_sms", "type": "send", "channel": "sms", "template": "cart/reminder"},
    ],
}  # fmt: skip
H = timedelta(hours=1)


def build(db: Database) -> None:
    definition = JourneyDefinition.model_validate(NUDGE)
    with db.session() as session:
        journey_id = publish(
            session, LoadedJourney(definition, Path("nudge.yaml")), START
        ).journey_id
        session.commit()
    rows: list[object] = []

    def enrollment(name: str, status: str, current: str | None, end: str | None, ended=None):  # type: ignore[no-untyped-def]
        rows.append(Customer(id=f"c-{name}", attributes={}, created_at=START, updated_at=START))
        rows.append(Enrollment(
            id=name, journey_id=journey_id, journey_key="nudge", journey_version=1,
            customer_id=f"c-{name}", trigger_at=START, status=status, current_step=current,
            entered_at=START, ended_at=ended, end_reason=end, updated_at=START, context={},
        ))  # fmt: skip

    def touch(name: str, step: str, channel: str, at, *kinds: str) -> None:  # type: ignore[no-untyped-def]
        tid = ids.touch_id(name, step)
        rows.append(Touch(
            id=tid, enrollment_id=name, customer_id=f"c-{name}", journey_key="nudge",
            journey_version=1, step_id=step, purpose="marketing", channel=channel,
            scheduled_for=at, created_at=at,
        ))  # fmt: skip
        for n, kind in enumerate(kinds):
            rows.append(Interaction(
                id=ids.interaction_id(tid, kind), touch_id=tid, customer_id=f"c-{name}",
                kind=kind, channel=channel, provider="sendgrid" if channel == "email" else "twilio",
                occurred_at=at + n * timedelta(minutes=10), recorded_at=at,
            ))  # fmt: skip

    # Clicked the email, left at the branch.
    enrollment("e1", "completed", "clicked", "left at clicked: condition true", START + 25 * H)
    touch("e1", "first_email", "email", START, "sent", "delivered", "opened", "clicked")
    # Email, then SMS, the end of the journey; converted on the way.
    enrollment("e2", "completed", "reminder_sms", "reached the end of the journey", START + 26 * H)
    touch("e2", "first_email", "email", START, "sent")
    touch("e2", "reminder_sms", "sms", START + 25 * H, "sent")
    rows.append(Interaction(
        id=ids.interaction_id("conversion", "e2"), customer_id="c-e2", kind="converted",
        occurred_at=START + 30 * H, recorded_at=START + 30 * H, detail={"enrollment_id": "e2"},
    ))  # fmt: skip
    # The deviation: an SMS reminder without the email before it.
    enrollment("e3", "completed", "reminder_sms", "reached the end of the journey", START + 2 * H)
    touch("e3", "reminder_sms", "sms", START + H, "sent")
    # Still waiting after the email.
    enrollment("e4", "active", "wait_a_day", None)
    touch("e4", "first_email", "email", START, "sent")
    # Left on an exit event (its id is left out of the activity).
    enrollment("e5", "exited", "wait_a_day", "exit event order.refunded (evt-991)", START + 3 * H)
    touch("e5", "first_email", "email", START, "skipped")
    with db.session() as session:
        for model in (Customer, Enrollment, Touch, Interaction):  # parents before children
            session.add_all([r for r in rows if isinstance(r, model)])
            session.flush()
        session.commit()


def test_the_designed_successors_of_each_send_step() -> None:
    path = DesignedPath.of(JourneyDefinition.model_validate(NUDGE))
    assert path.next == {
        "(start)": {"first_email"},
        "first_email": {"reminder_sms", "(end)"},  # through the wait and the branch
        "reminder_sms": {"(end)"},
    }
    assert path.through["first_email"] == {"wait_a_day", "clicked", "reminder_sms"}


def test_conformance_counts_and_the_first_deviation(db: Database) -> None:
    build(db)
    report = check_conformance(db)
    [summary] = report.summary().to_dict("records")
    assert summary == {"journey": "nudge", "version": 1, "enrollments": 5, "followed": 3,
                       "in_progress": 1, "deviated": 1, "conformance": 0.8}  # fmt: skip
    [deviation] = report.deviation_table().to_dict("records")
    assert deviation == {"journey": "nudge", "version": 1, "after": "(start)",
                         "expected": "first_email", "saw": "reminder_sms", "enrollments": 1,
                         "example": "e3"}  # fmt: skip


def test_the_event_log_in_csv_and_parquet(db: Database, tmp_path: Path) -> None:
    build(db)
    csv_report = export_event_log(db, tmp_path / "log.csv", "csv")
    assert (csv_report.cases, csv_report.events) == (5, 19)
    log = pd.read_csv(tmp_path / "log.csv")
    assert list(log.columns[:5]) == ["case", "activity", "timestamp", "channel", "resource"]
    e1 = log[log["case"] == "e1"]
    assert e1["activity"].tolist() == [
        "enrolled", "first_email: sent email", "delivered", "opened", "clicked",
        "ended: left at clicked: condition true",
    ]  # fmt: skip
    assert e1["resource"].tolist() == [
        "nudge",
        "sendgrid",
        "sendgrid",
        "sendgrid",
        "sendgrid",
        "nudge",
    ]
    assert e1["timestamp"].iloc[0] == "2026-11-23T14:00:00.000000Z"
    assert log[log["case"] == "e2"]["activity"].tolist() == [
        "enrolled", "first_email: sent email", "reminder_sms: sent sms", "ended: reached the end of the journey",
        "converted",
    ]  # fmt: skip
    assert log[log["case"] == "e5"]["activity"].tolist()[-2:] == [
        "first_email: skipped email",
        "ended: exit event order.refunded",
    ]

    parquet = export_event_log(db, tmp_path / "log.parquet", "parquet", case="customer")
    assert (parquet.cases, parquet.events) == (5, 19)
    frame = pd.read_parquet(tmp_path / "log.parquet")
    assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"
    assert frame[frame["case"] == "c-e1"]["activity"].tolist() == e1["activity"].tolist()


@pytest.mark.filterwarnings("ignore:Install the optional requirement")
def test_the_event_log_in_xes_reads_back_with_pm4py(db: Database, tmp_path: Path) -> None:
    import pm4py

    build(db)
    report = export_event_log(db, tmp_path / "log.xes", "xes", journey="nudge")
    assert (report.cases, report.events) == (5, 19)
    log = pm4py.read_xes(str(tmp_path / "log.xes"))
    assert log["case:concept:name"].nunique() == 5
    e1 = log[log["case:concept:name"] == "e1"].sort_values("time:timestamp", kind="stable")
    assert e1["concept:name"].tolist()[:2] == ["enrolled", "first_email: sent email"]
    assert e1["org:resource"].tolist()[1] == "sendgrid"
    assert e1["channel"].tolist()[1] == "email"
    assert str(e1["time:timestamp"].iloc[0]) == "2026-11-23 14:00:00+00:00"
    text = (tmp_path / "log.xes").read_text()
    assert '<extension name="Concept"' in text and "<trace>" in text


def test_the_export_command_prints_conformance(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    build(sqlite_db)
    result = CliRunner().invoke(app, ["export", "eventlog", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    assert "19 events in 5 cases (enrollments), csv" in result.output
    assert "reminder_sms" in result.output and "80.0%" in result.output
    bad = CliRunner().invoke(app, ["export", "eventlog", "--format", "json", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "use one of csv, parquet, xes" in bad.output
    reset_settings_cache()


def test_without_the_process_mining_extra_xes_says_what_to_install(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pm4py (AGPL-3.0) is an optional extra; without it, XES export is a sentence saying
    what to install, and CSV still works."""
    import sys

    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    reset_settings_cache()
    build(sqlite_db)
    monkeypatch.setitem(sys.modules, "pm4py", None)  # as if not installed
    xes = CliRunner().invoke(
        app, ["export", "eventlog", "--format", "xes", str(tmp_path / "l.xes")]
    )
    assert xes.exit_code == 2, xes.output
    assert "pip install 'touchline[process-mining]'" in xes.output.replace("\n", "")
    assert not (tmp_path / "l.xes").exists()
    plain = CliRunner().invoke(app, ["export", "eventlog", str(tmp_path / "l.csv")])
    assert plain.exit_code == 0, plain.output
    reset_settings_cache()
