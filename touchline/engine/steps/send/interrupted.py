"""Touches an earlier worker was sending when it died (see touchline.engine.reconcile)."""

from __future__ import annotations

from datetime import timedelta

from touchline.engine.reconcile import ask_providers, in_doubt
from touchline.engine.steps.send.batch import SendBatch
from touchline.engine.steps.send.results import summary
from touchline.engine.transitions import Continue, Park
from touchline.record.touches import SENT


def settle_interrupted(batch: SendBatch) -> None:
    """What the provider has is recorded as sent; what it cannot tell about waits; the rest
    stays ready, to be sent (after the final gate)."""
    attempts = in_doubt(batch.session, [batch.tid(e) for e in batch.ready])
    if not attempts:
        return
    receipts, errors = ask_providers(
        batch.session,
        batch.engine.channels,
        attempts,
        {tid: batch.touches[tid].channel for tid in attempts},  # type: ignore[misc]
        {batch.tid(e): e.customer_id for e in batch.ready},
    )
    remaining = []
    for enrollment in batch.ready:
        tid = batch.tid(enrollment)
        channel = batch.touches[tid].channel
        if tid in receipts:
            receipt = receipts[tid]
            batch.record(enrollment, SENT, channel,
                         {"status": receipt.status, "reconciled": True, "attempts": len(attempts[tid])},
                         provider=receipt.provider, provider_message_id=receipt.provider_message_id)  # fmt: skip
            batch.transitions[enrollment.id] = Continue(batch.next_step)
            batch.count(channel, "sent", "found at the provider after an interrupted send")
        elif tid in errors:
            batch.transitions[enrollment.id] = Park(
                batch.now + timedelta(seconds=batch.engine.settings.dispatch_retry_later),
                "provider lookup after an interrupted send",
            )
            batch.count(channel, "retrying", f"in doubt: {summary(errors[tid])}")
        else:
            remaining.append(enrollment)
    batch.ready = remaining
