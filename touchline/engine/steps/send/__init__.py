"""The send step, for a whole batch of enrollments standing on it, in phases:

decide → commit touches → wait → settle interrupted sends → final gate → render →
markers → dispatch → record.

1. Decide: for each enrollment without a touch yet, the preference center picks the channel
   (or none) and the time. The touch row — deterministic id, decision and reasons — is
   committed before anything is sent. No channel: a ``skipped`` interaction with the reason.
2. Wait: a touch scheduled later (quiet hours, best hour) parks its enrollment until then.
3. Interrupted sends: a touch an earlier worker died sending is looked up at the provider.
4. Final gate (preference_center.gate): consent, topic, suppression, the address's current
   owner, merges, frequency caps and quiet hours are checked again against the record as
   it is now — skip, defer, or send to the address the customer has now.
5. Render (a template error fails only that touch, and ends its enrollment unless the
   step says ``on_error: continue``), commit a marker per message, dispatch concurrently,
   and record each outcome: ``sent`` with the provider's id, or ``failed`` with the reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from touchline.engine.context import Engine
from touchline.engine.report import BatchReport
from touchline.engine.steps.send.batch import open_batch
from touchline.engine.steps.send.decide import decide_touches, held_out, send_request, sort_due
from touchline.engine.steps.send.final_gate import final_gate
from touchline.engine.steps.send.interrupted import settle_interrupted
from touchline.engine.steps.send.render import render
from touchline.engine.steps.send.results import commit_markers, record_results, send_all
from touchline.engine.transitions import Transition
from touchline.journeys.model import JourneyDefinition, SendStep
from touchline.record import Enrollment

__all__ = ["held_out", "run_send", "send_request"]


def run_send(
    engine: Engine,
    session: Session,
    journey: JourneyDefinition,
    step: SendStep,
    enrollments: list[Enrollment],
    now: datetime,
    report: BatchReport,
) -> dict[str, Transition]:
    batch = open_batch(engine, session, journey, step, enrollments, now, report)
    decide_touches(batch)
    sort_due(batch)
    if not batch.ready:
        return batch.transitions
    settle_interrupted(batch)
    final_gate(batch)
    outbox = render(batch)
    commit_markers(batch, outbox)
    results = send_all(batch, outbox)
    record_results(batch, outbox, results)
    return batch.transitions
