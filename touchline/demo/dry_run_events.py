"""The dry run's synthetic events: each customer's trigger (or, for a launched journey,
the profile that carries them into the record), with a payload and attributes that pass
the trigger's filter most of the time, then the exits, goals and awaited events that
follow at plausible rates. Deterministic for a seed."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

from touchline.demo.synthetic import build_audience
from touchline.journeys.model import (
    AllCondition,
    AnyCondition,
    AttributeCondition,
    Comparison,
    JourneyDefinition,
    NotCondition,
    PayloadCondition,
    WaitStep,
)

# Shares of the synthetic audience (per customer, drawn from the seed).
PASSES_FILTER = 0.85  # trigger events whose payload/attributes pass the trigger's `where`
EXIT_EVENT_RATE = 0.12  # customers who send each exit or goal event within the run
WAITED_EVENT_RATE = 0.2  # customers who send the event a wait waits for, within its timeout
SOURCE = "dry_run"
_MISSING = object()


# What carries a launched journey's audience (profiles, consents) into the record; no
# journey triggers on it.
PROFILE_EVENT = "customer.imported"


def entry_event(definition: JourneyDefinition) -> str:
    return definition.trigger.event or PROFILE_EVENT


def synthetic_events(
    definition: JourneyDefinition, customers: int, days: int, seed: int, start: datetime
) -> list[dict[str, Any]]:
    """Trigger events (the audience's sign-ups, retyped and spread over the first day) and
    the events that follow, sorted by time. Only events before the horizon."""
    launched = definition.trigger.event is None
    entry = entry_event(definition)
    horizon = start + timedelta(days=days)
    first_day = min(timedelta(days=1), horizon - start).total_seconds()
    audience = build_audience(customers, start, seed, broken=0)
    rng = random.Random(f"dry-run:{seed}:{definition.key}")
    events = []
    for line in audience.signups:
        signup = json.loads(line)
        customer = signup["customer_id"]
        # A launch enrolls everyone at the start; events trickle in over the first day.
        at = start if launched else start + timedelta(seconds=rng.uniform(0, first_day))
        payload = trigger_payload(entry, signup, rng)
        profile = dict(signup.get("profile") or {})
        attributes = dict(profile.get("attributes") or {})
        if definition.trigger.where is not None:
            fill(definition.trigger.where, rng.random() < PASSES_FILTER, rng, payload, attributes)
            _balance_cart(payload)
        # The profile, preferences and consents ride on the trigger event, as on a sign-up.
        events.append(
            signup
            | {
                "id": f"{SOURCE}-{customer}-trigger",
                "type": entry,
                "occurred_at": at.isoformat(),
                "source": SOURCE,
                "payload": payload,
                "profile": profile | {"attributes": attributes},
            }
        )
        events.extend(follow_ups(definition, customer, at, horizon, rng))
    return sorted(events, key=lambda e: e["occurred_at"])


PRODUCTS = [
    ("Trail running shoes", 89.0),
    ("Merino beanie", 24.0),
    ("Rain shell", 149.0),
    ("Insulated bottle", 27.5),
    ("Wool socks", 9.5),
    ("Headlamp", 34.0),
    ("Daypack", 64.0),
]


def trigger_payload(event_type: str, signup: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """What a trigger event of this type plausibly carries: a cart for cart events (the cart
    templates list its items and link to it), an order for orders, else the sign-up's."""
    customer = signup["customer_id"]
    if event_type.startswith("cart."):
        items = [
            {"sku": f"sku-{PRODUCTS.index(p):03d}", "name": p[0], "price": p[1], "quantity": 1}
            for p in rng.sample(PRODUCTS, rng.randint(1, 3))
        ]
        cart = {
            "id": f"cart-{customer}",
            "items": items,
            "total": round(sum(i["price"] for i in items), 2),
            "currency": "USD",
            "url": f"https://shop.touchline.example/cart/{customer}",
        }
        return {"cart": cart}
    if _is_order(event_type):
        return _payload(event_type, rng)
    return dict(signup.get("payload") or {})


def _balance_cart(payload: dict[str, Any]) -> None:
    """After the filter set the cart's total, prices add up to it again."""
    cart = payload.get("cart")
    if not isinstance(cart, dict) or not cart.get("items"):
        return
    total, listed = cart.get("total"), sum(i["price"] for i in cart["items"])
    if isinstance(total, int | float) and total > 0 and listed:
        for item in cart["items"]:
            item["price"] = round(item["price"] * total / listed, 2)


def follow_ups(
    definition: JourneyDefinition,
    customer: str,
    entered: datetime,
    horizon: datetime,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Events of one customer after their trigger: what waits wait for (within the wait's
    timeout, counted from roughly when the customer gets there), exits and the goal."""
    moments: list[tuple[str, datetime]] = []
    ahead = timedelta(0)  # how long the fixed waits before a step take
    for step in definition.steps:
        if not isinstance(step, WaitStep):
            continue
        if step.for_event and step.timeout and rng.random() < WAITED_EVENT_RATE:
            moments.append((step.for_event, entered + ahead + step.timeout * rng.random()))
        ahead += step.duration or step.timeout or timedelta(0)
    later = [*definition.exit_on, *([definition.goal.event] if definition.goal else [])]
    window = (horizon - entered).total_seconds()
    for event_type in dict.fromkeys(later):
        if window > 3600 and rng.random() < EXIT_EVENT_RATE:
            moments.append((event_type, entered + timedelta(seconds=rng.uniform(3600, window))))
    return [
        {
            "id": f"{SOURCE}-{customer}-{number}-{event_type}",
            "type": event_type,
            "customer_id": customer,
            "occurred_at": at.isoformat(),
            "source": SOURCE,
            "payload": _payload(event_type, rng),
        }
        for number, (event_type, at) in enumerate(moments)
        if at < horizon
    ]


def _is_order(event_type: str) -> bool:
    return any(word in event_type for word in ("order", "purchase", "checkout"))


def _payload(event_type: str, rng: random.Random) -> dict[str, Any]:
    # Orders and purchases carry revenue, so conversions can report it.
    if _is_order(event_type):
        return {
            "order_id": f"o{rng.randrange(10**6):06d}",
            "revenue": round(rng.uniform(19, 240), 2),
            "currency": "USD",
        }
    return {}


def fill(
    condition: Any,
    want: bool,
    rng: random.Random,
    payload: dict[str, Any],
    attributes: dict[str, Any],
) -> None:
    """Set payload fields and attributes so that ``condition`` holds (``want``) or not.

    Plausible, not exhaustive: contradictory filters (the same field compared twice) get
    whatever the last comparison set; engagement cannot be part of a trigger filter.
    """
    if isinstance(condition, PayloadCondition):
        _set(payload, condition.payload, _value_for(condition, want, rng))
    elif isinstance(condition, AttributeCondition):
        _set(attributes, condition.attribute, _value_for(condition, want, rng))
    elif isinstance(condition, AllCondition):
        failing = rng.randrange(len(condition.all))  # when unwanted, one part fails
        for index, part in enumerate(condition.all):
            fill(part, want or index != failing, rng, payload, attributes)
    elif isinstance(condition, AnyCondition):
        holding = rng.randrange(len(condition.any))  # when wanted, one part holds
        for index, part in enumerate(condition.any):
            fill(part, want and (index == holding or rng.random() < 0.3), rng, payload, attributes)
    elif isinstance(condition, NotCondition):
        fill(condition.not_, not want, rng, payload, attributes)


def _value_for(comparison: Comparison, want: bool, rng: random.Random) -> Any:
    """A value for which the comparison is ``want`` (``_MISSING``: leave the field out)."""
    operator, operand = comparison.operator, comparison.operand
    if operator == "exists":
        return f"v{rng.randrange(1000)}" if operand == want else _MISSING
    if operator in ("equals", "not_equals"):
        same = want == (operator == "equals")
        return operand if same else _other_than([operand])
    if operator == "in":
        return rng.choice(operand) if want and operand else _other_than(operand)
    scale = max(abs(float(operand)), 10.0)
    above = operator in ("gt", "gte")
    upward = above == want  # the value lies above the operand
    distance = rng.uniform(0.02, 2.0 if upward else 0.9) * scale
    return round(operand + distance if upward else operand - distance, 2)


def _other_than(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers and len(numbers) == len(values):
        return max(numbers) + 1
    if values and all(isinstance(v, bool) for v in values):
        return not values[0] if len(set(values)) == 1 else "neither"
    candidate = "other"
    while candidate in values:
        candidate += "_"
    return candidate


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    if value is _MISSING:
        data.pop(leaf, None)
    else:
        data[leaf] = value
