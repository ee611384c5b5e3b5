"""The operator API for the preference center: preferences, the consent ledger, identities
and merges of one customer, under ``/customers/{customer_id}/…``.

Every route needs the operator's bearer token (``TOUCHLINE_API_TOKEN``); customers reach
their own settings through signed links instead (touchline.api.preference_page). Each
request is one transaction: an error anywhere rolls back all it wrote, and the error
handlers (touchline.api.errors) turn it into a 4xx.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from preference_center.consent import (
    PENDING,
    PURPOSES,
    ConsentMap,
    TopicMap,
    consent_allows,
    topic_allows,
)
from preference_center.ledger import (
    CONFIRMATION_REQUESTED,
    customer_or_error,
    history,
    record_consent,
)
from preference_center.linking import identities, link_identity, unlink_identity
from preference_center.merge import merge_customers
from preference_center.profile import load_profiles
from preference_center.schemas import ConsentIn, PreferencesIn
from preference_center.stated import update_preferences
from touchline.api.auth import require_operator
from touchline.api.deps import ApiState, state
from touchline.api.openapi import OPERATOR_ERRORS, error_responses
from touchline.config import Settings
from touchline.intake import ingest
from touchline.journeys.model import KNOWN_CHANNELS
from touchline.record import Consent, CustomerMerge, Identity, Preference

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/customers/{customer_id}",
    dependencies=[Depends(require_operator)],
    responses=OPERATOR_ERRORS,
)
App = Annotated[ApiState, Depends(state)]

# ---------------------------------------------------------------------------------------
# What the API answers.


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class QuietHoursOut(_Out):
    start: time
    end: time


class StatedOut(_Out):
    """What the customer stated; empty values fall back to the company's defaults."""

    channel_order: list[str] = []
    timezone: str | None = None
    locale: str | None = None
    quiet_hours: QuietHoursOut | None = None
    max_per_week: int | None = None
    updated_at: datetime | None = None


class ConsentStateOut(_Out):
    """The current consent of one channel for one purpose, derived from the ledger."""

    channel: str
    purpose: str
    status: str | None = Field(description="granted, revoked, pending; null: never stated")
    allowed: bool = Field(description="whether messages of this purpose may use the channel")
    reason: str
    source: str | None = None
    recorded_at: datetime | None = None


class TopicOut(_Out):
    name: str
    label: str
    required: bool = Field(description="cannot be left (notices about the customer's account)")
    subscribed: bool = Field(description="receives this topic on every channel they allow")
    left_on: list[str] = Field(default=[], description="channels the customer left it on")


class IdentityOut(_Out):
    kind: str
    value: str
    verified: bool
    source: str
    evidence: dict[str, Any] | None = None
    created_at: datetime


class PreferencesOut(_Out):
    customer_id: str
    merged_into: str | None = Field(
        default=None, description="set when this profile was merged into another"
    )
    stated: StatedOut
    consents: list[ConsentStateOut]
    topics: list[TopicOut]
    identities: list[IdentityOut]


class ConsentRowOut(_Out):
    """One row of the consent ledger, as recorded (rows are never changed)."""

    id: int
    channel: str
    purpose: str
    topic: str | None
    status: str
    source: str
    evidence: dict[str, Any]
    recorded_at: datetime


class ConsentChangesOut(_Out):
    rows: list[ConsentRowOut]
    awaiting_confirmation: list[str] = Field(
        description="channels whose marketing grant waits for the customer to confirm "
        "(SMS double opt-in); a confirmation request is sent to them"
    )


class MergeOut(_Out):
    id: int
    source_customer_id: str
    target_customer_id: str
    actor: str
    reason: str
    evidence: dict[str, Any]
    moved: dict[str, Any] = Field(description="rows moved, per table")
    merged_at: datetime


# ---------------------------------------------------------------------------------------
# What the API accepts (preferences and consent changes use the service's own schemas).


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentChangesIn(_In):
    changes: list[ConsentIn] = Field(min_length=1, max_length=50)
    source: str = Field(default="api", description="where the change came from (ledger source)")
    evidence: dict[str, Any] = Field(
        min_length=1,
        description="why we may record it: the form, message or call where the customer said so",
        examples=[{"ticket": "SUP-1234", "agent": "ada"}],
    )


class IdentityIn(_In):
    kind: str = Field(description="email, phone, whatsapp or x_handle", examples=["email"])
    value: str = Field(max_length=320, examples=["ada@example.com"])
    source: str = Field(default="api", max_length=64)
    evidence: dict[str, Any] = Field(
        default={}, description="what shows the address is this customer's (required)"
    )
    verified: bool = False
    default_region: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$", description="for phone numbers without +: US, FR…"
    )


class MergeIn(_In):
    source_customer_id: str = Field(max_length=128, description="the profile merged away")
    reason: str = Field(max_length=500)
    evidence: dict[str, Any] = {}
    actor: str = Field(default="operator API", max_length=128, description="who asked for it")


# ---------------------------------------------------------------------------------------
# Building the answers.


def consent_states(consents: ConsentMap) -> list[ConsentStateOut]:
    states = []
    for channel in KNOWN_CHANNELS:
        for purpose in PURPOSES:
            current = consents.get((channel, purpose))
            allowed, reason = consent_allows(consents, channel, purpose)
            states.append(
                ConsentStateOut(
                    channel=channel,
                    purpose=purpose,
                    status=current.status if current else None,
                    allowed=allowed,
                    reason=reason,
                    source=current.source if current else None,
                    recorded_at=current.recorded_at if current else None,
                )
            )
    return states


def topic_views(topics: TopicMap, settings: Settings) -> list[TopicOut]:
    """Every topic the company offers. A topic is subscribed unless the customer left it
    (on a channel, or everywhere); a required one cannot be left."""
    views = []
    for name, label in settings.topics.items():
        required = name in settings.required_topics
        left_on = (
            [] if required else [c for c in KNOWN_CHANNELS if not topic_allows(topics, name, c)[0]]
        )
        views.append(
            TopicOut(name=name, label=label, required=required, subscribed=not left_on,
                     left_on=left_on)
        )  # fmt: skip
    return views


def stated_view(pref: Preference | None) -> StatedOut:
    if pref is None:
        return StatedOut()
    quiet = None
    if pref.quiet_hours_start is not None and pref.quiet_hours_end is not None:
        quiet = QuietHoursOut(start=pref.quiet_hours_start, end=pref.quiet_hours_end)
    return StatedOut(
        channel_order=list(pref.channel_order or []),
        timezone=pref.timezone,
        locale=pref.locale,
        quiet_hours=quiet,
        max_per_week=pref.max_per_week,
        updated_at=pref.updated_at,
    )


def preferences_view(session: Session, customer_id: str, settings: Settings) -> PreferencesOut:
    customer = customer_or_error(session, customer_id)
    profile = load_profiles(session, [customer_id])[customer_id]
    return PreferencesOut(
        customer_id=customer_id,
        merged_into=customer.merged_into,
        stated=stated_view(session.get(Preference, customer_id)),
        consents=consent_states(profile.consents),
        topics=topic_views(profile.topics, settings),
        identities=[IdentityOut.model_validate(i) for i in identities(session, customer_id)],
    )


def sms_confirmations_needed(rows: list[Consent]) -> list[int]:
    """The ids of new pending SMS marketing grants: each needs a request to confirm."""
    return [
        row.id
        for row in rows
        if row.id is not None
        and (row.channel, row.purpose, row.topic, row.status) == ("sms", "marketing", None, PENDING)
    ]


def ask_to_confirm_sms(
    app: ApiState, customer_id: str, ledger_ids: list[int], at: datetime
) -> None:
    """Send the confirmation request the way intake does: a
    ``consent.sms_confirmation_requested`` event, which the double opt-in journey turns into
    one text with the confirmation link. Called after the consent is committed (the intake
    writes in a transaction of its own); the event id derives from the pending ledger row,
    so a retried request is stored once."""
    if not ledger_ids:
        return
    events = [
        (None, {"id": f"consent-{row_id}.sms-confirmation", "type": CONFIRMATION_REQUESTED,
                "customer_id": customer_id, "occurred_at": at.isoformat(),
                "payload": {"requested_by_consent": row_id}})
        for row_id in ledger_ids
    ]  # fmt: skip
    report = ingest(app.db, events, now=at, source="touchline", settings=app.settings)
    for problem in report.rejected:
        log.error("could not request SMS confirmation for %s: %s", customer_id, problem)


# ---------------------------------------------------------------------------------------
# Routes.


@router.get(
    "/preferences",
    response_model=PreferencesOut,
    tags=["preferences"],
    summary="A customer's preferences, current consents, topics and identities",
)
def get_preferences(customer_id: str, app: App) -> PreferencesOut:
    with app.db.session() as session:
        return preferences_view(session, customer_id, app.settings)


@router.patch(
    "/preferences",
    response_model=PreferencesOut,
    tags=["preferences"],
    summary="Change stated preferences (only the fields given; null clears one)",
)
def patch_preferences(customer_id: str, changes: PreferencesIn, app: App) -> PreferencesOut:
    with app.db.session() as session:
        update_preferences(session, customer_id, changes, app.clock.now())
        return preferences_view(session, customer_id, app.settings)


@router.get(
    "/consents",
    response_model=list[ConsentRowOut],
    tags=["consents"],
    summary="The consent ledger of a customer, oldest first, with source and evidence",
)
def get_consents(customer_id: str, app: App) -> list[ConsentRowOut]:
    with app.db.session() as session:
        return [ConsentRowOut.model_validate(row) for row in history(session, customer_id)]


@router.post(
    "/consents",
    response_model=ConsentChangesOut,
    status_code=status.HTTP_201_CREATED,
    tags=["consents"],
    summary="Record consent changes (all or none); SMS marketing grants await confirmation",
)
def post_consents(customer_id: str, body: ConsentChangesIn, app: App) -> ConsentChangesOut:
    now = app.clock.now()
    with app.db.session() as session:
        result = record_consent(
            session, customer_id, body.changes, source=body.source, evidence=body.evidence,
            at=now, settings=app.settings,
        )  # fmt: skip
        answer = ConsentChangesOut(
            rows=[ConsentRowOut.model_validate(row) for row in result.rows],
            awaiting_confirmation=result.awaiting_confirmation,
        )
    ask_to_confirm_sms(app, customer_id, sms_confirmations_needed(result.rows), now)
    return answer


@router.get(
    "/identities",
    response_model=list[IdentityOut],
    tags=["identities"],
    summary="The addresses and handles linked to a customer",
)
def get_identities(customer_id: str, app: App) -> list[IdentityOut]:
    with app.db.session() as session:
        return [IdentityOut.model_validate(i) for i in identities(session, customer_id)]


@router.post(
    "/identities",
    response_model=IdentityOut,
    status_code=status.HTTP_201_CREATED,
    tags=["identities"],
    summary="Link an address (normalised; 409 if it is another customer's)",
    responses=error_responses(409),
)
def post_identity(customer_id: str, body: IdentityIn, app: App) -> IdentityOut:
    with app.db.session() as session:
        identity: Identity = link_identity(
            session, customer_id, body.kind, body.value, source=body.source,
            evidence=body.evidence, verified=body.verified, at=app.clock.now(),
            default_region=body.default_region,
        )  # fmt: skip
        return IdentityOut.model_validate(identity)


@router.delete(
    "/identities/{kind}/{value}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    tags=["identities"],
    summary="Unlink an address",
)
def delete_identity(customer_id: str, kind: str, value: str, app: App) -> Response:
    with app.db.session() as session:
        unlink_identity(session, customer_id, kind, value)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/merge",
    response_model=MergeOut,
    tags=["identities"],
    summary="Merge another customer (source_customer_id) into this one; audited",
    responses={409: {"description": "already merged"}, 422: {"description": "into itself"}},
)
def post_merge(customer_id: str, body: MergeIn, app: App) -> MergeOut:
    with app.db.session() as session:
        audit: CustomerMerge = merge_customers(
            session, body.source_customer_id, customer_id, actor=body.actor,
            reason=body.reason, evidence=body.evidence, at=app.clock.now(),
        )  # fmt: skip
        return MergeOut.model_validate(audit)
