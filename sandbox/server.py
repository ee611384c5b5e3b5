"""Run the emulators: SendGrid, Twilio and X on three ports, served by one event loop.

One loop in one thread means the shared sandbox state needs no locks; each port answers
only as its provider, as two separate hosts would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from sandbox import control, sendgrid_api, twilio_api, x_api
from sandbox.state import Sandbox

log = logging.getLogger("sandbox")
ASGI = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]
WALL_CLOCK_FLUSH_SECONDS = 0.5


def build_app(sandbox: Sandbox, providers_by_port: dict[int, str]) -> ASGI:
    state: dict[str, Any] = {}

    def http() -> httpx.AsyncClient:
        return state["http"]

    apps = {
        "sendgrid": Starlette(
            routes=[*sendgrid_api.routes(sandbox), *control.routes(sandbox, http)]
        ),
        "twilio": Starlette(routes=[*twilio_api.routes(sandbox), *control.routes(sandbox, http)]),
        "x": Starlette(routes=[*x_api.routes(sandbox), *control.routes(sandbox, http)]),
    }

    async def flush_on_wall_clock() -> None:
        # With the wall clock, engagement is posted as it falls due, like the real thing.
        while True:
            await asyncio.sleep(WALL_CLOCK_FLUSH_SECONDS)
            if not sandbox.clock.is_manual:
                try:
                    await sandbox.flush(state["http"])
                except Exception:  # keep flushing whatever one webhook did
                    log.exception("webhook flush failed")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["http"] = httpx.AsyncClient(timeout=10.0)
                    state["flusher"] = asyncio.create_task(flush_on_wall_clock())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    state["flusher"].cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await state["flusher"]
                    await state["http"].aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        port = scope["server"][1]
        await apps[providers_by_port[port]](scope, receive, send)

    return app


class SandboxServer:
    """The emulators on a background thread (tests, demo) or in the foreground (CLI)."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        host: str = "127.0.0.1",
        sendgrid_port: int = 0,
        twilio_port: int = 0,
        x_port: int = 0,
    ):
        self.sandbox = sandbox
        self.host = host
        self._sockets = [_bind(host, sendgrid_port), _bind(host, twilio_port), _bind(host, x_port)]
        self.sendgrid_port = self._sockets[0].getsockname()[1]
        self.twilio_port = self._sockets[1].getsockname()[1]
        self.x_port = self._sockets[2].getsockname()[1]
        app = build_app(
            sandbox,
            {self.sendgrid_port: "sendgrid", self.twilio_port: "twilio", self.x_port: "x"},
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def sendgrid_url(self) -> str:
        return f"http://{self.host}:{self.sendgrid_port}"

    @property
    def twilio_url(self) -> str:
        return f"http://{self.host}:{self.twilio_port}"

    @property
    def x_url(self) -> str:
        return f"http://{self.host}:{self.x_port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": self._sockets}, name="sandbox", daemon=True
        )
        self._thread.start()
        _wait_started(self._server, self._thread)
        return self

    def serve_forever(self) -> None:
        self._server.run(sockets=self._sockets)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only for
    # sockets whose proto is IPPROTO_TCP. With proto 0, every response (headers and body
    # written separately) waits ~40 ms for a delayed ACK (Nagle) — measured here.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _wait_started(server: uvicorn.Server, thread: threading.Thread, timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server thread died while starting (see the log above)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start within {timeout:.0f} s")
        time.sleep(0.02)


class ThreadedApp:
    """Any ASGI app (Touchline's API in the demo and tests) on a background thread.

    The port is bound at construction, so its URL is known before the app is built (the
    app needs its own public URL to check Twilio's signatures).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0):
        self._socket = _bind(host, port)
        self.host, self.port = host, self._socket.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, app: Any) -> ThreadedApp:
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="api", daemon=True
        )
        self._thread.start()
        _wait_started(self._server, self._thread)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> ThreadedApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
