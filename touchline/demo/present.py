"""Printing what the demo did."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import select

from touchline.cli.present import frame_table, timeline_table
from touchline.db import Database
from touchline.demo.run import DemoResult
from touchline.record import Preference, Touch
from touchline.reports.touches import (
    by_step_and_channel,
    engagement,
    enrollment_outcomes,
    skip_and_failure_reasons,
    touch_outcomes,
)
from touchline.timeline import customer_timeline
from touchline.words import counted


def print_demo(out: Console, result: DemoResult) -> None:
    db = Database(result.database_url)
    intake = result.intake
    out.print()
    out.print(
        f"[bold]Intake[/]: {intake['accepted']:,} sign-ups accepted, {intake['rejected']} rejected "
        f"(and the rest went in); {intake['enrolled']:,} enrollments: "
        + ", ".join(f"{n:,} in {key}" for key, n in _enrollments_by_journey(db).items())
        + "."
    )
    for problem in result.rejected:
        out.print(f"  [red]✗[/] {problem}")
    out.print(
        f"Sending the same file again: {result.resend['accepted']} new events, "
        f"{result.resend['duplicates']:,} recognised as already received, {result.resend['enrolled']} enrolled."
    )
    with db.session() as session:
        # Every journey: the welcome series, and the SMS double opt-in it set off for those
        # who ticked "text me" without confirming.
        outcomes = touch_outcomes(session)
        out.print()
        out.print(
            frame_table(
                by_step_and_channel(outcomes),
                "Touches per step and channel (deferred = held back by quiet hours, then sent)",
            )
        )
        reasons = skip_and_failure_reasons(outcomes)
        if not reasons.empty:
            out.print(frame_table(reasons, "Skips and failures, with their reasons", index=False))
        engaged = engagement(session, "welcome")
        if not engaged.empty:
            out.print(
                frame_table(engaged, "Engagement reported by signed webhooks (distinct touches)")
            )
        out.print(
            frame_table(
                enrollment_outcomes(session, "welcome"), "How enrollments ended", index=False
            )
        )

        out.print()
        email_ok = result.emulator["emails"] == result.sent.get("email", 0)
        sms_ok = result.emulator["sms"] == result.sent.get("sms", 0)
        mark = lambda ok: "[green]✓[/]" if ok else "[red]✗[/]"  # noqa: E731
        out.print(
            f"{mark(email_ok)} the SendGrid emulator accepted {counted(result.emulator['emails'], 'email')}; the record says {result.sent.get('email', 0):,} sent\n"
            f"{mark(sms_ok)} the Twilio emulator accepted {result.emulator['sms']:,} SMS; the record says {result.sent.get('sms', 0):,} sent\n"
            f"{mark(not result.emulator['duplicate_touches'])} touches accepted twice by a provider: {len(result.emulator['duplicate_touches'])}\n"
            f"  webhooks posted back: {result.webhooks.get('sendgrid_posted', 0)} SendGrid batches, {result.webhooks.get('twilio_posted', 0)} Twilio callbacks"
        )

        customer = _interesting_customer(session, outcomes)
        if customer:
            preference = session.get(Preference, customer)
            out.print()
            out.print(
                timeline_table(
                    customer_timeline(session, customer),
                    customer,
                    preference.timezone if preference else None,
                )
            )

    out.print()
    out.print(
        f"[bold]{result.touches_sent:,} touches sent in {result.wall_seconds:.1f} s wall time "
        f"({result.touches_per_second:.0f} touches/s, everything included: Prefect's start, "
        f"{result.flow_runs} flow runs, emulators, webhooks)[/]"
    )
    out.print(f"Record: {result.database_url}")
    out.print(
        f"Explore: [bold].venv/bin/touchline timeline {customer or 'c000001'}[/] with TOUCHLINE_DATABASE_URL={result.database_url}"
    )


def _interesting_customer(session, outcomes) -> str | None:  # type: ignore[no-untyped-def]
    """Someone whose story shows the most: a welcome email not opened, then an SMS held back
    by quiet hours and sent in the morning."""
    sms = outcomes[(outcomes["step"] == "nudge_sms") & (outcomes["outcome"] == "sent")]
    deferred = sms[sms["deferred"]]
    pick = deferred if not deferred.empty else sms
    if pick.empty:
        first = session.execute(select(Touch.customer_id).limit(1)).scalar()
        return first
    return str(pick.sort_values("customer_id").iloc[0]["customer_id"])


def _enrollments_by_journey(db: Database) -> dict[str, int]:
    from sqlalchemy import func, select

    from touchline.record import Enrollment

    with db.session() as session:
        rows = session.execute(
            select(Enrollment.journey_key, func.count())
            .group_by(Enrollment.journey_key)
            .order_by(func.count().desc())
        ).all()
    return {key: n for key, n in rows}
