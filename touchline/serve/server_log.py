"""Reading the Prefect server's log for what an operator should know about.

On SQLite, a Prefect transaction that has read and then writes fails at once with
"database is locked" when another connection committed a write in between (WAL mode does
not apply the busy timeout to that case, as waiting could deadlock); Prefect answers 503,
its client retries, and the server logs the error (the stack sets
PREFECT_API_LOG_RETRYABLE_ERRORS=true). ``locked_requests`` names the API endpoint of each.
"""

from __future__ import annotations

import re
from pathlib import Path

_FRAME = re.compile(r'File ".*/prefect/server/api/(\w+)\.py", line \d+, in (\w+)')


def locked_requests(log: Path) -> list[str]:
    """``module.function`` of the API endpoint of each retried "database is locked" error
    in the server's log, in order."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for start, line in enumerate(lines):
        if "Encountered retryable exception in request" not in line:
            continue
        endpoint, locked = None, False
        for following in lines[start + 1 : start + 400]:
            if following[:2].isdigit() and "|" in following:  # the next log record
                break
            if (frame := _FRAME.search(following)) and frame.group(1) != "server":
                endpoint = endpoint or f"{frame.group(1)}.{frame.group(2)}"
            locked = locked or "database is locked" in following
        if locked:
            found.append(endpoint or "(unknown endpoint)")
    return found
