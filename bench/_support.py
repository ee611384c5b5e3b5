"""What the benchmarks share: databases, an audience, the emulators in their own process,
and peak memory read from the kernel."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

# 10:00 in New York on a Monday: the audience's quiet hours are not in force.
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
PG_ADMIN = os.environ.get(
    "TOUCHLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ROOT = Path(__file__).resolve().parent.parent
TOUCHLINE = str(Path(sys.executable).parent / "touchline")

JOURNEY = """key: bench_launch
name: Benchmark launch
purpose: marketing
trigger: segment
reentry: every_event
context: {sale_code: SNOW25, sale_ends: December 6, shop_url: "https://shop.example"}
steps:
  - {id: announce, type: send, channel: preferred, template: winter_sale/announce}
"""


def peak_rss_mib() -> float:
    """This process's own peak resident memory (VmHWM), not its children's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A new, migrated database, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from touchline.db import Database

    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        Database(url).upgrade()
        try:
            yield url
        finally:
            path.unlink(missing_ok=True)
        return
    name = f"touchline_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        Database(url).upgrade()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_available() -> str | None:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_ADMIN, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return str(exc).splitlines()[0]


def customer_lines(count: int, prefix: str = "b") -> Iterator[tuple[int, str]]:
    """Import events for an audience split between email-first and SMS-first customers,
    all in New York, with both consents granted."""
    for n in range(count):
        yield (
            n + 1,
            json.dumps(
                {
                    "id": f"import-{prefix}{n}",
                    "type": "customer.imported",
                    "customer_id": f"{prefix}{n:07d}",
                    "occurred_at": NOW.isoformat(),
                    "profile": {
                        "email": f"{prefix}{n}@example.com",
                        "phone": f"+1212{2000000 + n:07d}",
                        "attributes": {"first_name": "Ann" if n % 3 else "Bo"},
                    },
                    "preferences": {
                        "timezone": "America/New_York",
                        "channel_order": ["email", "sms"] if n % 2 else ["sms", "email"],
                    },
                    "consents": [
                        {"channel": "email", "status": "granted"},
                        {"channel": "sms", "status": "granted"},
                    ],
                }
            ),
        )


def seed(url: str, count: int, prefix: str = "b") -> float:
    """The audience, through Touchline's own intake. Returns seconds taken."""
    from touchline.content import TemplateCatalog
    from touchline.db import Database
    from touchline.intake import ingest
    from touchline.journeys.loader import LoadedJourney, parse_journey
    from touchline.journeys.store import publish

    db = Database(url)
    began = time.perf_counter()
    report = ingest(db, customer_lines(count, prefix), now=NOW, source="bench", batch_size=2000)
    assert report.rejected_events == 0, report.rejected[:3]
    definition = parse_journey(JOURNEY, "bench.yaml", TemplateCatalog(ROOT / "templates"))
    with db.session() as session:
        publish(session, LoadedJourney(definition, ROOT / "bench" / "bench.yaml"), NOW)
        session.commit()
    db.dispose()
    return time.perf_counter() - began


def segment_file(path: Path, count: int, prefix: str = "b") -> Path:
    with path.open("w") as out:
        out.write("customer_id,discount\n")
        for n in range(count):
            out.write(f"{prefix}{n:07d},{10 + n % 30}%\n")
    return path


class Emulators:
    """The SendGrid and Twilio emulators in a process of their own, as a real provider is
    elsewhere: the worker's CPU is not shared with the far end's event loop."""

    def __init__(self, workdir: Path):
        self.sendgrid_port, self.twilio_port, self.x_port = free_port(), free_port(), free_port()
        self.sendgrid_url = f"http://127.0.0.1:{self.sendgrid_port}"
        self.twilio_url = f"http://127.0.0.1:{self.twilio_port}"
        self.x_url = f"http://127.0.0.1:{self.x_port}"
        env = {**os.environ, "TOUCHLINE_HOME": str(workdir / "sandbox-home")}
        self.process = subprocess.Popen(
            [TOUCHLINE, "sandbox", "serve", "--sendgrid-port", str(self.sendgrid_port),
             "--twilio-port", str(self.twilio_port), "--x-port", str(self.x_port),
             "--no-keep-bodies", "--no-webhooks"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.sendgrid_url}/_sandbox/stats", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the emulators did not start: {self.process.stderr.read() if self.process.stderr else ''}"
                    ) from None
                time.sleep(0.1)

    def env(self) -> dict[str, str]:
        return {
            "TOUCHLINE_SENDGRID_HOST": self.sendgrid_url,
            "TOUCHLINE_TWILIO_BASE_URL": self.twilio_url,
            "TOUCHLINE_X_API_BASE_URL": self.x_url,
        }

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.sendgrid_url}/_sandbox/stats", timeout=30).json()

    def settings(self) -> Any:
        """The defaults, pointed at these emulators (for benches that build channels)."""
        from touchline.config import Settings  # here: phases set the environment first

        return Settings(
            sendgrid_host=self.sendgrid_url,
            twilio_base_url=self.twilio_url,
            x_api_base_url=self.x_url,
            provider_timeout=30,
        )

    def reset(self, latency_ms: float = 0) -> None:
        """Forget what was received; ``latency_ms`` makes every request take that long, as
        a provider across the internet does (a reset clears faults, so it is set again)."""
        httpx.post(f"{self.sendgrid_url}/_sandbox/reset", json={}, timeout=30).raise_for_status()
        if latency_ms:
            for provider in ("sendgrid", "twilio", "x"):
                httpx.post(
                    f"{self.sendgrid_url}/_sandbox/faults/{provider}",
                    json={"latency_ms": latency_ms},
                    timeout=30,
                ).raise_for_status()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def run_phase(
    mode: str, url: str, workdir: Path, env: dict[str, str], *args: str
) -> dict[str, Any]:
    """Run one measured phase in a fresh process (its memory is its own); returns its JSON."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.phase", mode, "--database-url", url, "--workdir", str(workdir), *args],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"phase {mode} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])
