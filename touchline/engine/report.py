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
    parked: int = 0  # now waiting: for their time, an event, a send window or a retry
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


# Prefect's UI renders each table cell as markdown: a lone "-" shows as a list bullet.
NO_CHANNEL = "(none chosen)"


def touch_table(report: BatchReport) -> list[dict[str, object]]:
    """Touches by journey, step, channel and outcome: one row each (for artifacts)."""
    return [
        {"journey": j, "step": s, "channel": NO_CHANNEL if c == "-" else c, "outcome": o,
         "touches": n}
        for (j, s, c, o), n in sorted(report.touches.items())
    ]  # fmt: skip


# What an operator calls each outcome, in the order they read them.
OUTCOME_WORDS = ("sent", "skipped", "failed", "deferred")


def counts_in_words(report: BatchReport) -> str:
    """``412 sent, 3 skipped, 20 waiting``: only what happened, in operators' words."""
    parts = [f"{report.count(o):,} {o}" for o in OUTCOME_WORDS if report.count(o)]
    if report.retried_later:
        parts.append(f"{report.retried_later:,} to retry later")
    if report.parked:
        parts.append(f"{report.parked:,} waiting")
    finished = sum(report.ended.values())
    if finished:
        parts.append(f"{finished:,} finished")
    return ", ".join(parts) or "nothing to do"


def main_step(report: BatchReport) -> str:
    """The send step most of the batch's touches came from (``welcome/welcome_email +2``
    when other send steps had touches too; the busiest step of any kind when nothing was
    sent): what a task-run name can say in a few words."""
    by_step: Counter[tuple[str, str]] = Counter()
    for (journey, step, _, _), n in report.touches.items():
        by_step[(journey, step)] += n
    by_step = by_step or report.steps
    if not by_step:
        return "no step"
    ordered = sorted(by_step.items(), key=lambda item: (-item[1], item[0]))
    (journey, step), _ = ordered[0]
    more = f" +{len(ordered) - 1}" if len(ordered) > 1 else ""
    return f"{journey}/{step}{more}"


# ASCII: the run graph of Prefect's UI draws task-run names in a bitmap font of the ASCII
# characters only, where a "·" simply vanished ("batch 3  welcome/welcome_email  412 sent").
NAME_SEPARATOR = " | "


def batch_name(number: int, report: BatchReport) -> str:
    """A batch task run's name, saying what it did:
    ``batch 3 | welcome/welcome_email | 412 sent, 3 skipped``."""
    if not report.claimed:
        return f"batch {number}{NAME_SEPARATOR}nothing claimed (held by another run)"
    return NAME_SEPARATOR.join((f"batch {number}", main_step(report), counts_in_words(report)))


def reasons_markdown(report: BatchReport, title: str) -> str:
    lines = [f"# {title}", ""]
    lines.append(
        f"Advanced **{report.claimed:,}** customers: sent **{report.count('sent'):,}**, "
        f"skipped **{report.count('skipped'):,}**, failed **{report.count('failed'):,}**, "
        f"deferred **{report.count('deferred'):,}** (held for quiet hours or a send time); "
        f"**{report.parked:,}** now waiting (for their next step's time, an event, or a "
        f"retry), **{report.retried_later:,}** of them to retry later."
    )
    if report.aborted:
        lines += ["", f"> **Stopped:** {report.aborted}"]
    headings = {
        "skipped": "Skipped",
        "failed": "Failed",
        "retrying": "To retry later (provider unavailable)",
        "deferred": "Deferred",
    }
    for outcome, heading in headings.items():
        rows = sorted(
            ((n, j, s, r) for (j, s, o, r), n in report.reasons.items() if o == outcome),
            reverse=True,
        )
        if rows:
            lines += [
                "",
                f"## {heading}",
                "",
                "| journey | step | reason | count |",
                "|---|---|---|---:|",
            ]
            lines += [f"| {j} | {s} | {r.replace('|', '/')} | {n:,} |" for n, j, s, r in rows]
    if report.ended:
        lines += [
            "",
            "## Finished",
            "",
            "| journey | status | reason | count |",
            "|---|---|---|---:|",
        ]
        lines += [f"| {j} | {st} | {r} | {n:,} |" for (j, st, r), n in sorted(report.ended.items())]
    return "\n".join(lines)
