"""The journey language: what a marketer may write in a journey YAML file.

A journey is data. The engine interprets it; nothing here executes anything. Every field
is validated so that a mistake is reported when the file is loaded, naming the field,
not discovered when a customer reaches the step.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from touchline.clock import format_duration, parse_duration

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ChannelName = Literal["email", "sms", "whatsapp", "x"]
KNOWN_CHANNELS: tuple[str, ...] = get_args(ChannelName)
EXIT = "exit"  # a branch target that ends the enrollment
RESERVED_CONTEXT = frozenset(
    {
        "customer", "event", "segment", "launch", "enrollment", "journey", "step", "company",
        "links", "locale", "now",
    }
)  # fmt: skip
# What templates of a launched journey cannot use, and the other way round: a launch has no
# triggering event; an event has no segment row.
EVENT_ONLY_CONTEXT = frozenset({"event"})
SEGMENT_ONLY_CONTEXT = frozenset({"segment", "launch"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _event_type(value: str) -> str:
    if not EVENT_TYPE.match(value):
        raise ValueError(
            f"'{value}' is not an event type; use dotted lower-case names like customer.signed_up"
        )
    return value


Duration = Annotated[timedelta, Field(description="90s, 30m, 36h, 2d, 1w")]


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a duration needs a unit: write 2d, 36h or 30m, not a bare number")
    if not isinstance(value, str):
        raise ValueError("a duration is text like 2d, 36h or 30m")
    delta = parse_duration(value)
    if delta <= timedelta(0):
        raise ValueError("a duration must be longer than zero")
    return delta


# --- trigger, re-entry, goal -------------------------------------------------------------


class Trigger(_Strict):
    """What starts the journey, and optionally a filter on it or on the customer.

    - an event: ``{event: cart.abandoned, where: {payload: cart.total, gte: 20}}``;
    - a launch to a segment (``touchline launch``): ``segment`` or
      ``{segment: true, where: {attribute: country, eq: FR}}``.
    """

    event: str | None = None
    segment: bool = False
    where: Condition | None = None

    @field_validator("event")
    @classmethod
    def _check_event(cls, value: str | None) -> str | None:
        return None if value is None else _event_type(value)

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: Any) -> Any:
        if value == "segment":
            return {"segment": True}
        if isinstance(value, str):
            return {"event": value}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Trigger:
        if (self.event is None) == (not self.segment):
            raise ValueError("a trigger is either an event (event: TYPE) or a launch (segment)")
        return self

    def describe(self) -> str:
        return f"event {self.event}" if self.event else "launch to a segment"


class Reentry(_Strict):
    """Who may enter again: ``once`` ever, once per ``window``, or on ``every`` event."""

    mode: Literal["once", "window", "every_event"] = "once"
    window: timedelta | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: Any) -> Any:
        # `reentry: once` | `reentry: every_event` | `reentry: {window: 30d}`
        if isinstance(value, str):
            return {"mode": value}
        if isinstance(value, dict) and "window" in value and "mode" not in value:
            return {"mode": "window", "window": value["window"]}
        return value

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        return None if value is None else _duration(value)

    @model_validator(mode="after")
    def _window_needs_mode(self) -> Reentry:
        if self.mode == "window" and self.window is None:
            raise ValueError("re-entry by window needs a window, e.g. {window: 30d}")
        if self.mode != "window" and self.window is not None:
            raise ValueError(f"re-entry '{self.mode}' takes no window")
        return self


class Goal(_Strict):
    event: str
    within: timedelta

    _check_event = field_validator("event")(_event_type)
    _check_within = field_validator("within", mode="before")(_duration)


# --- conditions (for branch steps) ----------------------------------------------------------

Engagement = Literal["delivered", "opened", "clicked", "replied"]


class EngagementCondition(_Strict):
    """True when the touch of an earlier ``send`` step reached this level of engagement.

    Levels include the ones above them: a click proves an open even when the open pixel
    was blocked, so ``engaged: opened`` is true for a clicked email.
    """

    step: str
    engaged: Engagement


OPERATORS = (
    "equals", "not_equals", "in_", "exists", "gt", "gte", "lt", "lte", "contains_any",
)  # fmt: skip


class Comparison(_Strict):
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    exists: bool | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    # Text that contains any of these words or phrases, case and accents of case ignored
    # ("refund" matches "REFUND please"); a list that has any of them as an element.
    contains_any: list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_operator(self) -> Comparison:
        used = [name for name in OPERATORS if name in self.model_fields_set]
        if len(used) != 1:
            names = ", ".join(name.rstrip("_") for name in OPERATORS)
            raise ValueError(f"give exactly one of {names}")
        return self

    @property
    def operator(self) -> str:
        (name,) = [n for n in OPERATORS if n in self.model_fields_set]
        return name.rstrip("_")

    @property
    def operand(self) -> Any:
        return getattr(self, "in_" if self.operator == "in" else self.operator)


class AttributeCondition(Comparison):
    """Compares a customer attribute (dotted path into the profile's attributes)."""

    attribute: str


class PayloadCondition(Comparison):
    """Compares a field of the event that started the enrollment (dotted path)."""

    payload: str


class AllCondition(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotCondition(_Strict):
    not_: Condition = Field(alias="not")


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    if not isinstance(value, dict):
        return None
    for key in ("engaged", "attribute", "payload", "all", "any", "not"):
        if key in value:
            return key
    return None


Condition = Annotated[
    Annotated[EngagementCondition, Tag("engaged")]
    | Annotated[AttributeCondition, Tag("attribute")]
    | Annotated[PayloadCondition, Tag("payload")]
    | Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")],
    Discriminator(
        _condition_kind,
        custom_error_type="unknown_condition",
        custom_error_message="a condition is one of: {engaged, step}, {attribute, <op>}, "
        "{payload, <op>}, {all: [...]}, {any: [...]}, {not: ...}",
    ),
]
AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()


# --- steps ----------------------------------------------------------------------------------


class _Step(_Strict):
    id: str
    name: str | None = None

    @field_validator("id")
    @classmethod
    def _step_id(cls, value: str) -> str:
        if value == EXIT or not STEP_ID.match(value):
            raise ValueError(
                f"'{value}' is not a step id; use lower-case letters, digits and _ "
                "(starting with a letter; 'exit' is reserved)"
            )
        return value


ChannelPolicy = Literal["preferred", "best"] | list[str]
Target = str  # a step id, or "exit"


class BestTime(_Strict):
    """Send at the hour this customer is likeliest to engage, within ``within`` from now."""

    best_within: timedelta

    _check_window = field_validator("best_within", mode="before")(_duration)


class SendStep(_Step):
    """Send a message.

    ``channel``: one channel; a list tried in order (fallback); ``preferred`` (the customer's
    stated order); or ``best`` (the channel this customer engages with most for this kind of
    message, when there is enough data, else their stated order).
    ``send_time``: ``now`` (default) or ``{best_within: 24h}``.
    ``on_error``: when the message cannot be rendered (a template error), ``exit`` (default)
    ends the enrollment with the error as its reason — the customer never got this message,
    so the steps after it (a follow-up, a reminder) would not make sense; ``continue``
    records the failure and moves on to the next step.
    """

    type: Literal["send"]
    channel: ChannelPolicy
    template: str = Field(min_length=1)
    send_time: Literal["now"] | BestTime = "now"
    on_error: Literal["exit", "continue"] = "exit"

    @field_validator("channel", mode="before")
    @classmethod
    def _channel(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("preferred", "best"):
            value = [value]
        if isinstance(value, list):
            if not value:
                raise ValueError("list at least one channel")
            for name in value:
                if name not in KNOWN_CHANNELS:
                    raise ValueError(
                        f"unknown channel '{name}'; known: {', '.join(KNOWN_CHANNELS)}"
                        " (or 'preferred', or 'best')"
                    )
            if len(set(value)) != len(value):
                raise ValueError("a channel is listed twice")
        return value

    @property
    def candidate_channels(self) -> tuple[str, ...] | None:
        """The explicit channels in order, or None when the customer's order decides."""
        return tuple(self.channel) if isinstance(self.channel, list) else None

    @property
    def policy(self) -> str:
        return self.channel if isinstance(self.channel, str) else "list"


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class LocalWindow(_Strict):
    """A weekly window in the customer's own time zone: ``{days: [mon, tue, wed, thu, fri],
    between: ["09:00", "17:00"]}``."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: list(DAYS)
    )
    between: tuple[time, time]

    @model_validator(mode="after")
    def _sane(self) -> LocalWindow:
        if not self.days:
            raise ValueError("list at least one day")
        start, end = self.between
        if start >= end:
            raise ValueError("the window must end after it starts (within one day)")
        return self


class WaitStep(_Step):
    """Wait for a ``duration``; ``until`` a local-time window; or ``for_event`` with a
    ``timeout``, going on to ``on_event`` or ``on_timeout`` (default: the next step)."""

    type: Literal["wait"]
    duration: timedelta | None = None
    until: LocalWindow | None = None
    for_event: str | None = None
    timeout: timedelta | None = None
    on_event: Target | None = None
    on_timeout: Target | None = None

    @field_validator("duration", "timeout", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return None if value is None else _duration(value)

    @field_validator("for_event")
    @classmethod
    def _event(cls, value: str | None) -> str | None:
        return None if value is None else _event_type(value)

    @model_validator(mode="after")
    def _one_kind(self) -> WaitStep:
        kinds = [k for k in ("duration", "until", "for_event") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a wait needs exactly one of duration, until or for_event")
        if self.for_event is None and (self.timeout or self.on_event or self.on_timeout):
            raise ValueError("timeout, on_event and on_timeout belong to a wait for_event")
        if self.for_event is not None and self.timeout is None:
            raise ValueError("a wait for_event needs a timeout (how long to wait at most)")
        return self

    @property
    def kind(self) -> str:
        return "duration" if self.duration else "until" if self.until else "event"


class BranchStep(_Step):
    """Go to ``then`` when the condition holds, else to ``else`` (default: the next step).
    A target is a step id or ``exit``."""

    type: Literal["branch"]
    if_: Condition = Field(alias="if")
    then: Target | None = None
    else_: Target | None = Field(default=None, alias="else")

    @model_validator(mode="after")
    def _has_target(self) -> BranchStep:
        if self.then is None and self.else_ is None:
            raise ValueError("a branch needs 'then' or 'else' (or both)")
        return self


class Variant(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    weight: float = Field(gt=0)
    next: Target | None = None  # default: the step after the split


class SplitStep(_Step):
    """Assign each enrollment to one variant, in proportion to the weights, the same way
    every time for the same customer (A/B/n tests)."""

    type: Literal["split"]
    variants: list[Variant] = Field(min_length=2, max_length=20)

    @field_validator("variants")
    @classmethod
    def _unique(cls, value: list[Variant]) -> list[Variant]:
        names = [v.name for v in value]
        if len(set(names)) != len(names):
            raise ValueError("variant names must differ")
        return value


class ExitStep(_Step):
    type: Literal["exit"]
    reason: str | None = None


Step = Annotated[
    SendStep | WaitStep | BranchStep | SplitStep | ExitStep, Field(discriminator="type")
]


# --- the journey ------------------------------------------------------------------------------


class JourneyDefinition(_Strict):
    key: str
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    purpose: Literal["marketing", "transactional"] = "marketing"
    # The subscription group (settings.topics) its messages belong to: a customer who left
    # the topic gets none of them, and channel effectiveness is learned per topic.
    topic: str | None = None
    trigger: Trigger
    reentry: Reentry = Reentry()
    # Share of enrollments kept as a control group: they go through the journey's time
    # but are sent nothing, so the journey's effect can be measured against them.
    holdout: float = Field(default=0, ge=0, le=90, description="percent")
    exit_on: list[str] = Field(default_factory=list)
    goal: Goal | None = None
    # Values every template of the journey sees (an offer, a link), so that the email and
    # the SMS quote the same code and price.
    context: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)
    # Attributes this journey's templates may read beyond the project's catalogue
    # (attributes.yaml): `{customer: [loyalty_tier], segment: [store]}` (docs/templates.md).
    attributes: dict[Literal["customer", "segment"], list[str]] = Field(default_factory=dict)

    @field_validator("context")
    @classmethod
    def _context(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(set(value) & RESERVED_CONTEXT)
        if taken:
            raise ValueError(
                f"{', '.join(taken)} cannot be set here: Touchline provides them to templates"
            )
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        from touchline.config import get_settings

        return get_settings().check_topic(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not STEP_ID.match(value):
            raise ValueError(
                f"'{value}' is not a journey key; use lower-case letters, digits and _"
            )
        return value

    @field_validator("exit_on")
    @classmethod
    def _exit_events(cls, value: list[str]) -> list[str]:
        return [_event_type(v) for v in value]

    # --- navigation (used by the engine) ---

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def next_step_id(self, step_id: str) -> str | None:
        ids = [s.id for s in self.steps]
        index = ids.index(step_id)
        return ids[index + 1] if index + 1 < len(ids) else None

    @property
    def first_step_id(self) -> str:
        return self.steps[0].id

    def to_record(self) -> dict[str, Any]:
        """The JSON stored with a published version (durations as text, aliases kept)."""
        # exclude_unset, not exclude_none: ``equals: null`` is a condition worth keeping.
        return _as_text(self.model_dump(mode="python", by_alias=True, exclude_unset=True))


def _as_text(value: Any) -> Any:
    """Durations and times as a marketer writes them, so the stored JSON reads like the YAML."""
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_text(v) for v in value]
    return value


Trigger.model_rebuild()
