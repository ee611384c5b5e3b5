"""Batch task-run names and summaries in the words operators use."""

from touchline.engine import BatchReport
from touchline.engine.report import batch_name, counts_in_words, reasons_markdown, touch_table


def _report() -> BatchReport:
    report = BatchReport(claimed=415)
    report.steps[("welcome", "welcome_email")] += 415
    report.steps[("welcome", "wait_two_days")] += 412
    for _ in range(412):
        report.touch("welcome", "welcome_email", "email", "sent")
    for _ in range(3):
        report.touch("welcome", "welcome_email", "email", "skipped", "no email consent")
    report.parked = 412
    return report


def test_a_batch_is_named_for_its_send_step_and_what_it_did() -> None:
    assert batch_name(3, _report()) == (
        "batch 3 | welcome/welcome_email | 412 sent, 3 skipped, 412 waiting"
    )


def test_a_batch_spanning_send_steps_names_the_busiest_and_counts_the_others() -> None:
    report = _report()
    report.touch("cart_abandonment", "cart_email", "email", "deferred", "quiet hours")
    assert batch_name(1, report).startswith("batch 1 | welcome/welcome_email +1 | ")
    assert "1 deferred" in batch_name(1, report)


def test_an_empty_batch_says_why_and_nothing_done_says_so() -> None:
    assert batch_name(9, BatchReport()) == "batch 9 | nothing claimed (held by another run)"
    assert counts_in_words(BatchReport(claimed=2)) == "nothing to do"


def test_the_summary_speaks_of_waiting_and_deferred_not_parked() -> None:
    report = _report()
    report.retried_later = 2
    report.touch("welcome", "welcome_email", "email", "retrying", "provider unavailable")
    text = reasons_markdown(report, "Advance now")
    assert "sent **412**" in text and "**412** now waiting" in text
    assert "## To retry later (provider unavailable)" in text
    assert "parked" not in text.lower() and "claimed" not in text.lower()


def test_names_are_ascii_so_prefect_s_run_graph_draws_every_character() -> None:
    """The run graph draws task-run names in a bitmap font of the ASCII characters only."""
    report = _report()
    report.touch("cart_abandonment", "cart_email", "email", "deferred", "quiet hours")
    for name in (batch_name(12, report), batch_name(1, BatchReport())):
        assert name.isascii() and name.isprintable(), name


def test_touches_without_a_channel_are_labelled_not_dashed() -> None:
    """Prefect's UI renders table cells as markdown: a lone "-" would show as a bullet."""
    rows = touch_table(_report())
    assert {r["channel"] for r in rows} == {"email"}
    report = BatchReport(claimed=1)
    report.touch("welcome", "welcome_email", None, "skipped", "no consent")
    [row] = touch_table(report)
    assert row == {"journey": "welcome", "step": "welcome_email", "channel": "(none chosen)",
                   "outcome": "skipped", "touches": 1}  # fmt: skip
