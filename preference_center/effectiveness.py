"""Which channel works for a customer: engagement rates, smoothed, with a minimum-data rule.

A customer's rate on a channel is pulled toward the channel's prior rate — strongly when
they have few messages, hardly at all when they have many (a beta-binomial posterior mean).
Below the minimum data (Braze uses 3 messages on 2 channels) no ranking is claimed at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from preference_center.history import History

MIN_MESSAGES = 3
MIN_CHANNELS = 2


@dataclass(frozen=True)
class Ranking:
    channels: tuple[str, ...]  # best first; empty when there is not enough data
    rates: Mapping[str, float]
    explanation: str


def rank_channels(
    history: History,
    candidates: tuple[str, ...],
    prior: Mapping[str, float],
    strength: float,
) -> Ranking:
    stats = history.by_channel
    used = [c for c in candidates if stats.get(c) and stats[c].sent]
    messages = sum(stats[c].sent for c in used)
    if messages < MIN_MESSAGES or len(used) < MIN_CHANNELS:
        return Ranking(
            (),
            {},
            f"not enough data to rank channels ({messages} messages on {len(used)} channels; "
            f"needs {MIN_MESSAGES} on {MIN_CHANNELS})",
        )
    rates = {}
    for channel in candidates:
        s = stats.get(channel)
        sent, engaged = (s.sent, s.engaged) if s else (0, 0)
        rates[channel] = (engaged + prior.get(channel, 0.2) * strength) / (sent + strength)
    order = tuple(sorted(candidates, key=lambda c: (-rates[c], candidates.index(c))))
    shown = ", ".join(
        f"{c} {rates[c]:.0%} ({stats[c].engaged if c in stats else 0} of {stats[c].sent if c in stats else 0})"
        for c in order
    )
    return Ranking(order, rates, f"engagement: {shown}")
