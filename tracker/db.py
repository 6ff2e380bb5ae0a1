"""Engine and session factory.

One transaction per request, CLI command or scheduled job: callers use :func:`transaction`, which
commits once at the end or rolls back on error. SQLite is tuned so that the web server and the
scheduler can share one file: WAL journal, a busy timeout and foreign keys on.

Two kinds of unit of work, chosen by the session factory:

- writers (:func:`make_session_factory`) begin ``BEGIN IMMEDIATE`` on SQLite, so a writer takes
  the write lock up front and waits its turn (busy timeout) instead of failing half-way when a
  deferred read would have to upgrade;
- readers (:func:`make_read_session_factory`: GET requests, exports) begin deferred: under WAL a
  reader works from a snapshot and never blocks a writer, however slowly it streams.

On PostgreSQL both are ordinary READ COMMITTED transactions.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 15_000
WRITE_POLL_SECONDS = 0.001  # a writer waiting for another process's write lock tries this often
READ_ONLY_OPTION = "tracker_read_only"  # an execution option: this unit of work only reads
_HOLDS_WRITE_TURN = "tracker_holds_write_turn"  # connection.info flag


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine for ``url`` with the pragmas and pool settings the tracker relies on."""
    url = normalise_url(url)
    if is_sqlite(url):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # Writers of one process queue on a lock, first come first served, before BEGIN IMMEDIATE.
    # Left to SQLite alone, waiting threads poll the file lock with growing sleeps (up to 100 ms),
    # so under 50 concurrent writers an unlucky one waits seconds while later ones get in; the lock
    # makes the wait a fair queue. Other processes (the other workers, the scheduler, an import)
    # meet at SQLite's lock, which :func:`_begin_immediate` polls every millisecond.
    write_turn = threading.Lock()

    def _end_turn(connection_info: dict) -> None:
        if connection_info.pop(_HOLDS_WRITE_TURN, False):
            write_turn.release()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # pragma: no cover - exercised by every test
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see the "begin" hook below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # pragma: no cover
        # A writer: IMMEDIATE takes the write lock at the start, so two processes never deadlock
        # upgrading a read lock; the busy timeout then queues them. A reader: deferred, a snapshot.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        # Past the busy timeout, go on without the turn: SQLite's own lock still decides.
        if not connection.info.get(_HOLDS_WRITE_TURN) and write_turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            connection.info[_HOLDS_WRITE_TURN] = True
        try:
            _begin_immediate(connection)
        except BaseException:
            _end_turn(connection.info)
            raise

    @event.listens_for(engine, "commit")
    def _on_commit(connection) -> None:  # pragma: no cover
        _end_turn(connection.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection) -> None:  # pragma: no cover
        _end_turn(connection.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record) -> None:  # pragma: no cover
        # A connection returned to the pool (or invalidated) mid-transaction never keeps the turn.
        _end_turn(record.info)


def _begin_immediate(connection) -> None:
    """``BEGIN IMMEDIATE``, waiting for another process's write lock by polling every
    :data:`WRITE_POLL_SECONDS` up to the busy timeout.

    SQLite's own busy handler sleeps ever longer (up to 100 ms a try), so a writer of one process
    waiting for another process's lock keeps missing the short gaps between that process's
    back-to-back transactions (its threads hand the lock on within microseconds): under 50
    concurrent clients on two gunicorn workers, one worker's writers starved for seconds. A short,
    flat poll takes the next gap."""
    raw = connection.connection.dbapi_connection
    raw.execute("PRAGMA busy_timeout=0")
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(WRITE_POLL_SECONDS)
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for units of work that may write (``BEGIN IMMEDIATE`` on SQLite)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for units of work that only read: a deferred transaction on SQLite, which holds no
    lock a writer waits for. (A write through one still works, but may fail with "database is
    locked" if another writer committed since its snapshot: write through a writer.)"""
    return sessionmaker(bind=engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit at the end, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
