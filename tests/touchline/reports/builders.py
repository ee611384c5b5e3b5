"""Hand-built interaction records with known counts, for the report tests.

Rows are written as the engine writes them (enrollments with ``holdout`` and
``context.variants``, touches with a ``sent``/``failed``/``skipped`` outcome, provider
engagement, conversions with ``detail.journey``, ``enrollment_id`` and ``revenue``), so the
reports read exactly what they would read in production.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import START
from touchline import ids
from touchline.journeys.model import JourneyDefinition
from touchline.record import Customer, Enrollment, Interaction, Journey, Touch

PROMO = {
    "key": "promo",
    "name": "Promo test",
    "trigger": {"event": "cart.abandoned"},
    "holdout": 30,
    "goal": {"event": "order.placed", "within": "7d"},
    "steps": [
        {"id": "first_email", "type": "send", "channel": "email", "template": "cart/reminder"},
        {"id": "subject", "type": "split",
         "variants": [{"name": "A", "weight": 1}, {"name": "B", "weight": 1}]},
        {"id": "reminder", "type": "send", "channel": "sms", "template": "cart/reminder"},
    ],
}  # fmt: skip
NEWSLETTER = {
    "key": "newsletter",
    "name": "Newsletter",
    "trigger": {"event": "newsletter.issued"},
    "steps": [{"id": "issue", "type": "send", "channel": "best", "template": "cart/reminder"}],
}


class RecordBuilder:
    def __init__(self, session: Session):
        self.session = session
        self.journeys: dict[str, int] = {}
        self._serial = itertools.count(1)

    def journey(self, definition: dict[str, Any], version: int = 1) -> int:
        record = JourneyDefinition.model_validate(definition).to_record()
        row = Journey(key=record["key"], version=version, name=record["name"],
                      definition=record, digest=f"d{version}", published_at=START)  # fmt: skip
        self.session.add(row)
        self.session.flush()
        self.journeys[record["key"]] = row.id  # type: ignore[assignment]
        return row.id  # type: ignore[return-value]

    def journey_id(self, key: str) -> int:
        if key not in self.journeys:  # published by an earlier builder
            self.journeys[key] = self.session.execute(
                select(Journey.id).where(Journey.key == key)
            ).scalar_one()
        return self.journeys[key]

    def customer(self, cid: str) -> None:
        if self.session.get(Customer, cid) is None:
            self.session.add(Customer(id=cid, attributes={}, created_at=START, updated_at=START))
            self.session.flush()

    def enroll(
        self,
        cid: str,
        journey: str = "promo",
        *,
        holdout: bool = False,
        variants: dict[str, str] | None = None,
        entered: datetime = START,
    ) -> str:
        self.customer(cid)
        eid = ids.enrollment_id(journey, cid, entered.isoformat())
        self.session.add(
            Enrollment(
                id=eid, journey_id=self.journey_id(journey), journey_key=journey,
                journey_version=1, customer_id=cid, trigger_at=entered, status="active",
                holdout=holdout, context={"variants": variants} if variants else {},
                entered_at=entered, updated_at=entered,
            )
        )  # fmt: skip
        self.session.flush()
        return eid

    def touch(
        self,
        enrollment: str,
        cid: str,
        step: str,
        channel: str | None,
        at: datetime,
        *,
        journey: str = "promo",
        outcome: str = "sent",
        engagement: tuple[str, ...] = (),
    ) -> str:
        tid = ids.touch_id(enrollment, step)
        self.session.add(
            Touch(
                id=tid, enrollment_id=enrollment, customer_id=cid, journey_key=journey,
                journey_version=1, step_id=step, purpose="marketing", channel=channel,
                address=None, decision={"reasons": []}, scheduled_for=at, created_at=at,
            )
        )  # fmt: skip
        self.session.flush()
        self.interaction(tid, cid, outcome, channel, at)
        for number, kind in enumerate(engagement, 1):
            self.interaction(tid, cid, kind, channel, at + timedelta(minutes=number))
        return tid

    def interaction(
        self, touch: str | None, cid: str, kind: str, channel: str | None, at: datetime,
        detail: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.session.add(
            Interaction(
                id=ids.interaction_id("test", str(next(self._serial))), touch_id=touch,
                customer_id=cid, kind=kind, channel=channel, occurred_at=at,
                recorded_at=at, detail=detail or {},
            )
        )  # fmt: skip

    def convert(
        self,
        enrollment: str,
        cid: str,
        at: datetime,
        revenue: float | None = None,
        journey: str = "promo",
    ) -> None:
        detail: dict[str, Any] = {"journey": journey, "enrollment_id": enrollment,
                                  "event_id": f"order-{cid}"}  # fmt: skip
        if revenue is not None:
            detail["revenue"] = revenue
        self.interaction(None, cid, "converted", None, at, detail)


def promo_record(session: Session) -> None:
    """40 treatment enrollments (t00–t39; split A: t00–t19, B: t20–t39) and 20 holdout
    (h00–h19; A: h00–h09, B: h10–h19); every number the tests assert follows from here.

    - first_email (email): t00–t37 sent, t38–t39 failed; delivered t00–t35; opened t00–t18
      and t36 (reported without a delivery), t00 twice; clicked t00–t07, t00 twice.
    - reminder (sms): t20–t29 sent at +2d, all delivered.
    - holdout: a skipped touch each (no channel), as the engine writes them.
    - conversions: t00–t03 (50 each), t04–t07 (30), t22–t23 (no revenue) at +1d; t20–t21
      (20) at +3d, after the SMS; h00 and h15 (40) at +1d. 14 conversions, 12 treatment.
    - other journeys: t01 sms at +12h; t02 email 8 days before its conversion (outside the
      7-day window); t03 email after its conversion; t04 email at −1d and sms at +12h;
      t05 x at −2d, email at −1d, whatsapp at +20h; h00 email at +6h; and a newsletter
      conversion of t01 that is not promo's.
    """
    build = RecordBuilder(session)
    build.journey(PROMO)
    build.journey(NEWSLETTER)
    day, hour = timedelta(days=1), timedelta(hours=1)
    enrollments: dict[str, str] = {}
    for n in range(40):
        cid = f"t{n:02d}"
        enrollments[cid] = build.enroll(cid, variants={"subject": "A" if n < 20 else "B"})
    for n in range(20):
        cid = f"h{n:02d}"
        enrollments[cid] = build.enroll(cid, holdout=True,
                                        variants={"subject": "A" if n < 10 else "B"})  # fmt: skip
        build.touch(enrollments[cid], cid, "first_email", None, START + hour, outcome="skipped")
    for n in range(40):
        cid = f"t{n:02d}"
        engagement: list[str] = []
        if n < 36:
            engagement.append("delivered")
        if n < 19 or n == 36:
            engagement.append("opened")
        if n == 0:
            engagement += ["opened", "clicked"]
        if n < 8:
            engagement.append("clicked")
        build.touch(enrollments[cid], cid, "first_email", "email", START + hour,
                    outcome="failed" if n >= 38 else "sent", engagement=tuple(engagement))  # fmt: skip
    for n in range(20, 30):
        cid = f"t{n:02d}"
        build.touch(enrollments[cid], cid, "reminder", "sms", START + 2 * day,
                    engagement=("delivered",))  # fmt: skip
    for n, revenue in [(0, 50), (1, 50), (2, 50), (3, 50), (4, 30), (5, 30), (6, 30), (7, 30)]:
        build.convert(enrollments[f"t{n:02d}"], f"t{n:02d}", START + day, revenue)
    for cid in ("t22", "t23"):
        build.convert(enrollments[cid], cid, START + day)
    for cid in ("t20", "t21"):
        build.convert(enrollments[cid], cid, START + 3 * day, 20)
    for cid in ("h00", "h15"):
        build.convert(enrollments[cid], cid, START + day, 40)

    def other(cid: str, channel: str, at: datetime) -> None:
        eid = build.enroll(cid, "newsletter", entered=at)
        build.touch(eid, cid, "issue", channel, at, journey="newsletter")

    other("t01", "sms", START + 12 * hour)
    build.convert(ids.enrollment_id("newsletter", "t01", (START + 12 * hour).isoformat()),
                  "t01", START + day, 999, journey="newsletter")  # fmt: skip
    other("t02", "email", START + day - 8 * day)
    other("t03", "email", START + 2 * day)
    other("t04", "email", START - day)
    build.touch(ids.enrollment_id("newsletter", "t04", (START - day).isoformat()), "t04",
                "issue_2", "sms", START + 12 * hour, journey="newsletter")  # fmt: skip
    other("t05", "x", START - 2 * day)
    build.touch(ids.enrollment_id("newsletter", "t05", (START - 2 * day).isoformat()), "t05",
                "issue_2", "email", START - day, journey="newsletter")  # fmt: skip
    build.touch(ids.enrollment_id("newsletter", "t05", (START - 2 * day).isoformat()), "t05",
                "issue_3", "whatsapp", START + 20 * hour, journey="newsletter")  # fmt: skip
    other("h00", "email", START + 6 * hour)
