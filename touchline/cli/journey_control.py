"""touchline journeys pause|resume|stop|archive|status|history|preview|proof: a journey in
operation — its state, its live counts, what a customer would receive, and proofs."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from touchline.cli.present import console
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database
from touchline.errors import JourneyNotFoundError
from touchline.lifecycle.states import ARCHIVED, DRAIN, EXIT, LIVE, PAUSED, STOPPED, Change


def _who(by: str | None) -> str:
    return by or os.environ.get("TOUCHLINE_OPERATOR") or getpass.getuser()


def _db() -> Database:
    return Database(get_settings().resolved_database_url)


def _change(journey: str, to: str, reason: str, by: str | None, mode: str | None = None) -> Change:
    from touchline.lifecycle.states import LifecycleError, change_state

    try:
        change = change_state(_db(), journey, to, reason=reason, who=_who(by),
                              now=SystemClock().now(), stop_mode=mode)  # fmt: skip
    except (LifecycleError, JourneyNotFoundError) as exc:
        console().print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    mode_text = f" ({change.stop_mode})" if change.stop_mode else ""
    console().print(
        f"[green]✓[/] {change.journey_key}: {change.from_state} → [bold]{change.to_state}"
        f"{mode_text}[/] by {escape(change.changed_by)}: {escape(change.reason)}"
    )
    if change.ended:
        console().print(f"  {change.ended} active enrollments ended")
    return change


REASON = typer.Option(..., "--reason", help="Why: stored with the change, shown in history.")
BY = typer.Option(None, "--by", help="Who (default: TOUCHLINE_OPERATOR or the login name).")


def pause(journey: str = typer.Argument(...), reason: str = REASON, by: str = BY) -> None:
    """Pause at once: no provider request starts after this returns; enrolled customers hold
    at their next step; triggering events are recorded as not enrolled ("journey paused")."""
    _change(journey, PAUSED, reason, by)


def resume(journey: str = typer.Argument(...), reason: str = REASON, by: str = BY) -> None:
    """Back to live: held enrollments go on at the next run (a draft goes live this way too)."""
    _change(journey, LIVE, reason, by)


def stop(
    journey: str = typer.Argument(...),
    reason: str = REASON,
    drain: bool = typer.Option(False, "--drain", help="Nobody new enters; in-flight finish."),
    exit_: bool = typer.Option(False, "--exit", help="End every active enrollment now."),
    by: str = BY,
) -> None:
    """Stop: --drain lets enrollments in flight finish, --exit ends them all now."""
    if drain == exit_:
        console().print("[red]✗[/] give exactly one of --drain or --exit")
        raise typer.Exit(2)
    _change(journey, STOPPED, reason, by, DRAIN if drain else EXIT)


def archive(journey: str = typer.Argument(...), reason: str = REASON, by: str = BY) -> None:
    """Archive a stopped (or draft) journey: nothing of it runs again."""
    _change(journey, ARCHIVED, reason, by)


def status(
    journey: str = typer.Argument(None, help="One journey (default: every published one)."),
) -> None:
    """Live counts: state, active enrollments per step, waiting, due within the hour, sent
    today per channel, failures today, conversions."""
    from touchline.lifecycle.status import journey_status

    now = SystemClock().now()
    with _db().session() as session:
        statuses = journey_status(session, now, journey)
    if not statuses:
        console().print(f"[red]✗[/] no published journey{f' {journey!r}' if journey else 's'}")
        raise typer.Exit(1)
    table = Table(
        "journey", "state", "active per step", "waiting", "due ≤1h", "sent today",
        "failed today", "conversions (today)", "not enrolled today", header_style="bold",
        title=f"as of {now:%Y-%m-%d %H:%M} UTC", title_justify="left",
    )  # fmt: skip
    for s in statuses:
        st = s.standing
        state = st.state + (f" ({st.stop_mode})" if st.stop_mode else "")
        if st.reason and st.state != LIVE:
            state += f"\n[dim]{escape(st.reason)} — {escape(st.changed_by or '?')}[/]"
        table.add_row(
            f"{st.journey_key} v{s.version}",
            state,
            "\n".join(f"{k}: {v}" for k, v in s.active_by_step.items()) or "0",
            str(s.waiting),
            str(s.due_within_hour),
            "\n".join(f"{k}: {v}" for k, v in sorted(s.sent_today.items())) or "0",
            str(s.failed_today),
            f"{s.conversions} ({s.conversions_today})",
            str(s.not_enrolled_today),
        )
    console().print(table)


def history(journey: str = typer.Argument(...)) -> None:
    """Every state change of a journey: when, who, from → to, why."""
    from touchline.lifecycle.states import history as changes

    with _db().session() as session:
        rows = changes(session, journey)
    if not rows:
        console().print(f"{journey}: no state changes (live since published)")
        return
    table = Table("when", "who", "change", "why", header_style="bold")
    for row in rows:
        mode = f" ({row.stop_mode})" if row.stop_mode else ""
        ended = row.detail.get("enrollments_ended")
        table.add_row(
            f"{row.changed_at:%Y-%m-%d %H:%M:%S}", escape(row.changed_by),
            f"{row.from_state} → {row.to_state}{mode}",
            escape(row.reason) + (f" [dim]({ended} ended)[/]" if ended else ""),
        )  # fmt: skip
    console().print(table)


def preview(
    journey: str = typer.Argument(...),
    step: str = typer.Option(None, "--step", help="One send step (default: every one)."),
    customer: str = typer.Option(None, "--customer", help="Render for this customer."),
    sample: int = typer.Option(None, "--sample", min=1, max=50, help="N sampled customers."),
    locale: str = typer.Option(None, "--locale", help="Render in this locale."),
    out: Path = typer.Option(None, "--out", help="Folder for the files (default previews/J)."),
    screenshots: bool = typer.Option(True, help="PNG of each email at desktop and phone widths."),
) -> None:
    """What the customer would receive on every channel the step may use, with the decision
    that would be taken now (channel, time, every reason). Nothing is sent or recorded."""
    from touchline.lifecycle.preview import PreviewError, Renderer
    from touchline.lifecycle.preview import preview as make_preview
    from touchline.lifecycle.preview_files import write_previews

    if customer and sample:
        console().print("[red]✗[/] give --customer ID or --sample N, not both")
        raise typer.Exit(2)
    settings = get_settings()
    now = SystemClock().now()
    try:
        definition, version, previews = make_preview(
            _db(), Renderer.from_settings(settings), journey, now, step_id=step,
            customer_id=customer, sample=sample or 1, locale=locale,
        )  # fmt: skip
    except (PreviewError, JourneyNotFoundError) as exc:
        console().print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    folder = out or Path("previews") / journey
    no_shots = write_previews(folder, previews, screenshots=screenshots)
    out_ = console()
    out_.print(
        f"[bold]{definition.name}[/] ({journey} v{version}) — preview as of {now:%Y-%m-%d %H:%M} UTC"
    )
    for item in previews:
        decision = item.decision
        chosen = (
            f"[green]{decision.channel}[/] to {escape(decision.address or '')} at "
            f"{decision.send_at:%Y-%m-%d %H:%M} UTC"
            if decision.channel
            else f"[yellow]nothing sent[/]: {escape(decision.skip_reason or '')}"
        )
        own = "" if item.enrolled else " [dim](not enrolled: rendered as if entering now)[/]"
        out_.print(
            f"\n[bold]{escape(item.customer_id)}[/] · step {item.step_id}{own}\n  decision: {chosen}"
        )
        for reason in decision.reasons:
            out_.print(f"    {reason.outcome:>6}  {escape(str(reason))}")
        for render in item.channels:
            mark = "→" if render.chosen else " "
            head = f"  {mark} [bold]{render.channel}[/] {escape(render.address or '(no address)')}"
            if render.error:
                out_.print(f"{head}\n      [red]{escape(render.error)}[/]")
                continue
            out_.print(head + _summary(render.channel, render.detail, render.message))
            for name, path in render.files.items():
                out_.print(f"      {name}: {path}")
    if no_shots:
        out_.print(f"\n[yellow]{escape(no_shots)}[/]")


def _summary(channel: str, detail: dict, message: object) -> str:
    if channel == "email":
        return f"\n      subject: {escape(str(detail.get('subject')))}"
    if channel == "sms":
        return (
            f"\n      {detail['segments']} segment(s), {detail['encoding']}"
            f"\n      {escape(detail['body'])}"
        )
    if channel == "whatsapp":
        if detail.get("form") == "session":
            return f"\n      free text (session open): {escape(detail['body'])}"
        return (
            f"\n      approved template {detail.get('content_sid')} "
            f"variables {escape(str(detail.get('content_variables')))}"
        )
    return f"\n      {escape(str(detail.get('text')))}"


def proof(
    journey: str = typer.Argument(...),
    to: list[str] = typer.Option(..., "--to", help="An address on the proof list (repeatable)."),
    step: str = typer.Option(None, "--step", help="One send step (default: every one)."),
    customer: str = typer.Option(None, "--customer", help="Fill the template with this customer."),
    locale: str = typer.Option(None, "--locale"),
    by: str = BY,
) -> None:
    """Send the real message through the real channel to addresses on the proof list
    (TOUCHLINE_PROOF_ADDRESSES) only. Marked as proofs; never counted anywhere."""
    from touchline.engine import Engine
    from touchline.lifecycle.preview import PreviewError
    from touchline.lifecycle.proofs import ProofError, send_proofs

    settings = get_settings()
    engine = Engine.from_settings(settings)
    try:
        results = send_proofs(engine, journey, to, SystemClock().now(), who=_who(by),
                              step_id=step, customer_id=customer, locale=locale)  # fmt: skip
    except (ProofError, PreviewError, JourneyNotFoundError) as exc:
        console().print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    finally:
        engine.close()
    for r in results:
        if r.status == "sent":
            console().print(
                f"[green]✓[/] proof of {r.step_id} by {r.channel} to {escape(r.address)} ({r.provider_message_id})"
            )
        else:
            console().print(
                f"[red]✗[/] proof of {r.step_id} by {r.channel} to {escape(r.address)}: {escape(r.error or '')}"
            )
    if any(r.status != "sent" for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for command in (pause, resume, stop, archive, status, history, preview, proof):
        app.command(command.__name__)(command)
