"""Rendering a batch's messages, after the final gate let them through."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from touchline.engine.dispatch import Outgoing
from touchline.engine.messages import build_message, template_context
from touchline.engine.reconcile import new_dispatch_id
from touchline.engine.steps.send.batch import SendBatch
from touchline.engine.transitions import Continue, End
from touchline.errors import TemplateError
from touchline.record import Enrollment
from touchline.record.enrollments import EXITED
from touchline.record.touches import FAILED


@dataclass
class Outbox:
    """The messages of one dispatch attempt, and what the record keeps of each."""

    dispatch_id: str = field(default_factory=new_dispatch_id)
    outgoing: list[Outgoing] = field(default_factory=list)
    content: dict[str, dict[str, Any]] = field(default_factory=dict)  # touch id -> detail
    by_touch: dict[str, Enrollment] = field(default_factory=dict)
    markers: list[dict[str, Any]] = field(default_factory=list)


def render(batch: SendBatch) -> Outbox:
    """Each ready touch's message. A template error fails that touch only, and — unless the
    step says ``on_error: continue`` — ends its enrollment: a customer who never got this
    message must not get the follow-up that assumes they did."""
    outbox = Outbox()
    for enrollment in batch.ready:
        tid = batch.tid(enrollment)
        channel = batch.touches[tid].channel
        assert channel is not None
        try:
            message, detail = _build(batch, enrollment, channel)
        except TemplateError as exc:
            reason = f"template error: {exc}"
            batch.record(enrollment, FAILED, channel, {"reason": reason})
            batch.count(channel, "failed", "template error")
            batch.transitions[enrollment.id] = (
                Continue(batch.next_step)
                if batch.step.on_error == "continue"
                else End(EXITED, reason[:500])
            )
            continue
        batch.transitions[enrollment.id] = Continue(batch.next_step)
        if tid in batch.redirected:
            detail = {**detail, "redirected_from": batch.redirected[tid]}
        outbox.outgoing.append(
            Outgoing(tid, channel, replace(message, dispatch_id=outbox.dispatch_id))
        )
        outbox.content[tid] = detail
        outbox.by_touch[tid] = enrollment
    return outbox


def _build(batch: SendBatch, enrollment: Enrollment, channel: str) -> tuple[Any, dict[str, Any]]:
    tid, profile = batch.tid(enrollment), batch.profile(enrollment)
    engine, journey, step = batch.engine, batch.journey, batch.step
    context = template_context(
        engine.settings, journey, step, enrollment, profile, tid, channel, batch.now
    )
    return build_message(
        engine.catalog,
        engine.settings,
        journey,
        step,
        channel,
        batch.addresses[tid],
        tid,
        context,
        profile.locale,
        whatsapp_session_until=profile.whatsapp_session_until,
    )
