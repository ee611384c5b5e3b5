"""touchline preferences: the preference center — what it learned, and why it decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.table import Table

from touchline.cli.present import console
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database
from touchline.words import counted

app = typer.Typer(help="The preference center.", no_args_is_help=True)


@app.command()
def refresh(
    as_of: datetime = typer.Option(None, help="Learn as of this time (ISO 8601; default now)."),
) -> None:
    """Relearn channel and timing effectiveness from the interaction record (what the daily
    refresh-effectiveness deployment does), and print what was learned."""
    from preference_center.learning import refresh as relearn

    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    settings = get_settings()
    out = console()
    with out.status("reading the interaction record"):
        report = relearn(
            Database(settings.resolved_database_url), as_of or SystemClock().now(), settings
        )
    table = Table(
        title=f"Everyone's engagement since {report.since:%Y-%m-%d} (smoothed)",
        title_justify="left",
        header_style="bold",
    )
    for column in ("kind", "channel", "sent", "engaged", "rate"):
        table.add_column(column, justify="left" if column in ("kind", "channel") else "right")
    for g in report.global_rates:
        table.add_row(g.kind, g.channel, f"{g.sent:,}", f"{g.engaged:,}", f"{g.rate:.1%}")
    if report.global_rates:
        out.print(table)
    out.print(
        f"[green]✓[/] learned from {counted(report.messages, 'message')} ({report.engaged:,} engaged) to "
        f"{counted(report.customers, 'customer')} in {counted(report.segments, 'segment')}; "
        f"[bold]{report.customers_ranked:,}[/] customers have enough data of their own to rank "
        f"channels. Wrote {report.channel_rows:,} channel rates and {report.timing_rows:,} "
        f"hour-of-week scores in {report.seconds:.1f} s."
    )


@app.command()
def explain(
    customer_id: str = typer.Argument(..., help="The customer whose decision to explain."),
    journey: str = typer.Option(None, "--journey", "-j", help="A published journey's key."),
    step: str = typer.Option(None, "--step", "-s", help="A send step of that journey."),
    as_of: datetime = typer.Option(None, help="Decide as of this time (ISO 8601; default now)."),
) -> None:
    """Print what the preference center knows about a customer and the decision it would
    make for a send step — every check, passed or failed, and why.

    Without --journey: a marketing message on any channel, under both channel policies
    (``preferred``: the customer's stated order; ``best``: measured engagement).
    """
    from preference_center import load_profiles
    from preference_center.decision import DecisionPolicy, SendRequest, decide
    from touchline.content import TemplateCatalog
    from touchline.engine.steps.send import send_request
    from touchline.errors import JourneyNotFoundError
    from touchline.journeys.model import KNOWN_CHANNELS, JourneyDefinition, SendStep
    from touchline.journeys.store import find_version

    settings = get_settings()
    now = _aware(as_of) or SystemClock().now()
    policy = DecisionPolicy.from_settings(settings)
    db = Database(settings.resolved_database_url)
    out = console()
    with db.session() as session:
        profiles = load_profiles(
            session, [customer_id], learned=True,
            marketing_since=now - policy.cap_window, week_since=now - timedelta(days=7),
        )  # fmt: skip
        if customer_id not in profiles:
            out.print(f"[red]✗[/] no customer '{customer_id}'")
            raise typer.Exit(1)
        requests: list[tuple[str, SendRequest]] = []
        if journey:
            try:
                definition = JourneyDefinition.model_validate(
                    find_version(session, journey).definition
                )
            except JourneyNotFoundError as exc:
                out.print(f"[red]✗[/] {exc}; publish it with `touchline journeys publish`")
                raise typer.Exit(1) from exc
            sends = [s for s in definition.steps if isinstance(s, SendStep)]
            chosen = [s for s in sends if step is None or s.id == step]
            if not chosen:
                out.print(
                    f"[red]✗[/] {journey} has no send step '{step}'; its send steps: "
                    + ", ".join(s.id for s in sends)
                )
                raise typer.Exit(1)
            catalog = TemplateCatalog(settings.templates_dir)
            requests = [
                (f"{journey} / {s.id}", send_request(catalog, definition, s)) for s in chosen
            ]
        else:
            for name in ("preferred", "best"):
                requests.append((
                    f"a marketing message, policy {name}",
                    SendRequest(purpose="marketing", channels=None, available=KNOWN_CHANNELS,
                                policy=name),
                ))  # fmt: skip
    profile = profiles[customer_id]
    out.print(_profile_table(profile))
    for title, request in requests:
        decision = decide(profile, request, now, policy)
        verdict = (
            f"[green]{decision.channel}[/] to {decision.address}, "
            + ("now" if decision.send_at <= now else f"at {decision.send_at:%Y-%m-%d %H:%M} UTC")
            if decision.channel
            else "[red]nothing is sent[/]"
        )
        table = Table(title=f"{title}: {verdict}", title_justify="left", header_style="bold")
        for column in ("check", "channel", "outcome", "reason"):
            table.add_column(column, overflow="fold")
        colours = {"pass": "green", "fail": "red", "defer": "yellow", "note": "dim"}
        for reason in decision.reasons:
            colour = colours.get(reason.outcome, "")
            table.add_row(reason.check, reason.channel or "", f"[{colour}]{reason.outcome}[/]",
                          reason.message)  # fmt: skip
        out.print(table)


def _profile_table(profile: Any) -> Table:
    table = Table(title=f"Customer {profile.customer_id}", title_justify="left",
                  show_header=False)  # fmt: skip
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for channel, address in sorted(profile.addresses.items()):
        table.add_row(f"{channel} address", address + (
            f" (suppressed: {profile.suppressed[channel]})" if channel in profile.suppressed else ""
        ))  # fmt: skip
    for (channel, purpose), state in sorted(profile.consents.items()):
        table.add_row(f"{channel} {purpose}",
                      f"{state.status} on {state.recorded_at:%Y-%m-%d} via {state.source}")  # fmt: skip
    for (topic, channel), state in sorted(profile.topics.items()):
        table.add_row(f"topic {topic} ({channel})",
                      f"{'joined' if state.status == 'granted' else 'left'} on "
                      f"{state.recorded_at:%Y-%m-%d} via {state.source}")  # fmt: skip
    table.add_row("stated order", ", ".join(profile.channel_order) or "none stated")
    table.add_row("time zone", profile.timezone or "none stated")
    table.add_row("quiet hours", str(profile.quiet_hours) if profile.quiet_hours else "none stated")
    table.add_row(
        "own limit",
        f"{profile.max_per_week} a week ({profile.marketing_this_week} in the last 7 days)"
        if profile.max_per_week
        else "none",
    )
    table.add_row("marketing, cap window", str(profile.recent_marketing))
    return table


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@app.command()
def history(customer_id: str = typer.Argument(..., help="The customer.")) -> None:
    """The customer's consent ledger, oldest first: every grant, revocation and topic
    change with its source and evidence — what a regulator or the customer may ask for."""
    from preference_center.ledger import history as ledger_history
    from touchline.errors import UnknownCustomerError

    settings = get_settings()
    out = console()
    with Database(settings.resolved_database_url).session() as session:
        try:
            rows = ledger_history(session, customer_id)
        except UnknownCustomerError as exc:
            out.print(f"[red]✗[/] {exc}")
            raise typer.Exit(1) from exc
    table = Table(title=f"Consent ledger of {customer_id}", title_justify="left",
                  header_style="bold")  # fmt: skip
    for column in (
        "recorded at (UTC)",
        "channel",
        "purpose / topic",
        "status",
        "source",
        "evidence",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        evidence = ", ".join(f"{k}={v}" for k, v in sorted(row.evidence.items()))
        table.add_row(f"{row.recorded_at:%Y-%m-%d %H:%M:%S}", row.channel,
                      f"topic {row.topic}" if row.topic else row.purpose, row.status, row.source,
                      evidence)  # fmt: skip
    out.print(table if rows else f"{customer_id} has no consent rows yet")


@app.command()
def merge(
    source: str = typer.Argument(..., help="The customer to merge (it becomes an alias)."),
    into: str = typer.Option(..., "--into", help="The customer to keep."),
    reason: str = typer.Option(..., "--reason", help="Why they are one person (audited)."),
    actor: str = typer.Option(None, help="Who merges (default: $USER)."),
) -> None:
    """Merge two profiles of one person: identities, consent history, events, touches and
    interactions move to the kept customer, unchanged; the merge is audited."""
    import getpass

    from preference_center.merge import merge_customers
    from touchline.errors import MergeError, UnknownCustomerError

    settings = get_settings()
    out = console()
    try:
        with Database(settings.resolved_database_url).session() as session:
            audit = merge_customers(session, source, into, actor=actor or getpass.getuser(),
                                    reason=reason, evidence={"via": "cli"},
                                    at=SystemClock().now())  # fmt: skip
    except (MergeError, UnknownCustomerError) as exc:
        out.print(f"[red]✗[/] {exc}; nothing changed")
        raise typer.Exit(1) from exc
    moved = ", ".join(f"{n} {table}" for table, n in audit.moved.items() if n)
    out.print(f"[green]✓[/] merged {source} into {into} ({moved or 'nothing to move'})")
