"""The send step, for a whole batch of enrollments standing on it.

1. Decide: for each enrollment without a touch yet, the preference center picks the channel
   (or none) and the time. The touch row — deterministic id, decision and reasons — is
   committed before anything is sent. No channel: a ``skipped`` interaction with the reason.
2. Wait: a touch scheduled later (quiet hours) parks its enrollment until then.
3. Dispatch: for due touches, consent is checked again (it may have changed since the
   decision), the content is rendered (a template error fails only that touch), and the
   messages go out concurrently. Each outcome is an interaction: ``sent`` with the
   provider's id, or ``failed`` with the reason.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from channels import PermanentChannelError, ProviderConfigurationError, TransientChannelError
from preference_center import CustomerProfile, SendRequest, consent_allows, decide, load_profiles
from preference_center.decision import Decision, Reason
from preference_center.profile import WHATSAPP_SESSION
from touchline import ids
from touchline.content import TemplateCatalog
from touchline.db import chunked, insert_ignoring_duplicates
from touchline.engine.context import Engine
from touchline.engine.dispatch import Outgoing, RetryPolicy, dispatch
from touchline.engine.messages import build_message, template_context
from touchline.engine.reconcile import ask_providers, in_doubt, marker_rows, new_dispatch_id
from touchline.engine.report import BatchReport
from touchline.engine.transitions import Continue, Park, Transition
from touchline.engine.visits import current_touch_id
from touchline.errors import TemplateError
from touchline.journeys.model import BestTime, JourneyDefinition, SendStep
from touchline.record import Consent, Enrollment, Interaction, Touch
from touchline.record.enrollments import ACTIVE
from touchline.record.touches import FAILED, SENT, SKIPPED, TERMINAL_OUTCOMES


def run_send(
    engine: Engine,
    session: Session,
    journey: JourneyDefinition,
    step: SendStep,
    enrollments: list[Enrollment],
    now: datetime,
    report: BatchReport,
) -> dict[str, Transition]:
    next_step = journey.next_step_id(step.id)
    touch_ids = {e.id: current_touch_id(e.id, e.context, step.id) for e in enrollments}
    touches: dict[str, dict[str, Any]] = {
        t.id: {"channel": t.channel, "address": t.address, "scheduled_for": t.scheduled_for}
        for t in session.execute(select(Touch).where(Touch.id.in_(touch_ids.values()))).scalars()
    }
    finished: dict[str, str] = dict(
        session.execute(
            select(Interaction.touch_id, Interaction.kind).where(
                Interaction.touch_id.in_(touch_ids.values()),
                Interaction.kind.in_(TERMINAL_OUTCOMES),
            )
        ).all()
    )
    request = send_request(engine.catalog, journey, step)
    needs_learned = request.policy == "best" or request.best_within is not None
    policy = engine.policy
    profiles = load_profiles(
        session,
        {e.customer_id for e in enrollments},
        learned=needs_learned,
        marketing_since=now - policy.cap_window
        if journey.purpose == "marketing" and policy.marketing_cap
        else None,
        week_since=now - timedelta(days=7) if journey.purpose == "marketing" else None,
        # Free text or an approved template: WhatsApp's session window decides.
        whatsapp_sessions_since=now - WHATSAPP_SESSION
        if "whatsapp" in (request.channels or request.available)
        else None,
    )

    # 1. decide, and commit the touches before any provider call
    new_touches, outcomes = [], []
    decided_now: set[str] = set()
    for enrollment in enrollments:
        tid = touch_ids[enrollment.id]
        if tid in touches:
            continue
        profile = profiles.get(enrollment.customer_id) or CustomerProfile(enrollment.customer_id)
        decision = held_out(now) if enrollment.holdout else decide(profile, request, now, policy)
        decided_now.add(tid)
        new_touches.append(
            {
                "id": tid,
                "enrollment_id": enrollment.id,
                "customer_id": enrollment.customer_id,
                "journey_key": journey.key,
                "journey_version": enrollment.journey_version,
                "step_id": step.id,
                "purpose": journey.purpose,
                "topic": journey.topic,
                "template": step.template,
                "channel": decision.channel,
                "address": decision.address,
                "decision": decision.to_record(),
                "scheduled_for": decision.send_at,
                "created_at": now,
            }
        )
        touches[tid] = {
            "channel": decision.channel,
            "address": decision.address,
            "scheduled_for": decision.send_at,
        }
        if decision.channel is None:
            reason = decision.skip_reason or "no channel"
            outcomes.append(
                _outcome(tid, enrollment.customer_id, SKIPPED, None, now, {"reason": reason})
            )
            finished[tid] = SKIPPED
            report.touch(journey.key, step.id, None, "skipped", reason)
        elif decision.send_at > now:
            report.touch(
                journey.key, step.id, decision.channel, "deferred", _deferral(decision.reasons)
            )
    insert_ignoring_duplicates(session, Touch, new_touches, conflict_columns=["id"])
    insert_ignoring_duplicates(session, Interaction, outcomes, conflict_columns=["id"])
    session.commit()

    # 2. what is finished moves on; what is scheduled later waits
    transitions: dict[str, Transition] = {}
    ready: list[Enrollment] = []
    for enrollment in enrollments:
        tid = touch_ids[enrollment.id]
        if tid in finished:
            transitions[enrollment.id] = Continue(next_step)
        elif touches[tid]["scheduled_for"] > now:
            transitions[enrollment.id] = Park(touches[tid]["scheduled_for"], "scheduled send time")
        else:
            ready.append(enrollment)
    if not ready:
        return transitions

    # 3. dispatch what is due, after the last checks
    still_active = set(
        session.execute(
            select(Enrollment.id).where(
                Enrollment.id.in_([e.id for e in ready]), Enrollment.status == ACTIVE
            )
        ).scalars()
    )
    outgoing: list[Outgoing] = []
    outcomes, content = [], {}
    by_touch: dict[str, Enrollment] = {}
    ready = _settle_interrupted(engine, session, journey, step, ready, touch_ids, touches,
                                transitions, outcomes, now, report)  # fmt: skip
    dispatch_id = new_dispatch_id()
    for enrollment in ready:
        tid = touch_ids[enrollment.id]
        touch = touches[tid]
        channel, address = touch["channel"], touch["address"]
        profile = profiles.get(enrollment.customer_id) or CustomerProfile(enrollment.customer_id)
        transitions[enrollment.id] = Continue(next_step)
        if enrollment.id not in still_active:
            reason = "the enrollment ended before dispatch"
            outcomes.append(
                _outcome(tid, enrollment.customer_id, SKIPPED, channel, now, {"reason": reason})
            )
            report.touch(journey.key, step.id, channel, "skipped", reason)
            continue
        allowed, why = consent_allows(profile.consents, channel, journey.purpose)
        if not allowed:
            reason = f"consent changed before dispatch: {why}"
            outcomes.append(
                _outcome(tid, enrollment.customer_id, SKIPPED, channel, now, {"reason": reason})
            )
            report.touch(journey.key, step.id, channel, "skipped", reason)
            continue
        try:
            context = template_context(
                engine.settings, journey, step, enrollment, profile, tid, channel, now
            )
            message, detail = build_message(
                engine.catalog,
                engine.settings,
                journey,
                step,
                channel,
                address,
                tid,
                context,
                profile.locale,
                whatsapp_session_until=profile.whatsapp_session_until,
            )
        except TemplateError as exc:
            reason = f"template error: {exc}"
            outcomes.append(
                _outcome(tid, enrollment.customer_id, FAILED, channel, now, {"reason": reason})
            )
            report.touch(journey.key, step.id, channel, "failed", "template error")
            continue
        outgoing.append(Outgoing(tid, channel, replace(message, dispatch_id=dispatch_id)))
        content[tid] = detail
        by_touch[tid] = enrollment
    insert_ignoring_duplicates(session, Interaction, outcomes, conflict_columns=["id"])
    # The markers are committed before the first request leaves: from here on, a crash
    # leaves touches the next run knows to look up rather than send blind.
    markers = marker_rows(
        outgoing,
        {tid: e.customer_id for tid, e in by_touch.items()},
        {name: channel.provider for name, channel in engine.channels.items()},
        dispatch_id,
        now,
    )
    insert_ignoring_duplicates(session, Interaction, markers, conflict_columns=["id"])
    session.commit()

    settings = engine.settings
    results = dispatch(
        engine.channels,
        outgoing,
        concurrency=settings.dispatch_concurrency,
        retry=RetryPolicy(
            settings.dispatch_max_attempts,
            settings.dispatch_backoff_base,
            settings.dispatch_backoff_max,
        ),
        limiter=engine.limiter,
        # Well inside the lease: once it expires another worker may claim these
        # enrollments, and it must not find a message of ours still on its way.
        deadline=time.monotonic() + settings.lease_seconds * 0.5,
    )

    outcomes, opt_outs = [], []
    # Markers of attempts the provider certainly did not process — never made, or answered
    # with an error — are removed, so the next run sends without asking the provider first
    # (lookups are scarce: SendGrid allows 6 a minute). Markers of requests that got no
    # answer stay: only the provider can tell whether those went out.
    marker_of = {row["touch_id"]: row["id"] for row in markers}
    not_processed: list[str] = []
    for result in results:
        enrollment = by_touch[result.touch_id]
        base = {"attempts": result.attempts, **content[result.touch_id]}
        if result.receipt is not None:
            outcomes.append(
                _outcome(result.touch_id, enrollment.customer_id, SENT, result.channel, now, {**base, "status": result.receipt.status},
                         provider=result.receipt.provider, provider_message_id=result.receipt.provider_message_id)
            )  # fmt: skip
            report.touch(journey.key, step.id, result.channel, "sent")
            continue
        error = result.error
        if result.not_attempted or (error is not None and error.status is not None):
            not_processed.append(marker_of[result.touch_id])
        if result.not_attempted or isinstance(error, ProviderConfigurationError):
            # Nothing was decided about this touch: it stays pending until an operator
            # fixes the configuration (or the provider's pace allows), and the next run sends it.
            transitions[enrollment.id] = Park(
                now + timedelta(seconds=settings.dispatch_retry_later),
                "provider rate limit"
                if isinstance(error, TransientChannelError)
                else "provider configuration",
            )
            if isinstance(error, ProviderConfigurationError):
                report.aborted = (
                    f"{error.describe()}. Nothing more was sent through {error.provider}: check its "
                    f"credentials and base URL (TOUCHLINE_* settings), then run again; pending touches resume."
                )
            continue
        assert error is not None
        if isinstance(error, TransientChannelError) and _may_retry_later(
            enrollment, step.id, settings.dispatch_max_retry_runs
        ):
            # The provider stayed unavailable through every quick retry: try again in a
            # later run rather than losing the touch to a passing outage.
            transitions[enrollment.id] = Park(
                now + timedelta(seconds=settings.dispatch_retry_later), "provider unavailable"
            )
            report.retried_later += 1
            report.touch(journey.key, step.id, result.channel, "retrying", _summary(error))
            continue
        reason = error.describe()
        outcomes.append(
            _outcome(result.touch_id, enrollment.customer_id, FAILED, result.channel, now,
                     {**base, "reason": reason, "code": error.code, "permanent": isinstance(error, PermanentChannelError)},
                     provider=error.provider)
        )  # fmt: skip
        report.touch(journey.key, step.id, result.channel, "failed", _summary(error))
        if isinstance(error, PermanentChannelError) and error.recipient_opted_out:
            opt_outs.append((enrollment.customer_id, result.channel, error, result.touch_id))
    insert_ignoring_duplicates(session, Interaction, outcomes, conflict_columns=["id"])
    for chunk in chunked(not_processed):
        session.execute(delete(Interaction).where(Interaction.id.in_(chunk)))
    _record_opt_outs(session, opt_outs, now)
    session.commit()
    return transitions


def _settle_interrupted(
    engine: Engine,
    session: Session,
    journey: JourneyDefinition,
    step: SendStep,
    ready: list[Enrollment],
    touch_ids: dict[str, str],
    touches: dict[str, dict[str, Any]],
    transitions: dict[str, Transition],
    outcomes: list[dict[str, Any]],
    now: datetime,
    report: BatchReport,
) -> list[Enrollment]:
    """Touches an earlier worker was sending when it died: what the provider has is
    recorded as sent; what it cannot tell about waits; the rest is returned, to be sent."""
    attempts = in_doubt(session, [touch_ids[e.id] for e in ready])
    if not attempts:
        return ready
    receipts, errors = ask_providers(
        session,
        engine.channels,
        attempts,
        {tid: touches[tid]["channel"] for tid in attempts},
        {touch_ids[e.id]: e.customer_id for e in ready},
    )
    remaining = []
    next_step = journey.next_step_id(step.id)
    for enrollment in ready:
        tid = touch_ids[enrollment.id]
        channel = touches[tid]["channel"]
        if tid in receipts:
            receipt = receipts[tid]
            outcomes.append(
                _outcome(tid, enrollment.customer_id, SENT, channel, now,
                         {"status": receipt.status, "reconciled": True, "attempts": len(attempts[tid])},
                         provider=receipt.provider, provider_message_id=receipt.provider_message_id)
            )  # fmt: skip
            transitions[enrollment.id] = Continue(next_step)
            report.touch(
                journey.key,
                step.id,
                channel,
                "sent",
                "found at the provider after an interrupted send",
            )
        elif tid in errors:
            transitions[enrollment.id] = Park(
                now + timedelta(seconds=engine.settings.dispatch_retry_later),
                "provider lookup after an interrupted send",
            )
            report.touch(
                journey.key, step.id, channel, "retrying", f"in doubt: {_summary(errors[tid])}"
            )
        else:
            remaining.append(enrollment)
    return remaining


def held_out(now: datetime) -> Decision:
    """The control group's decision: nothing is sent, and the record says why."""
    return Decision(
        None, None, now, (Reason("holdout", "fail", "holdout: in the control group, sent nothing"),)
    )


def _outcome(
    touch_id: str,
    customer_id: str,
    kind: str,
    channel: str | None,
    now: datetime,
    detail: dict[str, Any],
    *,
    provider: str | None = None,
    provider_message_id: str | None = None,
) -> dict[str, Any]:
    return {
        # One terminal outcome per touch: a replayed batch cannot record a second one.
        "id": ids.interaction_id(touch_id, "outcome"),
        "touch_id": touch_id,
        "customer_id": customer_id,
        "kind": kind,
        "channel": channel,
        "provider": provider,
        "provider_message_id": provider_message_id,
        "occurred_at": now,
        "recorded_at": now,
        "detail": detail,
    }


def _may_retry_later(enrollment: Enrollment, step_id: str, limit: int) -> bool:
    retries = dict(enrollment.context.get("dispatch_retries", {}))
    count = retries.get(step_id, 0)
    if count >= limit:
        return False
    retries[step_id] = count + 1
    # The advance loop writes the context back with the enrollment's new state.
    enrollment.context = {**enrollment.context, "dispatch_retries": retries}
    return True


def _record_opt_outs(
    session: Session, opt_outs: list[tuple[str, str, PermanentChannelError, str]], now: datetime
) -> None:
    """The provider says the recipient opted out with them (e.g. texted STOP to our number):
    the consent ledger learns it, for every purpose on that channel."""
    rows = [
        {
            "customer_id": customer,
            "channel": channel,
            "purpose": purpose,
            "status": "revoked",
            "source": "provider",
            "evidence": {
                "provider": error.provider,
                "code": error.code,
                "message": error.message,
                "touch_id": touch_id,
            },
            "recorded_at": now,
        }
        for customer, channel, error, touch_id in opt_outs
        for purpose in ("marketing", "transactional")
    ]
    if rows:
        session.execute(Consent.__table__.insert(), rows)  # type: ignore[attr-defined]


def _deferral(reasons: Any) -> str:
    """The rule that deferred a send, without the customer-specific times (for counting)."""
    message = next((r.message for r in reasons if r.outcome == "defer"), None)
    if message is None:
        return "scheduled later"
    return message.split(" is within ", 1)[-1].split(";")[0]


def _summary(error: Exception) -> str:
    """An error's description with phone numbers and long ids masked, for counting and logs."""
    text = error.describe() if hasattr(error, "describe") else str(error)
    return re.sub(r"\+?\d{7,}", "…", text)


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
