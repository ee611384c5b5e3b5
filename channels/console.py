"""A channel for dry runs: each message becomes one JSON line in a file (or on stdout).

It stands in for any channel (``TOUCHLINE_CHANNEL_OVERRIDE=console``): journeys, decisions,
markers and the record behave as in production, and nothing leaves the machine. The file is
the provider's log, so ``find_sent`` reads it back and a crashed dry run reconciles as a real
one does.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from channels.base import InDoubt, Message, Receipt, content_digest
from channels.errors import PermanentChannelError, ProviderConfigurationError

STDOUT = "-"


class ConsoleChannel:
    provider = "console"

    def __init__(self, channel: str, path: str | Path, *, lock: threading.Lock | None = None):
        self.name = channel
        self._path = str(path)
        # Channels sharing one file share one lock: their lines never interleave.
        self._lock = lock or threading.Lock()

    def send(self, message: Message) -> Receipt:
        message_id = f"console-{uuid.uuid4().hex}"
        line = {
            "provider_message_id": message_id,
            "channel": self.name,
            "written_at": datetime.now(UTC).isoformat(),
            "touch_id": message.touch_id,
            "dispatch_id": message.dispatch_id,
            "to": message.to,
            "digest": content_digest(message),
            "kind": type(message).__name__,
            "message": dataclasses.asdict(message),
        }
        try:
            text = json.dumps(line, ensure_ascii=False, default=str)
        except (TypeError, ValueError) as exc:
            raise PermanentChannelError(
                f"the message cannot be written as JSON: {exc}", provider=self.provider
            ) from exc
        with self._lock:
            if self._path == STDOUT:
                _write(sys.stdout, text)
            else:
                try:
                    Path(self._path).parent.mkdir(parents=True, exist_ok=True)
                    with open(self._path, "a", encoding="utf-8") as out:
                        _write(out, text)
                except OSError as exc:
                    # Nothing can be written until the path is fixed: stop, lose nothing.
                    raise ProviderConfigurationError(
                        f"cannot write to {self._path}: {exc.strerror or exc}",
                        provider=self.provider,
                    ) from exc
        return Receipt(self.provider, message_id, "written", {"path": self._path})

    def find_sent(
        self, in_doubt: Sequence[InDoubt], known_ids: frozenset[str]
    ) -> dict[str, Receipt]:
        """The lines this file holds for the in-doubt attempts (same attempt, recipient and
        content), by touch id."""
        if self._path == STDOUT:
            raise ProviderConfigurationError(
                "messages written to stdout cannot be read back to settle an interrupted "
                "send; set TOUCHLINE_CONSOLE_CHANNEL_PATH to a file",
                provider=self.provider,
            )
        wanted = {(i.touch_id, i.dispatch_id): i for i in in_doubt}
        found: dict[str, Receipt] = {}
        for line in self._lines():
            item = wanted.get((line.get("touch_id"), line.get("dispatch_id")))
            message_id = line.get("provider_message_id")
            if (
                item is None
                or message_id in known_ids
                or line.get("channel") != self.name
                or line.get("to") != item.to
                or line.get("digest") != item.digest
            ):
                continue
            found[item.touch_id] = Receipt(
                self.provider, str(message_id), "written", {"reconciled": True}
            )
        return found

    def _lines(self) -> list[dict[str, Any]]:
        try:
            with self._lock, open(self._path, encoding="utf-8") as source:
                raw = source.readlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ProviderConfigurationError(
                f"cannot read {self._path}: {exc.strerror or exc}", provider=self.provider
            ) from exc
        lines = []
        for text in raw:
            try:
                lines.append(json.loads(text))
            except ValueError:
                # A line cut short by a crash mid-write: that message was not written.
                continue
        return lines

    def close(self) -> None:
        pass


def console_channels(names: Sequence[str], path: str | Path) -> dict[str, ConsoleChannel]:
    """One console channel per channel name, all writing to ``path``."""
    lock = threading.Lock()
    return {name: ConsoleChannel(name, path, lock=lock) for name in names}


def _write(out: IO[str], text: str) -> None:
    out.write(text + "\n")
    out.flush()
