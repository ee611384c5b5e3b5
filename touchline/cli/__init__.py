"""The ``touchline`` command line."""

from __future__ import annotations

import typer

from touchline.config import configure_prefect_defaults

app = typer.Typer(
    name="touchline",
    help="Orchestrated omnichannel journeys: events in, the right message out, every touch recorded.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _register() -> None:
    from touchline.cli import db, events, journeys, launch, preferences, report, run

    app.add_typer(db.app, name="db")
    app.add_typer(journeys.app, name="journeys")
    app.add_typer(events.app, name="events")
    app.add_typer(preferences.app, name="preferences")
    from touchline.cli import export, imports, insight

    app.add_typer(insight.app, name="insight")
    app.add_typer(export.app, name="export")
    app.add_typer(imports.app, name="import")
    from touchline.cli import customers

    app.add_typer(customers.app, name="customers")
    app.command("launch")(launch.launch_command)
    app.command()(run.advance)
    app.command()(run.worker)
    app.command()(run.timeline)
    app.command("report")(report.report)
    app.command()(run.demo)
    from touchline.cli import serve

    app.command()(serve.serve)
    app.command()(serve.stop)
    sandbox = typer.Typer(help="The local provider emulators.", no_args_is_help=True)
    sandbox.command("serve")(run.sandbox_serve)
    app.add_typer(sandbox, name="sandbox")
    api = typer.Typer(help="Touchline's HTTP API.", no_args_is_help=True)
    api.command("serve")(run.api_serve)
    app.add_typer(api, name="api")
    from touchline.cli import journey_control

    journey_control.register(journeys.app)


_register()


def main() -> None:
    configure_prefect_defaults()  # before anything imports prefect
    app()
