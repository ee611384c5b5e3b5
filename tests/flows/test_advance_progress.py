"""What an operator sees of an advance run in Prefect: batch task runs named for what they
did, progress, touches and reasons as artifacts with descriptions, in operators' words; and
the hourly safety net that ends at once while a continuous run is polling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from tests.conftest import START
from tests.touchline.engine.test_language import customer
from touchline.config import Settings
from touchline.db import Database
from touchline.intake.ingest import ingest

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect", "published")]


@pytest.fixture
def client() -> Iterator[Any]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        yield client


def _task_runs(client: Any, flow_run_id: UUID) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    return client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    )


def _artifacts(client: Any, flow_run_id: UUID) -> dict[str, Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )
    return {a.key: a for a in found}


def _signups(db: Database, settings: Settings, count: int) -> None:
    report = ingest(db, [(n, customer(f"c{n:03d}")) for n in range(count)], now=START,
                    source="api", settings=settings)  # fmt: skip
    assert not report.rejected


def test_batches_are_named_for_what_they_did_and_artifacts_tell_the_story(
    settings: Settings, db: Database, client: Any
) -> None:
    from flows import _runtime
    from flows.advance import advance_journeys

    _runtime.reset()
    _signups(db, settings, 25)
    state = advance_journeys(as_of=START, batch_size=10, return_state=True)
    assert state.is_completed()
    assert state.result()["sent"] == 25
    run_id = state.state_details.flow_run_id

    names = sorted(t.name for t in _task_runs(client, run_id))
    assert names == [
        "batch 1 | welcome/welcome_email | 10 sent, 10 waiting",
        "batch 2 | welcome/welcome_email | 10 sent, 10 waiting",
        "batch 3 | welcome/welcome_email | 5 sent, 5 waiting",
        "batch 4 | nothing claimed (held by another run)",
    ]

    artifacts = _artifacts(client, run_id)
    assert set(artifacts) == {"advance-progress", "advance-touches", "advance-summary"}
    assert all(a.description for a in artifacts.values())
    assert artifacts["advance-progress"].data == 100.0
    # Counts first: the run page shows one line of each description.
    assert artifacts["advance-progress"].description.startswith("done: 25 sent, 25 waiting: ")
    assert artifacts["advance-touches"].description.startswith("25 sent, 25 waiting: touches")
    table = artifacts["advance-touches"].data
    assert '"outcome": "sent"' in table and '"touches": 25' in table
    summary = artifacts["advance-summary"].data
    assert "sent **25**" in summary and "**25** now waiting" in summary
    assert "parked" not in summary and "Claimed" not in summary


def _running_continuous_run(client: Any) -> UUID:
    """A flow run of advance-continuously in state Running, as a served worker's would be."""
    from prefect import flow
    from prefect.states import Running

    @flow(name="advance-continuously")
    def stand_in() -> None:  # only its name matters: this run is never executed here
        pass

    run = client.create_flow_run(stand_in)
    client.set_flow_run_state(run.id, Running(), force=True)
    return run.id


def test_the_safety_net_ends_at_once_while_a_continuous_run_polls_and_works_otherwise(
    settings: Settings, db: Database, client: Any
) -> None:
    from prefect.states import Completed

    from flows import _runtime
    from flows.advance import advance_journeys

    _runtime.reset()
    _signups(db, settings, 3)
    poller = _running_continuous_run(client)
    try:
        state = advance_journeys(unless_polling=True, return_state=True)
        assert state.result() == {"claimed": 0, "sent": 0, "skipped": 0, "failed": 0,
                                  "deferred": 0}  # fmt: skip
        run_id = state.state_details.flow_run_id
        assert _task_runs(client, run_id) == []
        assert client.read_flow_run(run_id).name.startswith("safety net")
    finally:
        client.set_flow_run_state(poller, Completed(), force=True)
    # No continuous run alive: the safety net does the work.
    assert advance_journeys(unless_polling=True)["sent"] == 3
