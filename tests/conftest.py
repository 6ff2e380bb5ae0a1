"""Shared fixtures: one database for the whole run (SQLite by default, PostgreSQL when
``TRACKER_TEST_DATABASE_URL`` points at one), emptied before each test; an app, a client, a CLI
runner and a controllable clock.
"""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.factories import NOW, PASSWORD
from tracker import create_app
from tracker.cli import main as cli_main
from tracker.cli.context import CliContext
from tracker.clock import FrozenClock
from tracker.config import Settings
from tracker.db import make_engine, normalise_url
from tracker.migrate import upgrade
from tracker.models import Base

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
PG_ADMIN_URL = os.environ.get("TRACKER_TEST_PG_ADMIN_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pg_available() -> bool:
    try:
        engine = make_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def require_pg() -> None:
    """Skip when PostgreSQL is unreachable, but under CI fail: a skipped PostgreSQL test hides bugs."""
    if not pg_available():
        if in_ci():
            pytest.fail(f"PostgreSQL is required under CI but {PG_ADMIN_URL} is unreachable")
        pytest.skip("PostgreSQL not reachable at " + PG_ADMIN_URL)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for this test; dropped afterwards."""
    require_pg()
    name = f"tracker_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalise_url(PG_ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """The suite's database, migrated to head once per run."""
    url = os.environ.get("TRACKER_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'tracker.sqlite3'}"
    url = normalise_url(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Start from nothing, whatever an earlier run left behind.
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.exit(f"test database {url} is unusable: {exc}", returncode=3)
    finally:
        engine.dispose()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def db_dialect(database_url) -> str:
    return make_url(database_url).get_backend_name()


APPEND_ONLY_TABLES = ("forecasts", "forecast_probabilities", "resolution_events")


@contextmanager
def append_only_lifted(conn) -> Iterator[None]:
    """Maintenance by the schema's owner (tests only): inside one transaction, take the append-only
    triggers off ``forecasts``, ``forecast_probabilities`` and ``resolution_events`` and put them
    back. On SQLite the triggers are dropped and recreated from their stored SQL; on PostgreSQL they
    are disabled with ALTER TABLE (TRUNCATE, which row triggers do not see, needs neither)."""
    if conn.dialect.name == "sqlite":
        triggers = conn.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
            "('forecasts', 'forecast_probabilities', 'resolution_events')")).all()
        for name, _sql in triggers:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        yield
        for _name, sql in triggers:
            conn.exec_driver_sql(sql)
        return
    for table in APPEND_ONLY_TABLES:
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    yield
    for table in APPEND_ONLY_TABLES:
        conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def empty_all_tables(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            with append_only_lifted(conn):
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(table.delete())
            # AUTOINCREMENT keeps counting across tests otherwise; tests may rely on ids from 1.
            if conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first():
                conn.execute(text("DELETE FROM sqlite_sequence"))
    engine.dispose()


@pytest.fixture
def clean_db(database_url) -> str:
    empty_all_tables(database_url)
    return database_url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def settings(clean_db, tmp_path) -> Settings:
    # Rate limits are off for the suite's many logins; tests/integration/test_rate_limits.py turns
    # them on explicitly (the default, and production, have them on).
    return Settings(env="test", database_url=clean_db, secret_key="test-secret-key", prompt_every_days=7,
                    ratelimit_enabled=False)


@pytest.fixture(autouse=True)
def _fresh_plot_cache():
    """Each test starts without plots cached by an earlier test's database."""
    from tracker.web.plots import clear_plot_cache

    clear_plot_cache()


@pytest.fixture
def crowd_public(settings) -> Settings:
    """Show every open question's crowd to everyone (tests about the crowd's numbers, not its privacy)."""
    settings.crowd_min_forecasters = 0
    settings.crowd_after_own_forecast = False
    return settings


@pytest.fixture
def app(settings, clock):
    """The app with CSRF off, for tests of behaviour; use ``csrf_app`` to test CSRF itself."""
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["tracker"].engine.dispose()


@pytest.fixture
def csrf_app(settings, clock):
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True})
    yield app
    app.extensions["tracker"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class CountingHasher:
    """Wraps the argon2 hasher to count password verifications (how much work a login did)."""

    def __init__(self, real) -> None:
        self.real, self.verifications = real, 0

    def verify(self, hash_, password):
        self.verifications += 1
        return self.real.verify(hash_, password)

    def __getattr__(self, name):
        return getattr(self.real, name)


class AuthActions:
    """Log in and out through the real pages (flaskr's pattern): the one way web tests log in."""

    def __init__(self, client) -> None:
        self._client = client

    def login(self, username: str = "alice", password: str = PASSWORD, next_url: str | None = None,
              check: bool = True, **extra):
        """POST the login form; with ``check`` (the default) the login must succeed."""
        url = "/auth/login" + (f"?next={next_url}" if next_url else "")
        response = self._client.post(url, data={"username": username, "password": password, **extra})
        if check:
            assert response.status_code == 302, f"login as {username!r} failed: {response.status_code}"
        return response

    def logout(self):
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def sessions(app):
    """The app's session factory, for arranging data and checking what a request stored."""
    return app.extensions["tracker"].sessions


@pytest.fixture
def db_session(sessions):
    session = sessions()
    yield session
    session.rollback()
    session.close()


class Runner:
    """Invoke ``tracker`` commands in-process with the test's settings and clock."""

    def __init__(self, settings: Settings, clock: FrozenClock) -> None:
        self.settings, self.clock = settings, clock
        self._runner = CliRunner()

    def invoke(self, args: list[str], input: str | None = None, **kwargs):
        ctx = CliContext(settings=self.settings, clock=self.clock)
        try:
            return self._runner.invoke(cli_main, args, obj=ctx, input=input, catch_exceptions=False, **kwargs)
        finally:
            if "state" in ctx.__dict__:
                ctx.state.engine.dispose()


@pytest.fixture
def runner(settings, clock) -> Runner:
    return Runner(settings, clock)


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for _f, rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def smtp_sink():
    """Yields (sink, port); the server stops after the test."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()
