"""Load journey YAML files, reporting every problem with file, line and field.

Validation happens in three layers: YAML syntax (and duplicate keys, which PyYAML would
silently overwrite), the journey language's schema (``model.py``), then the checks that
need the whole journey or the outside world: step references, loops that never wait, and
templates that exist and compile for the channels a step may use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from touchline.content.catalog import TemplateCatalog
from touchline.errors import JourneyValidationError, Problem
from touchline.journeys.model import (
    EVENT_ONLY_CONTEXT,
    EXIT,
    RESERVED_CONTEXT,
    SEGMENT_ONLY_CONTEXT,
    AllCondition,
    AnyCondition,
    BranchStep,
    EngagementCondition,
    JourneyDefinition,
    NotCondition,
    PayloadCondition,
    SendStep,
    SplitStep,
    WaitStep,
)

Path_ = tuple[str | int, ...]
C = TypeVar("C")


@dataclass(frozen=True)
class LoadedJourney:
    definition: JourneyDefinition
    source: Path


def load_journey(path: Path | str, catalog: TemplateCatalog) -> LoadedJourney:
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JourneyValidationError([Problem("", f"cannot read: {exc.strerror}", source)]) from exc
    return LoadedJourney(parse_journey(text, source, catalog), path)


def load_journeys(paths: Iterable[Path | str], catalog: TemplateCatalog) -> list[LoadedJourney]:
    """Load several files; report the problems of all of them at once."""
    loaded, problems = [], []
    for path in paths:
        try:
            loaded.append(load_journey(path, catalog))
        except JourneyValidationError as exc:
            problems.extend(exc.problems)
    keys: dict[str, Path] = {}
    for journey in loaded:
        other = keys.setdefault(journey.definition.key, journey.source)
        if other != journey.source:
            problems.append(
                Problem(
                    "key",
                    f"'{journey.definition.key}' is also the key of {other}",
                    str(journey.source),
                )
            )
    if problems:
        raise JourneyValidationError(problems)
    return loaded


def journey_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def parse_journey(text: str, source: str, catalog: TemplateCatalog) -> JourneyDefinition:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise JourneyValidationError(
            [Problem("", f"not valid YAML: {exc.problem}", source, line)]
        ) from exc
    if node is None:
        raise JourneyValidationError([Problem("", "the file is empty", source, 1)])

    lines: dict[Path_, int] = {}
    problems: list[Problem] = []
    _index_lines(node, (), lines, problems, source)
    if problems:
        raise JourneyValidationError(problems)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise JourneyValidationError(
            [Problem("", "a journey is a mapping with key, name, trigger and steps", source, 1)]
        )

    try:
        definition = JourneyDefinition.model_validate(data)
    except pydantic.ValidationError as exc:
        raise JourneyValidationError(
            [_problem_from_pydantic(err, data, lines, source) for err in exc.errors()]
        ) from exc

    problems = [
        Problem(p.field, p.message, source, _line_for(lines, _parse_field(p.field)))
        for p in check_journey(definition, catalog)
    ]
    if problems:
        raise JourneyValidationError(problems)
    return definition


def check_journey(definition: JourneyDefinition, catalog: TemplateCatalog) -> list[Problem]:
    """Checks that need the whole journey (references, loops) or the template folder."""
    problems: list[Problem] = []
    ids = [step.id for step in definition.steps]
    seen: set[str] = set()
    for index, step_id in enumerate(ids):
        if step_id in seen:
            problems.append(Problem(f"steps[{index}].id", f"step id '{step_id}' is used twice"))
        seen.add(step_id)
    send_steps = {s.id for s in definition.steps if isinstance(s, SendStep)}

    if definition.trigger.event in definition.exit_on:
        problems.append(
            Problem(
                "exit_on",
                f"'{definition.trigger.event}' is the trigger: every entry would exit at once",
            )
        )

    if definition.trigger.where is not None and _engagement_conditions(definition.trigger.where):
        problems.append(
            Problem("trigger.where", "a trigger cannot ask about engagement: no step has run yet")
        )
    if (
        definition.trigger.segment
        and definition.trigger.where is not None
        and _conditions(definition.trigger.where, PayloadCondition)
    ):
        problems.append(
            Problem(
                "trigger.where",
                "a launch has no event payload to filter on; filter on customer attributes",
            )
        )

    def target(field: str, value: str | None) -> None:
        if value is not None and value != EXIT and value not in seen:
            problems.append(
                Problem(field, f"no step '{value}' (steps: {', '.join(ids)}; or 'exit')")
            )

    for index, step in enumerate(definition.steps):
        if isinstance(step, BranchStep):
            target(f"steps[{index}].then", step.then)
            target(f"steps[{index}].else", step.else_)
            for condition in _engagement_conditions(step.if_):
                if condition.step not in send_steps:
                    problems.append(
                        Problem(
                            f"steps[{index}].if.step",
                            f"'{condition.step}' is not a send step"
                            + (
                                f" (send steps: {', '.join(sorted(send_steps))})"
                                if send_steps
                                else ""
                            ),
                        )
                    )
        elif isinstance(step, WaitStep):
            target(f"steps[{index}].on_event", step.on_event)
            target(f"steps[{index}].on_timeout", step.on_timeout)
        elif isinstance(step, SplitStep):
            for number, variant in enumerate(step.variants):
                target(f"steps[{index}].variants[{number}].next", variant.next)
        elif isinstance(step, SendStep):
            unavailable = EVENT_ONLY_CONTEXT if definition.trigger.segment else SEGMENT_ONLY_CONTEXT
            known = (RESERVED_CONTEXT - unavailable) | set(definition.context)
            for problem in catalog.check(step.template, step.candidate_channels, frozenset(known)):
                problems.append(Problem(f"steps[{index}].template", problem.message))

    if not problems:
        problems.extend(_loops_without_wait(definition))
    return problems


def _engagement_conditions(condition: Any) -> list[EngagementCondition]:
    return _conditions(condition, EngagementCondition)


def _conditions(condition: Any, kind: type[C]) -> list[C]:
    """Every condition of this kind inside a (possibly nested) condition."""
    if isinstance(condition, kind):
        return [condition]
    if isinstance(condition, AllCondition):
        return [c for sub in condition.all for c in _conditions(sub, kind)]
    if isinstance(condition, AnyCondition):
        return [c for sub in condition.any for c in _conditions(sub, kind)]
    if isinstance(condition, NotCondition):
        return _conditions(condition.not_, kind)
    return []


def _loops_without_wait(definition: JourneyDefinition) -> list[Problem]:
    """A cycle of steps with no wait in it would run forever within one advance."""
    ids = [s.id for s in definition.steps]
    non_wait = {s.id for s in definition.steps if not isinstance(s, WaitStep)}
    edges: dict[str, list[str]] = {}
    for step in definition.steps:
        if step.id in non_wait:
            edges[step.id] = [t for t in successors(definition, step.id) if t in non_wait]

    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in edges[node]:
            if state.get(target) == "open":
                return [*trail, node, target]
            if target not in state and (found := visit(target, [*trail, node])):
                return found
        state[node] = "done"
        return None

    for step_id in edges:
        if step_id not in state and (cycle := visit(step_id, [])):
            return [
                Problem(
                    f"steps[{ids.index(cycle[-1])}]",
                    f"the steps {' -> '.join(cycle)} loop without a wait",
                )
            ]
    return []


def successors(definition: JourneyDefinition, step_id: str) -> list[str]:
    """Step ids reachable in one move from a step ('exit' and the journey's end excluded)."""
    step = definition.step(step_id)
    following = definition.next_step_id(step_id)
    if isinstance(step, BranchStep):
        targets = [following if t is None else t for t in (step.then, step.else_)]
    elif isinstance(step, WaitStep) and step.for_event:
        targets = [following if t is None else t for t in (step.on_event, step.on_timeout)]
    elif isinstance(step, SplitStep):
        targets = [following if v.next is None else v.next for v in step.variants]
    elif step.type == "exit":
        targets = []
    else:
        targets = [following]
    return [t for t in dict.fromkeys(targets) if t is not None and t != EXIT]


# --- mapping errors to lines ----------------------------------------------------------------


def _index_lines(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[Problem], source: str
) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        keys_seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in keys_seen:
                field = _format_field((*path, key))
                problems.append(
                    Problem(field, f"appears twice (first on line {keys_seen[key]})", source, line)
                )
            keys_seen[key] = line
            lines[(*path, key)] = line
            _index_lines(value_node, (*path, key), lines, problems, source)
            lines[(*path, key)] = line  # the key's line, not the value's
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines, problems, source)


def _problem_from_pydantic(error: Any, data: Any, lines: dict[Path_, int], source: str) -> Problem:
    # pydantic's location includes union tags ("send", "function-after[…]") that are not
    # in the file; keep only the components that walk the data.
    path: list[str | int] = []
    current = data
    for part in error["loc"]:
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and part < len(current)
        ):
            current = current[part]
            path.append(part)
        elif (
            isinstance(current, dict)
            and isinstance(part, str)
            and part.endswith("_")
            and part[:-1] in current
        ):
            current = current[part[:-1]]
            path.append(part[:-1])
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if error["type"] == "missing":
        missing = error["loc"][-1]
        message = f"'{missing}' is required"
    elif error["type"] == "extra_forbidden":
        message = "is not a field here"
    elif error["type"] == "union_tag_invalid":
        message = f"unknown step type; use one of {error['ctx']['expected_tags']}"
    elif error["type"] == "union_tag_not_found":
        message = "'type' is required (send, wait, branch, split or exit)"
    if error["type"] == "missing" and not (path and path[-1] == error["loc"][-1]):
        field = _format_field((*path, error["loc"][-1]))
    elif error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        field = _format_field((*path, "type"))
        path.append("type")
    else:
        field = _format_field(tuple(path))
    return Problem(field, message, source, _line_for(lines, tuple(path)))


def _line_for(lines: dict[Path_, int], path: Path_) -> int | None:
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        path = path[:-1]


def _format_field(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parse_field(field: str) -> Path_:
    """Inverse of _format_field for the fields our own checks name (``steps[2].then``)."""
    path: list[str | int] = []
    for chunk in field.replace("]", "").split("."):
        for i, piece in enumerate(chunk.split("[")):
            if piece:
                path.append(int(piece) if i > 0 else piece)
    return tuple(path)
