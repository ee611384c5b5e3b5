"""Touchline as a deployed system on one machine: the Prefect server, the deployments, process
workers, the Touchline API and the provider emulators, each in the background with its log
and pid file under ``<TOUCHLINE_HOME>/serve/``.

    plan = StackPlan.from_settings(get_settings())
    stack = start_stack(plan)      # waits for every part's health check
    ...
    stop_stack(plan.state_dir)     # idempotent

Latency from ``POST /events`` to the provider does not go through Prefect's scheduling: the
``advance-continuously`` deployment is a flow run that stays up for its window and polls the
record for due enrollments every half second. The supervisor starts one at once (the
schedule's first run would come only one interval after the deploy) and the schedule keeps
one running after that. The workers poll every ``worker_query_seconds`` (Prefect's default
is 10 s), which only matters for the hand-over from one window's run to the next and for
the catch-all ``advance-journeys``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from touchline.config import PROJECT_ROOT, Settings
from touchline.serve.automations import HEARTBEAT_SECONDS, automations
from touchline.serve.prefect_api import PrefectApi
from touchline.serve.processes import (
    STACK_MARKER,
    StackError,
    Started,
    http_ok,
    log_tail,
    port_free,
    recorded,
    spawn,
    terminate,
    wait_healthy,
)
from touchline.words import counted

POOL = "touchline"
CONTINUOUS_DEPLOYMENT = "advance-continuously"
# Stop the workers first (no new flow runs start), the server last (runs can report).
STOP_ORDER = ["worker", "api", "emulators", "prefect"]
BIN = Path(sys.executable).parent


@dataclass
class StackPlan:
    state_dir: Path
    home: Path
    database_url: str
    prefect_database_url: str = ""  # empty: SQLite in state_dir/prefect
    host: str = "127.0.0.1"
    prefect_port: int = 4200
    api_port: int = 8970
    sendgrid_port: int = 8971
    twilio_port: int = 8972
    x_port: int = 8973
    workers: int = 1
    # Most flow runs one worker runs at once (None: no limit).
    worker_limit: int | None = None
    # How often a worker asks for flow runs that are due, and how far ahead.
    worker_query_seconds: float = 2.0
    worker_prefetch_seconds: float = 10.0
    # How often the server's scheduler puts runs of the deployments' schedules in place.
    scheduler_loop_seconds: float = 10.0
    start_continuous_run: bool = True
    # Tests and benchmarks: the parts get SIGTERM if the process that started them dies
    # (a killed test run leaves no server behind). `touchline serve` exits after starting.
    die_with_parent: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    project_root: Path = PROJECT_ROOT
    timeout: float = 90.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> StackPlan:
        home = settings.home.resolve()
        return cls(
            state_dir=home / "serve",
            home=home,
            database_url=settings.resolved_database_url,
            prefect_database_url=settings.prefect_database_url,
            **overrides,  # type: ignore[arg-type]
        )

    @property
    def prefect_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"{self.prefect_url}/api"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def sendgrid_url(self) -> str:
        return f"http://{self.host}:{self.sendgrid_port}"

    @property
    def twilio_url(self) -> str:
        return f"http://{self.host}:{self.twilio_port}"

    @property
    def x_url(self) -> str:
        return f"http://{self.host}:{self.x_port}"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids(self) -> Path:
        return self.state_dir / "pids"

    def env(self) -> dict[str, str]:
        """The environment of every part: Touchline's settings pointing at this stack's
        API, emulators and record; Prefect pointed at this stack's server."""
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_KEY"}
        env.update(
            {
                STACK_MARKER: str(self.state_dir.resolve()),
                "PWD": str(self.project_root),
                "PYTHONUNBUFFERED": "1",  # logs as they happen, not when a buffer fills  # prefect.yaml's pull step reads it
                "TOUCHLINE_HOME": str(self.home),
                "TOUCHLINE_DATABASE_URL": self.database_url,
                "TOUCHLINE_PUBLIC_URL": self.api_url,
                "TOUCHLINE_SENDGRID_HOST": self.sendgrid_url,
                "TOUCHLINE_TWILIO_BASE_URL": self.twilio_url,
                "TOUCHLINE_X_API_BASE_URL": self.x_url,
                "PREFECT_HOME": str(self.state_dir / "prefect"),
                "PREFECT_API_URL": self.prefect_api_url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_API_LOG_RETRYABLE_ERRORS": "true",
                # The server records task runs in batches; one by one it falls behind
                # a flow that runs hundreds of batch tasks.
                "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
                "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
                "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": str(self.scheduler_loop_seconds),
                "PREFECT_WORKER_QUERY_SECONDS": str(self.worker_query_seconds),
                "PREFECT_WORKER_PREFETCH_SECONDS": str(self.worker_prefetch_seconds),
                # Served flow runs send heartbeats, which the crashed-runs automation
                # (touchline/serve/automations.py) watches; tests in ephemeral mode turn
                # them off, so this is set here whatever the caller's environment says.
                "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
            }
        )
        env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
        env.update(self.extra_env)
        return env


@dataclass(frozen=True)
class RunningStack:
    plan: StackPlan
    workers: list[str]
    continuous_run_id: str | None
    cancelled_late_runs: int

    def summary(self) -> str:
        p = self.plan
        prefect_db = _safe_url(p.prefect_database_url) if p.prefect_database_url else "SQLite"
        lines = [
            f"Prefect UI          {p.prefect_url}   (server on {prefect_db})",
            f"Touchline API docs  {p.api_url}/docs   (POST /events, bearer TOUCHLINE_API_TOKEN)",
            f"SendGrid emulator   {p.sendgrid_url}   (what it received: {p.sendgrid_url}/_sandbox/emails)",
            f"Twilio emulator     {p.twilio_url}   (a customer texts: POST "
            f"{p.twilio_url}/_sandbox/sms/inbound, posted to {p.api_url}/webhooks/twilio/inbound)",
            f"X API emulator      {p.x_url}",
            f"record              {_safe_url(p.database_url)}",
            f"workers             {', '.join(self.workers)} on pool '{POOL}'",
            f"logs                {p.logs}",
        ]
        if self.continuous_run_id:
            lines.append(f"advance-continuously run {self.continuous_run_id} started")
        if self.cancelled_late_runs:
            lines.append(
                f"{counted(self.cancelled_late_runs, 'run')} that fell due while stopped: cancelled"
            )
        lines.append("stop with: make stop   (or: touchline stop)")
        return "\n".join(lines)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def prefect_database_url(url: str) -> str:
    """Prefect's server speaks asyncpg to PostgreSQL: accept the URL in any driver's form."""
    if not url:
        return ""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def start_stack(
    plan: StackPlan, progress: Callable[[str], None] = lambda line: None
) -> RunningStack:
    """Start every part and wait for each; on a failure, stop what was started and raise
    StackError naming the part and its log."""
    running = recorded(plan.pids)
    if running:
        raise StackError(
            f"a stack is running already from {plan.state_dir} ({', '.join(sorted(running))}); "
            "stop it first: make stop (or touchline stop)"
        )
    ports = {
        "Prefect server": plan.prefect_port,
        "Touchline API": plan.api_port,
        "SendGrid emulator": plan.sendgrid_port,
        "Twilio emulator": plan.twilio_port,
        "X API emulator": plan.x_port,
    }
    for what, port in ports.items():
        if not port_free(plan.host, port):
            raise StackError(f"port {port} ({what}) on {plan.host} is in use by another program")
    plan.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _start(plan, progress)
    except httpx.HTTPError as exc:
        terminate(plan.pids, str(plan.state_dir.resolve()), STOP_ORDER, grace=5)
        raise StackError(
            f"the Prefect server refused a request ({exc}); its log is "
            f"{plan.logs / 'prefect-server.log'}:\n{log_tail(plan.logs / 'prefect-server.log')}"
        ) from exc
    except BaseException:
        terminate(plan.pids, str(plan.state_dir.resolve()), STOP_ORDER, grace=5)
        raise


def _start(plan: StackPlan, progress: Callable[[str], None]) -> RunningStack:
    env = plan.env()
    common = {"env": env, "cwd": plan.project_root, "logs": plan.logs, "pids": plan.pids,
              "die_with_parent": plan.die_with_parent}  # fmt: skip
    server_env = dict(env)
    if plan.prefect_database_url:
        server_env["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect_database_url(
            plan.prefect_database_url
        )
    server = spawn(
        "prefect-server",
        [str(BIN / "prefect"), "server", "start", "--host", plan.host, "--port", str(plan.prefect_port)],
        **{**common, "env": server_env},
    )  # fmt: skip
    emulators = spawn(
        "emulators",
        [str(BIN / "touchline"), "sandbox", "serve", "--sendgrid-port", str(plan.sendgrid_port),
         "--twilio-port", str(plan.twilio_port), "--x-port", str(plan.x_port),
         # Customers' texts (STOP, YES…) reach the API, as a Twilio number's inbound URL does.
         "--inbound-sms-url", f"{plan.api_url}/webhooks/twilio/inbound"],
        **common,
    )  # fmt: skip
    progress("Prefect server and emulators starting; migrating the record, publishing journeys")
    _run_step("prepare", [sys.executable, "-m", "touchline.serve.prepare"], plan, env, timeout=120)
    # The API reads the emulator's webhook signing key at start: emulators first.
    wait_healthy(emulators, http_ok(f"{plan.sendgrid_url}/_sandbox/stats"), timeout=plan.timeout,
                 what="the emulators")  # fmt: skip
    api = spawn(
        "api",
        [str(BIN / "touchline"), "api", "serve", "--host", plan.host, "--port", str(plan.api_port)],
        **common,
    )  # fmt: skip
    prefect = PrefectApi(plan.prefect_api_url)
    try:
        wait_healthy(server, prefect.healthy, timeout=plan.timeout, what="the Prefect server")
        progress(f"Prefect server up at {plan.prefect_url}; deploying")
        _run_step(
            "work-pool",
            [str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process"],
            plan, env, timeout=60, ok_if="already exists",
        )  # fmt: skip
        _run_step("deploy", [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], plan, env,
                  timeout=180)  # fmt: skip
        # On SQLite, a Prefect transaction that read and then writes fails at once with
        # "database is locked" when another one committed a write in between (WAL mode
        # does not wait for that case, whatever the busy timeout): the scheduler writing
        # the new deployments' runs while we create ours was the start-up's 503s. So the
        # scheduler finishes first, then the supervisor writes.
        _wait_for_schedules(prefect, plan)
        for automation in automations():
            prefect.put_automation(automation)
        cancelled = prefect.cancel_late_runs(POOL)
        # The first continuous run, due now, before the workers start: a worker takes it
        # on its first poll, and its creation does not race their polls' writes.
        run_id = None
        if plan.start_continuous_run:
            deployment = prefect.deployment(CONTINUOUS_DEPLOYMENT)
            if deployment is not None:
                run_id = prefect.run_deployment(deployment["id"])["id"]
            else:
                progress(f"no '{CONTINUOUS_DEPLOYMENT}' deployment in prefect.yaml: "
                         "advance-journeys (hourly) does the work")  # fmt: skip
        since = datetime.now(UTC) - timedelta(seconds=1)
        names = [f"touchline-worker-{n}" for n in range(1, plan.workers + 1)]
        workers: list[Started] = []
        for name in names:
            argv = [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", name,
                    "--type", "process"]  # fmt: skip
            if plan.worker_limit:
                argv += ["--limit", str(plan.worker_limit)]
            workers.append(spawn(f"worker-{name.rsplit('-', 1)[1]}", argv, **common))
        wait_healthy(api, http_ok(f"{plan.api_url}/health"), timeout=plan.timeout,
                     what="the Touchline API")  # fmt: skip
        for name, started in zip(names, workers, strict=True):
            wait_healthy(
                started,
                lambda name=name: name in prefect.workers_seen_since(POOL, since),
                timeout=plan.timeout,
                what=f"Prefect worker {name}",
            )
    finally:
        prefect.close()
    return RunningStack(plan, names, run_id, cancelled)


def scheduled_deployments(project_root: Path) -> list[str]:
    """The names of prefect.yaml's deployments that have a schedule."""
    import yaml

    config = yaml.safe_load((project_root / "prefect.yaml").read_text())
    return [d["name"] for d in config.get("deployments", []) if d.get("schedules")]


def _wait_for_schedules(prefect: PrefectApi, plan: StackPlan) -> None:
    """Until every scheduled deployment has its runs in place (the scheduler's first pass
    after the deploy); gives up quietly after a few scheduler loops."""
    names = scheduled_deployments(plan.project_root)
    deadline = time.monotonic() + 3 * plan.scheduler_loop_seconds + 10
    while names and time.monotonic() < deadline:
        names = prefect.deployments_without_scheduled_runs(names)
        if names:
            time.sleep(0.5)
    # One more loop's worth of quiet: the scheduler inserts in batches.
    time.sleep(1.0)


def _run_step(
    name: str,
    argv: list[str],
    plan: StackPlan,
    env: dict[str, str],
    *,
    timeout: float,
    ok_if: str | None = None,
) -> None:
    """A command that must finish (deploy, pool creation), its output in ``logs/<name>.log``."""
    log = plan.logs / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    try:
        result = subprocess.run(
            argv, env=env, cwd=plan.project_root, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        log.write_text(f"{' '.join(argv)}\n{exc.stdout or ''}{exc.stderr or ''}")
        raise StackError(f"{name} did not finish within {timeout:.0f} s; its log is {log}") from exc
    output = f"{result.stdout}{result.stderr}"
    log.write_text(f"$ {' '.join(argv)}  ({time.monotonic() - began:.1f} s)\n{output}")
    if result.returncode != 0 and not (ok_if and ok_if in output):
        raise StackError(f"{name} failed (exit {result.returncode}); its log is {log}:\n"
                         f"{log_tail(log)}")  # fmt: skip


def stop_stack(state_dir: Path, grace: float = 10.0) -> list[str]:
    """Stop every part started from ``state_dir``; returns what was running. Idempotent."""
    return terminate(state_dir / "pids", str(state_dir.resolve()), STOP_ORDER, grace=grace)
