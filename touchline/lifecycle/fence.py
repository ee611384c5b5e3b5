"""The fence between a journey's state and its provider requests: a pause committed in any
process stops new requests at once.

The dispatcher calls the gate right before each provider request, and sends only inside
it. The gate reads the journey's *committed* state and holds a shared lock on it until the
request is answered; a state change that halts sending takes the lock exclusively. So a
pause waits for the requests already in flight (bounded by the channels' timeouts), new
requests queue behind it, and once it commits they read "paused": no request starts after
the pause is committed, whichever process sends.

- PostgreSQL: a transaction-level advisory lock per journey, shared in the gate, exclusive
  in the change. (Not ``FOR SHARE`` on the row: share lockers join each other without
  queueing, and a steady stream of requests starves the pause's ``UPDATE``; the lock
  manager's advisory locks queue a waiting exclusive request ahead of later shared ones.)
  The requests of one process share holds of the lock (one connection, taken afresh every
  ``HOLD_SECONDS``), so a worker needs a connection or two for its requests in flight, not
  one each.
- SQLite: it has no row locks, and in WAL mode readers never wait for a writer; the lock is
  a pair of ``flock`` files beside the database (a turnstile, so a writer waiting for the
  shared lock is not starved by new readers), which every process on the machine honours —
  as SQLite itself requires.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from touchline.db import Database
from touchline.lifecycle.states import ensure_state_row, halt_reason
from touchline.record import JourneyState

# What the dispatcher calls before each request: a context manager that yields why the
# request must not start (None: go ahead) and is held until the request is answered.
Gate = Callable[[], AbstractContextManager[str | None]]

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def journey_gate(db: Database, journey_key: str, *, pool_size: int = 32) -> Gate:
    """The gate for one journey's requests (see the module's docstring)."""
    ensure_state_row(db, journey_key, datetime.now(UTC))
    if db.is_postgres:
        return _postgres_gate(_gate_engine(db.url, pool_size), journey_key)
    database = make_url(db.url).database
    # An in-memory database exists only in its own engine's connections.
    in_memory = not database or database == ":memory:"
    engine = db.engine if in_memory else _gate_engine(db.url, pool_size)
    return _sqlite_gate(db, engine, journey_key)


def unreadable(exc: Exception) -> str:
    """The reason given when the state cannot be read: not sending is the safe answer (the
    journey may have been paused); the enrollments hold and the next run tries again."""
    return f"journey state unreadable ({type(exc).__name__})"


# How long one shared hold of a journey's fence admits new requests of this process. A
# pause waits at most this long plus the longest request in flight.
HOLD_SECONDS = 0.25


class _Hold:
    """One transaction of this process holding a journey's fence shared, with the state it
    read after taking the lock; requests join it while it is fresh."""

    def __init__(self, conn: Connection, reason: str | None, opened: float):
        self.conn = conn
        self.reason = reason
        self.opened = opened
        self.users = 0

    def release(self) -> None:
        # Ends the transaction, which releases the lock. A connection lost meanwhile must
        # not cost the requests' results: PostgreSQL released the lock with the session.
        with suppress(SQLAlchemyError):
            self.conn.rollback()
        with suppress(SQLAlchemyError):
            self.conn.close()


def _postgres_gate(engine: Engine, journey_key: str, hold_seconds: float = HOLD_SECONDS) -> Gate:
    """Requests of this process share holds: a request joins the current hold if it was
    opened less than ``hold_seconds`` ago, else a new hold is opened (a connection, the
    shared lock, the state read after it). A hold is released when its last request is
    answered. So every request still starts and finishes inside a shared lock taken before
    it started, under a state read after the lock — a pause (exclusive) cannot commit
    while it runs, and no request starts once the pause is committed — but a process
    needs a connection and three statements per ``hold_seconds``, not per request: one
    connection per request in flight was what capped the workers PostgreSQL could serve."""
    query = select(JourneyState.state, JourneyState.stop_mode).where(
        JourneyState.journey_key == journey_key
    )
    lock = text("SELECT pg_advisory_xact_lock_shared(:ns, :key)").bindparams(
        ns=_NAMESPACE, key=_lock_key(journey_key)
    )
    guard = threading.Lock()  # the current hold and every hold's count of requests
    opening = threading.Lock()  # one thread opens the next hold; the others wait for it
    current: list[_Hold] = []  # the hold new requests join, while fresh

    def join() -> _Hold | None:
        """The current hold with this request counted in, if it is fresh (under guard)."""
        if current and time.monotonic() - current[0].opened < hold_seconds:
            current[0].users += 1
            return current[0]
        # Stale: it takes nobody new and ends with its last request.
        current.clear()
        return None

    def open_hold() -> _Hold:
        conn = engine.connect()
        try:
            conn.execute(lock)  # begins the transaction that holds it
            # Read after the lock: READ COMMITTED takes this statement's snapshot now, so
            # a change committed while we waited is seen.
            row = conn.execute(query).first()
        except BaseException:
            with suppress(SQLAlchemyError):
                conn.close()
            raise
        return _Hold(conn, halt_reason(*row) if row else None, time.monotonic())

    @contextmanager
    def gate() -> Iterator[str | None]:
        with guard:
            hold = join()
        failure: str | None = None
        if hold is None:
            # Not under guard: the lock may queue behind a pause that waits for the holds
            # in flight, and their requests need guard to finish.
            with opening:
                with guard:
                    hold = join()
                if hold is None:
                    try:
                        hold = open_hold()
                    except SQLAlchemyError as exc:
                        failure = unreadable(exc)
                    else:
                        with guard:
                            hold.users = 1
                            current[:] = [hold]
        if hold is None:
            yield failure
            return
        try:
            yield hold.reason
        finally:
            with guard:
                hold.users -= 1
                done = hold.users == 0
                if done and current and current[0] is hold:
                    current.clear()
            if done:
                hold.release()

    return gate


def _sqlite_gate(db: Database, engine: Engine, journey_key: str) -> Gate:
    query = select(JourneyState.state, JourneyState.stop_mode).where(
        JourneyState.journey_key == journey_key
    )
    paths = _lock_paths(db, journey_key)

    @contextmanager
    def gate() -> Iterator[str | None]:
        with _shared(paths):
            try:
                # The connection goes back before the request: no read transaction stays
                # open while it runs.
                with engine.connect() as conn:
                    row = conn.execute(query).first()
            except SQLAlchemyError as exc:
                yield unreadable(exc)
                return
            yield halt_reason(*row) if row else None

    return gate


@contextmanager
def exclusive(db: Database, journey_key: str, session: Session) -> Iterator[None]:
    """Held by a state change until it commits (``session`` is the change's): waits for
    the requests in flight and keeps new ones out until the change is committed."""
    if db.is_postgres:
        # Released by the transaction's end: the commit.
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"),
            {"ns": _NAMESPACE, "key": _lock_key(journey_key)},
        )
        yield
        return
    turnstile, main = _lock_paths(db, journey_key)
    with _locked(turnstile, fcntl.LOCK_EX), _locked(main, fcntl.LOCK_EX):
        yield


@contextmanager
def _shared(paths: tuple[Path, Path]) -> Iterator[None]:
    turnstile, main = paths
    # Through the turnstile (a writer waiting holds it), then the shared lock.
    with _locked(turnstile, fcntl.LOCK_EX):
        fd = _open(main)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases its lock


@contextmanager
def _locked(path: Path, how: int) -> Iterator[None]:
    fd = _open(path)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)


def _open(path: Path) -> int:
    # A descriptor per holder: flock locks belong to the open file, so two threads of one
    # process exclude each other as two processes do.
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


# pg_advisory_xact_lock(int4, int4): the first names Touchline's journey fence.
_NAMESPACE = 0x746C6A66  # "tljf"


def _lock_key(journey_key: str) -> int:
    return int.from_bytes(hashlib.sha256(journey_key.encode()).digest()[:4], "big", signed=True)


def _lock_paths(db: Database, journey_key: str) -> tuple[Path, Path]:
    database = make_url(db.url).database
    if not database or database == ":memory:":
        # One process only: a private directory is enough.
        base = Path(f"/tmp/touchline-fence-{os.getpid()}-{id(db)}")
    else:
        base = Path(f"{Path(database).resolve()}.fence")
    base.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(journey_key.encode()).hexdigest()[:16]
    return base / f"{name}.turnstile", base / f"{name}.lock"


def _gate_engine(url: str, pool_size: int) -> Engine:
    """A pool of the gate's own, one connection per request in flight: on PostgreSQL each
    holds its lock until answered; on SQLite the reads must not wait for the batch's pool
    (5 + 10 connections) when 32 threads ask at once."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if make_url(url).get_backend_name() == "sqlite":
                engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                                       connect_args={"timeout": 30, "check_same_thread": False})  # fmt: skip
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=pool_size,
                                       max_overflow=pool_size, pool_timeout=60)  # fmt: skip
            _engines[url] = engine
        return engine


def dispose_gate_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
