"""A journey as a diagram: built once as data (nodes and labelled edges), then rendered as
Mermaid text or as a PNG.

The graph says what the engine will do, in the marketer's terms: the trigger and its
filter, each step with its essentials, every way out of a step (next, yes/no, variants,
event/timeout), and the journey-wide rules (re-entry, holdout, exits, goal) as a note.
It follows the engine's navigation rules: a missing target means the next step, and the
step after the last one is the end of the journey.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from touchline.clock import format_duration
from touchline.journeys.model import (
    EXIT,
    AllCondition,
    AnyCondition,
    AttributeCondition,
    BestTime,
    BranchStep,
    EngagementCondition,
    ExitStep,
    JourneyDefinition,
    NotCondition,
    PayloadCondition,
    SendStep,
    SplitStep,
    WaitStep,
)

NodeKind = Literal["trigger", "send", "wait", "branch", "split", "exit", "end", "note"]

TRIGGER_NODE = "trigger"
EXIT_NODE = "x_exit"  # where a branch, wait or variant targeting 'exit' leads
END_NODE = "x_end"  # after the last step
NOTE_NODE = "rules"
# Step ids become node ids with a prefix: a step called 'end' or 'graph' would otherwise
# be read by Mermaid as a keyword.
STEP_PREFIX = "s_"

OPERATORS = {
    "equals": "=",
    "not_equals": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
}


@dataclass(frozen=True)
class Node:
    """A box: a step, the trigger, a terminal (exit, end) or the journey-wide note."""

    id: str
    kind: NodeKind
    title: str
    lines: tuple[str, ...] = ()
    step_id: str | None = None


@dataclass(frozen=True)
class Edge:
    """A move from one node to another; labelled when there is a choice (yes/no, variant,
    event or timeout)."""

    source: str
    target: str
    label: str | None = None


@dataclass(frozen=True)
class JourneyGraph:
    """The journey's diagram as data; ``to_mermaid`` and ``render_png`` draw it."""

    key: str
    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def to_mermaid(self) -> str:
        """A Mermaid flowchart; every label quoted, with quotes and markup escaped."""
        lines = [f"%% {_comment(self.name)} ({self.key})", "flowchart TD"]
        for node in self.nodes:
            open_, close = MERMAID_SHAPES[node.kind]
            lines.append(f'    {node.id}{open_}"{_mermaid_label(node)}"{close}')
        for edge in self.edges:
            arrow = "-->" if edge.label is None else f'-->|"{mermaid_escape(edge.label)}"|'
            lines.append(f"    {edge.source} {arrow} {edge.target}")
        notes = [n.id for n in self.nodes if n.kind == "note"]
        if notes:
            # The note hangs off the trigger with a dotted line, so it is drawn beside it.
            lines.append(f"    {TRIGGER_NODE} -.- {notes[0]}")
        for kind, style in MERMAID_STYLES.items():
            members = [n.id for n in self.nodes if n.kind == kind]
            if members:
                # Prefixed: 'end' is a Mermaid keyword, so a class cannot be called that.
                lines.append(f"    classDef kind_{kind} {style}")
                lines.append(f"    class {','.join(members)} kind_{kind}")
        return "\n".join(lines) + "\n"

    def layers(self) -> dict[str, int]:
        """Longest-path layering from the trigger (the note is not layered).

        Edges that close a loop (a wait that goes back to an earlier step) are left out, so
        the rest is acyclic; a node nothing leads to starts at layer 0.
        """
        flow = [n.id for n in self.nodes if n.kind != "note"]
        forward = self.forward_edges()
        incoming: dict[str, list[str]] = {n: [] for n in flow}
        for edge in forward:
            incoming[edge.target].append(edge.source)
        layer: dict[str, int] = {}
        for node in _topological(flow, forward):
            layer[node] = max((layer[p] + 1 for p in incoming[node]), default=0)
        return layer

    def forward_edges(self) -> list[Edge]:
        """The edges that do not close a loop (depth-first from the trigger, in step order)."""
        order = [n.id for n in self.nodes if n.kind != "note"]
        outgoing: dict[str, list[Edge]] = {n: [] for n in order}
        for edge in self.edges:
            outgoing[edge.source].append(edge)
        state: dict[str, str] = {}
        back: set[int] = set()

        def visit(node: str) -> None:
            state[node] = "open"
            for edge in outgoing[node]:
                if state.get(edge.target) == "open":
                    back.add(id(edge))
                elif edge.target not in state:
                    visit(edge.target)
            state[node] = "done"

        for node in order:
            if node not in state:
                visit(node)
        return [e for e in self.edges if id(e) not in back]

    def render_png(self, path: Path) -> Path:
        """Draw the graph top-down with matplotlib (headless) and save it as a PNG."""
        return _draw_png(self, Path(path))


MERMAID_SHAPES: dict[NodeKind, tuple[str, str]] = {
    "trigger": ("([", "])"),
    "send": ("[", "]"),
    "wait": ("[/", "/]"),
    "branch": ("{", "}"),
    "split": ("{{", "}}"),
    "exit": ("([", "])"),
    "end": ("((", "))"),
    "note": ("[", "]"),
}
# (fill, stroke) per kind, shared by both renderings so they read alike.
COLORS: dict[NodeKind, tuple[str, str]] = {
    "trigger": ("#dbeafe", "#1d4ed8"),
    "send": ("#dcfce7", "#15803d"),
    "wait": ("#fef9c3", "#a16207"),
    "branch": ("#fae8ff", "#a21caf"),
    "split": ("#ffedd5", "#c2410c"),
    "exit": ("#f1f5f9", "#475569"),
    "end": ("#f1f5f9", "#475569"),
    "note": ("#fffbeb", "#d97706"),
}
MERMAID_STYLES: dict[NodeKind, str] = {
    kind: f"fill:{fill},stroke:{stroke}" + (",stroke-dasharray:4 3" if kind == "note" else "")
    for kind, (fill, stroke) in COLORS.items()
}


def mermaid_escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label: quotes and markup as entity codes.

    ``#`` goes first (it starts the entity codes themselves); ``<`` and ``>`` would be read as
    HTML; a leading backtick would start a Markdown string.
    """
    replacements = (
        ("#", "#35;"),
        ('"', "#quot;"),
        ("<", "#lt;"),
        (">", "#gt;"),
        ("`", "#96;"),
    )
    for raw, entity in replacements:
        text = text.replace(raw, entity)
    return text


def _mermaid_label(node: Node) -> str:
    parts = [f"<b>{mermaid_escape(node.title)}</b>", *(mermaid_escape(x) for x in node.lines)]
    return "<br/>".join(parts)


def _comment(text: str) -> str:
    return " ".join(text.split())  # a Mermaid comment ends at the line's end


def _topological(nodes: list[str], edges: Iterable[Edge]) -> list[str]:
    """Kahn's algorithm, keeping the given order among nodes that are ready together."""
    edges = list(edges)
    indegree = {n: 0 for n in nodes}
    for edge in edges:
        indegree[edge.target] += 1
    ready = [n for n in nodes if indegree[n] == 0]
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for edge in edges:
            if edge.source == node:
                indegree[edge.target] -= 1
                if indegree[edge.target] == 0:
                    ready.append(edge.target)
    return order


# --- building the graph from a definition ---------------------------------------------------


def build_graph(definition: JourneyDefinition) -> JourneyGraph:
    nodes: list[Node] = [_trigger_node(definition)]
    edges: list[Edge] = [Edge(TRIGGER_NODE, step_node_id(definition.first_step_id))]
    for step in definition.steps:
        nodes.append(_step_node(step))
        edges.extend(_step_edges(definition, step))
    targets = {e.target for e in edges}
    if EXIT_NODE in targets:
        nodes.append(Node(EXIT_NODE, "exit", "exit", ("leaves the journey",)))
    if END_NODE in targets:
        nodes.append(Node(END_NODE, "end", "end", ("journey complete",)))
    nodes.append(_note(definition))
    return JourneyGraph(definition.key, definition.name, tuple(nodes), tuple(edges))


def step_node_id(step_id: str) -> str:
    return f"{STEP_PREFIX}{step_id}"


def _target(definition: JourneyDefinition, step_id: str, target: str | None) -> str:
    """The node a move goes to: a named step, 'exit', or (None) the next step or the end."""
    if target == EXIT:
        return EXIT_NODE
    if target is None:
        following = definition.next_step_id(step_id)
        return END_NODE if following is None else step_node_id(following)
    return step_node_id(target)


def _trigger_node(definition: JourneyDefinition) -> Node:
    trigger = definition.trigger
    # A journey started by a launch to a segment has no trigger event.
    lines = [f"on {trigger.event}" if trigger.event else "launch to a segment"]
    if trigger.where is not None:
        lines.append(f"where {describe_condition(trigger.where)}")
    if definition.holdout:
        lines.append(f"holdout {definition.holdout:g}% (sent nothing)")
    return Node(TRIGGER_NODE, "trigger", "trigger", tuple(lines))


def _note(definition: JourneyDefinition) -> Node:
    lines = [
        f"re-entry: {_reentry(definition)}",
        f"holdout: {definition.holdout:g}%" if definition.holdout else "holdout: none",
        f"exits on: {', '.join(definition.exit_on) if definition.exit_on else 'nothing'}",
    ]
    if definition.goal is not None:
        lines.append(
            f"goal: {definition.goal.event} within {format_duration(definition.goal.within)}"
        )
    return Node(NOTE_NODE, "note", "journey rules", tuple(lines))


def _reentry(definition: JourneyDefinition) -> str:
    reentry = definition.reentry
    if reentry.mode == "window" and reentry.window is not None:
        return f"once per {format_duration(reentry.window)}"
    return {"once": "once ever", "every_event": "on every event"}.get(reentry.mode, reentry.mode)


def _step_node(step: Any) -> Node:
    node_id = step_node_id(step.id)
    title = f"{step.id} · {step.type}"
    if isinstance(step, SendStep):
        channel = " → ".join(step.channel) if isinstance(step.channel, list) else step.channel
        when = (
            f"best time within {format_duration(step.send_time.best_within)}"
            if isinstance(step.send_time, BestTime)
            else "now"
        )
        lines = (f"channel: {channel}", f"template: {step.template}", f"send: {when}")
    elif isinstance(step, WaitStep):
        lines = _wait_lines(step)
    elif isinstance(step, BranchStep):
        lines = (f"if {describe_condition(step.if_)}",)
    elif isinstance(step, SplitStep):
        total = sum(v.weight for v in step.variants)
        lines = tuple(
            f"{v.name}: weight {v.weight:g} ({100 * v.weight / total:.0f}%)" for v in step.variants
        )
    elif isinstance(step, ExitStep):
        lines = (step.reason,) if step.reason else ()
    else:
        raise TypeError(f"no diagram for {type(step).__name__}")
    if step.name:
        lines = (step.name, *lines)
    return Node(node_id, step.type, title, lines, step_id=step.id)


def _wait_lines(step: WaitStep) -> tuple[str, ...]:
    if step.duration is not None:
        return (f"for {format_duration(step.duration)}",)
    if step.until is not None:
        start, end = step.until.between
        days = "every day" if len(step.until.days) == 7 else ", ".join(step.until.days)
        return (f"until {days} {start:%H:%M}–{end:%H:%M} local",)
    assert step.timeout is not None
    return (f"for {step.for_event}", f"at most {format_duration(step.timeout)}")


def _step_edges(definition: JourneyDefinition, step: Any) -> list[Edge]:
    source = step_node_id(step.id)
    if isinstance(step, ExitStep):
        return []
    if isinstance(step, BranchStep):
        return [
            Edge(source, _target(definition, step.id, step.then), "yes"),
            Edge(source, _target(definition, step.id, step.else_), "no"),
        ]
    if isinstance(step, SplitStep):
        total = sum(v.weight for v in step.variants)
        return [
            Edge(
                source,
                _target(definition, step.id, v.next),
                f"{v.name} {100 * v.weight / total:.0f}%",
            )
            for v in step.variants
        ]
    if isinstance(step, WaitStep) and step.for_event is not None:
        assert step.timeout is not None
        return [
            Edge(source, _target(definition, step.id, step.on_event), f"{step.for_event} came"),
            Edge(
                source,
                _target(definition, step.id, step.on_timeout),
                f"timeout {format_duration(step.timeout)}",
            ),
        ]
    return [Edge(source, _target(definition, step.id, None))]


def describe_condition(condition: Any) -> str:
    """A condition as one readable line: ``cart.total ≥ 10``, ``cart_email clicked``."""
    if isinstance(condition, EngagementCondition):
        return f"{condition.step} {condition.engaged}"
    if isinstance(condition, AttributeCondition):
        return _comparison(f"attribute {condition.attribute}", condition)
    if isinstance(condition, PayloadCondition):
        return _comparison(condition.payload, condition)
    if isinstance(condition, AllCondition):
        return " and ".join(_nested(c) for c in condition.all)
    if isinstance(condition, AnyCondition):
        return " or ".join(_nested(c) for c in condition.any)
    if isinstance(condition, NotCondition):
        return f"not {_nested(condition.not_)}"
    return str(condition)


def _nested(condition: Any) -> str:
    text = describe_condition(condition)
    return f"({text})" if isinstance(condition, AllCondition | AnyCondition) else text


def _comparison(subject: str, condition: Any) -> str:
    operator, operand = condition.operator, condition.operand
    if operator == "exists":
        return f"{subject} {'exists' if operand else 'is missing'}"
    if operator == "in":
        return f"{subject} in [{', '.join(_value(v) for v in operand)}]"
    return f"{subject} {OPERATORS[operator]} {_value(operand)}"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters (long words are broken, not overflowing)."""
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


# --- the PNG: a layered top-down drawing ------------------------------------------------------

# Sizes in inches: the axes span the whole figure with one data unit per inch, so text
# sizes (points) and box sizes agree whatever the journey's size.
BOX_WIDTH = 2.5
CHARS_PER_LINE = 36
LINE_HEIGHT = 0.165
BOX_PADDING = 0.22
H_GAP = 0.55
V_GAP = 0.8
MARGIN = 0.4
TITLE_SPACE = 0.55
MAX_PIXELS = 8000  # the longer side; huge journeys get a lower resolution, not a huge file
BOX_STYLES: dict[NodeKind, str] = {
    "trigger": "round,pad=0,rounding_size=0.25",
    "send": "square,pad=0",
    "wait": "round,pad=0,rounding_size=0.08",
    "branch": "round,pad=0,rounding_size=0.08",
    "split": "round,pad=0,rounding_size=0.08",
    "exit": "round,pad=0,rounding_size=0.25",
    "end": "round,pad=0,rounding_size=0.25",
    "note": "square,pad=0",
}


@dataclass(frozen=True)
class _Box:
    x: float  # centre
    top: float
    lines: tuple[str, ...]  # wrapped to the box's width
    title_lines: int  # how many of them are the (bold) title

    @property
    def height(self) -> float:
        return BOX_PADDING + LINE_HEIGHT * len(self.lines)

    @property
    def bottom(self) -> float:
        return self.top - self.height

    @property
    def middle(self) -> float:
        return self.top - self.height / 2


def _box(node: Node, x: float, top: float) -> _Box:
    title = wrap(node.title, CHARS_PER_LINE)
    details = [part for line in node.lines for part in wrap(line, CHARS_PER_LINE)]
    return _Box(x, top, (*title, *details), len(title))


def layout(graph: JourneyGraph) -> dict[str, _Box]:
    """Boxes per node: layers top-down, each layer ordered by where its parents stand (one
    barycentre pass keeps a branch's targets under the branch), centred; the note beside
    the top."""
    layer_of = graph.layers()
    rows: list[list[str]] = [[] for _ in range(max(layer_of.values(), default=0) + 1)]
    for node in graph.nodes:  # node order is the journey's step order
        if node.id in layer_of:
            rows[layer_of[node.id]].append(node.id)
    parents: dict[str, list[str]] = {}
    for edge in graph.forward_edges():
        parents.setdefault(edge.target, []).append(edge.source)
    nodes = {n.id: n for n in graph.nodes}
    boxes: dict[str, _Box] = {}
    top = 0.0
    for row in rows:
        for node_id, x in _place_row(row, parents, boxes).items():
            boxes[node_id] = _box(nodes[node_id], x, top)
        top -= max(boxes[n].height for n in row) + V_GAP
    right = max((b.x for b in boxes.values()), default=0.0) + BOX_WIDTH + H_GAP
    for node in graph.nodes:
        if node.kind == "note":
            boxes[node.id] = _box(node, right, 0.0)
    return boxes


def _place_row(
    row: list[str], parents: dict[str, list[str]], boxes: dict[str, _Box]
) -> dict[str, float]:
    """Each node as near the mean x of its parents as the row allows: sorted by that wish,
    pushed apart to a box's width, then the row shifted to miss the wishes least."""
    pitch = BOX_WIDTH + H_GAP
    centred = {n: (i - (len(row) - 1) / 2) * pitch for i, n in enumerate(row)}
    wish = {}
    for node_id in row:
        xs = [boxes[p].x for p in parents.get(node_id, []) if p in boxes]
        wish[node_id] = sum(xs) / len(xs) if xs else centred[node_id]
    ordered = sorted(row, key=lambda n: (wish[n], row.index(n)))
    placed: dict[str, float] = {}
    previous: float | None = None
    for node_id in ordered:
        x = wish[node_id] if previous is None else max(wish[node_id], previous + pitch)
        placed[node_id] = previous = x
    shift = sum(wish[n] - placed[n] for n in row) / len(row)
    return {n: x + shift for n, x in placed.items()}


@dataclass(frozen=True)
class _Route:
    points: tuple[tuple[float, float], ...]  # two points: an arc; more: a polyline
    label_at: tuple[float, float]
    rad: float = 0.0  # curvature of a two-point arc (parallel edges bow apart)


LANE_GAP = 0.3  # between a box and the lane an edge takes around it, and between lanes


def route_edges(graph: JourneyGraph, boxes: dict[str, _Box]) -> list[tuple[Edge, _Route]]:
    """Where each edge runs. Between neighbouring boxes, straight (parallel edges bow apart);
    an edge that would cross a box, or loops back up, takes a lane beside the boxes it
    passes, so arrows never run through a step."""
    forward = {id(e) for e in graph.forward_edges()}
    parallel: dict[tuple[str, str], list[Edge]] = {}
    for edge in graph.edges:
        parallel.setdefault((edge.source, edge.target), []).append(edge)
    lanes = {"left": 0, "right": 0}
    routes = []
    for edge in graph.edges:
        source, target = boxes[edge.source], boxes[edge.target]
        start, end = (source.x, source.bottom), (target.x, target.top)
        others = [b for k, b in boxes.items() if k not in (edge.source, edge.target)]
        if id(edge) in forward and not any(_crosses(start, end, b) for b in others):
            siblings = parallel[(edge.source, edge.target)]
            rad = 0.3 * (siblings.index(edge) - (len(siblings) - 1) / 2)
            routes.append((edge, _Route((start, end), _curve_middle(start, end, rad), rad)))
            continue
        low, high = sorted((source.middle, target.middle))
        between = [b for b in others if b.bottom <= high and b.top >= low]
        side = "right" if id(edge) not in forward or target.x >= source.x else "left"
        lanes[side] += 1
        offset = BOX_WIDTH / 2 + LANE_GAP * lanes[side]
        if side == "right":
            lane = max(b.x for b in [*between, source, target]) + offset
            out = source.x + BOX_WIDTH / 2
        else:
            lane = min(b.x for b in [*between, source, target]) - offset
            out = source.x - BOX_WIDTH / 2
        if id(edge) in forward:  # down the lane, then into the target's top, off-centre
            above = target.top + V_GAP / 3
            entry = target.x + (BOX_WIDTH / 4 if side == "right" else -BOX_WIDTH / 4)
            points = (
                (out, source.middle),
                (lane, source.middle),
                (lane, above),
                (entry, above),
                (entry, target.top),
            )
        else:  # up the lane, into the target's side
            into = target.x + BOX_WIDTH / 2
            points = (
                (out, source.middle),
                (lane, source.middle),
                (lane, target.middle),
                (into, target.middle),
            )
        label_y = source.middle + (-1 if id(edge) in forward else 1) * V_GAP / 2
        routes.append((edge, _Route(points, (lane, label_y))))
    return routes


def _crosses(start: tuple[float, float], end: tuple[float, float], box: _Box) -> bool:
    """Whether the straight segment runs through the box (sampled: boxes are big)."""
    for step in range(1, 40):
        t = step / 40
        x, y = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
        if abs(x - box.x) <= BOX_WIDTH / 2 + 0.05 and box.bottom - 0.05 <= y <= box.top + 0.05:
            return True
    return False


def _draw_png(graph: JourneyGraph, path: Path) -> Path:
    # The object-oriented API with the Agg canvas: no pyplot state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as Polyline

    boxes = layout(graph)
    routes = route_edges(graph, boxes)
    xs = [b.x + d for b in boxes.values() for d in (-BOX_WIDTH / 2, BOX_WIDTH / 2)]
    xs += [x for _, r in routes for x, _ in r.points]
    left, right = min(xs) - MARGIN, max(xs) + MARGIN
    bottom = min(b.bottom for b in boxes.values()) - MARGIN
    top = TITLE_SPACE + MARGIN / 2
    width, height = right - left, top - bottom
    dpi = min(150.0, MAX_PIXELS / max(width, height))
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top)
    axes.axis("off")
    title = f"{graph.name} ({graph.key})"
    axes.text(
        left + MARGIN,
        top - 0.3,
        title,
        fontsize=12,
        fontweight="bold",
        va="center",
        parse_math=False,
    )

    kinds = {n.id: n.kind for n in graph.nodes}
    for node_id, box in boxes.items():
        fill, stroke = COLORS[kinds[node_id]]
        axes.add_patch(
            FancyBboxPatch(
                (box.x - BOX_WIDTH / 2, box.bottom),
                BOX_WIDTH,
                box.height,
                boxstyle=BOX_STYLES[kinds[node_id]],
                facecolor=fill,
                edgecolor=stroke,
                linewidth=1.2,
                linestyle="--" if kinds[node_id] == "note" else "-",
                zorder=2,
            )
        )
        for number, line in enumerate(box.lines):
            y = box.top - BOX_PADDING / 2 - LINE_HEIGHT * (number + 0.5)
            weight = "bold" if number < box.title_lines else "normal"
            axes.text(
                box.x,
                y,
                line,
                ha="center",
                va="center",
                fontsize=8,
                zorder=3,
                fontweight=weight,
                parse_math=False,
            )

    arrow = {"arrowstyle": "-|>", "mutation_scale": 12, "linewidth": 1.1, "color": "#334155"}
    for edge, route in routes:
        if len(route.points) == 2:
            patch = FancyArrowPatch(
                *route.points, connectionstyle=f"arc3,rad={route.rad}", zorder=1, **arrow
            )
        else:
            patch = FancyArrowPatch(path=Polyline(route.points), zorder=1, **arrow)
        axes.add_patch(patch)
        if edge.label:
            axes.text(
                *route.label_at,
                edge.label,
                ha="center",
                va="center",
                fontsize=7,
                color="#0f172a",
                zorder=4,
                parse_math=False,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "#cbd5e1"},
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", facecolor="white")
    return path


def _curve_middle(
    start: tuple[float, float], end: tuple[float, float], rad: float
) -> tuple[float, float]:
    """The middle of matplotlib's ``arc3`` curve (a quadratic Bézier): where its label goes."""
    (x1, y1), (x2, y2) = start, end
    dx, dy = x2 - x1, y2 - y1
    return (x1 + x2) / 2 + rad * dy / 2, (y1 + y2) / 2 - rad * dx / 2
