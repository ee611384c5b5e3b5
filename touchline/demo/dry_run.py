"""A dry run of one journey: synthetic customers, a throw-away record, emulated providers,
days of simulated time in seconds — and what happened, counted from the record.

Everything but the audience, the clock and the providers' far ends is real: events go
through intake (``ingest``), enrollments through the engine (``advance_next_batch``),
messages through the SendGrid and Twilio SDKs to the local emulators, engagement back
through signed webhooks into Touchline's API. No Prefect: the plain functions are what the
flows call too. Nothing touches the configured database or a real provider; the temporary
directory holding the record goes away at the end.

The audience is the demo's (``build_audience``), each customer given one trigger event of
the journey's type, spread over the first day, with a payload and attributes that pass the
trigger's filter most of the time (so the filter shows). Later come the events the journey
listens for — exits, goal, events a wait waits for — at plausible rates. Every number is
deterministic for a seed.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from sandbox import Sandbox, SandboxClient, SandboxConfig, SandboxServer, ThreadedApp
from sandbox.engagement import EngagementModel
from touchline.clock import ManualClock, format_duration
from touchline.config import Settings, get_settings
from touchline.db import Database
from touchline.demo.dry_run_events import (
    PROFILE_EVENT,
    SOURCE,
    entry_event,
    synthetic_events,
)
from touchline.demo.run import DEFAULT_START
from touchline.demo.simulate import Simulation
from touchline.engine import BatchReport, Engine, advance_next_batch
from touchline.engine.enroll import CONVERTED
from touchline.intake import IngestReport, ingest, read_json_lines
from touchline.journeys.loader import LoadedJourney, successors
from touchline.journeys.model import (
    JourneyDefinition,
    SendStep,
)
from touchline.journeys.store import publish
from touchline.launch import launch
from touchline.record import Enrollment, Interaction, Touch
from touchline.record.enrollments import ACTIVE
from touchline.record.touches import (
    BOUNCED,
    CLICKED,
    DELIVERED,
    FAILED,
    OPENED,
    SENT,
    SKIPPED,
    TERMINAL_OUTCOMES,
    UNDELIVERED,
)

# Events are fed in at most this long after they occur; enrollments start no later than that.
EVENT_TICK = timedelta(minutes=30)
SANDBOX_SENDER = "+15005550006"  # Twilio's magic test sender, owned by every emulated account
ENGAGEMENT = (DELIVERED, OPENED, CLICKED, BOUNCED, UNDELIVERED)
PROVIDER_CHANNEL = {"sendgrid": "email", "twilio": "sms"}


@dataclass(frozen=True)
class FunnelStep:
    step_id: str
    kind: str
    reached: int  # enrollments that got to this step
    ended_here: int  # ...and ended on it (exit event while waiting, branch to exit, end)
    waiting_here: int  # ...and are still on it when the run stops
    outcomes: dict[str, int] = field(default_factory=dict)  # send steps: sent/skipped/...


@dataclass
class DryRunResult:
    journey_key: str
    journey_name: str
    customers: int
    days: int
    seed: int
    start: datetime
    horizon: datetime
    trigger_event: str | None = None
    launched: bool = False  # entered by a launch to the whole audience, not by events
    goal: str | None = None  # "order.placed within 1w"
    events: Counter[str] = field(default_factory=Counter)  # generated, by type
    enrolled: int = 0
    holdout: int = 0
    funnel: list[FunnelStep] = field(default_factory=list)
    touches: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, outcome)
    deferred: Counter[str] = field(default_factory=Counter)  # channel: sent later than decided
    engagement: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, kind)
    skips: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, reason)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, reason)
    endings: Counter[tuple[str, str]] = field(default_factory=Counter)  # (status, reason)
    conversions: int = 0
    holdout_conversions: int = 0
    revenue: float = 0.0
    emulator_accepted: dict[str, int] = field(default_factory=dict)  # channel -> messages
    duplicate_touches: int = 0
    problems: list[str] = field(default_factory=list)  # rejected events, aborted runs
    advances: int = 0
    wall_seconds: float = 0.0

    @property
    def triggers(self) -> int:
        return self.events[self.trigger_event] if self.trigger_event else 0

    @property
    def sent(self) -> dict[str, int]:
        """Sent touches per channel, as the record has them."""
        return {c: n for (c, outcome), n in self.touches.items() if outcome == SENT}

    @property
    def consistent(self) -> bool:
        """The emulators accepted exactly the touches the record says were sent, once each."""
        channels = set(self.sent) | set(self.emulator_accepted)
        return not self.duplicate_touches and all(
            self.sent.get(c, 0) == self.emulator_accepted.get(c, 0) for c in channels
        )

    def conversion_rate(self, holdout: bool) -> float | None:
        group = self.holdout if holdout else self.enrolled - self.holdout
        converted = (
            self.holdout_conversions if holdout else self.conversions - self.holdout_conversions
        )
        return converted / group if group else None


def dry_run(
    loaded: LoadedJourney,
    *,
    customers: int,
    days: int,
    seed: int = 7,
    start: datetime = DEFAULT_START,
    on_progress: Callable[[datetime], None] = lambda _now: None,
) -> DryRunResult:
    """Run ``loaded`` for ``customers`` synthetic customers over ``days`` simulated days."""
    definition = loaded.definition
    began = time.perf_counter()
    horizon = start + timedelta(days=days)
    events = synthetic_events(definition, customers, days, seed, start)
    result = DryRunResult(
        definition.key,
        definition.name,
        customers,
        days,
        seed,
        start,
        horizon,
        events=Counter(e["type"] for e in events),
        trigger_event=entry_event(definition),
        launched=definition.trigger.segment,
        goal=(
            f"{definition.goal.event} within {format_duration(definition.goal.within)}"
            if definition.goal
            else None
        ),
    )
    with tempfile.TemporaryDirectory(prefix="touchline-dry-run-") as tmp:
        home = Path(tmp)
        db = Database(f"sqlite:///{home / 'touchline.db'}")
        try:
            db.upgrade()
            with db.session() as session:
                publish(session, loaded, start)
            _simulate(db, events, result, home, on_progress)
            _count(db, definition, result)
        finally:
            db.dispose()  # before the directory holding the file goes
    result.wall_seconds = time.perf_counter() - began
    return result


def _simulate(
    db: Database,
    events: list[dict[str, Any]],
    result: DryRunResult,
    home: Path,
    on_progress: Callable[[datetime], None],
) -> None:
    """The emulators and the API on threads, the engine in this one, time jumping ahead."""
    clock = ManualClock(result.start)
    with ThreadedApp() as api:
        sandbox = Sandbox(
            SandboxConfig(
                state_dir=home / "sandbox",
                twilio_numbers={SANDBOX_SENDER},
                event_webhook_url=f"{api.url}/webhooks/sendgrid/events",
            )
        )
        # The recipients' behaviour follows the seed too.
        sandbox.engagement.model = EngagementModel(seed=f"dry-run:{result.seed}")
        with SandboxServer(sandbox) as emulators:
            settings = sandbox_settings(get_settings(), sandbox, emulators, api.url, db.url, home)
            api.start(_api(settings, db, clock))
            control = SandboxClient(emulators.sendgrid_url)
            engine = Engine.from_settings(settings, db)
            try:
                control.set_time(result.start)
                _run(db, engine, control, clock, events, result, home, on_progress)
                stats = control.stats()
            finally:
                engine.close()
                control.close()
    result.emulator_accepted = {
        PROVIDER_CHANNEL[p]: n for p, n in stats["accepted"].items() if p in PROVIDER_CHANNEL
    }
    result.duplicate_touches = len(stats["duplicate_touches"])


def _api(settings: Settings, db: Database, clock: ManualClock) -> Any:
    from touchline.api import create_app  # FastAPI: imported only when a run needs it

    return create_app(settings, db, clock)


def sandbox_settings(
    base: Settings,
    sandbox: Sandbox,
    emulators: SandboxServer,
    api_url: str,
    database_url: str,
    home: Path,
) -> Settings:
    """The operator's settings (templates, quiet hours, caps…) with every provider, key
    and the record replaced by the sandbox's: a dry run cannot reach a real provider."""
    config = sandbox.config
    return base.model_copy(
        update={
            "home": home,
            "database_url": database_url,
            "sendgrid_host": emulators.sendgrid_url,
            "sendgrid_api_key": SecretStr(config.sendgrid_api_key),
            "sendgrid_webhook_public_key": sandbox.signer.public_key_base64(),
            "twilio_base_url": emulators.twilio_url,
            "twilio_account_sid": config.twilio_account_sid,
            "twilio_auth_token": SecretStr(config.twilio_auth_token),
            "sms_from": SANDBOX_SENDER,
            "public_url": api_url,
        }
    )


def _run(
    db: Database,
    engine: Engine,
    control: SandboxClient,
    clock: ManualClock,
    events: list[dict[str, Any]],
    result: DryRunResult,
    home: Path,
    on_progress: Callable[[datetime], None],
) -> None:
    intake = IngestReport()
    aborted: set[str] = set()

    def advance(at: datetime) -> dict[str, Any]:
        run = BatchReport()
        while (batch := advance_next_batch(engine, at)).claimed:
            run.merge(batch)
            if batch.aborted:  # parked until the provider is fixed: no point going on now
                aborted.add(batch.aborted)
                break
        result.advances += 1
        return {"claimed": run.claimed, "sent": run.count("sent")}

    def ingest_file(path: Path, source: str, at: datetime) -> dict[str, Any]:
        with path.open(encoding="utf-8") as stream:
            report = ingest(db, read_json_lines(stream), now=at, source=source)
        intake.merge(report)
        return {"accepted": len(report.accepted), "enrolled": report.enrolled}

    simulation = Simulation(
        db=db,
        clock=clock,
        sandbox=control,
        advance=advance,
        ingest_file=ingest_file,
        workdir=home / "events",
        on_advance=lambda at, _run: on_progress(at),
    )
    pending = list(events)
    if result.launched:
        # A launched journey: the audience's profiles go in first, then the whole audience
        # is launched as one segment file, exactly as `touchline launch` would.
        profiles = [e for e in pending if e["type"] == PROFILE_EVENT]
        pending = [e for e in pending if e["type"] != PROFILE_EVENT]
        report = ingest(
            db,
            ((n, json.dumps(e)) for n, e in enumerate(profiles, 1)),
            now=result.start,
            source=SOURCE,
        )
        intake.merge(report)
        segment = home / "segment.csv"
        segment.write_text(
            "customer_id\n" + "".join(f"{e['customer_id']}\n" for e in profiles), encoding="utf-8"
        )
        launch(db, result.journey_key, segment, now=result.start, name="dry-run")
    # The simulation feeds events in at its own jumps (up to hours apart); running it tick
    # by tick makes each event arrive within EVENT_TICK of when it happened.
    for tick in event_ticks(events, result.start, result.horizon):
        if tick <= clock.now():
            continue
        due = [e for e in pending if datetime.fromisoformat(e["occurred_at"]) <= tick]
        pending = pending[len(due) :]
        simulation.run_until(tick, due)
    result.problems += [str(p) for p in intake.rejected] + sorted(aborted)


def event_ticks(
    events: Iterable[dict[str, Any]], start: datetime, horizon: datetime
) -> list[datetime]:
    """The moments to stop at: each event's time rounded up to the tick, and the horizon."""
    step = EVENT_TICK.total_seconds()
    ticks = {horizon}
    for event in events:
        offset = (datetime.fromisoformat(event["occurred_at"]) - start).total_seconds()
        tick = start + timedelta(seconds=-(-offset // step) * step)
        if tick < horizon:
            ticks.add(tick)
    return sorted(ticks)


# --- counting from the record -----------------------------------------------------------------


def dominators(definition: JourneyDefinition) -> dict[str, set[str]]:
    """For each step, the steps every way to it passes through (itself included).

    An enrollment is known to have reached a step when it stands on it, has a touch there,
    or recorded a wait or a variant there; it then also passed every dominator of that
    step. In a linear journey that is every step before it.
    """
    ids = [s.id for s in definition.steps]
    following = {s: successors(definition, s) for s in ids}
    reachable, frontier = {ids[0]}, [ids[0]]
    while frontier:
        for target in following[frontier.pop()]:
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    parents: dict[str, list[str]] = {s: [] for s in ids}
    for source in reachable:
        for target in following[source]:
            parents[target].append(source)
    dom = {s: (set(reachable) if s in reachable else {s}) for s in ids}
    dom[ids[0]] = {ids[0]}
    changed = True
    while changed:
        changed = False
        for step in ids[1:]:
            if step not in reachable:
                continue
            through = set.intersection(*(dom[p] for p in parents[step])) | {step}
            if through != dom[step]:
                dom[step], changed = through, True
    return dom


def _count(db: Database, definition: JourneyDefinition, result: DryRunResult) -> None:
    key = definition.key
    with db.session() as session:
        enrollments = session.execute(
            select(
                Enrollment.id,
                Enrollment.current_step,
                Enrollment.status,
                Enrollment.end_reason,
                Enrollment.holdout,
                Enrollment.context,
            ).where(Enrollment.journey_key == key)
        ).all()
        touches = session.execute(
            select(
                Touch.id,
                Touch.enrollment_id,
                Touch.step_id,
                Touch.channel,
                Touch.scheduled_for,
                Touch.created_at,
            ).where(Touch.journey_key == key)
        ).all()
        interactions = session.execute(
            select(Interaction.touch_id, Interaction.kind, Interaction.detail)
            .join(Touch, Touch.id == Interaction.touch_id)
            .where(Touch.journey_key == key)
        ).all()
        conversions = [
            detail
            for (detail,) in session.execute(
                select(Interaction.detail).where(Interaction.kind == CONVERTED)
            )
            if detail.get("journey") == key
        ]

    outcome: dict[str, tuple[str, dict[str, Any]]] = {}
    engaged: dict[str, set[str]] = {}
    for touch_id, kind, detail in interactions:
        if kind in TERMINAL_OUTCOMES:
            outcome[touch_id] = (kind, detail or {})
        elif kind in ENGAGEMENT:
            engaged.setdefault(touch_id, set()).add(kind)

    step_outcomes: dict[str, Counter[str]] = {}
    touched: dict[str, set[str]] = {}
    for touch in touches:
        channel = touch.channel or "-"
        kind, detail = outcome.get(touch.id, ("pending", {}))
        result.touches[(channel, kind)] += 1
        step_outcomes.setdefault(touch.step_id, Counter())[kind] += 1
        touched.setdefault(touch.enrollment_id, set()).add(touch.step_id)
        if touch.scheduled_for > touch.created_at:
            result.deferred[channel] += 1
        reason = _reason(detail.get("reason"))
        if kind == SKIPPED:
            result.skips[(touch.step_id, reason)] += 1
        elif kind == FAILED:
            result.failures[(touch.step_id, reason)] += 1
        for level in engaged.get(touch.id, ()):
            result.engagement[(channel, level)] += 1

    dom = dominators(definition)
    reached: Counter[str] = Counter()
    ended_here: Counter[str] = Counter()
    waiting_here: Counter[str] = Counter()
    for row in enrollments:
        context = row.context or {}
        seen = {
            row.current_step,
            *touched.get(row.id, ()),
            *context.get("waits", {}),
            *context.get("variants", {}),
        }
        reached.update(set().union(*(dom[s] for s in seen if s in dom)))
        if row.status == ACTIVE:
            waiting_here[row.current_step] += 1
            result.endings[(ACTIVE, f"still on {row.current_step} at the end of the run")] += 1
        else:
            ended_here[row.current_step] += 1
            result.endings[(row.status, _end_reason(row.end_reason))] += 1
    result.enrolled = len(enrollments)
    result.holdout = sum(1 for row in enrollments if row.holdout)
    result.funnel = [
        FunnelStep(
            step.id,
            step.type,
            reached[step.id],
            ended_here[step.id],
            waiting_here[step.id],
            dict(step_outcomes.get(step.id, {})) if isinstance(step, SendStep) else {},
        )
        for step in definition.steps
    ]

    held_out = {row.id for row in enrollments if row.holdout}
    result.conversions = len(conversions)
    result.holdout_conversions = sum(1 for d in conversions if d.get("enrollment_id") in held_out)
    result.revenue = round(sum(float(d.get("revenue", 0)) for d in conversions), 2)


def _reason(text: str | None) -> str:
    """A reason without the phone numbers in it, so that reasons group."""
    return re.sub(r"\+?\d{7,}", "…", text) if text else "(no reason given)"


def _end_reason(text: str | None) -> str:
    """An end reason without its event id: "exit event order.placed (dry_run-c000007-1-…)"."""
    return re.sub(r" \([^()]*\)$", "", text) if text else "(no reason given)"
