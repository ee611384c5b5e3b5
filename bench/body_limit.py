"""What an oversized unsigned body costs the API: its resident memory before and after.

Starts ``touchline api serve`` in its own process (SQLite, sandbox mode), reads its RSS
(VmRSS) and peak RSS (VmHWM) from /proc, then posts a large unsigned body (256 MiB by default)
to the SendGrid webhook and to POST /events, once with a declared Content-Length and once
chunked, and reads them again. The body is generated on the fly: the client holds 1 MiB.

    python -m bench.body_limit                   # this checkout
    python -m bench.body_limit --source DIR      # another checkout's code (say, main's)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench._support import ROOT, free_port

MiB = 1024 * 1024
ROUTES = ["/webhooks/sendgrid/events", "/events"]


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def _body(mib: int) -> Iterator[bytes]:
    chunk = b"x" * MiB
    for _ in range(mib):
        yield chunk


def post(url: str, mib: int, declared: bool) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer dev-token"}
    if declared:
        headers["Content-Length"] = str(mib * MiB)
    started = time.perf_counter()
    try:
        response = httpx.post(url, content=_body(mib), headers=headers, timeout=300)
        status: int | str = response.status_code
    except httpx.TransportError as exc:  # the server closed while we were still sending
        status = f"closed ({type(exc).__name__})"
    return {"status": status, "seconds": time.perf_counter() - started}


def run(source: Path, mib: int) -> list[dict[str, Any]]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="touchline-body-") as home:
        env = {
            **os.environ,
            "TOUCHLINE_HOME": home,
            "TOUCHLINE_DATABASE_URL": f"sqlite:///{home}/api.db",
            "PYTHONPATH": str(source),
        }
        server = subprocess.Popen(
            [sys.executable, "-c", "from touchline.cli import main; main()", "api", "serve",
             "--port", str(port)],
            cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_healthy(base)
            httpx.get(f"{base}/openapi.json", timeout=10)  # warm: routes and models built
            rows = []
            for route in ROUTES:
                for declared in (True, False):
                    before = rss_mib(server.pid)
                    answer = post(base + route, mib, declared)
                    after = rss_mib(server.pid)
                    rows.append({"route": route, "declared": declared, "before": before,
                                 "after": after, **answer})  # fmt: skip
            return rows
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_healthy(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API at {base} did not start")


def report(rows: list[dict[str, Any]], source: Path, mib: int) -> None:
    print(f"API from {source}; {mib} MiB unsigned body per request")
    print(f"{'route':28} {'length':9} {'status':>8} {'s':>6} {'RSS before':>11} "
          f"{'RSS after':>10} {'peak after':>11}")  # fmt: skip
    for row in rows:
        print(f"{row['route']:28} {'declared' if row['declared'] else 'chunked':9} "
              f"{row['status']!s:>8} {row['seconds']:6.1f} {row['before'][0]:8.0f} MiB "
              f"{row['after'][0]:7.0f} MiB {row['after'][1]:8.0f} MiB")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout to run the API from")
    parser.add_argument("--mib", type=int, default=256, help="body size in MiB")
    args = parser.parse_args(argv)
    report(run(args.source.resolve(), args.mib), args.source.resolve(), args.mib)


if __name__ == "__main__":
    main()
