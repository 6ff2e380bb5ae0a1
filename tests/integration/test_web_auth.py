"""Accounts through the Flask test client: register, log in, log out, change password, CSRF."""
from __future__ import annotations

import re
from datetime import UTC

import pytest
from sqlalchemy import func, select

from tests.factories import make_user
from tracker.domain.users import check_password, find_user
from tracker.models import User

#: A password the policy accepts (10+ characters, not common, not the username).
STRONG = "orbit-lantern-42"


def register(client, username="alice", password=STRONG, confirm=None, **kwargs):
    return client.post("/auth/register", data={"username": username, "password": password,
                                               "confirm": password if confirm is None else confirm}, **kwargs)



def user_count(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count(User.id)))


def test_register_creates_a_forecaster_and_logs_in(client, sessions):
    response = register(client)
    assert response.status_code == 302 and response.location == "/"
    with sessions() as s:
        user = find_user(s, "alice")
        assert user.role == "forecaster"
        assert user.password_hash.startswith("$argon2id$")
        assert check_password(user, STRONG)
    page = client.get("/auth/account")
    assert page.status_code == 200 and b"alice" in page.data


@pytest.mark.parametrize(
    ("username", "password", "confirm", "message"),
    [
        ("Alice", STRONG, None, "is taken"),
        ("bob", "short", None, "at least 10 characters"),
        ("bob", STRONG, STRONG + "x", "The two passwords do not match."),
        ("b", STRONG, None, "Usernames are 2–64 characters"),
    ],
)
def test_register_refusals_store_nothing(client, db_session, sessions, username, password, confirm, message):
    make_user(db_session, "alice")
    db_session.commit()
    response = register(client, username, password, confirm)
    assert response.status_code in (400, 409)
    assert message in response.get_data(as_text=True)
    assert user_count(sessions) == 1
    assert client.get("/auth/account").status_code == 302  # still logged out


def test_login_wrong_password_and_unknown_user(client, db_session, auth):
    make_user(db_session, "alice")
    db_session.commit()
    for username, password in (("alice", "wrong-password"), ("nobody", "password123")):
        response = auth.login(username, password, check=False)
        assert response.status_code == 400
        assert "Wrong username or password." in response.get_data(as_text=True)
    assert client.get("/auth/account").status_code == 302


def test_login_refused_for_imported_account_without_password(client, db_session, auth):
    make_user(db_session, "imported", password=None)
    db_session.commit()
    response = auth.login("imported", "anything-at-all", check=False)
    assert response.status_code == 400
    # The same answer as any failed login (issue 10: no account enumeration); the claim goes
    # through the password reset, which the login page points to.
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert "no password yet" not in response.get_data(as_text=True)
    assert client.get("/auth/account").status_code == 302


def test_login_is_case_insensitive_and_redirects_to_safe_next(client, db_session, auth):
    make_user(db_session, "alice")
    db_session.commit()
    response = auth.login("ALICE", "password123", next_url="/q/some-question", check=False)
    assert response.status_code == 302 and response.location == "/q/some-question"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "evil.example",
                                    "javascript:alert(1)"])
def test_login_never_redirects_off_site(client, db_session, target):
    make_user(db_session, "alice")
    db_session.commit()
    response = client.post("/auth/login", query_string={"next": target},
                           data={"username": "alice", "password": "password123"})
    assert response.status_code == 302 and response.location == "/"


def test_logout_is_post_only(client, db_session, auth):
    make_user(db_session, "alice")
    db_session.commit()
    auth.login()
    assert client.get("/auth/logout").status_code == 405
    assert client.get("/auth/account").status_code == 200
    response = client.post("/auth/logout")
    assert response.status_code == 302
    assert client.get("/auth/account").status_code == 302


def test_account_requires_login(client):
    response = client.get("/auth/account")
    assert response.status_code == 302 and "/auth/login" in response.location


def test_change_password(client, db_session, sessions, auth):
    make_user(db_session, "alice")
    db_session.commit()
    auth.login()
    wrong = client.post("/auth/account", data={"current": "not-my-password", "new": "violet-harbour-7",
                                               "confirm": "violet-harbour-7"})
    assert wrong.status_code == 400 and "The current password is wrong." in wrong.get_data(as_text=True)
    mismatch = client.post("/auth/account", data={"current": "password123", "new": "violet-harbour-7",
                                                  "confirm": "violet-harbour-8"})
    assert mismatch.status_code == 400 and "do not match" in mismatch.get_data(as_text=True)
    short = client.post("/auth/account", data={"current": "password123", "new": "short", "confirm": "short"})
    assert short.status_code == 400 and "at least 10 characters" in short.get_data(as_text=True)
    with sessions() as s:
        assert check_password(find_user(s, "alice"), "password123")

    ok = client.post("/auth/account", data={"current": "password123", "new": "violet-harbour-7",
                                            "confirm": "violet-harbour-7"})
    assert ok.status_code == 302
    with sessions() as s:
        user = find_user(s, "alice")
        assert check_password(user, "violet-harbour-7") and not check_password(user, "password123")


def _token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the form"
    return match.group(1)


def test_csrf_is_enforced_on_account_forms(csrf_app):
    client = csrf_app.test_client()
    sessions = csrf_app.extensions["tracker"].sessions
    data = {"username": "alice", "password": STRONG, "confirm": STRONG}
    refused = client.post("/auth/register", data=data)
    assert refused.status_code == 400
    assert "The form expired" in refused.get_data(as_text=True)
    assert user_count(sessions) == 0
    forged = client.post("/auth/register", data={**data, "csrf_token": "forged"})
    assert forged.status_code == 400 and user_count(sessions) == 0

    token = _token(client.get("/auth/register").get_data(as_text=True))
    accepted = client.post("/auth/register", data={**data, "csrf_token": token})
    assert accepted.status_code == 302 and user_count(sessions) == 1
    # Logging out needs the token too: a cross-site POST cannot log anyone out.
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/auth/account").status_code == 200


def test_account_page_lists_your_questions_with_latest_forecast(client, db_session, auth):
    from datetime import datetime, timedelta

    from tests.factories import add_forecast, make_question

    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    alice, bob = make_user(db_session, "alice"), make_user(db_session, "bob")
    q = make_question(db_session, "q1", now - timedelta(days=9), now + timedelta(days=9), title="First question?")
    mc = make_question(db_session, "q2", now - timedelta(days=9), now + timedelta(days=9), kind="multiple_choice",
                       title="Second question?")
    make_question(db_session, "q3", now - timedelta(days=9), now + timedelta(days=9), title="Untouched question?")
    add_forecast(db_session, q, alice, 0.3, now - timedelta(days=3))
    add_forecast(db_session, q, alice, 0.65, now - timedelta(days=2))
    add_forecast(db_session, mc, alice, [0.2, 0.7, 0.1], now - timedelta(days=1))
    add_forecast(db_session, q, bob, 0.99, now - timedelta(days=1))
    db_session.commit()
    auth.login()
    page = client.get("/auth/account").get_data(as_text=True)
    assert "Untouched question?" not in page
    assert page.index("Second question?") < page.index("First question?")  # most recent first
    first = page[page.index("First question?"):]
    first = first[: first.index("</tr>")]
    assert "65%" in first and ">2<" in first and "99%" not in first
    second = page[page.index("Second question?"):]
    assert "70% B" in second[: second.index("</tr>")]
