"""What an advance run shows in the Prefect UI while it runs, not only when it ends.

- a progress artifact (``advance-progress``), updated after every batch: how far through its
  window (or its due work) the run is, and what it did so far in words;
- a table artifact (``advance-touches``) of touches per journey, step, channel and outcome,
  and a markdown summary (``advance-summary``) of the reasons, refreshed every minute or so
  and once more at the end;
- each batch task run renamed for what it did: ``batch 3 | welcome/welcome_email | 412 sent,
  3 skipped``.

Descriptions start with the counts: the run page's artifact cards show one line of each.

Renaming waits for the server to have recorded the task run's final state: the server's
task-run recorder writes the name it was created with from every state event, so a rename
made before the Completed event lands would be overwritten.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate

from touchline.config import get_settings
from touchline.engine import BatchReport
from touchline.engine.report import batch_name, counts_in_words, reasons_markdown, touch_table

log = logging.getLogger(__name__)

TABLE_KEY = "advance-touches"
SUMMARY_KEY = "advance-summary"
PROGRESS_KEY = "advance-progress"
# At most one progress update (and one pass over pending renames) this often.
TICK_SECONDS = 2.0


@dataclass
class _Rename:
    name: str
    since: float


class RunProgress:
    """One advance run's artifacts and task-run names. ``window_seconds`` is the run's
    planned length (continuous runs: progress is time through the window); without it
    progress is the share of ``due_hint`` enrollments advanced so far. The tables are
    rewritten every ``refresh_seconds`` (default: TOUCHLINE_PROGRESS_REFRESH_SECONDS)."""

    def __init__(
        self,
        title: str,
        *,
        window_seconds: float | None = None,
        due_hint: int | None = None,
        refresh_seconds: float | None = None,
    ):
        self.title = title
        self.total = BatchReport()
        self.batches = 0
        self._window = window_seconds
        self._due_hint = due_hint
        self._refresh = (
            get_settings().progress_refresh_seconds if refresh_seconds is None else refresh_seconds
        )
        self._started = time.monotonic()
        self._refreshed = 0.0
        self._ticked = 0.0
        self._reported: tuple[int, int] = (0, 0)
        self._table_id: UUID | None = None
        self._summary_id: UUID | None = None
        self._renames: dict[UUID, _Rename] = {}
        self._progress_id = create_progress_artifact(
            0.0, key=PROGRESS_KEY, description=f"{title}: started, nothing due yet"
        )

    # --- as the run goes ---------------------------------------------------------------

    def batch_done(self, number: int, task_run_id: UUID | None, report: BatchReport) -> None:
        """Count one finished batch; name its task run; update progress, and the tables when
        a minute has passed since they were last written."""
        self.batches += 1
        self.total.merge(report)
        if task_run_id is not None:
            self._renames[task_run_id] = _Rename(batch_name(number, report), time.monotonic())
        self.tick()

    def tick(self) -> None:
        """Between batches, idle polls too (several a second): pending renames and progress
        every couple of seconds, the tables every ``refresh_seconds``."""
        now = time.monotonic()
        if now - self._ticked < TICK_SECONDS:
            return
        self._ticked = now
        self._apply_renames()
        if self.total.claimed and now - self._refreshed >= self._refresh:
            self._write_tables()
            self._refreshed = now
        if self.batches and self._reported != (self.batches, int(self._percent())):
            self._reported = (self.batches, int(self._percent()))
            update_progress_artifact(
                self._progress_id, self._percent(), description=self._progress_words()
            )

    def finish(self, title: str, *, wait_for_names: float = 5.0) -> None:
        """The final tables and progress; names of the last batches once the server has
        their final state (waits at most ``wait_for_names`` seconds)."""
        self.title = title
        if self.total.claimed:
            self._write_tables()
        update_progress_artifact(
            self._progress_id, 100.0, description=f"done: {self._progress_words()} ({title})"
        )
        deadline = time.monotonic() + wait_for_names
        while self._renames and time.monotonic() < deadline:
            time.sleep(0.5)
            self._apply_renames()

    # --- inside ----------------------------------------------------------------------------

    def _percent(self) -> float:
        if self._window:
            return min(99.0, 100.0 * (time.monotonic() - self._started) / self._window)
        # Enrollments move several steps a batch and new ones fall due: a share, capped.
        return min(99.0, 100.0 * self.total.claimed / max(self._due_hint or 0, 1))

    def _progress_words(self) -> str:
        """``412 sent, 3 skipped, 415 waiting: 415 customers in 2 batches, 1.5 min``."""
        minutes = (time.monotonic() - self._started) / 60
        return (
            f"{counts_in_words(self.total)}: {self.total.claimed:,} customers in "
            f"{self.batches} batch{'es' if self.batches != 1 else ''}, {minutes:.1f} min"
        )

    def _write_tables(self) -> None:
        table = touch_table(self.total)
        described = (
            f"{counts_in_words(self.total)}: touches by journey, step, channel and outcome "
            f"({self.title})"
        )
        markdown = reasons_markdown(self.total, self.title)
        summary = f"What was sent, skipped, deferred and why — {self.title}"
        if self._table_id is None:
            self._table_id = create_table_artifact(
                key=TABLE_KEY, table=table, description=described
            )
            self._summary_id = create_markdown_artifact(
                key=SUMMARY_KEY, markdown=markdown, description=summary
            )
            return
        with get_client(sync_client=True) as client:
            client.update_artifact(
                self._table_id, ArtifactUpdate(data=json.dumps(table), description=described)
            )
            assert self._summary_id is not None
            client.update_artifact(
                self._summary_id, ArtifactUpdate(data=markdown, description=summary)
            )

    def _apply_renames(self) -> None:
        if not self._renames:
            return
        from prefect.exceptions import ObjectNotFound

        try:
            with get_client(sync_client=True) as client:
                for task_run_id, rename in list(self._renames.items()):
                    try:
                        run = client.read_task_run(task_run_id)
                    except ObjectNotFound:  # not recorded yet: next time
                        continue
                    recorded_final = run.state is not None and run.state.is_final()
                    client.set_task_run_name(task_run_id, rename.name)
                    # Renamed after the final state was recorded, the name stays. One the
                    # recorder has not finished after a minute keeps this rename.
                    if recorded_final or time.monotonic() - rename.since > 60:
                        del self._renames[task_run_id]
        except Exception:  # the names are a courtesy; the work must go on
            log.warning("could not rename batch task runs", exc_info=True)
