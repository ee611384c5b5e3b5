"""One measured phase of a benchmark, in a process of its own (`python -m bench.phase MODE`).

Prints one JSON line: the phase's figures and this process's peak RSS.

- ``floor``: decide + render + insert (enrollment, touch, outcome) in a tight loop over the
  segment — no Prefect, no HTTP, no claims: the least the work can cost here.
- ``ours``: the launch-campaign flow, then the advance-journeys flow, through Prefect
  (ephemeral server, started before the clock runs), the real SDKs and the emulators.
- ``naive``: one Prefect task per touch, each deciding, rendering, sending and recording
  alone: half the sample in a plain loop of task calls, half with ``.map`` over 8 threads
  (the same concurrency as our dispatch).
- ``launch``: ``touchline launch``'s function alone, for memory on a large segment.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import resource
import time
import uuid
from pathlib import Path
from typing import Any

from bench._support import NOW, peak_rss_mib
from touchline.config import configure_prefect_defaults, get_settings

BATCH = 500


def floor(url: str, segment: Path) -> dict[str, Any]:
    from preference_center import SendRequest, decide, load_profiles
    from touchline import ids
    from touchline.db import Database, insert_ignoring_duplicates
    from touchline.engine import Engine
    from touchline.engine.enroll import LiveJourney, enrollment_row
    from touchline.engine.messages import build_message, template_context
    from touchline.journeys.model import JourneyDefinition
    from touchline.journeys.store import find_version
    from touchline.record import Enrollment, Interaction, Touch

    settings = get_settings()
    db = Database(url)
    engine = Engine.from_settings(settings, db)
    with db.session() as session:
        stored = find_version(session, "bench_launch")
        definition = JourneyDefinition.model_validate(stored.definition)
    journey = LiveJourney(stored.id, stored.version, definition)  # type: ignore[arg-type]
    step = definition.steps[0]
    request = SendRequest(
        purpose=definition.purpose,
        channels=step.candidate_channels,
        available=engine.catalog.channels_for(step.template),
        policy=step.policy,
    )
    touches = 0
    began = time.perf_counter()
    with segment.open() as stream:
        rows = csv.DictReader(stream)
        while chunk := list(itertools.islice(rows, BATCH)):
            with db.session() as session:
                enrollments = []
                for row in chunk:
                    data = enrollment_row(
                        journey, row["customer_id"], "floor", NOW, trigger_at=NOW,
                        trigger_event_id=None, context={"segment": {"discount": row["discount"]}},
                    )  # fmt: skip
                    data.update(status="completed", current_step=None, next_action_at=None)
                    enrollments.append(data)
                profiles = load_profiles(session, {e["customer_id"] for e in enrollments})
                touch_rows, outcome_rows = [], []
                for data in enrollments:
                    enrollment = Enrollment(**data)
                    profile = profiles[enrollment.customer_id]
                    decision = decide(profile, request, NOW, engine.policy)
                    tid = ids.touch_id(enrollment.id, step.id)
                    context = template_context(
                        settings, definition, step, enrollment, profile, tid, decision.channel, NOW
                    )
                    _message, detail = build_message(
                        engine.catalog, settings, definition, step, decision.channel,
                        decision.address, tid, context, profile.locale,
                    )  # fmt: skip
                    touch_rows.append(
                        {
                            "id": tid, "enrollment_id": enrollment.id, "customer_id": enrollment.customer_id,
                            "journey_key": definition.key, "journey_version": journey.version,
                            "step_id": step.id, "purpose": definition.purpose, "template": step.template,
                            "channel": decision.channel, "address": decision.address,
                            "decision": decision.to_record(), "scheduled_for": NOW, "created_at": NOW,
                        }
                    )  # fmt: skip
                    outcome_rows.append(
                        {
                            "id": ids.interaction_id(tid, "outcome"), "touch_id": tid,
                            "customer_id": enrollment.customer_id, "kind": "sent",
                            "channel": decision.channel, "provider": "floor",
                            "provider_message_id": uuid.uuid4().hex, "occurred_at": NOW,
                            "recorded_at": NOW, "detail": detail,
                        }
                    )  # fmt: skip
                insert_ignoring_duplicates(
                    session, Enrollment, enrollments, conflict_columns=["id"]
                )
                insert_ignoring_duplicates(session, Touch, touch_rows, conflict_columns=["id"])
                insert_ignoring_duplicates(
                    session, Interaction, outcome_rows, conflict_columns=["id"]
                )
                session.commit()
                touches += len(touch_rows)
    seconds = time.perf_counter() - began
    engine.close()
    return {"touches": touches, "seconds": seconds}


def _prefect() -> Any:
    configure_prefect_defaults()
    from prefect import flow
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        """Starts the ephemeral server, so that its start-up is not counted."""

    context = temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
    context.__enter__()
    warm_up()
    return context


def ours(url: str, segment: Path, processes: int = 1) -> dict[str, Any]:
    _prefect()
    from flows.advance import advance_journeys
    from flows.launch import launch_campaign

    began = time.perf_counter()
    launched = launch_campaign("bench_launch", str(segment), name=f"bench-{processes}", as_of=NOW)
    enrolled_at = time.perf_counter()
    advanced = advance_journeys(as_of=NOW, batch_size=BATCH, processes=processes)
    done = time.perf_counter()
    return {
        "enrolled": launched["enrolled"],
        "sent": advanced["sent"],
        "failed": advanced["failed"],
        "skipped": advanced["skipped"],
        "launch_seconds": enrolled_at - began,
        "advance_seconds": done - enrolled_at,
        "seconds": done - began,
    }


def naive(url: str, segment: Path) -> dict[str, Any]:
    _prefect()
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner
    from sqlalchemy import select

    from flows import _runtime
    from preference_center import SendRequest, decide, load_profiles
    from touchline import ids
    from touchline.engine.messages import build_message, template_context
    from touchline.launch import launch
    from touchline.record import Enrollment, Interaction, Touch

    engine = _runtime.engine()
    launch(engine.db, "bench_launch", segment, now=NOW, name="naive")
    with engine.db.session() as session:
        due = list(
            session.execute(
                select(Enrollment.id).where(
                    Enrollment.journey_key == "bench_launch", Enrollment.status == "active"
                )
            ).scalars()
        )

    @task(name="send-one")
    def send_one(enrollment_id: str) -> str:
        with engine.db.session() as session:
            enrollment = session.get(Enrollment, enrollment_id)
            assert enrollment is not None
            definition = engine.definitions.get(session, enrollment.journey_id)
            step = definition.steps[0]
            request = SendRequest(
                definition.purpose, step.candidate_channels,
                engine.catalog.channels_for(step.template), step.policy,
            )  # fmt: skip
            profile = load_profiles(session, {enrollment.customer_id})[enrollment.customer_id]
            decision = decide(profile, request, NOW, engine.policy)
            tid = ids.touch_id(enrollment.id, step.id)
            session.add(
                Touch(
                    id=tid, enrollment_id=enrollment.id, customer_id=enrollment.customer_id,
                    journey_key=definition.key, journey_version=enrollment.journey_version,
                    step_id=step.id, purpose=definition.purpose, template=step.template,
                    channel=decision.channel, address=decision.address,
                    decision=decision.to_record(), scheduled_for=NOW, created_at=NOW,
                )
            )  # fmt: skip
            session.commit()
            context = template_context(
                engine.settings, definition, step, enrollment, profile, tid, decision.channel, NOW
            )
            message, detail = build_message(
                engine.catalog, engine.settings, definition, step, decision.channel,
                decision.address, tid, context, profile.locale,
            )  # fmt: skip
            receipt = engine.channels[decision.channel].send(message)
            session.add(
                Interaction(
                    id=ids.interaction_id(tid, "outcome"), touch_id=tid,
                    customer_id=enrollment.customer_id, kind="sent", channel=decision.channel,
                    provider=receipt.provider, provider_message_id=receipt.provider_message_id,
                    occurred_at=NOW, recorded_at=NOW, detail=detail,
                )
            )  # fmt: skip
            enrollment.status, enrollment.next_action_at = "completed", None
            session.commit()
            return receipt.provider_message_id

    @flow(name="bench-naive-threads", task_runner=ThreadPoolTaskRunner(max_workers=8))
    def mapped(enrollment_ids: list[str]) -> int:
        return len(send_one.map(enrollment_ids).result())

    @flow(name="bench-naive-loop")
    def looped(enrollment_ids: list[str]) -> int:
        return len([send_one(e) for e in enrollment_ids])

    half = len(due) // 2
    began = time.perf_counter()
    sent_looped = looped(due[:half])
    looped_seconds = time.perf_counter() - began
    began = time.perf_counter()
    sent_mapped = mapped(due[half:])
    mapped_seconds = time.perf_counter() - began
    # The faster of the two is the baseline: the comparison is with the naive design at
    # its best, not at its worst.
    return {
        "sent": sent_mapped,
        "seconds": mapped_seconds,
        "loop": {"sent": sent_looped, "seconds": looped_seconds},
    }


def launch_only(url: str, segment: Path) -> dict[str, Any]:
    from touchline.db import Database
    from touchline.launch import launch

    began = time.perf_counter()
    report = launch(
        Database(url), "bench_launch", segment, now=NOW, batch_size=get_settings().launch_batch_size
    )
    return {
        "enrolled": report.enrolled,
        "rows": report.rows_read,
        "seconds": time.perf_counter() - began,
    }


MODES = {"floor": floor, "ours": ours, "naive": naive, "launch": launch_only}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--segment", type=Path, required=True)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    import os

    os.environ["TOUCHLINE_DATABASE_URL"] = args.database_url
    os.environ.setdefault("TOUCHLINE_HOME", str(args.workdir / "home"))
    extra = {"processes": args.processes} if args.mode == "ours" else {}
    result = MODES[args.mode](args.database_url, args.segment, **extra)
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    # The largest process this one waited for: batch worker processes, Prefect's server.
    result["children_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
