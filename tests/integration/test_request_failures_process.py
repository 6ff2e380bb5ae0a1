"""Issue 15, item 4, against a real gunicorn: a forecast whose COMMIT fails gets the app's own
error page (not gunicorn's bare 500), no "Forecast saved" message survives into the next page, and
nothing is stored.

The commit is made to fail in the database itself, so the app cannot tell it apart from a real
fault: on PostgreSQL a deferred constraint trigger that always raises; on SQLite a trigger that
writes a row whose deferred foreign key points nowhere (checked only at COMMIT)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from tests.conftest import free_port
from tests.factories import NOW, make_question
from tests.processes import WebClient, gunicorn, stop, tracker_env, wait_for_port
from tracker.models import Forecast

pytestmark = pytest.mark.slow

ERROR_PAGE = "Something went wrong on our side"
PG_TRAP = [
    "CREATE FUNCTION test_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'simulated failure at commit'; END $$",
    "CREATE CONSTRAINT TRIGGER test_fail_at_commit AFTER INSERT ON forecasts DEFERRABLE INITIALLY DEFERRED "
    "FOR EACH ROW EXECUTE FUNCTION test_fail_at_commit()",
]
PG_UNTRAP = ["DROP FUNCTION test_fail_at_commit() CASCADE"]
SQLITE_TRAP = [
    "CREATE TABLE test_trap_parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE test_trap (parent_id INTEGER REFERENCES test_trap_parent (id) DEFERRABLE INITIALLY DEFERRED)",
    "CREATE TRIGGER test_fail_at_commit AFTER INSERT ON forecasts BEGIN "
    "INSERT INTO test_trap (parent_id) VALUES (-1); END",
]
SQLITE_UNTRAP = ["DROP TRIGGER test_fail_at_commit", "DROP TABLE test_trap", "DROP TABLE test_trap_parent"]


@pytest.fixture
def trap(sessions, db_dialect) -> Iterator[None]:
    on_pg = db_dialect == "postgresql"
    with sessions() as session:
        for statement in PG_TRAP if on_pg else SQLITE_TRAP:
            session.execute(text(statement))
        session.commit()
    try:
        yield
    finally:
        with sessions() as session:
            for statement in PG_UNTRAP if on_pg else SQLITE_UNTRAP:
                session.execute(text(statement))
            session.commit()


def test_a_failed_commit_under_gunicorn(settings, sessions, tmp_path, request):
    with sessions.begin() as session:
        make_question(session, "bin", NOW - timedelta(days=5), NOW + timedelta(days=3650))
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        server = gunicorn(tracker_env(settings.database_url, tmp_path), port, workers=1, threads=2, log=log)
        web = WebClient(port)
        try:
            wait_for_port(port, server)
            web.get("/auth/register")
            status, _ = web.post("/auth/register", {"username": "alice", "password": "a long password",
                                                    "confirm": "a long password"})
            assert status == 302
            web.get("/q/bin")
            request.getfixturevalue("trap")
            status, body = web.post("/q/bin", {"p0": "42"})
            assert status == 500, body[:500]
            assert ERROR_PAGE in body and "Forecast saved" not in body, body[:800]
            assert "<html" in body.lower() and "Internal Server Error</h1>" not in body  # the app's page
            status, body = web.get("/q/bin")  # the flash of the failed request must not appear now
            assert status == 200 and "Forecast saved" not in body
        finally:
            web.close()
            stop(server)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Forecast)) == 0
    logged = log_path.read_text()
    assert "PendingRollbackError" not in logged, logged
