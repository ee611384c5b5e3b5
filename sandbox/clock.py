"""The sandbox's time: the wall clock, or a time the demo or a test sets.

Engagement (delivered, opened, clicked…) is scheduled in sandbox time and reported by
webhook only once sandbox time reaches it, so a fast-forwarded journey sees opens arrive
after they happen, never before.
"""

from __future__ import annotations

from datetime import UTC, datetime


class SandboxClock:
    def __init__(self) -> None:
        self._fixed: datetime | None = None

    @property
    def is_manual(self) -> bool:
        return self._fixed is not None

    def now(self) -> datetime:
        return self._fixed if self._fixed is not None else datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("sandbox time needs a time zone")
        moment = moment.astimezone(UTC)
        if self._fixed is not None and moment < self._fixed:
            raise ValueError(f"sandbox time cannot go back from {self._fixed.isoformat()}")
        self._fixed = moment

    def release(self) -> None:
        """Back to the wall clock."""
        self._fixed = None
