"""Journeys as diagrams: the graph as data, its Mermaid text, and the PNG."""

import re
from pathlib import Path

import pytest

from touchline.config import PROJECT_ROOT
from touchline.content import TemplateCatalog
from touchline.journeys import load_journey
from touchline.journeys.graph import (
    END_NODE,
    EXIT_NODE,
    TRIGGER_NODE,
    JourneyGraph,
    build_graph,
    layout,
    mermaid_escape,
    route_edges,
    step_node_id,
)
from touchline.journeys.loader import parse_journey
from touchline.journeys.model import JourneyDefinition

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Every kind of step and move: a split with weights, a wait until a window, a wait for an
# event that loops back (with a wait in the loop, so the loader accepts it), an exit step,
# and a filter whose text needs escaping in Mermaid.
BRANCHY = """
key: branchy
name: Branchy "test" journey
trigger:
  event: cart.abandoned
  where:
    all:
      - {payload: cart.total, gte: 10}
      - {attribute: plan, equals: 'gold "vip" <b>#1'}
holdout: 5
reentry: every_event
exit_on: [order.placed]
steps:
  - id: pick
    type: split
    variants:
      - {name: A, weight: 1}
      - {name: B, weight: 3, next: later}
  - id: remind
    type: send
    channel: [email, sms]
    template: cart/reminder
    send_time: {best_within: 24h}
  - id: later
    type: wait
    until: {days: [mon, tue, wed, thu, fri], between: ["09:00", "17:00"]}
  - id: end
    type: wait
    for_event: cart.viewed
    timeout: 2d
    on_event: remind
    on_timeout: bye
  - id: bye
    type: exit
    reason: gave up
"""


def journey(key: str, catalog: TemplateCatalog) -> JourneyDefinition:
    return load_journey(PROJECT_ROOT / "journeys" / f"{key}.yaml", catalog).definition


def edges(graph: JourneyGraph) -> set[tuple[str, str, str | None]]:
    return {(e.source, e.target, e.label) for e in graph.edges}


def test_the_welcome_graph(catalog: TemplateCatalog) -> None:
    definition = journey("welcome", catalog)
    graph = build_graph(definition)

    assert edges(graph) == {
        (TRIGGER_NODE, "s_welcome_email", None),
        ("s_welcome_email", "s_wait_two_days", None),
        ("s_wait_two_days", "s_opened_welcome", None),
        ("s_opened_welcome", EXIT_NODE, "yes"),
        ("s_opened_welcome", "s_nudge_sms", "no"),
        ("s_nudge_sms", END_NODE, None),
    }
    assert graph.node("s_welcome_email").lines == (
        "channel: email",
        "template: welcome/welcome",
        "send: now",
    )
    assert graph.node("s_wait_two_days").lines == ("for 2d",)
    assert graph.node("s_opened_welcome").lines == ("if welcome_email opened",)
    assert graph.node(TRIGGER_NODE).lines == ("on customer.signed_up",)

    mermaid = graph.to_mermaid()
    assert mermaid.splitlines()[1] == "flowchart TD"
    for step in definition.steps:
        assert re.search(rf'^    {step_node_id(step.id)}\S*"<b>{step.id} · ', mermaid, re.M)
    assert '    s_opened_welcome -->|"yes"| x_exit\n' in mermaid
    assert '    s_opened_welcome -->|"no"| s_nudge_sms\n' in mermaid
    assert "    s_welcome_email --> s_wait_two_days\n" in mermaid
    assert "    s_nudge_sms --> x_end\n" in mermaid
    # Exit events and goal as a note beside the trigger.
    assert "exits on: customer.first_purchase" in mermaid
    assert "goal: customer.first_purchase within 2w" in mermaid
    assert "    trigger -.- rules\n" in mermaid


def test_the_cart_abandonment_graph(catalog: TemplateCatalog) -> None:
    definition = journey("cart_abandonment", catalog)
    graph = build_graph(definition)

    assert edges(graph) == {
        (TRIGGER_NODE, "s_grace_hour", None),
        ("s_grace_hour", EXIT_NODE, "order.placed came"),
        ("s_grace_hour", "s_cart_email", "timeout 1h"),
        ("s_cart_email", "s_wait_a_day", None),
        ("s_wait_a_day", "s_clicked_email", None),
        ("s_clicked_email", EXIT_NODE, "yes"),
        ("s_clicked_email", "s_cart_sms", "no"),
        ("s_cart_sms", END_NODE, None),
    }
    trigger = graph.node(TRIGGER_NODE).lines
    assert trigger == ("on cart.abandoned", "where cart.total ≥ 10", "holdout 10% (sent nothing)")
    assert graph.node("s_grace_hour").lines == ("for order.placed", "at most 1h")
    assert graph.node("s_clicked_email").lines == ("if cart_email clicked",)

    mermaid = graph.to_mermaid()
    for step in definition.steps:
        assert (
            f"{step_node_id(step.id)}" in mermaid and f"<b>{step.id} · {step.type}</b>" in mermaid
        )
    assert '    s_grace_hour -->|"order.placed came"| x_exit\n' in mermaid
    assert '    s_grace_hour -->|"timeout 1h"| s_cart_email\n' in mermaid
    assert "re-entry: once per 3d<br/>holdout: 10%<br/>exits on: order.placed" in mermaid
    assert "goal: order.placed within 1w" in mermaid


def test_splits_windows_loops_and_exit_steps(catalog: TemplateCatalog) -> None:
    graph = build_graph(parse_journey(BRANCHY, "branchy.yaml", catalog))

    assert edges(graph) == {
        (TRIGGER_NODE, "s_pick", None),
        ("s_pick", "s_remind", "A 25%"),
        ("s_pick", "s_later", "B 75%"),
        ("s_remind", "s_later", None),
        ("s_later", "s_end", None),
        ("s_end", "s_remind", "cart.viewed came"),
        ("s_end", "s_bye", "timeout 2d"),
    }
    assert graph.node("s_pick").lines == ("A: weight 1 (25%)", "B: weight 3 (75%)")
    assert graph.node("s_remind").lines == (
        "channel: email → sms",
        "template: cart/reminder",
        "send: best time within 1d",
    )
    assert graph.node("s_later").lines == ("until mon, tue, wed, thu, fri 09:00–17:00 local",)
    assert graph.node("s_bye").lines == ("gave up",)
    assert EXIT_NODE not in {n.id for n in graph.nodes}  # nothing leads to 'exit'

    # The loop back to 'remind' is left out of the layering, which then follows the steps.
    assert ("s_end", "s_remind") not in {(e.source, e.target) for e in graph.forward_edges()}
    assert graph.layers() == {
        TRIGGER_NODE: 0,
        "s_pick": 1,
        "s_remind": 2,
        "s_later": 3,
        "s_end": 4,
        "s_bye": 5,
    }
    # A step called 'end' is a node with a prefixed id: 'end' is a Mermaid keyword.
    assert "\n    s_end[/" in graph.to_mermaid()


def test_mermaid_labels_escape_quotes_and_markup(catalog: TemplateCatalog) -> None:
    mermaid = build_graph(parse_journey(BRANCHY, "branchy.yaml", catalog)).to_mermaid()

    trigger = next(line for line in mermaid.splitlines() if line.startswith("    trigger("))
    assert "attribute plan = #quot;gold #quot;vip#quot; #lt;b#gt;#35;1#quot;" in trigger
    # The only raw quotes are the label's own.
    label = trigger[trigger.index("(") : trigger.rindex(")") + 1]
    assert label.count('"') == 2 and label.startswith('(["') and label.endswith('"])')
    assert mermaid_escape('say "hi" <br> #3 `x`') == (
        "say #quot;hi#quot; #lt;br#gt; #35;3 #96;x#96;"
    )


def test_a_journey_started_by_a_launch(catalog: TemplateCatalog) -> None:
    text = """
key: launched
name: Launched
trigger: segment
steps:
  - {id: pause, type: wait, duration: 1d}
"""
    graph = build_graph(parse_journey(text, "launched.yaml", catalog))
    assert graph.node(TRIGGER_NODE).lines == ("launch to a segment",)
    assert edges(graph) == {(TRIGGER_NODE, "s_pause", None), ("s_pause", END_NODE, None)}


def test_boxes_do_not_overlap_and_arrows_go_around_them(catalog: TemplateCatalog) -> None:
    graph = build_graph(journey("cart_abandonment", catalog))
    boxes = layout(graph)
    placed = list(boxes.items())
    for index, (a, box) in enumerate(placed):
        for b, other in placed[index + 1 :]:
            apart_x = abs(box.x - other.x) >= 2.5
            apart_y = box.bottom >= other.top or other.bottom >= box.top
            assert apart_x or apart_y, (a, b)
    routes = dict((id(e), r) for e, r in route_edges(graph, boxes))
    long_edge = next(e for e in graph.edges if e.label == "order.placed came")
    # grace_hour -> exit would cut through three steps: it takes a lane beside them.
    assert len(routes[id(long_edge)].points) > 2


@pytest.mark.parametrize("key", ["welcome", "cart_abandonment"])
def test_the_png_is_written(key: str, catalog: TemplateCatalog, tmp_path: Path) -> None:
    import matplotlib.image

    path = build_graph(journey(key, catalog)).render_png(tmp_path / "out" / f"{key}.png")

    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    height, width, _channels = matplotlib.image.imread(path).shape
    # Five to seven layers of boxes, two columns and the note: about 9 by 10 inches at 150 dpi.
    assert 800 < height < 4000 and 600 < width < 3000
