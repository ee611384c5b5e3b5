"""The oracle: replays what happened, on its own, and says which accepted messages the
record forbade at the moment the provider took them.

It reads only the world's timeline of facts (tests.properties.world.Fact), the messages the
emulators accepted, the record's touches (to know which journey and step a message was
and which event started its enrollment) and the journey files themselves (YAML: purpose,
topic, exit events, re-entry). It does not call the preference center or the gate: each
rule is written again here, from what the documentation promises (docs/consent.md), so a
bug shared by the gate and the decision cannot hide.

Rules, for a message to person P (the customer its enrollment started for, followed
through the merges made so far) at the moment it was accepted:

- the address is P's: linked to P (or a profile merged into P), never to nobody or another;
- the address is not suppressed;
- consent: marketing needs P's latest word on (channel, marketing) to be a grant — a
  grant of SMS marketing without proof of a double opt-in is only pending, unless already
  granted; a transactional message stops at a revocation. P's latest word is the newest
  change said under any of P's profiles (a merge joins histories; a change said through
  a merged-away profile, like an old unsubscribe link, still is P's word);
- the journey's topic: P's latest word on the topic for this channel or "all" is not
  "left";
- the enrollment had not ended: no exit event of the journey for P after it started;
  not in the holdout;
- ``reentry: once``: P had not already been sent this step of this journey;
- marketing caps: fewer than the company cap of P's marketing messages in the cap window
  before it, and fewer than P's own weekly limit in the last 7 days;
- marketing quiet hours: not within P's own quiet hours, nor (SMS) the company's, in P's
  time zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from tests.properties.world import Accepted, Fact, TouchInfo

JOURNEYS = Path(__file__).resolve().parents[2] / "journeys"
OWN_LIMIT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Rules:
    """The company's rules the oracle applies (read from the settings the engine ran with)."""

    marketing_cap: int | None
    cap_window: timedelta
    default_timezone: str
    sms_quiet: tuple[time, time] | None

    @classmethod
    def from_settings(cls, settings: Any) -> Rules:
        quiet = (settings.quiet_hours_start, settings.quiet_hours_end)
        return cls(
            settings.marketing_cap or None,
            settings.marketing_cap_window,
            settings.default_timezone,
            quiet if "sms" in settings.quiet_hours_channels else None,
        )


@dataclass(frozen=True)
class JourneyRules:
    purpose: str
    topic: str | None
    exit_on: frozenset[str]
    once: bool


@dataclass(frozen=True)
class Violation:
    message: Accepted
    rule: str
    detail: str

    def __str__(self) -> str:
        m = self.message
        return (
            f"{m.channel} to {m.to} at {m.at:%a %H:%M} (run {m.seq}, touch {m.touch_id}): "
            f"{self.rule}: {self.detail}"
        )


def journey_rules(directory: Path = JOURNEYS) -> dict[str, JourneyRules]:
    found = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        reentry = data.get("reentry", "once")
        found[data["key"]] = JourneyRules(
            data.get("purpose", "marketing"),
            data.get("topic"),
            frozenset(data.get("exit_on") or ()),
            reentry == "once",
        )
    return found


def in_window(moment: time, window: tuple[time, time]) -> bool:
    """Within a daily window [start, end), which may wrap midnight."""
    start, end = window
    if start == end:
        return False
    return start <= moment < end if start < end else moment >= start or moment < end


@dataclass
class _Said:
    """One word of a customer's on consent or a topic, under one profile."""

    seq: int
    profile: str
    key: tuple[str, str]  # (channel, purpose) or (topic channel, "topic")
    status: str


@dataclass
class Replay:
    """The record as the facts make it, rebuilt one fact at a time."""

    rules: Rules
    journeys: Mapping[str, JourneyRules]
    touches: Mapping[str, TouchInfo]
    merges: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, source, target)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)  # address -> profile
    suppressed: set[tuple[str, str]] = field(default_factory=set)
    said: list[_Said] = field(default_factory=list)
    prefs: dict[str, dict[str, Any]] = field(default_factory=dict)  # profile -> stated
    events: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (seq, customer)
    exits: list[tuple[int, str, datetime, str]] = field(default_factory=list)
    judged: list[tuple[Accepted, str, TouchInfo]] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    # -- who is who ---------------------------------------------------------------------

    def person(self, profile: str, before: int | None = None) -> str:
        """The profile kept for ``profile`` after the merges made (before seq ``before``)."""
        seen = {profile}
        while True:
            into = next(
                (t for s, src, t in self.merges if src == profile and (before is None or s < before)),
                None,
            )  # fmt: skip
            if into is None or into in seen:
                return profile
            seen.add(into)
            profile = into

    def started_for(self, info: TouchInfo) -> tuple[int, str] | None:
        """(seq, customer) of the event that started the touch's enrollment."""
        if info.trigger_event_id is None:
            return None
        return self.events.get(info.trigger_event_id.split(":", 1)[0])

    # -- replaying ----------------------------------------------------------------------

    def apply(self, fact: Fact, messages: Sequence[Accepted]) -> None:
        getattr(self, f"_on_{fact.kind}")(fact, messages)

    def _on_event(self, fact: Fact, _: Sequence[Accepted]) -> None:
        d = fact.data
        self.events[d["id"]] = (fact.seq, d["customer"])
        who = self.person(d["customer"])  # intake follows merges
        for address in d["addresses"]:
            self.owners.setdefault(tuple(address), who)  # someone else's is not taken
        for channel, purpose, status, confirmed in d["consents"]:
            self._say(fact.seq, who, (channel, purpose), status, confirmed)
        if d["preferences"] is not None:
            self._state(who, d["preferences"])
        self.exits.append((fact.seq, d["type"], fact.at, d["customer"]))

    def _on_consent(self, fact: Fact, _: Sequence[Accepted]) -> None:
        d = fact.data
        self._say(fact.seq, d["customer"], (d["channel"], d["purpose"]), d["status"],
                  d["confirmed"])  # fmt: skip

    def _on_topic(self, fact: Fact, _: Sequence[Accepted]) -> None:
        d = fact.data
        self.said.append(_Said(fact.seq, d["customer"], (d["channel"], "topic"), d["status"]))

    def _on_unsubscribe(self, fact: Fact, _: Sequence[Accepted]) -> None:
        info = self.touches.get(fact.data["touch_id"] or "")
        started = self.started_for(info) if info else None
        if started is not None:
            key = (fact.data["channel"], "marketing")
            self.said.append(_Said(fact.seq, started[1], key, "revoked"))

    def _on_suppress(self, fact: Fact, _: Sequence[Accepted]) -> None:
        self.suppressed.add(tuple(fact.data["address"]))

    def _on_unlink(self, fact: Fact, _: Sequence[Accepted]) -> None:
        self.owners.pop(tuple(fact.data["address"]), None)

    def _on_link(self, fact: Fact, _: Sequence[Accepted]) -> None:
        self.owners[tuple(fact.data["address"])] = fact.data["customer"]

    def _on_merge(self, fact: Fact, _: Sequence[Accepted]) -> None:
        source, target = fact.data["source"], fact.data["target"]
        self.merges.append((fact.seq, source, target))
        # What the survivor stated wins; what it left unstated, the merged profile's fills.
        mine, theirs = self.prefs.setdefault(target, {}), self.prefs.pop(source, {})
        for name, value in theirs.items():
            if mine.get(name) is None:
                mine[name] = value

    def _on_prefs(self, fact: Fact, _: Sequence[Accepted]) -> None:
        self._state(fact.data["customer"], fact.data["preferences"])

    def _on_advance(self, fact: Fact, messages: Sequence[Accepted]) -> None:
        for message in messages:
            self._judge(fact.seq, message)

    def _say(self, seq: int, profile: str, key: tuple[str, str], status: str, confirmed: bool
             ) -> None:  # fmt: skip
        # The double opt-in: an SMS marketing grant is pending until confirmed, unless
        # already granted.
        if (
            key == ("sms", "marketing")
            and status == "granted"
            and not confirmed
            and self.word(self.person(profile), key) != "granted"
        ):
            status = "pending"
        self.said.append(_Said(seq, profile, key, status))

    def _state(self, profile: str, given: Mapping[str, Any]) -> None:
        mine = self.prefs.setdefault(profile, {})
        for name, value in given.items():
            mine[name] = value

    # -- what the record says now -------------------------------------------------------

    def word(self, person: str, *keys: tuple[str, str]) -> str | None:
        """The person's latest word on any of ``keys``, said under any of their profiles."""
        latest = None
        for said in self.said:
            if said.key in keys and self.person(said.profile) == person:
                latest = said  # in order of the facts: the last one wins
        return latest.status if latest else None

    def stated(self, person: str, name: str) -> Any:
        return self.prefs.get(person, {}).get(name)

    # -- judging a message --------------------------------------------------------------

    def _judge(self, seq: int, m: Accepted) -> None:
        info = self.touches.get(m.touch_id or "")
        if info is None:
            self._flag(m, "unknown message", "no touch in the record for it")
            return
        started = self.started_for(info)
        if started is None:
            self._flag(m, "unknown message", f"no event started enrollment of {m.touch_id}")
            return
        start_seq, customer = started
        who = self.person(customer)
        journey = self.journeys[info.journey_key]
        kind = "email" if m.channel == "email" else "phone"
        checks = [
            self._check_address(who, (kind, m.to)),
            self._check_consent(who, m.channel, info.purpose),
            self._check_topic(who, m.channel, info) if info.purpose == "marketing" else None,
            ("holdout", "an enrollment in the control group") if info.holdout else None,
            self._check_exited(customer, start_seq, seq, info, journey),
            self._check_reentry(who, m, info, journey),
        ]
        if info.purpose == "marketing":
            checks += [self._check_caps(who, m), self._check_quiet(who, m)]
        for found in checks:
            if found is not None:
                self._flag(m, *found)
        self.judged.append((m, customer, info))

    def _flag(self, m: Accepted, rule: str, detail: str) -> None:
        self.violations.append(Violation(m, rule, detail))

    def _check_address(self, who: str, address: tuple[str, str]) -> tuple[str, str] | None:
        owner = self.owners.get(address)
        if owner is None:
            return ("address", f"{address[1]} belongs to no one (unlinked) — meant for {who}")
        if self.person(owner) != who:
            return ("address", f"{address[1]} belongs to {self.person(owner)}, not {who}")
        if address in self.suppressed:
            return ("suppression", f"{address[1]} is suppressed")
        return None

    def _check_consent(self, who: str, channel: str, purpose: str) -> tuple[str, str] | None:
        status = self.word(who, (channel, purpose))
        if purpose == "marketing" and status != "granted":
            return ("consent", f"{who}'s {channel} marketing consent is {status or 'never given'}")
        if purpose == "transactional" and status == "revoked":
            return ("consent", f"{who} revoked {channel} transactional messages")
        return None

    def _check_topic(self, who: str, channel: str, info: TouchInfo) -> tuple[str, str] | None:
        if info.topic and self.word(who, (channel, "topic"), ("all", "topic")) == "revoked":
            return ("topic", f"{who} left {info.topic} on {channel}")
        return None

    def _check_exited(
        self, customer: str, start_seq: int, seq: int, info: TouchInfo, journey: JourneyRules
    ) -> tuple[str, str] | None:
        for exit_seq, etype, at, exiting in self.exits:
            if (
                etype in journey.exit_on
                and start_seq < exit_seq < seq
                and at >= info.trigger_at
                and self.person(exiting, exit_seq) == self.person(customer, exit_seq)
            ):
                return ("exit", f"{etype} at {at:%a %H:%M} ended the enrollment")
        return None

    def _check_reentry(
        self, who: str, m: Accepted, info: TouchInfo, journey: JourneyRules
    ) -> tuple[str, str] | None:
        if not journey.once:
            return None
        for earlier, customer, other in self.judged:
            if (other.journey_key, other.step_id) == (info.journey_key, info.step_id) and (
                self.person(customer) == who
            ):
                return (
                    "reentry",
                    f"{who} already had {info.journey_key}/{info.step_id} at "
                    f"{earlier.at:%a %H:%M} (reentry: once)",
                )
        return None

    def _check_caps(self, who: str, m: Accepted) -> tuple[str, str] | None:
        def count(window: timedelta) -> int:
            return sum(
                1
                for earlier, customer, info in self.judged
                if info.purpose == "marketing"
                and earlier.at > m.at - window
                and self.person(customer) == who
            )

        cap, own = self.rules.marketing_cap, self.stated(who, "max_per_week")
        if cap and (n := count(self.rules.cap_window)) >= cap:
            return ("cap", f"{who} already had {n} marketing messages (company cap {cap})")
        if own and (n := count(OWN_LIMIT_WINDOW)) >= own:
            return ("cap", f"{who} already had {n} marketing messages (own limit {own}/week)")
        return None

    def _check_quiet(self, who: str, m: Accepted) -> tuple[str, str] | None:
        zone = self.stated(who, "timezone") or self.rules.default_timezone
        local = m.at.astimezone(ZoneInfo(zone))
        own = self.stated(who, "quiet_hours")
        if own and in_window(local.time(), (_hhmm(own["start"]), _hhmm(own["end"]))):
            return ("quiet hours", f"{local:%H:%M} {zone} is within {who}'s quiet hours")
        if (
            m.channel == "sms"
            and self.rules.sms_quiet
            and in_window(local.time(), self.rules.sms_quiet)
        ):
            return ("quiet hours", f"{local:%H:%M} {zone} is within the company's SMS quiet hours")  # fmt: skip
        return None


def _hhmm(text: str) -> time:
    return time.fromisoformat(text)


def judge(
    facts: Iterable[Fact],
    accepted: Sequence[Accepted],
    touches: Mapping[str, TouchInfo],
    rules: Rules,
    journeys: Mapping[str, JourneyRules] | None = None,
) -> list[Violation]:
    """Every rule every accepted message broke, in the order they were accepted."""
    replay = Replay(rules, journeys or journey_rules(), touches)
    by_run: dict[int, list[Accepted]] = {}
    for message in accepted:
        by_run.setdefault(message.seq, []).append(message)
    for fact in sorted(facts, key=lambda f: f.seq):
        replay.apply(fact, sorted(by_run.pop(fact.seq, []), key=lambda m: m.index))
    for leftover in by_run.values():  # messages of no advance run: the world lost track
        for message in leftover:
            replay.violations.append(Violation(message, "unknown message", "not from a run"))
    return replay.violations
