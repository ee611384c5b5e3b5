"""Campaign launches: a segment file streamed into enrollments, resumable, never twice."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sandbox import SandboxClient
from tests.conftest import START
from tests.touchline.engine.test_language import advance, customer, send
from touchline import ids
from touchline.config import PROJECT_ROOT
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine
from touchline.errors import LaunchError, SegmentFileError
from touchline.journeys import load_journeys
from touchline.journeys.store import publish
from touchline.launch import LaunchReport, launch
from touchline.record import Enrollment, Interaction, Launch, Touch

SALE = Enrollment.journey_key == "winter_sale"


@pytest.fixture
def journeys(db: Database, catalog: TemplateCatalog) -> None:
    paths = [PROJECT_ROOT / "journeys" / n for n in ("winter_sale.yaml", "welcome.yaml")]
    with db.session() as session:
        for loaded in load_journeys(paths, catalog):
            publish(session, loaded, START)
        session.commit()


def audience(db: Database, count: int) -> list[str]:
    ids_ = [f"c{n}" for n in range(1, count + 1)]
    send(db, *(customer(c) for c in ids_))
    return ids_


def segment(tmp_path: Path, text: str, name: str = "segment.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def count(db: Database, model: type, *where: object) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_a_segment_is_enrolled_and_bad_rows_are_named_by_line(
    db: Database, journeys: None, tmp_path: Path
) -> None:
    audience(db, 5)
    path = segment(
        tmp_path,
        "\ufeffcustomer_id,discount,store\n"  # a spreadsheet's byte-order mark
        "c1,30%,Lyon\n"
        "c2,20%,\n"
        "\n"
        ",10%,Paris\n"  # line 5: no customer id
        "c3,15%\n"  # line 6: a field short
        "c2,20%,\n"  # listed twice
        "ghost,10%,Nice\n"  # line 8: not in the record
        '"c4","25%","Saint-Étienne, Loire"\n'
        "c5,5%,Lille\n",
    )
    report = launch(db, "winter_sale", path, now=START, batch_size=3)

    assert report.enrolled == 4  # c1 c2 c4 c5
    assert (report.rows_read, report.already_enrolled, report.unknown_customers) == (8, 1, 1)
    assert [str(r) for r in report.rejected] == [
        "line 5: customer_id is empty",
        "line 6: 2 fields, the header has 3",
    ]
    assert report.unknown_sample == [(8, "ghost")]
    with db.session() as session:
        rows = {e.customer_id: e for e in session.execute(select(Enrollment).where(SALE)).scalars()}
        stored = session.get(Launch, report.launch_id)
    assert set(rows) == {"c1", "c2", "c4", "c5"}
    assert rows["c4"].context["segment"] == {"discount": "25%", "store": "Saint-Étienne, Loire"}
    assert rows["c1"].context["launch"] == {"id": report.launch_id, "name": report.name}
    assert all(e.current_step == "announce" and e.next_action_at == START for e in rows.values())
    assert stored is not None and stored.status == "finished"
    assert (stored.rows_read, stored.enrolled, stored.rejected_rows) == (8, 4, 2)


def test_launching_the_same_file_again_enrolls_nobody(
    db: Database, journeys: None, tmp_path: Path
) -> None:
    audience(db, 3)
    path = segment(tmp_path, "customer_id\nc1\nc2\nc3\n")
    first = launch(db, "winter_sale", path, now=START)
    again = launch(db, "winter_sale", path, now=START)
    assert first.enrolled == 3
    assert again.already_finished and again.name == first.name
    assert count(db, Enrollment, SALE) == 3


def test_an_interrupted_launch_resumes_after_its_last_committed_batch(
    db: Database, journeys: None, tmp_path: Path
) -> None:
    customers = audience(db, 25)
    path = segment(tmp_path, "customer_id\n" + "\n".join(customers) + "\n")

    def interrupt(report: LaunchReport, done: int, size: int) -> None:
        if report.rows_read >= 10:
            raise KeyboardInterrupt  # Ctrl-C, or the process dying, between batches

    with pytest.raises(KeyboardInterrupt):
        launch(db, "winter_sale", path, now=START, batch_size=4, on_progress=interrupt)
    assert count(db, Enrollment, SALE) == 12  # three batches of four committed

    resumed = launch(db, "winter_sale", path, now=START, batch_size=4)
    assert resumed.resumed and resumed.skipped_rows == 12
    assert (resumed.rows_read, resumed.enrolled, resumed.already_enrolled) == (13, 13, 0)
    assert count(db, Enrollment, SALE) == 25
    with db.session() as session:
        stored = session.get(Launch, resumed.launch_id)
    assert stored is not None
    assert (stored.status, stored.rows_read, stored.enrolled, stored.runs) == (
        "finished",
        25,
        25,
        2,
    )


def test_an_edited_file_is_read_from_the_top_and_still_enrolls_nobody_twice(
    db: Database, journeys: None, tmp_path: Path
) -> None:
    audience(db, 6)
    path = segment(tmp_path, "customer_id\nc1\nc2\nc3\n")
    first = launch(db, "winter_sale", path, now=START, name="december")
    path.write_text("customer_id\nc1\nc2\nc3\nc4\nc5\nc6\n")
    second = launch(db, "winter_sale", path, now=START, name="december")
    assert (first.enrolled, second.enrolled, second.already_enrolled) == (3, 3, 3)
    assert second.file_changed
    assert count(db, Enrollment, SALE) == 6
    # A launch under another name is another campaign: the journey re-enters every launch.
    third = launch(db, "winter_sale", path, now=START, name="january")
    assert third.enrolled == 6 and count(db, Enrollment, SALE) == 12


def test_only_segment_journeys_are_launched_and_a_file_needs_customer_ids(
    db: Database, journeys: None, tmp_path: Path
) -> None:
    audience(db, 1)
    with pytest.raises(LaunchError, match=r"starts on event customer\.signed_up"):
        launch(db, "welcome", segment(tmp_path, "customer_id\nc1\n"), now=START)
    with pytest.raises(SegmentFileError, match=r"segment.csv:1: header: no 'customer_id' column"):
        launch(db, "winter_sale", segment(tmp_path, "email\na@example.com\n"), now=START)
    with pytest.raises(SegmentFileError, match="the file is empty"):
        launch(db, "winter_sale", segment(tmp_path, "", "empty.csv"), now=START)
    assert count(db, Enrollment, SALE) == 0


def test_launched_customers_are_sent_the_campaign_with_their_segment_columns(
    engine: Engine, db: Database, journeys: None, tmp_path: Path, sandbox_client: SandboxClient
) -> None:
    customers = audience(db, 40)
    rows = "\n".join(f"{c},{10 + n}%" for n, c in enumerate(customers))
    report = launch(
        db, "winter_sale", segment(tmp_path, f"customer_id,discount\n{rows}\n"), now=START
    )
    # The announcement goes at each customer's best hour within 12 hours: decided now, sent
    # by the run at the end of the window at the latest.
    advance(engine, START)
    advance(engine, START + timedelta(hours=12))

    held_out = {
        c for c in customers
        if ids.fraction("holdout", "winter_sale", c) * 100 < 10
    }  # fmt: skip
    with db.session() as session:
        announced = dict(
            session.execute(
                select(Touch.customer_id, Interaction.kind)
                .join(Interaction, Interaction.touch_id == Touch.id)
                .where(Touch.step_id == "announce", Interaction.kind.in_(["sent", "skipped"]))
            ).all()
        )
    assert report.enrolled == 40 and len(announced) == 40
    assert {c for c, kind in announced.items() if kind == "skipped"} == held_out
    campaign = {t for t, kind in _touches(db, "announce").items() if kind == "sent"}
    texts = [m["subject"] for m in sandbox_client.emails() if m["touch_id"] in campaign]
    texts += [m["body"] for m in sandbox_client.sms() if m["touch_id"] in campaign]
    assert len(texts) == 40 - len(held_out)
    # Each customer's own segment column reached their message.
    assert sum("% off" in t for t in texts) == len(texts)
    assert len({t.split("% off")[0][-2:] for t in texts}) > 20


def _touches(db: Database, step: str) -> dict[str, str]:
    """Touch id → its outcome (sent, skipped, failed). Only outcomes: a touch also has
    delivered/opened rows from webhooks, and which of its rows came last is not its outcome."""
    with db.session() as session:
        return dict(
            session.execute(
                select(Touch.id, Interaction.kind)
                .join(Interaction, Interaction.touch_id == Touch.id)
                .where(Touch.step_id == step, Interaction.kind.in_(["sent", "skipped", "failed"]))
            ).all()
        )
