"""Background processes of the local stack: started in their own session with a log file
and a pid file, waited for by a health check, stopped by process group.

Every process started here carries ``TOUCHLINE_SERVE_STACK=<state dir>`` in its
environment, and so do its descendants (Prefect's process worker starts each flow run in a
session of its own, out of reach of the worker's process group): ``stop`` finds those too,
by that marker, among this user's processes only.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

STACK_MARKER = "TOUCHLINE_SERVE_STACK"


class StackError(RuntimeError):
    """The stack could not start (or stop): the message says which part and where its log is."""


@dataclass(frozen=True)
class Started:
    name: str
    pid: int
    log: Path


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(the log is empty)"


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A free port below the kernel's ephemeral range (32768+ on Linux), where programs that
    bind port 0 get theirs: a port picked there could be taken before the stack binds it."""
    taken: set[int] = set()
    while True:
        port = random.randrange(20_000, 32_000)
        if port not in taken and port_free(host, port):
            return port
        taken.add(port)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies (Linux)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn(
    name: str,
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    logs: Path,
    pids: Path,
    die_with_parent: bool = False,
) -> Started:
    """Start ``argv`` in the background, in a new session (its pid is its process group),
    output appended to ``logs/<name>.log``; the pid file names the command so that ``stop``
    never signals a recycled pid."""
    logs.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None,
        )  # fmt: skip
    (pids / f"{name}.pid").write_text(
        json.dumps({"pid": process.pid, "argv": argv, "log": str(log)})
    )
    return Started(name, process.pid, log)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def wait_healthy(
    started: Started,
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
) -> None:
    """Poll ``check`` until it passes; fail naming the log if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        if not alive(started.pid):
            raise StackError(
                f"{what} exited while starting; its log is {started.log}:\n{log_tail(started.log)}"
            )
        if time.monotonic() > deadline:
            raise StackError(
                f"{what} was not healthy within {timeout:.0f} s; its log is {started.log}:\n"
                f"{log_tail(started.log)}"
            )
        time.sleep(0.25)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        return httpx.get(url, timeout=2).status_code == 200

    return check


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _marked(marker: str) -> list[int]:
    """This user's processes whose environment carries the stack's marker."""
    found, me, uid = [], os.getpid(), os.getuid()
    needle = f"{STACK_MARKER}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def recorded(pids: Path) -> dict[str, int]:
    """Pid files whose process is still the one started (same command line)."""
    live: dict[str, int] = {}
    for path in sorted(pids.glob("*.pid")) if pids.is_dir() else []:
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid = int(entry["pid"])
        argv, cmdline = entry["argv"], _cmdline(pid)
        # A script run through its shebang shows the interpreter first.
        if alive(pid) and cmdline[-len(argv) :] == argv:
            live[path.stem] = pid
    return live


def terminate(pids: Path, marker: str, order: list[str], grace: float = 10.0) -> list[str]:
    """SIGTERM each recorded process group (in ``order`` of names first, then the rest), then
    any other process carrying the marker; SIGKILL what is left after ``grace`` seconds.
    Returns the names stopped. Safe to call when nothing runs."""
    live = recorded(pids)
    names = sorted(live, key=lambda n: (order.index(n.split("-")[0]) if n.split("-")[0] in order
                                        else len(order), n))  # fmt: skip
    targets: set[int] = set()
    for name in names:
        pid = live[name]
        targets.add(pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        # Each part gets a moment to finish its own children (the worker its flow runs)
        # before the next one goes.
        _wait_gone({pid}, min(grace, 3.0))
    for pid in _marked(marker):
        targets.add(pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    left = _wait_gone(targets, grace)
    for pid in left | set(_marked(marker)):
        for kill in (lambda p: os.killpg(p, signal.SIGKILL), lambda p: os.kill(p, signal.SIGKILL)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid)
    _wait_gone(left, 5.0)
    for path in pids.glob("*.pid") if pids.is_dir() else []:
        path.unlink(missing_ok=True)
    return names


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = {pid for pid in pids if alive(pid)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)
