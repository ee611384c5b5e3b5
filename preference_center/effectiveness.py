"""Which channel works for a customer and this kind of message: learned rates, ranked.

The rates are the refresh's (``preference_center.learning``), already smoothed toward the
enclosing scope. Whose rates rank is the minimum-data rule (Braze's: 3 messages of the kind
on 2 of the candidate channels): the customer's own if they have that much, else their
segment's if it has, else everyone's; below it everywhere, no ranking is claimed at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from preference_center.learned import MIN_CHANNELS, MIN_MESSAGES, Figure, Learned, Scope
from touchline.words import counted


@dataclass(frozen=True)
class Ranking:
    channels: tuple[str, ...]  # best first; empty when there is not enough data
    rates: Mapping[str, float]
    explanation: str
    scope: str | None = None  # customer | segment | global: whose rates ranked


def rank_channels(
    learned: Learned, candidates: tuple[str, ...], kind: str, stated_order: tuple[str, ...]
) -> Ranking:
    """Ties go to the stated order, then to the candidates' order."""
    short: list[str] = []
    for scope in learned.scopes():
        if scope.has_enough(kind, candidates):
            return _ranked(learned, scope, candidates, kind, stated_order, short)
        messages, used = scope.volume(kind, candidates)
        short.append(f"{scope.label}: {counted(messages, 'message')} on {counted(used, 'channel')}")
    return Ranking(
        (),
        {},
        f"not enough data to rank channels for {kind} ({'; '.join(short)}; "
        f"needs {MIN_MESSAGES} on {MIN_CHANNELS})",
    )


def _ranked(
    learned: Learned,
    scope: Scope,
    candidates: tuple[str, ...],
    kind: str,
    stated_order: tuple[str, ...],
    short: list[str],
) -> Ranking:
    # A candidate the scope never used gets the enclosing scope's rate: the refresh's prior
    # for a channel with no messages of its own.
    enclosing = learned.scopes()[learned.scopes().index(scope) :]
    figures: dict[str, tuple[Figure, bool]] = {}
    for channel in candidates:
        found = [s.rates[(kind, channel)] for s in enclosing if (kind, channel) in s.rates]
        if found:
            figures[channel] = (found[0], (kind, channel) in scope.rates)
    preference = {c: n for n, c in enumerate(dict.fromkeys((*stated_order, *candidates)))}
    order = tuple(
        sorted(
            candidates,
            key=lambda c: (-figures[c][0].value if c in figures else 1.0, preference[c]),
        )
    )
    shown = ", ".join(_figure(c, *figures[c]) for c in order if c in figures)
    basis = f"{scope.label} for {kind}"
    if short:
        basis += f" ({'; '.join(short)})"
    return Ranking(
        order, {c: f.value for c, (f, _own) in figures.items()}, f"{shown} — {basis}", scope.scope
    )


def _figure(channel: str, figure: Figure, own: bool) -> str:
    if not own:
        return f"{channel} {figure.value:.0%} (none sent; the wider rate)"
    return f"{channel} {figure.value:.0%} ({figure.engaged} of {figure.sent})"
