"""``GET /healthz``: JSON, no login, never cached; 503 with a short reason when the database fails."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.factories import make_user
from tracker import create_app
from tracker.config import Settings
from tracker.models import User


def assert_not_cached(response) -> None:
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Pragma"] == "no-cache"
    assert "ETag" not in response.headers and "Last-Modified" not in response.headers


def test_healthz_is_ok_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert_not_cached(response)
    # No login redirect, and no session cookie handed out.
    assert "Set-Cookie" not in response.headers


def test_healthz_answers_json_whatever_the_client_accepts(client):
    response = client.get("/healthz", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.get_json()["status"] == "ok"
    assert client.head("/healthz").status_code == 200


def test_healthz_leaves_the_database_alone(client, sessions, db_session):
    make_user(db_session, "alice")
    db_session.commit()
    assert client.get("/healthz").status_code == 200
    with sessions() as s:
        assert s.scalar(select(func.count(User.id))) == 1


@pytest.fixture
def broken_app(tmp_path) -> Iterator[Flask]:
    """An app whose SQLite file lives in a folder that does not exist: every connection fails."""
    url = f"sqlite:///{tmp_path / 'missing' / 'tracker.sqlite3'}"
    app = create_app({"SETTINGS": Settings(env="test", database_url=url, secret_key="k"), "TESTING": True})
    yield app
    app.extensions["tracker"].engine.dispose()


def test_healthz_is_503_when_the_database_fails(broken_app):
    response = broken_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "error", "database": "OperationalError"}
    assert_not_cached(response)


def test_healthz_reason_is_short_and_names_no_url(app, monkeypatch):
    """Whatever fails, the answer names only the kind of failure, never the connection details."""
    secret_url = "postgresql://tracker:hunter2@db.internal:5432/tracker"

    def fail(*_args, **_kwargs):
        raise ConnectionRefusedError(f"could not connect to {secret_url}")

    monkeypatch.setattr(app.extensions["tracker"], "sessions", fail)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "ConnectionRefusedError"}
    assert b"hunter2" not in response.data and b"db.internal" not in response.data
