"""Committing the markers, handing the messages to the providers, recording what came back."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from sqlalchemy import delete

from channels import PermanentChannelError, ProviderConfigurationError, TransientChannelError
from preference_center.ledger import record_provider_opt_outs
from touchline.db import chunked, insert_ignoring_duplicates
from touchline.engine.dispatch import DispatchResult, HaltDeferred, RetryPolicy, dispatch
from touchline.engine.reconcile import marker_rows
from touchline.engine.steps.send.batch import SendBatch
from touchline.engine.steps.send.render import Outbox
from touchline.engine.transitions import Park
from touchline.lifecycle.fence import journey_gate
from touchline.record import Enrollment, Interaction
from touchline.record.touches import FAILED, SENT


def commit_markers(batch: SendBatch, outbox: Outbox) -> None:
    """The outcomes so far, then a marker per outgoing touch — committed before the first
    request leaves: from here on, a crash leaves touches the next run knows to look up
    rather than send blind."""
    batch.write_outcomes()
    outbox.markers = marker_rows(
        outbox.outgoing,
        {tid: batch.customer(e) for tid, e in outbox.by_touch.items()},
        {name: channel.provider for name, channel in batch.engine.channels.items()},
        outbox.dispatch_id,
        batch.now,
    )
    insert_ignoring_duplicates(batch.session, Interaction, outbox.markers, conflict_columns=["id"])
    batch.session.commit()


def send_all(batch: SendBatch, outbox: Outbox) -> list[DispatchResult]:
    settings = batch.engine.settings
    return dispatch(
        batch.engine.channels,
        outbox.outgoing,
        concurrency=settings.dispatch_concurrency,
        retry=RetryPolicy(
            settings.dispatch_max_attempts,
            settings.dispatch_backoff_base,
            settings.dispatch_backoff_max,
        ),
        limiter=batch.engine.limiter,
        # Well inside the lease: once it expires another worker may claim these
        # enrollments, and it must not find a message of ours still on its way.
        deadline=time.monotonic() + settings.lease_seconds * 0.5,
        # Read right before each request: a pause committed anywhere stops the rest.
        halt=journey_gate(
            batch.engine.db, batch.journey.key, pool_size=settings.dispatch_concurrency
        ),
    )


def record_results(batch: SendBatch, outbox: Outbox, results: list[DispatchResult]) -> None:
    """Each result as an outcome. Markers of attempts the provider certainly did not
    process — never made, or answered with an error — are removed, so the next run sends
    without asking the provider first (lookups are scarce: SendGrid allows 6 a minute).
    Markers of requests that got no answer stay: only the provider can tell."""
    marker_of = {row["touch_id"]: row["id"] for row in outbox.markers}
    not_processed: list[str] = []
    opt_outs: list[tuple[str, str, PermanentChannelError, str]] = []
    for result in results:
        enrollment = outbox.by_touch[result.touch_id]
        error = result.error
        if (
            result.not_attempted
            or isinstance(error, HaltDeferred)
            or (error is not None and error.status is not None)
        ):
            not_processed.append(marker_of[result.touch_id])
        if result.receipt is not None:
            _sent(batch, outbox, enrollment, result)
        elif not _later(batch, enrollment, result):
            _failed(batch, outbox, enrollment, result)
            if isinstance(error, PermanentChannelError) and error.recipient_opted_out:
                opt_outs.append(
                    (batch.customer(enrollment), result.channel, error, result.touch_id)
                )
    batch.write_outcomes()
    for chunk in chunked(not_processed):
        batch.session.execute(delete(Interaction).where(Interaction.id.in_(chunk)))
    record_provider_opt_outs(batch.session, opt_outs, batch.now, batch.engine.settings)
    batch.session.commit()


def _sent(batch: SendBatch, outbox: Outbox, enrollment: Enrollment, result: DispatchResult) -> None:
    receipt = result.receipt
    assert receipt is not None
    detail = {"attempts": result.attempts, **outbox.content[result.touch_id],
              "status": receipt.status}  # fmt: skip
    batch.record(enrollment, SENT, result.channel, detail, provider=receipt.provider,
                 provider_message_id=receipt.provider_message_id)  # fmt: skip
    batch.count(result.channel, "sent")


def _later(batch: SendBatch, enrollment: Enrollment, result: DispatchResult) -> bool:
    """Park a touch nothing was decided about (not attempted, provider configuration, an
    outage that outlasted the quick retries); False when the failure is final."""
    settings, error = batch.engine.settings, result.error
    retry_at = batch.now + timedelta(seconds=settings.dispatch_retry_later)
    if isinstance(error, HaltDeferred):
        # Held at this step: due at once, but no claim takes it while the journey is
        # halted; on resume the next run sends it.
        why = error.message.removeprefix("not sent: ")
        batch.transitions[enrollment.id] = Park(batch.now, why)
        batch.count(result.channel, "held", why)
        return True
    if result.not_attempted or isinstance(error, ProviderConfigurationError):
        # It stays pending until an operator fixes the configuration (or the provider's
        # pace allows), and the next run sends it.
        why = (
            "provider rate limit"
            if isinstance(error, TransientChannelError)
            else "provider configuration"
        )
        batch.transitions[enrollment.id] = Park(retry_at, why)
        if isinstance(error, ProviderConfigurationError):
            batch.report.aborted = (
                f"{error.describe()}. Nothing more was sent through {error.provider}: check its "
                f"credentials and base URL (TOUCHLINE_* settings), then run again; pending touches resume."
            )
        return True
    assert error is not None
    if isinstance(error, TransientChannelError) and _may_retry_later(
        enrollment, batch.step.id, settings.dispatch_max_retry_runs
    ):
        # The provider stayed unavailable through every quick retry: try again in a
        # later run rather than losing the touch to a passing outage.
        batch.transitions[enrollment.id] = Park(retry_at, "provider unavailable")
        batch.report.retried_later += 1
        batch.count(result.channel, "retrying", summary(error))
        return True
    return False


def _failed(
    batch: SendBatch, outbox: Outbox, enrollment: Enrollment, result: DispatchResult
) -> None:
    error = result.error
    assert error is not None
    detail = {"attempts": result.attempts, **outbox.content[result.touch_id],
              "reason": error.describe(), "code": error.code,
              "permanent": isinstance(error, PermanentChannelError)}  # fmt: skip
    batch.record(enrollment, FAILED, result.channel, detail, provider=error.provider)
    batch.count(result.channel, "failed", summary(error))


def _may_retry_later(enrollment: Enrollment, step_id: str, limit: int) -> bool:
    retries = dict(enrollment.context.get("dispatch_retries", {}))
    count = retries.get(step_id, 0)
    if count >= limit:
        return False
    retries[step_id] = count + 1
    # The advance loop writes the context back with the enrollment's new state.
    enrollment.context = {**enrollment.context, "dispatch_retries": retries}
    return True


def summary(error: Exception) -> str:
    """An error's description with phone numbers and long ids masked, for counting and logs."""
    text = error.describe() if hasattr(error, "describe") else str(error)
    return re.sub(r"\+?\d{7,}", "…", text)
