"""The tracking plan: the event types Touchline takes in, each with its payload's schema.

Declared in ``events.yaml`` (``settings.tracking_plan_file``), like Segment Protocols'
tracking plans: a producer's typo (``customer.signedup``) is refused at the door with a
suggestion instead of being stored and silently starting no journey, and a journey that
waits for a type nobody sends fails ``touchline journeys validate``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from touchline.errors import ConfigurationError, Problem
from touchline.journeys.model import EVENT_TYPE, JourneyDefinition, WaitStep

MAX_PAYLOAD_PROBLEMS = 10  # per event: enough to fix it, not a wall of text


@dataclass(frozen=True)
class EventSpec:
    type: str
    description: str
    triggers_journeys: bool
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


class TrackingPlan:
    def __init__(self, events: Iterable[EventSpec], source: str = "events.yaml"):
        self.source = source
        self.events: dict[str, EventSpec] = {spec.type: spec for spec in events}
        self._validators = {t: Draft202012Validator(spec.schema) for t, spec in self.events.items()}

    def __contains__(self, event_type: object) -> bool:
        return event_type in self.events

    def suggest(self, event_type: str) -> str | None:
        """The declared type closest to a mistyped one (``customer.signedup``)."""
        close = difflib.get_close_matches(event_type, list(self.events), n=1, cutoff=0.75)
        return close[0] if close else None

    def unknown_message(self, event_type: str) -> str:
        suggestion = self.suggest(event_type)
        hint = f"; did you mean '{suggestion}'?" if suggestion else f"; declare it in {self.source}"
        return f"unknown event type '{event_type}'{hint}"

    def payload_problems(self, event_type: str, payload: Any) -> list[Problem]:
        """Where the payload breaks its type's schema: ``payload.cart.total``: the reason."""
        validator = self._validators.get(event_type)
        if validator is None or validator.is_valid(payload):
            return []  # the common case, decided without collecting errors
        problems = []
        for error in sorted(validator.iter_errors(payload), key=lambda e: list(e.path)):
            where = ".".join(["payload", *(str(part) for part in error.absolute_path)])
            problems.append(Problem(where, f"{error.message} (tracking plan: {event_type})"))
            if len(problems) >= MAX_PAYLOAD_PROBLEMS:
                break
        return problems

    def journey_problems(self, definition: JourneyDefinition) -> list[Problem]:
        """A journey's trigger, exits, goal and waits must name declared types."""
        named: list[tuple[str, str]] = []
        if definition.trigger.event:
            named.append(("trigger.event", definition.trigger.event))
        named += [(f"exit_on[{i}]", t) for i, t in enumerate(definition.exit_on)]
        if definition.goal is not None:
            named.append(("goal.event", definition.goal.event))
        named += [
            (f"steps[{i}].for_event", step.for_event)
            for i, step in enumerate(definition.steps)
            if isinstance(step, WaitStep) and step.for_event
        ]
        problems = [Problem(where, self.unknown_message(t)) for where, t in named if t not in self]
        trigger = definition.trigger.event
        if trigger in self and not self.events[trigger].triggers_journeys:
            problems.append(
                Problem(
                    "trigger.event",
                    f"'{trigger}' may not start journeys (triggers_journeys: false in {self.source})",
                )
            )
        return problems


def parse_plan(text: str, source: str) -> TrackingPlan:
    """The plan from YAML text; ConfigurationError naming each mistake in it."""
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source} is not YAML: {exc}") from exc
    entries = document.get("events") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigurationError(f"{source}: expected a list under 'events:'")
    specs: list[EventSpec] = []
    mistakes: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{source}: events[{index}]"
        if not isinstance(entry, dict):
            mistakes.append(f"{where}: expected a mapping with type, description, payload")
            continue
        event_type = entry.get("type")
        if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
            mistakes.append(f"{where}.type: '{event_type}' is not a dotted lower-case event type")
            continue
        if event_type in seen:
            mistakes.append(f"{where}.type: '{event_type}' is declared twice")
        seen.add(event_type)
        unknown = sorted(set(entry) - {"type", "description", "triggers_journeys", "payload"})
        if unknown:
            mistakes.append(f"{where}: unknown keys {', '.join(unknown)}")
        schema = entry.get("payload", {"type": "object"})
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            mistakes.append(f"{where}.payload: not a JSON Schema: {exc.message}")
            continue
        specs.append(
            EventSpec(
                event_type,
                str(entry.get("description") or ""),
                bool(entry.get("triggers_journeys", True)),
                schema,
            )
        )
    if mistakes:
        raise ConfigurationError("; ".join(mistakes))
    return TrackingPlan(specs, source)


def load_plan(path: Path) -> TrackingPlan:
    """The plan in a file, parsed once per version of the file."""
    path = Path(path)
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise ConfigurationError(
            f"no tracking plan at {path}: declare event types there (docs/tracking-plan.md) "
            "or point TOUCHLINE_TRACKING_PLAN_FILE at it"
        ) from None
    return _load(path.resolve(), stamp)


@lru_cache(maxsize=8)
def _load(path: Path, stamp: int) -> TrackingPlan:
    return parse_plan(path.read_text("utf-8"), path.name)
