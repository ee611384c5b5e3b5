"""What a step decides for an enrollment: move on, wait, or end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Continue:
    """Go to ``next_step`` now (None: the journey's end; "exit": leave)."""

    next_step: str | None
    reason: str | None = None


@dataclass(frozen=True)
class Park:
    """Come back at ``until`` to the same step — sooner if an event of type ``waiting_for``
    arrives for the customer."""

    until: datetime
    reason: str | None = None
    waiting_for: str | None = None


@dataclass(frozen=True)
class End:
    status: str
    reason: str


Transition = Continue | Park | End
