"""The served stack as `make serve` starts it (Prefect server on SQLite, deployments,
automations, a process worker, the API, the emulators — each its own process):

- every provider webhook reaches the record through the served API: SendGrid's Event
  Webhook (delivered, opened …), Twilio's status callbacks, X's Account Activity (a
  mention that starts service recovery, whose DM goes out through the deployed run);
- a worker killed with its flow run leaves that run Crashed, by the heartbeat automation,
  within a few minutes;
- the Prefect server starts without "database is locked" errors.

Slow (a minute to start, up to two more for the crash); the kill comes last because it
leaves the stack without a worker.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox import SandboxClient
from tests.served import post_events, wait
from touchline.db import Database
from touchline.record import Interaction, Touch
from touchline.serve import RunningStack
from touchline.serve.prefect_api import PrefectApi
from touchline.serve.processes import STACK_MARKER
from touchline.serve.server_log import locked_requests

pytestmark = [pytest.mark.prefect]


def _kinds(db: Database, customer: str) -> dict[str, set[str]]:
    """step -> interaction kinds recorded for the customer's touches there."""
    with db.session() as session:
        rows = session.execute(
            select(Touch.step_id, Interaction.kind)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(Touch.customer_id == customer)
        ).all()
    found: dict[str, set[str]] = {}
    for step, kind in rows:
        found.setdefault(step, set()).add(kind)
    return found


def test_the_supervisor_s_requests_meet_no_database_locked_errors(stack: RunningStack) -> None:
    """The stack's own writes wait for the scheduler's first pass and go before the workers
    poll. What remains on SQLite is `prefect deploy` meeting Prefect's own services (0-2 per
    start, retried by Prefect's client; none on PostgreSQL): docs/operations.md."""
    locked = locked_requests(stack.plan.logs / "prefect-server.log")
    ours = {"deployments.create_flow_run_from_deployment", "automations.create_automation",
            "automations.update_automation", "flow_runs.set_flow_run_state"}  # fmt: skip
    assert not ours & set(locked), locked
    assert len(locked) <= 2, locked


def test_every_provider_webhook_reaches_the_record_through_the_served_api(
    stack: RunningStack,
) -> None:
    plan = stack.plan
    sendgrid, twilio = SandboxClient(plan.sendgrid_url), SandboxClient(plan.twilio_url)
    x = SandboxClient(plan.x_url)
    db = Database(plan.database_url)
    cid = f"s{uuid.uuid4().hex[:8]}"
    handle = f"fan_{cid}"
    try:
        assert post_events(stack, [{
            "id": f"signup-{cid}", "type": "customer.signed_up", "customer_id": cid,
            "occurred_at": datetime.now(UTC).isoformat(),
            "profile": {"email": f"{cid}@example.com", "phone": "+14155550142",
                        "x_handle": handle, "attributes": {"first_name": "Ada"}},
            "preferences": {"timezone": "UTC"},
            "consents": [{"channel": "email", "purpose": "marketing", "status": "granted"},
                         {"channel": "sms", "purpose": "marketing", "status": "granted"}],
        }])["enrolled"] >= 1  # fmt: skip
        # Sent by the deployed advance-continuously run: the welcome email, and the text
        # asking to confirm SMS marketing (double opt-in).
        [email] = wait("the welcome email", lambda: sendgrid.emails(to=f"{cid}@example.com"))
        [text] = wait("the SMS confirmation request", lambda: twilio.sms(to="+14155550142"))
        # X Account Activity: a public mention, signed by the emulator, posted to
        # /webhooks/x; service recovery enrolls the customer and the run sends the DM.
        answer = x.x_inbound(handle, "Still waiting for my refund. Disappointed.", "mention")
        assert answer["posted"] and answer["status"] == 200, answer
        wait("the apology DM sent", lambda: "sent" in _kinds(db, cid).get("apology_dm", set()),
              timeout=60)  # fmt: skip
        assert x.direct_messages()
        # Delivery webhooks come as the emulators post them, on the wall clock (within
        # 45 s of the send): SendGrid's Event Webhook and Twilio's status callback, to the
        # served API. (Moving the emulators' clock ahead would post events the API refuses
        # as older than TOUCHLINE_SENDGRID_WEBHOOK_MAX_AGE from its point of view.)
        email_outcomes, sms_outcomes = {"delivered", "bounced"}, {"delivered", "undelivered"}
        kinds = wait(
            "delivery webhooks in the record",
            lambda: (
                (k := _kinds(db, cid))
                and email_outcomes & k.get("welcome_email", set())
                and sms_outcomes & k.get("ask_to_confirm", set())
                and k
            ),
            timeout=120,
        )
        assert "sent" in kinds["welcome_email"] and "sent" in kinds["ask_to_confirm"]
        assert "sent" in kinds["apology_dm"]
        assert {email["touch_id"], text["touch_id"]} <= set(_touch_ids(db, cid))
    finally:
        for client in (sendgrid, twilio, x):
            client.close()
        db.dispose()


def _touch_ids(db: Database, customer: str) -> list[str]:
    with db.session() as session:
        return list(
            session.execute(select(Touch.id).where(Touch.customer_id == customer)).scalars()
        )


def _flow_run_processes(state_dir: Path, flow_run_id: str) -> list[int]:
    """This stack's processes running the flow run (the process worker starts each run in a
    session of its own, with the run's id in its environment)."""
    marker = f"{STACK_MARKER}={state_dir.resolve()}".encode()
    wanted = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ and wanted in environ:
            found.append(int(entry.name))
    return found


def test_a_killed_worker_leaves_its_run_crashed(stack: RunningStack, prefect: PrefectApi) -> None:
    plan = stack.plan
    [running] = wait("a running advance-continuously run", lambda: [
        r for r in prefect._post("/flow_runs/filter", {
            "flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}},
            "flows": {"name": {"any_": ["advance-continuously"]}}})
    ][:1])  # fmt: skip
    run_id = running["id"]
    # The automation arms on a heartbeat (every 30 s on the stack): let the run send one.
    started = datetime.fromisoformat(running["start_time"].replace("Z", "+00:00"))
    time.sleep(max(0.0, (started + timedelta(seconds=40) - datetime.now(UTC)).total_seconds()))
    worker = json.loads((plan.pids / "worker-1.pid").read_text())["pid"]
    processes = _flow_run_processes(plan.state_dir, run_id)
    assert processes, "the flow run's process was not found"
    os.killpg(worker, signal.SIGKILL)  # the machine is gone: worker and run alike
    for pid in processes:
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    state = wait("the run marked Crashed", lambda: (
        s := prefect.flow_run(run_id)["state"]) and s["type"] == "CRASHED" and s,
        timeout=300)  # fmt: skip
    took = time.monotonic() - killed
    print(f"worker killed → run Crashed in {took:.0f} s")
    assert "heartbeat" in (state.get("message") or "")
    assert took < 180
