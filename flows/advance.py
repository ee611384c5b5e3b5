"""Advance every due enrollment, batch after batch, until none is due.

Deployed on an interval schedule; also run by the demo and the tests with ``as_of`` set to
the simulated time. Each batch is one task run: its name says how much it did.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ProcessPoolTaskRunner

from flows import _runtime
from flows._progress import RunProgress
from touchline.clock import SystemClock
from touchline.engine import BatchReport, advance_next_batch
from touchline.engine.claim import any_due, count_due
from touchline.words import counted


@contextmanager
def _api_shared_with_children() -> Iterator[None]:
    """In ephemeral mode (no PREFECT_API_URL) every child process would start a Prefect
    server of its own — seconds of CPU each, and runs recorded by the wrong server. The
    children inherit the environment when they start, so it names this process's server
    while the pool starts, and is restored after."""
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        os.environ["PREFECT_API_URL"] = str(client.api_url)
    try:
        yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)


@contextmanager
def _provider_limits_shared_by(processes: int) -> Iterator[None]:
    """Each child process takes 1/N of every provider's rate and concurrency limit
    (touchline.engine.ratelimit), so N processes together stay within them."""
    previous = os.environ.get("TOUCHLINE_DISPATCH_WORKERS")
    os.environ["TOUCHLINE_DISPATCH_WORKERS"] = str(processes * int(previous or 1))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TOUCHLINE_DISPATCH_WORKERS", None)
        else:
            os.environ["TOUCHLINE_DISPATCH_WORKERS"] = previous


class ProviderConfigurationFailure(RuntimeError):
    """Raised to fail the run visibly: an operator has to fix settings before it can work."""


def _run_name() -> str:
    as_of = flow_run.parameters.get("as_of")
    if isinstance(as_of, datetime):
        return f"advance as of {as_of:%Y-%m-%d %H:%M}"
    if flow_run.parameters.get("unless_polling"):
        return "safety net: advance what is due unless a continuous run is polling"
    return "advance what is due now"


@task(name="advance-batch", retries=2, retry_delay_seconds=5)
def advance_batch(as_of: datetime, batch_size: int | None) -> BatchReport:
    return advance_next_batch(_runtime.engine(), as_of, batch_size)


def _polling_run() -> str | None:
    """The name of a continuous advance run that is running now, if any (Prefect's API)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["advance-continuously"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
            ),
            limit=1,
        )
    return runs[0].name if runs else None


@flow(name="advance-journeys", flow_run_name=_run_name, log_prints=False)
def advance_journeys(
    as_of: datetime | None = None,
    batch_size: int | None = None,
    max_batches: int = 10_000,
    processes: int = 1,
    unless_polling: bool = False,
) -> dict[str, int]:
    """``processes`` > 1 advances that many batches at once, each in its own process: the
    SDKs' HTTP work holds the GIL, so threads would not add throughput, processes do (one
    per core). Claims are exclusive, so the batches never overlap.

    ``unless_polling``: the deployment's safety net. When an ``advance-continuously`` run is
    running it already advances everything due, so this run ends at once, with nothing
    created under it; otherwise (no worker took the continuous run, or it crashed) it
    advances what is due."""
    now = as_of or SystemClock().now()
    logger = get_run_logger()
    if unless_polling and as_of is None and (poller := _polling_run()):
        logger.info("'%s' is advancing due work; nothing for this run to do", poller)
        return _summary(BatchReport())
    with _runtime.engine().db.session() as session:
        due = count_due(session, now)
    progress = RunProgress(f"Advance as of {now:%Y-%m-%d %H:%M} UTC", due_hint=due)

    def record(number: int, task_run_id: UUID | None, report: BatchReport) -> None:
        progress.batch_done(number, task_run_id, report)
        if report.claimed:
            logger.info(
                "batch %s: %s enrollments, %s sent, %s skipped, %s failed",
                number, report.claimed, report.count("sent"), report.count("skipped"),
                report.count("failed"),
            )  # fmt: skip

    if processes <= 1:
        for number in range(1, max_batches + 1):
            state = advance_batch.with_options(task_run_name=f"batch {number}")(
                now, batch_size, return_state=True
            )
            report = state.result()
            record(number, state.state_details.task_run_id, report)
            if report.claimed == 0 or report.aborted:
                break
    else:
        with (
            _api_shared_with_children(),
            _provider_limits_shared_by(processes),
            ProcessPoolTaskRunner(max_workers=processes) as runner,
        ):
            lanes = {
                runner.submit(
                    advance_batch.with_options(task_run_name=f"batch {n + 1}"),
                    {"as_of": now, "batch_size": batch_size},
                ): n + 1
                for n in range(processes)
            }
            number = processes
            while lanes:
                finished = next(as_completed(lanes))
                batch_number = lanes.pop(finished)
                report = finished.result()
                record(batch_number, finished.task_run_id, report)
                if report.claimed and not report.aborted and number < max_batches:
                    number += 1
                    lanes[
                        runner.submit(
                            advance_batch.with_options(task_run_name=f"batch {number}"),
                            {"as_of": now, "batch_size": batch_size},
                        )
                    ] = number
    total = progress.total
    progress.finish(f"Advance as of {now:%Y-%m-%d %H:%M} UTC")
    if total.aborted:
        raise ProviderConfigurationFailure(total.aborted)
    return _summary(total)


def _summary(total: BatchReport) -> dict[str, int]:
    return {
        "claimed": total.claimed,
        "sent": total.count("sent"),
        "skipped": total.count("skipped"),
        "failed": total.count("failed"),
        "deferred": total.count("deferred"),
    }


def _continuous_name() -> str:
    minutes = flow_run.parameters.get("minutes", 60)
    return f"advance continuously for {minutes:g} min"


@flow(name="advance-continuously", flow_run_name=_continuous_name, log_prints=False)
def advance_continuously(
    minutes: float = 60, poll_seconds: float = 0.5, batch_size: int | None = None
) -> dict[str, int]:
    """Advance due work as soon as it is due, for ``minutes``: an event that enrolled a
    customer is sent within about ``poll_seconds``, not at the next scheduled run.

    Prefect schedules runs of this flow back to back (prefect.yaml), so one is always
    polling; claims are exclusive, so an overlap at the hand-over is harmless. Idle polls
    are one indexed query each and create no task runs: only a poll that finds work runs a
    batch task, renamed when done for what it did. The run's artifacts (progress, touches,
    reasons) are kept up to date while it runs (flows/_progress.py).
    """
    engine = _runtime.engine()
    logger = get_run_logger()
    window = minutes * 60
    deadline = time.monotonic() + window
    progress = RunProgress(f"Advance continuously for {minutes:g} min", window_seconds=window)
    batches = 0
    while time.monotonic() < deadline:
        now = SystemClock().now()
        with engine.db.session() as session:
            due = any_due(session, now)
        if not due:
            progress.tick()
            time.sleep(poll_seconds)
            continue
        batches += 1
        state = advance_batch.with_options(task_run_name=f"batch {batches}")(
            now, batch_size, return_state=True
        )
        try:
            report = state.result()
        except Exception:
            # The failed task run shows the error in the UI; the poller goes on (its
            # enrollments come back when their lease expires) rather than leaving the
            # deployment without a poller until the next scheduled run.
            logger.exception("batch %s failed; polling on", batches)
            time.sleep(poll_seconds)
            continue
        progress.batch_done(batches, state.state_details.task_run_id, report)
        if report.claimed == 0:
            # Due rows that another poller or worker holds: wait rather than spin.
            time.sleep(poll_seconds)
        logger.info(
            "batch %s: %s enrollments, %s sent, %s skipped, %s failed",
            batches, report.claimed, report.count("sent"), report.count("skipped"),
            report.count("failed"),
        )  # fmt: skip
        if report.aborted:
            progress.finish(f"Advance continuously, stopped after {counted(batches, 'batch')}")
            raise ProviderConfigurationFailure(report.aborted)
    progress.finish(f"Advance continuously: {counted(batches, 'batch')} in {minutes:g} min")
    return _summary(progress.total)
