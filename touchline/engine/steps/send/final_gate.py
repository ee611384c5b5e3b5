"""The final gate over a batch: every ready touch is judged again, from the record as it is
right now (preference_center.gate), just before its message is rendered and sent."""

from __future__ import annotations

from sqlalchemy import select, update

from preference_center.gate import DEFER, REDIRECT, SKIP, PendingSend, gate_batch, load_snapshot
from preference_center.history import reached
from touchline.db import chunked
from touchline.engine.steps.send.batch import SendBatch
from touchline.engine.transitions import End, Park
from touchline.record import Customer, Enrollment, Touch
from touchline.record.enrollments import ACTIVE, EXITED, once_order


def final_gate(batch: SendBatch) -> None:
    """Skip, defer or redirect what the record no longer allows; the rest stays ready."""
    if not batch.ready:
        return
    _current_owners(batch)
    pending = []
    for enrollment in batch.ready:
        tid = batch.tid(enrollment)
        planned, journey = batch.touches[tid], batch.journey
        pending.append(
            PendingSend(tid, batch.customers[tid], planned.channel or "", planned.address,
                        journey.purpose, journey.topic)
        )  # fmt: skip
    batch.profiles = load_snapshot(
        batch.session,
        {p.customer_id for p in pending},
        purpose=batch.journey.purpose,
        now=batch.now,
        policy=batch.engine.policy,
        exclude_touches={p.touch_id for p in pending},
        whatsapp=any(p.channel == "whatsapp" for p in pending),
    )
    verdicts = gate_batch(batch.profiles, pending, batch.now, batch.engine.policy)
    allowed = []
    for enrollment in batch.ready:
        tid = batch.tid(enrollment)
        verdict, channel = verdicts[tid], batch.touches[tid].channel
        if verdict.outcome == SKIP:
            batch.skip(enrollment, channel, verdict.reason or "not allowed at dispatch")
        elif verdict.outcome == DEFER:
            assert verdict.until is not None
            batch.transitions[enrollment.id] = Park(verdict.until, "quiet hours at dispatch")
            batch.count(channel, "deferred", "quiet hours at dispatch")
        else:
            if verdict.outcome == REDIRECT:
                batch.redirected[tid] = batch.touches[tid].address
            batch.addresses[tid] = verdict.address  # type: ignore[assignment]
            allowed.append(enrollment)
    _write_redirects(batch)
    batch.ready = allowed


def _current_owners(batch: SendBatch) -> None:
    """Each ready enrollment's customer as the record has it now (a merge moves
    enrollments to the surviving profile); enrollments that ended meanwhile — an exit
    event, a merge into a profile already in the journey — are skipped."""
    ids = [e.id for e in batch.ready]
    current: dict[str, tuple[str, str, str | None]] = {}
    for chunk in chunked(ids):
        for eid, status, customer, reason in batch.session.execute(
            select(Enrollment.id, Enrollment.status, Enrollment.customer_id, Enrollment.end_reason)
            .where(Enrollment.id.in_(chunk))
        ):  # fmt: skip
            current[eid] = (status, customer, reason)
    merged = _merged_into(batch, {customer for _, customer, _ in current.values()})
    duplicates = _already_enrolled(batch, {eid: c for eid, (_, c, _) in current.items()})
    still = []
    for enrollment in batch.ready:
        status, customer, reason = current.get(
            enrollment.id, ("gone", enrollment.customer_id, None)
        )
        batch.customers[batch.tid(enrollment)] = customer
        channel = batch.touches[batch.tid(enrollment)].channel
        if status != ACTIVE:
            ended = "the enrollment ended before dispatch"
            batch.skip(enrollment, channel, f"{ended} ({reason})" if reason else ended)
        elif customer in merged:
            batch.skip(enrollment, channel, f"the customer was merged into {merged[customer]}")
        elif enrollment.id in duplicates:
            # Merged in (before merges ended such enrollments): the survivor is already here.
            reason = f"merged into {customer}: already enrolled"
            batch.skip(enrollment, channel, reason)
            batch.transitions[enrollment.id] = End(EXITED, reason)
        else:
            still.append(enrollment)
    batch.ready = still


def _already_enrolled(batch: SendBatch, customers: dict[str, str]) -> set[str]:
    """Enrollments of a ``reentry: once`` journey that are not their customer's first
    (once_order): a second entry brought by a merge that did not end it (made before
    merges ended such enrollments)."""
    if batch.journey.reentry.mode != "once":
        return set()
    key = batch.journey.key
    rows = []
    for chunk in chunked(sorted(set(customers.values()))):
        rows += batch.session.execute(
            select(Enrollment.id, Enrollment.customer_id, Enrollment.entered_at).where(
                Enrollment.journey_key == key, Enrollment.customer_id.in_(chunk)
            )
        ).all()
    sent = reached(batch.session, [eid for eid, _, _ in rows])
    first: dict[str, tuple] = {}
    for eid, customer, entered_at in rows:
        rank = once_order(key, customer, eid, entered_at, eid in sent)
        if customer not in first or rank < first[customer]:
            first[customer] = rank
    return {eid for eid, c in customers.items() if c in first and first[c][-1] != eid}


def _merged_into(batch: SendBatch, customers: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in chunked(sorted(customers)):
        for cid, into in batch.session.execute(
            select(Customer.id, Customer.merged_into).where(
                Customer.id.in_(chunk), Customer.merged_into.is_not(None)
            )
        ):
            found[cid] = into
    return found


def _write_redirects(batch: SendBatch) -> None:
    """A touch sent to the customer's new address says so: provider events (a bounce) then
    concern the address the message really went to. Committed with the markers."""
    for tid in batch.redirected:
        batch.session.execute(
            update(Touch).where(Touch.id == tid).values(address=batch.addresses[tid])
        )
