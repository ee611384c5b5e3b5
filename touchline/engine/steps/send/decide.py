"""Deciding a batch's touches, and sorting out what is due now.

The preference center picks each new touch's channel (or none) and time; the touch rows —
deterministic ids, decision and reasons — are committed before anything is sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from preference_center import CustomerProfile, SendRequest, decide, load_profiles
from preference_center.decision import Decision, DecisionPolicy, Reason
from preference_center.profile import WHATSAPP_SESSION
from touchline.content import TemplateCatalog
from touchline.db import insert_ignoring_duplicates
from touchline.engine.steps.send.batch import Planned, SendBatch
from touchline.engine.transitions import Continue, Park
from touchline.journeys.model import BestTime, JourneyDefinition, SendStep
from touchline.record import Touch
from touchline.record.enrollments import Enrollment
from touchline.record.touches import SKIPPED


def decide_touches(batch: SendBatch) -> None:
    """Decide every enrollment without a touch yet and commit the touches (and the skips)."""
    undecided = [e for e in batch.enrollments if batch.tid(e) not in batch.touches]
    if not undecided:
        return
    request = send_request(batch.engine.catalog, batch.journey, batch.step)
    profiles = _decision_profiles(batch, request, {e.customer_id for e in undecided})
    rows = []
    for enrollment in undecided:
        profile = profiles.get(enrollment.customer_id) or CustomerProfile(enrollment.customer_id)
        decision = (
            held_out(batch.now)
            if enrollment.holdout
            else decide(profile, request, batch.now, batch.engine.policy)
        )
        rows.append(_touch_row(batch, enrollment, decision))
        batch.touches[batch.tid(enrollment)] = Planned(
            decision.channel, decision.address, decision.send_at
        )
        if decision.channel is None:
            reason = decision.skip_reason or "no channel"
            batch.record(enrollment, SKIPPED, None, {"reason": reason})
            batch.finished[batch.tid(enrollment)] = SKIPPED
            batch.count(None, "skipped", reason)
        elif decision.send_at > batch.now:
            batch.count(decision.channel, "deferred", _deferral(decision.reasons))
    insert_ignoring_duplicates(batch.session, Touch, rows, conflict_columns=["id"])
    batch.write_outcomes()
    batch.session.commit()


def sort_due(batch: SendBatch) -> None:
    """What is finished moves on; what is scheduled later waits; the rest is ready."""
    for enrollment in batch.enrollments:
        tid = batch.tid(enrollment)
        if tid in batch.finished:
            batch.transitions[enrollment.id] = Continue(batch.next_step)
        elif (at := batch.touches[tid].scheduled_for) > batch.now:
            batch.transitions[enrollment.id] = Park(at, "scheduled send time")
        else:
            batch.ready.append(enrollment)


def _decision_profiles(
    batch: SendBatch, request: SendRequest, customers: set[str]
) -> dict[str, CustomerProfile]:
    return decision_profiles(
        batch.session, batch.engine.policy, batch.journey, request, customers, batch.now
    )


def decision_profiles(
    session: Session,
    policy: DecisionPolicy,
    journey: JourneyDefinition,
    request: SendRequest,
    customers: set[str],
    now: datetime,
) -> dict[str, CustomerProfile]:
    """The profiles a decision for ``request`` needs (also used by previews)."""
    marketing = journey.purpose == "marketing"
    return load_profiles(
        session,
        customers,
        learned=request.policy == "best" or request.best_within is not None,
        marketing_since=now - policy.cap_window if marketing and policy.marketing_cap else None,
        week_since=now - timedelta(days=7) if marketing else None,
        # Free text or an approved template: WhatsApp's session window decides.
        whatsapp_sessions_since=now - WHATSAPP_SESSION
        if "whatsapp" in (request.channels or request.available)
        else None,
    )


def _touch_row(batch: SendBatch, enrollment: Enrollment, decision: Decision) -> dict[str, Any]:
    journey = batch.journey
    return {
        "id": batch.tid(enrollment),
        "enrollment_id": enrollment.id,
        "customer_id": enrollment.customer_id,
        "journey_key": journey.key,
        "journey_version": enrollment.journey_version,
        "step_id": batch.step.id,
        "purpose": journey.purpose,
        "topic": journey.topic,
        "template": batch.step.template,
        "channel": decision.channel,
        "address": decision.address,
        "decision": decision.to_record(),
        "scheduled_for": decision.send_at,
        "created_at": batch.now,
    }


def held_out(now: datetime) -> Decision:
    """The control group's decision: nothing is sent, and the record says why."""
    return Decision(
        None, None, now, (Reason("holdout", "fail", "holdout: in the control group, sent nothing"),)
    )


def _deferral(reasons: Any) -> str:
    """The rule that deferred a send, without the customer-specific times (for counting)."""
    message = next((r.message for r in reasons if r.outcome == "defer"), None)
    if message is None:
        return "scheduled later"
    return message.split(" is within ", 1)[-1].split(";")[0]


def send_request(
    catalog: TemplateCatalog, journey: JourneyDefinition, step: SendStep
) -> SendRequest:
    """What a send step asks of the preference center (also used to explain a decision)."""
    return SendRequest(
        purpose=journey.purpose,
        channels=step.candidate_channels,
        available=catalog.channels_for(step.template),
        policy=step.policy,
        best_within=step.send_time.best_within if isinstance(step.send_time, BestTime) else None,
        topic=journey.topic,
        kind=journey.topic or journey.purpose,
    )
