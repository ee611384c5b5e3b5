"""What a customer would receive from a journey's send step, rendered now, and the decision
that would be taken now (channel, time, every reason) — through the send step's own
functions: the preference center's ``decide`` over the profile it loads, and the message
builder the dispatcher sends. Nothing is recorded and nothing is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channels import Message
from preference_center import CustomerProfile, decide
from preference_center.decision import Decision, DecisionPolicy
from touchline.config import Settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine.messages import build_message, template_context
from touchline.engine.steps.send.decide import decision_profiles, held_out, send_request
from touchline.errors import TemplateError, TouchlineError
from touchline.journeys.model import JourneyDefinition, SendStep
from touchline.journeys.store import find_version
from touchline.record import Customer, Enrollment
from touchline.record.enrollments import ACTIVE

CHANNELS = ("email", "sms", "whatsapp", "x")


class PreviewError(TouchlineError):
    """A preview that cannot be made: an unknown step or customer."""


@dataclass
class ChannelRender:
    channel: str
    address: str | None
    chosen: bool  # the channel the decision picked
    message: Message | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the template error, as the send step would record it
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class StepPreview:
    customer_id: str
    step_id: str
    locale: str | None
    decision: Decision
    channels: list[ChannelRender]
    enrolled: bool  # rendered with the customer's own enrollment (trigger event, segment row)


@dataclass(frozen=True)
class Renderer:
    """What rendering needs from the engine: settings, templates and the decision policy."""

    settings: Settings
    catalog: TemplateCatalog
    policy: DecisionPolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> Renderer:
        return cls(settings, TemplateCatalog(settings.templates_dir),
                   DecisionPolicy.from_settings(settings))  # fmt: skip


def preview(
    db: Database,
    renderer: Renderer,
    journey_key: str,
    now: datetime,
    *,
    step_id: str | None = None,
    customer_id: str | None = None,
    sample: int = 1,
    locale: str | None = None,
) -> tuple[JourneyDefinition, int, list[StepPreview]]:
    """The journey (newest version), its version, and a preview per customer and step."""
    with db.session() as session:
        row = find_version(session, journey_key)
        journey = JourneyDefinition.model_validate(row.definition)
        steps = send_steps(journey, step_id)
        customers = _customers(session, journey_key, customer_id, sample)
        previews = [
            preview_step(session, renderer, journey, row.id, row.version, step, cid, now, locale)  # type: ignore[arg-type]
            for cid in customers
            for step in steps
        ]
    return journey, row.version, previews


def send_steps(journey: JourneyDefinition, step_id: str | None) -> list[SendStep]:
    sends = [s for s in journey.steps if isinstance(s, SendStep)]
    if step_id is None:
        if not sends:
            raise PreviewError(f"{journey.key} has no send step")
        return sends
    chosen = [s for s in sends if s.id == step_id]
    if not chosen:
        names = ", ".join(s.id for s in sends) or "none"
        raise PreviewError(f"{journey.key} has no send step '{step_id}'; its send steps: {names}")
    return chosen


def step_channels(catalog: TemplateCatalog, step: SendStep) -> list[str]:
    """Every channel the step may use: those it names (or all), that its template has."""
    available = catalog.channels_for(step.template)
    if step.candidate_channels:
        named: tuple[str, ...] = step.candidate_channels
    elif isinstance(step.channel, str) and step.channel in CHANNELS:
        named = (step.channel,)
    else:
        named = available
    return [c for c in named if c in available]


def preview_step(
    session: Session,
    renderer: Renderer,
    journey: JourneyDefinition,
    journey_id: int,
    version: int,
    step: SendStep,
    customer_id: str,
    now: datetime,
    locale: str | None,
) -> StepPreview:
    request = send_request(renderer.catalog, journey, step)
    profile = decision_profiles(session, renderer.policy, journey, request, {customer_id}, now).get(
        customer_id
    ) or CustomerProfile(customer_id)
    enrollment = _enrollment(session, journey, journey_id, version, customer_id, now)
    decision = (
        held_out(now) if enrollment.holdout else decide(profile, request, now, renderer.policy)
    )
    locale = locale or profile.locale
    renders = []
    for channel in step_channels(renderer.catalog, step):
        address = decision.address if decision.channel == channel else None
        render = ChannelRender(channel, address or profile.addresses.get(channel),
                               decision.channel == channel)  # fmt: skip
        touch_id = f"preview-{step.id}"
        context = template_context(renderer.settings, journey, step, enrollment, profile,
                                   touch_id, channel, now)  # fmt: skip
        try:
            render.message, render.detail = build_message(
                renderer.catalog, renderer.settings, journey, step, channel,
                render.address or "(no address)", touch_id, context, locale,
                whatsapp_session_until=profile.whatsapp_session_until,
            )  # fmt: skip
        except TemplateError as exc:
            render.error = f"template error: {exc}"
        renders.append(render)
    return StepPreview(customer_id, step.id, locale, decision, renders,
                       enrolled=not enrollment.id.startswith("preview-"))  # fmt: skip


def _customers(
    session: Session, journey_key: str, customer_id: str | None, sample: int
) -> list[str]:
    if customer_id is not None:
        if session.get(Customer, customer_id) is None:
            raise PreviewError(f"no customer '{customer_id}'")
        return [customer_id]
    if sample < 1:
        raise PreviewError("--sample must be at least 1")
    # Customers in the journey first (their own trigger data fills the template), then any.
    enrolled = list(
        session.execute(
            select(Enrollment.customer_id)
            .where(Enrollment.journey_key == journey_key, Enrollment.status == ACTIVE)
            .group_by(Enrollment.customer_id)
            .order_by(func.random())
            .limit(sample)
        ).scalars()
    )
    if len(enrolled) < sample:
        others = select(Customer.id).where(Customer.merged_into.is_(None))
        if enrolled:
            others = others.where(Customer.id.not_in(enrolled))
        enrolled += list(
            session.execute(others.order_by(func.random()).limit(sample - len(enrolled))).scalars()
        )
    if not enrolled:
        raise PreviewError("no customers in the record to preview with; give --customer ID")
    return enrolled


def _enrollment(
    session: Session,
    journey: JourneyDefinition,
    journey_id: int,
    version: int,
    customer_id: str,
    now: datetime,
) -> Enrollment:
    """The customer's own active enrollment (its trigger event, segment row and launch fill
    the template as they will at send time), else one as if they entered now."""
    own = session.execute(
        select(Enrollment)
        .where(
            Enrollment.journey_key == journey.key,
            Enrollment.customer_id == customer_id,
            Enrollment.status == ACTIVE,
        )
        .order_by(Enrollment.entered_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if own is not None:
        session.expunge(own)
        return own
    return Enrollment(
        id=f"preview-{customer_id}"[:36], journey_id=journey_id, journey_key=journey.key,
        journey_version=version, customer_id=customer_id, trigger_at=now, entered_at=now,
        updated_at=now, context={}, current_step=journey.first_step_id,
    )  # fmt: skip
