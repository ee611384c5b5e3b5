"""The world a generated scenario plays in: the real engine, the real record (SQLite or
PostgreSQL), the SendGrid and Twilio emulators and Touchline's API on a real port.

``World.apply`` carries out one operation (tests.properties.cases) the way production
does it — intake for events, the preference center's functions for what an operator or the
customer does, the signed unsubscribe link over HTTP for a click in a received email,
``advance_next_batch`` for the engine — and appends what it did to ``World.log``: a
plain timeline of facts (who said what, when), which the oracle replays on its own. An
operation the record refuses (a merge of a profile already merged away, a link of an
address someone else holds) is logged as nothing: it did not happen.

Every operation gets a sequence number; every message the emulators accept is stamped
with the sequence number of the advance run that sent it, so "before" is exact even when
several operations share a clock time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from preference_center.ledger import record_consent
from preference_center.linking import link_identity, unlink_identity
from preference_center.merge import merge_customers
from preference_center.schemas import ConsentIn, PreferencesIn
from preference_center.stated import update_preferences
from preference_center.suppression import SuppressionIn, suppress_addresses
from sandbox import SandboxServer
from tests.properties import cases
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.engine import Engine, advance_next_batch
from touchline.errors import TouchlineError
from touchline.intake import ingest
from touchline.record import Customer, Enrollment, Identity, Interaction, Touch

UNSUBSCRIBE_URL = re.compile(r"<(https?://[^>]+/u/[^>]+)>")
CONFIRMED = {"confirmed_at": "2026-11-01T09:00:00Z", "method": "one-time code"}
# Enough advance runs after the last operation for every deferred or waiting step of the
# shipped journeys to come due (welcome waits 2 days; cart abandonment 1 hour + 1 day).
FINAL_RUNS = [timedelta(hours=h) for h in (2, 6, 10, 14, 24, 30, 40, 50, 60, 72)]


class ScenarioClock:
    """The world's clock: manual, and set back to the start for each scenario (the API
    started once per test reads it through this object)."""

    def __init__(self, start: datetime):
        self._clock = ManualClock(start)

    def now(self) -> datetime:
        return self._clock.now()

    def advance(self, delta: timedelta) -> datetime:
        return self._clock.advance(delta)

    def restart(self, start: datetime) -> None:
        self._clock = ManualClock(start)


def cart(total: int) -> dict[str, Any]:
    item = {"sku": "sku-1", "name": "Wool socks", "price": total}
    return {"cart": {"total": total, "currency": "USD", "items": [item],
                     "url": "https://shop.example/cart"}}  # fmt: skip


@dataclass(frozen=True)
class Fact:
    """One thing that happened, as the world did it (the oracle's input)."""

    seq: int
    at: datetime
    kind: str  # see World.apply for the kinds and their fields
    data: dict[str, Any]


@dataclass(frozen=True)
class Accepted:
    """A message an emulator accepted."""

    seq: int  # the advance run that sent it
    index: int  # its place in the order of acceptance, across channels
    channel: str  # email | sms
    to: str
    touch_id: str | None
    at: datetime
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class TouchInfo:
    """What the record says a touch was: the oracle's way from a message to its journey."""

    journey_key: str
    step_id: str
    purpose: str
    topic: str | None
    trigger_event_id: str | None
    trigger_at: datetime
    holdout: bool


@dataclass
class World:
    db: Database
    engine: Engine
    emulators: SandboxServer
    api: httpx.Client
    clock: ScenarioClock
    settings: Settings
    log: list[Fact] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    _seq: int = 0
    _events: int = 0
    _seen: tuple[int, int] = (0, 0)  # emails, sms already collected

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def play(self, scenario: cases.Scenario) -> None:
        for op in scenario.first_contacts:
            self.apply(op)
        for op in scenario.ops:
            self.clock.advance(op.after)
            self.apply(op)
        for step in FINAL_RUNS:
            self.clock.advance(step)
            self.apply(cases.Advance())

    # -- the operations ----------------------------------------------------------------

    def apply(self, op: cases.Op) -> None:
        self._seq += 1
        handler = getattr(self, f"_{type(op).__name__.lower()}")
        handler(op)

    def _fact(self, kind: str, **data: Any) -> None:
        self.log.append(Fact(self._seq, self.now, kind, data))

    def _advance(self, op: cases.Advance) -> None:
        self.emulators.sandbox.clock.set(self.now)
        while advance_next_batch(self.engine, self.now).claimed:
            pass
        self._collect()
        self._fact("advance")

    def _signup(self, op: cases.Signup) -> None:
        self._event("customer.signed_up", op.customer, profile=op.profile, consents=op.consents,
                    preferences=op.preferences)  # fmt: skip

    def _guestcart(self, op: cases.GuestCart) -> None:
        self._event("cart.abandoned", op.customer, cart(op.total),
                    profile=op.profile, consents=op.consents, preferences=op.preferences)  # fmt: skip

    def _cart(self, op: cases.Cart) -> None:
        self._event("cart.abandoned", op.customer, cart(op.total))

    def _order(self, op: cases.Order) -> None:
        self._event("order.placed", op.customer)

    def _firstpurchase(self, op: cases.FirstPurchase) -> None:
        self._event("customer.first_purchase", op.customer)

    def _event(
        self,
        etype: str,
        customer: str,
        payload: dict[str, Any] | None = None,
        *,
        profile: cases.Profile | None = None,
        consents: tuple[cases.ConsentGiven, ...] = (),
        preferences: cases.Prefs | None = None,
    ) -> None:
        self._events += 1
        eid = f"e{self._events}"
        body: dict[str, Any] = {
            "id": eid,
            "type": etype,
            "customer_id": customer,
            "occurred_at": self.now.isoformat(),
            "payload": payload or {},
        }
        if profile is not None:
            body["profile"] = {"email": profile.email, "phone": profile.phone,
                               "attributes": {"first_name": customer.upper()}}  # fmt: skip
        if consents:
            body["consents"] = [
                {"channel": c.channel, "status": "granted",
                 **({"evidence": CONFIRMED} if c.confirmed else {})}
                for c in consents
            ]  # fmt: skip
        if preferences is not None:
            body["preferences"] = preferences.given()
        report = ingest(self.db, [(1, json.dumps(body))], now=self.now, source="property-test")
        assert not report.rejected, report.rejected
        self._fact(
            "event", id=eid, type=etype, customer=customer,
            addresses=[("email", profile.email), ("phone", profile.phone)] if profile else [],
            consents=[(c.channel, "marketing", "granted", c.confirmed) for c in consents],
            preferences=preferences.given() if preferences else None,
        )  # fmt: skip

    def _consent(self, op: cases.Consent) -> None:
        customer = self._survivor(op.customer)
        evidence = CONFIRMED if op.confirmed else {"note": "property test"}
        change = ConsentIn(channel=op.channel, purpose=op.purpose, status=op.status)
        with self.db.session() as session:
            record_consent(session, customer, [change], source="api", evidence=evidence,
                           at=self.now, settings=self.settings)  # fmt: skip
        self._fact("consent", customer=customer, channel=op.channel, purpose=op.purpose,
                   status=op.status, confirmed=op.confirmed)  # fmt: skip

    def _topic(self, op: cases.Topic) -> None:
        customer = self._survivor(op.customer)
        change = ConsentIn(channel=op.channel, topic="promotions", status=op.status)
        with self.db.session() as session:
            record_consent(session, customer, [change], source="preference_page",
                           evidence={"note": "property test"}, at=self.now,
                           settings=self.settings)  # fmt: skip
        self._fact("topic", customer=customer, channel=op.channel, status=op.status)

    def _unsubscribe(self, op: cases.Unsubscribe) -> None:
        """The recipient of an email clicks its one-click unsubscribe (RFC 8058)."""
        emails = [m for m in self.accepted if m.unsubscribe_url]
        if not emails:
            return
        message = emails[op.pick % len(emails)]
        url = message.unsubscribe_url
        assert url is not None
        response = self.api.post(
            url.removeprefix(self.settings.public_url),
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200, response.text
        # The link speaks for the customer the message was for (its touch), whoever they
        # have become since (a merge).
        self._fact("unsubscribe", touch_id=message.touch_id, channel="email")

    def _suppress(self, op: cases.Suppress) -> None:
        address = self._address(op.customer, op.kind)
        if address is None:
            return
        with self.db.session() as session:
            suppress_addresses(
                session,
                [SuppressionIn(op.kind, address, op.reason, "property-test", {"op": self._seq})],
                self.now,
            )
        self._fact("suppress", address=(op.kind, address))

    def _move(self, op: cases.Move) -> None:
        """An address leaves its customer: to another customer, or replaced by a new one."""
        owner = self._survivor(op.customer)
        address = self._address(owner, op.kind)
        if address is None:
            return
        receiver = self._survivor(op.to) if op.to is not None else owner
        value = address if receiver != owner else op.new_value
        try:
            with self.db.session() as session:
                unlink_identity(session, owner, op.kind, address)
                link_identity(session, receiver, op.kind, value, source="support",
                              evidence={"op": self._seq}, at=self.now)  # fmt: skip
        except TouchlineError:
            return  # e.g. the new value is already someone's: nothing changed (rolled back)
        self._fact("unlink", customer=owner, address=(op.kind, address))
        self._fact("link", customer=receiver, address=(op.kind, value))

    def _merge(self, op: cases.Merge) -> None:
        try:
            with self.db.session() as session:
                merge_customers(session, op.source, op.target, actor="ops",
                                reason="same person", evidence={"op": self._seq},
                                at=self.now)  # fmt: skip
        except TouchlineError:
            return  # one of them unknown or merged away already
        self._fact("merge", source=op.source, target=op.target)

    def _prefs(self, op: cases.Prefs) -> None:
        customer = self._survivor(op.customer)
        given = op.given()
        with self.db.session() as session:
            update_preferences(session, customer, PreferencesIn(**given), self.now)
        self._fact("prefs", customer=customer, preferences=given)

    # -- reading the record and the emulators ------------------------------------------

    def _survivor(self, customer: str) -> str:
        """An operator looks a customer up by an old id and lands on the profile kept."""
        with self.db.session() as session:
            while True:
                into = session.execute(
                    select(Customer.merged_into).where(Customer.id == customer)
                ).scalar_one_or_none()
                if not into:
                    return customer
                customer = into

    def _address(self, customer: str, kind: str) -> str | None:
        """The customer's newest address of a kind, as the record has it now."""
        with self.db.session() as session:
            return session.execute(
                select(Identity.value)
                .where(Identity.customer_id == self._survivor(customer), Identity.kind == kind)
                .order_by(Identity.created_at.desc(), Identity.id.desc())
                .limit(1)
            ).scalar_one_or_none()

    def _collect(self) -> None:
        """Stamp the messages accepted since the last look with this advance run."""
        sandbox = self.emulators.sandbox
        emails, sms = list(sandbox.emails), list(sandbox.sms)
        seen_emails, seen_sms = self._seen
        for record in emails[seen_emails:]:
            header = (record.get("headers") or {}).get("List-Unsubscribe") or ""
            match = UNSUBSCRIBE_URL.search(header)
            self.accepted.append(
                Accepted(self._seq, len(self.accepted), "email", record["to"],
                         record.get("touch_id"), datetime.fromisoformat(record["received_at"]),
                         match.group(1) if match else None)
            )  # fmt: skip
        for record in sms[seen_sms:]:
            self.accepted.append(
                Accepted(self._seq, len(self.accepted), "sms", record["to"],
                         record.get("_touch_id"), self.now)
            )  # fmt: skip
        self._seen = (len(emails), len(sms))

    def gate_skips(self) -> int:
        """Touches the final gate stopped (for the run's statistics)."""
        with self.db.session() as session:
            details = session.execute(
                select(Interaction.detail).where(Interaction.kind == "skipped")
            ).scalars()
            return sum("before dispatch" in str((d or {}).get("reason")) for d in details)

    def touches(self) -> dict[str, TouchInfo]:
        """The record's touches of the accepted messages (journey, step, trigger)."""
        wanted = {m.touch_id for m in self.accepted if m.touch_id}
        if not wanted:
            return {}
        with self.db.session() as session:
            rows = session.execute(
                select(Touch.id, Touch.journey_key, Touch.step_id, Touch.purpose, Touch.topic,
                       Enrollment.trigger_event_id, Enrollment.trigger_at, Enrollment.holdout)
                .join(Enrollment, Enrollment.id == Touch.enrollment_id)
                .where(Touch.id.in_(wanted))
            ).all()  # fmt: skip
        return {row[0]: TouchInfo(*row[1:]) for row in rows}
