"""The customer's own pages, reached by signed links from every message.

``/p/{token}``: the preference page — marketing channels, topics, which channel first,
quiet hours, and "unsubscribe from everything". ``/c/{token}``: confirm SMS marketing
(the double opt-in link texted to the customer).

The token in the URL is the credential: signed, expiring, for one page and one customer
(touchline.links). There are no cookies, so there is no session to ride and CSRF has
nothing to steal; a forged or expired token gets the same "link not valid" page and
changes nothing. Plain HTML forms, no JavaScript: mail apps' browsers and old phones
must work too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from preference_center.consent import GRANTED, MARKETING, PENDING, REVOKED
from preference_center.identities import CHANNEL_IDENTITY
from preference_center.ledger import (
    confirm_sms,
    current_consents,
    record_consent,
    unsubscribe_all,
)
from preference_center.linking import follow_merges
from preference_center.profile import CustomerProfile, load_profiles
from preference_center.quiet_hours import is_valid_timezone, zone
from preference_center.schemas import ConsentIn, PreferencesIn
from preference_center.stated import update_preferences
from touchline.api.deps import ApiState, state
from touchline.api.openapi import PAGE_ERRORS
from touchline.api.pages import render
from touchline.api.pages.messages import Translator, translator
from touchline.api.preferences import (
    TopicOut,
    ask_to_confirm_sms,
    sms_confirmations_needed,
    topic_views,
)
from touchline.config import Settings
from touchline.errors import PreferenceError, Problem
from touchline.links import InvalidToken, verify_link
from touchline.record import Customer

router = APIRouter(tags=["customer pages"], responses=PAGE_ERRORS)
App = Annotated[ApiState, Depends(state)]

PREFERENCES, CONFIRM_SMS = "p", "c"  # the link purposes (touchline.links.signed_link)
SOURCE = "preference_page"
CHANNEL_LABELS = {
    "email": "Email",
    "sms": "Text messages (SMS)",
    "whatsapp": "WhatsApp",
    "x": "X direct messages",
}
ADDRESS_KINDS = {
    "email": "email address",
    "phone": "mobile number",
    "whatsapp": "WhatsApp number",
    "x_handle": "X handle",
}
NOTICES = {"saved": "notice.saved", "unsubscribed": "notice.unsubscribed"}  # message keys
# Offered in the page's time zone list, with the customer's own zone whatever it is.
COMMON_ZONES = (
    "UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Brussels",
    "Europe/Luxembourg", "Europe/Zurich", "Europe/Berlin", "Europe/Madrid", "Europe/Rome",
    "Europe/Amsterdam", "Europe/Athens", "Europe/Helsinki", "Africa/Casablanca", "Africa/Dakar",
    "Africa/Abidjan", "Indian/Reunion", "America/Martinique", "America/Guadeloupe",
    "America/Cayenne", "Pacific/Tahiti", "Pacific/Noumea", "America/St_Johns", "America/Halifax",
    "America/Toronto", "America/New_York", "America/Chicago", "America/Denver",
    "America/Phoenix", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
    "America/Mexico_City", "America/Sao_Paulo", "Asia/Dubai", "Asia/Kolkata",
    "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
)  # fmt: skip


# ---------------------------------------------------------------------------------------
# The link


@dataclass(frozen=True)
class Link:
    customer_id: str  # the customer now (after merges), not necessarily the one issued for
    issued_for: str
    expires_at: datetime
    digest: str  # identifies the link in evidence without storing a usable token


def open_link(session: Session, token: str, purpose: str, app: ApiState) -> Link:
    """The link's customer, or InvalidToken (→ the "link not valid" page)."""
    payload = verify_link(
        token, app.settings.link_secret.get_secret_value(), purpose, app.clock.now()
    )
    issued_for = str(payload["c"])
    if session.get(Customer, issued_for) is None:
        raise InvalidToken("the link's customer does not exist")
    # A profile merged since the email was sent: the link still reaches the person.
    return Link(
        customer_id=follow_merges(session, issued_for),
        issued_for=issued_for,
        expires_at=datetime.fromtimestamp(float(payload["exp"]), tz=UTC),
        digest=hashlib.sha256(token.encode()).hexdigest()[:16],
    )


def evidence_of(request: Request, link: Link) -> dict[str, Any]:
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
        "link_issued_for": link.issued_for,
        "link_expires_at": link.expires_at.isoformat(),
        "link_digest": link.digest,
    }


async def form_fields(request: Request) -> dict[str, list[str]]:
    """The posted form (application/x-www-form-urlencoded), read without python-multipart.
    A dependency, so that the route itself can be a plain function run in the threadpool
    while it talks to the database."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qs(body, keep_blank_values=True, max_num_fields=100)


# ---------------------------------------------------------------------------------------
# What the page shows


@dataclass(frozen=True)
class PageChannel:
    name: str
    label: str
    address: str | None  # masked: the link may have been forwarded
    address_kind: str
    kind: str  # the identity kind (email, phone…), for the page's words
    on: bool  # marketing granted, or granted and waiting for confirmation
    pending: bool

    @property
    def available(self) -> bool:
        # Without an address the customer cannot turn a channel on, only off.
        return self.address is not None or self.on


@dataclass(frozen=True)
class PageView:
    customer_id: str
    channels: list[PageChannel]
    topics: list[TopicOut]
    channel_order: list[str]
    quiet_hours: tuple[time, time] | None
    timezone: str
    locale: str | None = None  # as stated; the page's language follows it

    @property
    def first_channel(self) -> str:
        return self.channel_order[0]


def load_view(session: Session, customer_id: str, settings: Settings) -> PageView:
    profile = load_profiles(session, [customer_id])[customer_id]
    # Email and SMS always (a customer may want to see that we have no number); WhatsApp and
    # X only where we have their number or handle, or a consent on record.
    channels = [
        page_channel(profile, name)
        for name in CHANNEL_IDENTITY
        if name in ("email", "sms") or name in profile.addresses
        or (name, MARKETING) in profile.consents
    ]  # fmt: skip
    names = [c.name for c in channels]
    stated = [c for c in (profile.channel_order or settings.default_channel_order) if c in names]
    quiet = profile.quiet_hours
    return PageView(
        customer_id=customer_id,
        channels=channels,
        topics=topic_views(profile.topics, settings),
        channel_order=stated + [c for c in names if c not in stated],
        quiet_hours=(quiet.start, quiet.end) if quiet else None,
        timezone=profile.timezone or settings.default_timezone,
        locale=profile.locale,
    )


def page_channel(profile: CustomerProfile, name: str) -> PageChannel:
    current = profile.consents.get((name, MARKETING))
    status = current.status if current else None
    kind = CHANNEL_IDENTITY[name]
    address = profile.addresses.get(name)
    return PageChannel(
        name=name,
        label=CHANNEL_LABELS.get(name, name),
        address=mask(kind, address) if address else None,
        address_kind=ADDRESS_KINDS.get(kind, kind),
        kind=kind,
        on=status in (GRANTED, PENDING),
        pending=status == PENDING,
    )


def mask(kind: str, address: str) -> str:
    """Enough for the customer to recognise their address, not enough to harvest it."""
    if kind == "email" and "@" in address:
        local, domain = address.rsplit("@", 1)
        return f"{local[:1]}•••@{domain}"
    if kind == "x_handle":
        return f"@{address[:2]}•••"
    return f"•••• {address[-4:]}"


def hhmm(value: time | None) -> str:
    return value.strftime("%H:%M") if value else ""


def page(
    app: ApiState,
    view: PageView,
    t: Translator,
    *,
    notice: str | None = None,
    errors: list[Problem] | None = None,
    quiet: tuple[str, str] | None = None,
) -> str:
    start, end = view.quiet_hours or (None, None)
    return render(
        "preferences.html.j2",
        t=t,
        title=t("title.preferences"),
        company=app.settings.company_name,
        view=view,
        notice=t(NOTICES[notice]) if notice in NOTICES else None,
        errors=[t.problem(p) for p in errors or []],
        quiet_start=quiet[0] if quiet else hhmm(start),
        quiet_end=quiet[1] if quiet else hhmm(end),
        company_quiet=company_quiet_hours(app.settings),
        zones=zone_options(view.timezone, app.clock.now()),
        local_now=app.clock.now().astimezone(zone(view.timezone)).strftime("%H:%M"),
    )


def company_quiet_hours(settings: Settings) -> tuple[str, str] | None:
    """The company's own quiet hours for texts, which apply whatever the customer states —
    like theirs, in the customer's own time zone."""
    if "sms" not in settings.quiet_hours_channels:
        return None
    return hhmm(settings.quiet_hours_start), hhmm(settings.quiet_hours_end)


@dataclass(frozen=True)
class ZoneOption:
    name: str
    label: str


def zone_options(current: str, now: datetime) -> list[ZoneOption]:
    """The common zones and the customer's own, each with its offset from UTC now."""
    names = list(COMMON_ZONES) if current in COMMON_ZONES else [current, *COMMON_ZONES]
    options = []
    for name in names:
        offset = now.astimezone(zone(name)).strftime("%z")
        options.append(ZoneOption(name, f"{name} (UTC{offset[:3]}:{offset[3:]})"))
    return options


def page_translator(request: Request, view: PageView | None) -> Translator:
    return translator(view.locale if view else None, request.headers.get("accept-language"))


# ---------------------------------------------------------------------------------------
# What a submitted form changes: only what differs from what the page showed.


def consent_changes(view: PageView, form: dict[str, list[str]]) -> list[ConsentIn]:
    problems: list[Problem] = []
    wanted_channels = set(form.get("channel", []))
    wanted_topics = set(form.get("topic", []))
    by_name = {c.name: c for c in view.channels}
    topics = {t.name: t for t in view.topics}
    problems += [
        Problem("channel", f"unknown channel '{n}'") for n in wanted_channels - set(by_name)
    ]
    problems += [Problem("topic", f"unknown topic '{n}'") for n in wanted_topics - set(topics)]
    changes = []
    for channel in view.channels:
        wanted = channel.name in wanted_channels
        if wanted and not channel.available:
            problems.append(Problem("channel", f"we have no {channel.address_kind} for you"))
        elif wanted != channel.on:
            changes.append(consent_change(channel.name, wanted))
    for topic in view.topics:
        # A required topic's checkbox is disabled, so browsers never send it: not a change.
        if topic.required:
            continue
        wanted = topic.name in wanted_topics
        if wanted != topic.subscribed:
            changes.append(consent_change("all", wanted, topic=topic.name))
    if problems:
        raise PreferenceError(problems)
    return changes


def consent_change(channel: str, wanted: bool, *, topic: str | None = None) -> ConsentIn:
    status = GRANTED if wanted else REVOKED
    return ConsentIn.model_validate({"channel": channel, "status": status, "topic": topic})


def preference_changes(view: PageView, form: dict[str, list[str]]) -> PreferencesIn | None:
    fields: dict[str, Any] = {}
    problems: list[Problem] = []
    first = (form.get("first") or [""])[0]
    if first and first != view.first_channel:
        if first in view.channel_order:
            fields["channel_order"] = [first] + [c for c in view.channel_order if c != first]
        else:
            problems.append(Problem("first", f"unknown channel '{first}'"))
    try:
        quiet = quiet_hours_of(form)
        if quiet != view.quiet_hours:
            fields["quiet_hours"] = {"start": quiet[0], "end": quiet[1]} if quiet else None
    except PreferenceError as exc:
        problems += exc.problems
    timezone = (form.get("timezone") or [""])[0].strip()
    if timezone and timezone != view.timezone:
        # Any IANA name, not only the listed ones: a hand-edited form is still validated.
        if len(timezone) <= 64 and is_valid_timezone(timezone):
            fields["timezone"] = timezone
        else:
            problems.append(Problem("timezone", f"'{timezone[:64]}' is not a time zone"))
    if problems:
        raise PreferenceError(problems)
    if not fields:
        return None
    try:
        return PreferencesIn(**fields)
    except PydanticValidationError as exc:
        raise PreferenceError(
            [Problem(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
        ) from exc


def quiet_hours_of(form: dict[str, list[str]]) -> tuple[time, time] | None:
    start_text = (form.get("quiet_start") or [""])[0].strip()
    end_text = (form.get("quiet_end") or [""])[0].strip()
    if not start_text and not end_text:
        return None
    if not start_text or not end_text:
        raise PreferenceError(
            [Problem("quiet_hours", "give both a start and an end time, or leave both empty")]
        )
    start, end = parse_time(start_text, "start"), parse_time(end_text, "end")
    if start == end:
        raise PreferenceError([Problem("quiet_hours", "the start and end times are the same")])
    return start, end


def parse_time(text: str, which: str) -> time:
    try:
        return time.fromisoformat(text).replace(second=0, microsecond=0)
    except ValueError:
        raise PreferenceError(
            [Problem(f"quiet_hours.{which}", f"'{text}' is not a time; use HH:MM, e.g. 21:30")]
        ) from None


# ---------------------------------------------------------------------------------------
# Routes: the preference page


@router.get("/p/{token}", response_class=HTMLResponse, summary="The customer's preference page")
def preference_page(token: str, request: Request, app: App, done: str = "") -> HTMLResponse:
    with app.db.session() as session:
        link = open_link(session, token, PREFERENCES, app)
        view = load_view(session, link.customer_id, app.settings)
    return HTMLResponse(page(app, view, page_translator(request, view), notice=done))


@router.post(
    "/p/{token}", response_class=HTMLResponse, summary="Save the customer's preference page"
)
def save_preferences(
    token: str,
    request: Request,
    app: App,
    form: Annotated[dict[str, list[str]], Depends(form_fields)],
) -> Response:
    now = app.clock.now()
    try:
        with app.db.session() as session:
            link = open_link(session, token, PREFERENCES, app)
            pending = apply_form(session, link, form, evidence_of(request, link), now, app)
    except PreferenceError as exc:
        # Nothing was written (the transaction rolled back): show the page as it stands,
        # the customer's quiet-hour entries kept so they can correct them.
        with app.db.session() as session:
            link = open_link(session, token, PREFERENCES, app)
            view = load_view(session, link.customer_id, app.settings)
        typed = ((form.get("quiet_start") or [""])[0], (form.get("quiet_end") or [""])[0])
        t = page_translator(request, view)
        return HTMLResponse(page(app, view, t, errors=exc.problems, quiet=typed), status_code=422)
    ask_to_confirm_sms(app, link.customer_id, pending, now)
    done = "unsubscribed" if (form.get("form") or [""])[0] == "unsubscribe_all" else "saved"
    # Post/Redirect/Get: reloading the "Saved" page must not submit the form again, and
    # the browser's history should hold the page, not a POST.
    return RedirectResponse(f"{request.url.path}?done={done}", status_code=303)


def apply_form(
    session: Session,
    link: Link,
    form: dict[str, list[str]],
    evidence: dict[str, Any],
    now: datetime,
    app: ApiState,
) -> list[int]:
    """Write what the form changed; returns the ledger ids of SMS grants to confirm."""
    which = (form.get("form") or [""])[0]
    if which == "unsubscribe_all":
        unsubscribe_all(session, link.customer_id, source=SOURCE, evidence=evidence, at=now)
        return []
    if which != "preferences":
        # Without this, an empty or unreadable body would read as "every box unticked".
        raise PreferenceError([Problem("form", "the form could not be read; please try again")])
    view = load_view(session, link.customer_id, app.settings)
    consents = consent_changes(view, form)
    preferences = preference_changes(view, form)
    pending: list[int] = []
    if consents:
        result = record_consent(
            session, link.customer_id, consents, source=SOURCE, evidence=evidence, at=now,
            settings=app.settings,
        )  # fmt: skip
        pending = sms_confirmations_needed(result.rows)
    if preferences is not None:
        update_preferences(session, link.customer_id, preferences, now)
    return pending


# ---------------------------------------------------------------------------------------
# Routes: confirming SMS marketing (double opt-in)


def sms_page(
    app: ApiState, session: Session, customer_id: str, shown: str, request: Request
) -> str:
    profile = load_profiles(session, [customer_id])[customer_id]
    phone = profile.addresses.get("sms")
    t = translator(profile.locale, request.headers.get("accept-language"))
    return render(
        "confirm_sms.html.j2",
        t=t,
        title=t("title.sms"),
        company=app.settings.company_name,
        state=shown,
        phone=mask("phone", phone) if phone else None,
    )


def sms_state(session: Session, customer_id: str) -> str:
    current = current_consents(session, customer_id).get(("sms", MARKETING))
    return current.status if current and current.status in (PENDING, GRANTED) else "none"


@router.get("/c/{token}", response_class=HTMLResponse, summary="Confirm SMS marketing: the page")
def confirm_sms_page(token: str, request: Request, app: App) -> HTMLResponse:
    with app.db.session() as session:
        link = open_link(session, token, CONFIRM_SMS, app)
        shown = sms_state(session, link.customer_id)
        return HTMLResponse(sms_page(app, session, link.customer_id, shown, request))


@router.post("/c/{token}", response_class=HTMLResponse, summary="Confirm SMS marketing")
def confirm_sms_submit(token: str, request: Request, app: App) -> HTMLResponse:
    # The answer is a page, not a redirect: confirming twice changes nothing (confirm_sms
    # only turns a *pending* grant into a grant), so a resubmitted form is harmless.
    with app.db.session() as session:
        link = open_link(session, token, CONFIRM_SMS, app)
        confirmed = confirm_sms(
            session, link.customer_id, source="confirmation_link",
            evidence=evidence_of(request, link), at=app.clock.now(),
        )  # fmt: skip
        shown = "confirmed" if confirmed else sms_state(session, link.customer_id)
        return HTMLResponse(sms_page(app, session, link.customer_id, shown, request))
