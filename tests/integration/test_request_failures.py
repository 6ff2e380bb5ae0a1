"""A request whose commit fails (issue 15, item 4): the app's own 500 page, no flash and no login
that outlive the failed transaction, nothing stored. On PostgreSQL the failure is a deferred
constraint trigger that always raises (so it fires only at COMMIT); SQLite has no deferred
triggers, so there the commit itself is made to fail."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.factories import NOW, make_question, make_user
from tracker.models import Forecast, User

ERROR_PAGE = "Something went wrong on our side"


@pytest.fixture
def failing_commits(app, sessions, db_dialect, monkeypatch) -> Iterator[None]:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: errors reach the error handlers
    if db_dialect != "postgresql":
        def fail(self: Session) -> None:
            raise OperationalError("COMMIT", {}, Exception("simulated failure at commit"))

        monkeypatch.setattr(Session, "commit", fail)
        yield
        monkeypatch.undo()
        return
    with sessions() as session:
        session.execute(text("CREATE FUNCTION test_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                             "BEGIN RAISE EXCEPTION 'simulated failure at commit'; END $$"))
        for table in ("forecasts", "users"):
            session.execute(text(f"CREATE CONSTRAINT TRIGGER test_fail_at_commit AFTER INSERT ON {table} "
                                 "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_fail_at_commit()"))
        session.commit()
    try:
        yield
    finally:
        with sessions() as session:
            session.execute(text("DROP FUNCTION test_fail_at_commit() CASCADE"))
            session.commit()


def count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_failed_commit_shows_the_error_page_and_no_saved_message(client, auth, sessions, request):
    with sessions() as session:
        make_user(session, "alice")
        make_question(session, "bin", NOW - timedelta(days=5), NOW + timedelta(days=10))
        session.commit()
    auth.login()
    request.getfixturevalue("failing_commits")
    response = client.post("/q/bin", data={"p0": "42"}, follow_redirects=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert ERROR_PAGE in body and "Forecast saved" not in body, body[body.find("<main"):][:800]
    assert count(sessions, Forecast) == 0


def test_failed_registration_neither_welcomes_nor_logs_in(client, sessions, request):
    request.getfixturevalue("failing_commits")
    response = client.post("/auth/register", data={"username": "carol", "password": "long enough pw",
                                                   "confirm": "long enough pw"}, follow_redirects=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert ERROR_PAGE in body and "Welcome" not in body
    with client.session_transaction() as cookie:
        assert "_user_id" not in cookie and "_flashes" not in cookie
    assert count(sessions, User) == 0
