"""The journey-report flow publishes the report as artifacts: five tables and a summary."""

from __future__ import annotations

import json

import pytest

from tests.touchline.reports.builders import promo_record
from touchline.config import Settings
from touchline.db import Database

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect")]


@pytest.fixture
def report_settings(db: Database, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:  # type: ignore[no-untyped-def]
    from flows import _runtime
    from touchline.config import reset_settings_cache

    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", db.url)
    monkeypatch.setenv("TOUCHLINE_HOME", str(tmp_path / "home"))
    reset_settings_cache()
    _runtime.reset()
    yield Settings()
    reset_settings_cache()


def test_the_flow_publishes_tables_and_the_lift_in_words(
    db: Database, report_settings: Settings
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.report import journey_report

    with db.session() as session:
        promo_record(session)
    state = journey_report(journey="promo", return_state=True)
    assert state.is_completed()
    result = state.result()
    assert result["enrollments"] == 60 and result["conversions"] == 14
    assert result["treatment_rate"] == pytest.approx(0.3)
    assert result["lift"].startswith("+20.0 points (95% CI ")

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {
        f"journey-report-promo-{name}"
        for name in ("outcomes", "lift", "funnel", "variants", "attribution", "summary")
    }

    def rows(key: str) -> list[dict]:
        data = by_key[f"journey-report-promo-{key}"].data
        return json.loads(data) if isinstance(data, str) else data

    funnel = rows("funnel")
    assert funnel[0] == {"step": "first_email", "channel": "email", "sent": 38,
                         "delivered": 36, "opened": 20, "clicked": 8, "converted": 12}  # fmt: skip
    outcomes = {row["group"]: row for row in rows("outcomes")}
    assert (outcomes["holdout"]["enrollments"], outcomes["holdout"]["conversions"]) == (20, 2)
    credit = {row["channel"]: row for row in rows("attribution")}
    assert sum(row["last_touch"] for row in credit.values()) == pytest.approx(14)
    assert [r["comparison"] for r in rows("lift")][::2] == [
        "treatment vs holdout", "subject: B vs A", "subject: A vs holdout", "subject: B vs holdout",
    ]  # fmt: skip
    summary = by_key["journey-report-promo-summary"].data
    assert "# Promo test (promo)" in summary
    assert "Lift in conversion rate: +20.0 points (95% CI " in summary
    assert "| sms | 4.00 | 1.90 |" in summary
