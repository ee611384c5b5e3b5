"""What one advance did, counted for summaries, flow artifacts and tests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class BatchReport:
    claimed: int = 0
    steps: Counter[tuple[str, str]] = field(default_factory=Counter)  # (journey, step) executions
    # (journey, step, channel or "-", outcome): outcome is sent, failed, skipped or deferred
    touches: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    reasons: Counter[tuple[str, str, str, str]] = field(
        default_factory=Counter
    )  # (journey, step, outcome, reason)
    ended: Counter[tuple[str, str, str]] = field(
        default_factory=Counter
    )  # (journey, status, reason)
    parked: int = 0
    retried_later: int = 0
    aborted: str | None = None  # what the operator must do before the next run

    def touch(
        self, journey: str, step: str, channel: str | None, outcome: str, reason: str | None = None
    ) -> None:
        self.touches[(journey, step, channel or "-", outcome)] += 1
        if reason:
            self.reasons[(journey, step, outcome, reason)] += 1

    def merge(self, other: BatchReport) -> BatchReport:
        self.claimed += other.claimed
        self.steps.update(other.steps)
        self.touches.update(other.touches)
        self.reasons.update(other.reasons)
        self.ended.update(other.ended)
        self.parked += other.parked
        self.retried_later += other.retried_later
        self.aborted = self.aborted or other.aborted
        return self

    def count(self, outcome: str) -> int:
        return sum(n for (_, _, _, o), n in self.touches.items() if o == outcome)


def touch_table(report: BatchReport) -> list[dict[str, object]]:
    """Touches by journey, step, channel and outcome: one row each (for artifacts)."""
    return [
        {"journey": j, "step": s, "channel": c, "outcome": o, "touches": n}
        for (j, s, c, o), n in sorted(report.touches.items())
    ]


def reasons_markdown(report: BatchReport, title: str) -> str:
    lines = [f"# {title}", ""]
    lines.append(
        f"Claimed **{report.claimed}** enrollments; sent **{report.count('sent')}**, "
        f"failed **{report.count('failed')}**, skipped **{report.count('skipped')}**, "
        f"deferred **{report.count('deferred')}**; parked **{report.parked}**."
    )
    if report.aborted:
        lines += ["", f"> **Stopped:** {report.aborted}"]
    for outcome in ("skipped", "failed", "retrying", "deferred"):
        rows = sorted(
            ((n, j, s, r) for (j, s, o, r), n in report.reasons.items() if o == outcome),
            reverse=True,
        )
        if rows:
            lines += [
                "",
                f"## {outcome.capitalize()}",
                "",
                "| journey | step | reason | count |",
                "|---|---|---|---:|",
            ]
            lines += [f"| {j} | {s} | {r.replace('|', '/')} | {n} |" for n, j, s, r in rows]
    if report.ended:
        lines += ["", "## Ended", "", "| journey | status | reason | count |", "|---|---|---|---:|"]
        lines += [f"| {j} | {st} | {r} | {n} |" for (j, st, r), n in sorted(report.ended.items())]
    return "\n".join(lines)
