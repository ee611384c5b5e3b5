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
  A request in flight holds one connection of a pool of the gate's own.
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, select, text
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


def _postgres_gate(engine: Engine, journey_key: str) -> Gate:
    query = select(JourneyState.state, JourneyState.stop_mode).where(
        JourneyState.journey_key == journey_key
    )
    lock = text("SELECT pg_advisory_xact_lock_shared(:ns, :key)").bindparams(
        ns=_NAMESPACE, key=_lock_key(journey_key)
    )

    @contextmanager
    def gate() -> Iterator[str | None]:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            yield unreadable(exc)
            return
        try:
            try:
                conn.execute(lock)  # begins the transaction that holds it
                # Read after the lock: READ COMMITTED takes this statement's snapshot now,
                # so a change committed while we waited is seen.
                row = conn.execute(query).first()
            except SQLAlchemyError as exc:
                yield unreadable(exc)
                return
            yield halt_reason(*row) if row else None
        finally:
            # Ends the transaction, which releases the lock. A connection lost while the
            # request ran must not cost the request's result: PostgreSQL released the
            # lock with the session anyway.
            with suppress(SQLAlchemyError):
                conn.rollback()
            with suppress(SQLAlchemyError):
                conn.close()

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
