"""Append-only in the database itself (issue 15, item 8): UPDATE and DELETE on forecasts, their
probabilities and resolution events are refused by triggers on both databases, whoever connects;
ids are never reused (AUTOINCREMENT on SQLite), so a forecast deleted by hand outside the app never
lends its id, and its leftover probability rows, to the next one."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from tests.conftest import append_only_lifted
from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.db import make_engine
from tracker.domain.resolution import resolve
from tracker.models import Forecast, Question, User


@pytest.fixture
def stored(sessions, clock):
    with sessions() as session:
        alice = make_user(session, "alice")
        admin = make_user(session, "root", role="admin")
        question = make_question(session, "q", NOW - timedelta(days=30), NOW - timedelta(days=1), status="closed")
        forecast = add_forecast(session, question, alice, 0.7, NOW - timedelta(days=10))
        resolve(session, clock, question, "yes", admin, "root")
        session.commit()
        return {"forecast": forecast.id, "question": question.id}


@pytest.mark.parametrize("statement", [
    "UPDATE forecasts SET rationale = 'changed'",
    "DELETE FROM forecasts",
    "UPDATE forecast_probabilities SET probability = 0.5",
    "DELETE FROM forecast_probabilities",
    "UPDATE resolution_events SET note = 'rewritten'",
    "DELETE FROM resolution_events",
])
def test_update_and_delete_are_refused_by_the_database(settings, stored, statement):
    engine = make_engine(settings.database_url)  # a plain connection: no application code involved
    try:
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.execute(text(statement))
    finally:
        engine.dispose()


def test_ids_are_never_reused(settings, sessions, stored, db_dialect):
    """The reproduction: the newest forecast row deleted by hand outside the app (foreign keys off,
    so its probability rows stay behind) must not give its id to the next forecast."""
    deleted = stored["forecast"]
    if db_dialect == "sqlite":
        path = make_url(settings.database_url).database
        conn = sqlite3.connect(path, isolation_level=None)  # foreign keys are off by default here
        try:
            conn.execute("BEGIN IMMEDIATE")
            with _lifted_sqlite(conn):
                conn.execute("DELETE FROM forecasts WHERE id = ?", (deleted,))
            conn.execute("COMMIT")
        finally:
            conn.close()
    else:
        engine = make_engine(settings.database_url)
        try:
            with engine.begin() as conn, append_only_lifted(conn):
                conn.execute(text("DELETE FROM forecasts WHERE id = :id"), {"id": deleted})
        finally:
            engine.dispose()
    with sessions() as session:
        question = session.get_one(Question, stored["question"])
        bob = make_user(session, "bob")
        new = add_forecast(session, question, bob, 0.2, NOW - timedelta(days=5))
        session.commit()
        assert new.id != deleted
        session.expire_all()
        assert len(session.get_one(Forecast, new.id).probabilities) == 2
        users = session.scalars(select(User.id)).all()
        assert len(set(users)) == len(users)


@contextmanager
def _lifted_sqlite(conn: sqlite3.Connection) -> Iterator[None]:
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _sql in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    yield
    for _name, sql in triggers:
        conn.execute(sql)
