"""Issue 10, items 1, 3 and 4: sessions that end, no account enumeration, the password policy."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from tests.conftest import CountingHasher
from tests.factories import PASSWORD, make_user
from tracker import create_app
from tracker.config import ConfigError, Settings
from tracker.domain import users as users_domain
from tracker.domain.users import check_password, common_passwords, find_user

STRONG = "orbit-lantern-42"


def _client_with_cookie(app, name: str, value: str):
    client = app.test_client()
    client.set_cookie(name, value, domain="localhost")
    return client


def _reaches_account(client) -> bool:
    return client.get("/auth/account").status_code == 200


@pytest.fixture
def alice(db_session):
    make_user(db_session, "alice")
    make_user(db_session, "root", role="admin")
    db_session.commit()


def _logged_in(app, username="alice", remember=True):
    client = app.test_client()
    data = {"username": username, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    assert client.post("/auth/login", data=data).status_code == 302
    return client


def test_password_change_ends_other_sessions_and_remember_cookies(app, alice):
    here = _logged_in(app)
    elsewhere = _logged_in(app)
    remember = elsewhere.get_cookie("remember_token")
    assert remember is not None
    bare_cookie = _client_with_cookie(app, "remember_token", remember.value)
    assert _reaches_account(elsewhere) and _reaches_account(bare_cookie)

    changed = here.post("/auth/account", data={"current": PASSWORD, "new": STRONG, "confirm": STRONG})
    assert changed.status_code == 302
    assert _reaches_account(here), "the browser that changed the password stays logged in"
    assert not _reaches_account(elsewhere)
    assert not _reaches_account(_client_with_cookie(app, "remember_token", remember.value))


def test_a_session_cookie_copied_before_logout_is_dead_after_it(app, alice):
    client = _logged_in(app, remember=False)
    copied = client.get_cookie("session").value
    assert _reaches_account(_client_with_cookie(app, "session", copied))
    assert client.post("/auth/logout").status_code == 302
    assert not _reaches_account(_client_with_cookie(app, "session", copied))


def test_sign_out_everywhere_ends_every_session_of_the_account(app, alice):
    one, two = _logged_in(app), _logged_in(app)
    assert one.post("/auth/account/sign-out-everywhere").status_code == 302
    assert not _reaches_account(one) and not _reaches_account(two)
    assert _reaches_account(_logged_in(app)), "logging in again works"


def test_an_admin_signs_another_account_out_everywhere(app, alice, runner):
    victim = _logged_in(app)
    forecaster = _logged_in(app)
    assert forecaster.post("/auth/users/sign-out", data={"username": "root"}).status_code == 403
    admin = _logged_in(app, "root")
    assert admin.post("/auth/users/sign-out", data={"username": "nobody"}).status_code == 404
    assert admin.post("/auth/users/sign-out", data={"username": "alice"}).status_code == 302
    assert not _reaches_account(victim) and not _reaches_account(forecaster)
    assert _reaches_account(admin)
    # The same from the command line.
    again = _logged_in(app)
    result = runner.invoke(["users", "sign-out", "alice"])
    assert result.exit_code == 0, result.output
    assert not _reaches_account(again)


def _remember_cookie_header(response) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    assert len(headers) == 1
    return headers[0]


@pytest.mark.parametrize("days", [None, 3])
def test_remember_me_cookie_is_lax_and_lives_remember_days(settings, clock, db_session, days):
    if days is not None:
        settings.remember_days = days
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})
    make_user(db_session, "alice")
    db_session.commit()
    response = app.test_client().post("/auth/login", data={"username": "alice", "password": PASSWORD,
                                                            "remember": "y"})
    header = _remember_cookie_header(response)
    assert "SameSite=Lax" in header and "HttpOnly" in header
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", header).group(1))
    lifetime = expires - datetime.now(UTC)  # Flask-Login dates the cookie by the wall clock
    wanted = timedelta(days=days or 30)
    assert wanted - timedelta(minutes=5) < lifetime <= wanted
    app.extensions["tracker"].engine.dispose()


def test_remember_days_setting():
    base = {"TRACKER_SECRET_KEY": "k"}
    assert Settings.from_env(base).remember_days == 30
    assert Settings.from_env({**base, "TRACKER_REMEMBER_DAYS": "7"}).remember_days == 7
    with pytest.raises(ConfigError):
        Settings.from_env({**base, "TRACKER_REMEMBER_DAYS": "0"})


# --- item 3: no account enumeration ------------------------------------------------------------

def _error_of(response) -> str:
    page = response.get_data(as_text=True)
    return " ".join(re.findall(r'class="field-error"[^>]*>([^<]*)<', page))


def test_every_failed_login_looks_the_same_and_costs_one_argon2_check(client, db_session, monkeypatch):
    make_user(db_session, "alice")
    make_user(db_session, "imported", password=None)
    db_session.commit()
    counting = CountingHasher(users_domain._hasher)
    monkeypatch.setattr(users_domain, "_hasher", counting)
    answers = {}
    for case, username in (("wrong password", "alice"), ("unknown account", "nobody"),
                           ("imported, no password", "imported")):
        before = counting.verifications
        response = client.post("/auth/login", data={"username": username, "password": "not-the-password"})
        answers[case] = (response.status_code, _error_of(response))
        assert counting.verifications - before == 1, f"{case}: argon2 must run exactly once"
    assert set(answers.values()) == {(400, "Wrong username or password.")}, answers


def test_the_login_page_points_imported_forecasters_to_the_reset(client):
    page = client.get("/auth/login").get_data(as_text=True)
    assert "/auth/reset/" in page and "imported" in page


# --- item 4: the password policy ---------------------------------------------------------------

def test_the_common_password_list_is_large_and_shipped():
    common = common_passwords()
    assert len(common) >= 10_000
    assert {"password", "12345678", "1234567890", "qwertyuiop"} <= common


@pytest.mark.parametrize(("username", "password", "why"), [
    ("bob", "password", "at least 10 characters"),
    ("bob", "12345678", "at least 10 characters"),
    ("bobby-tables", "bobby-tables", "must not contain the username"),
    ("bobby", "my-Bobby-is-great", "must not contain the username"),
    ("bob", "1234567890", "common passwords"),
    ("bob", "qwertyuiop", "common passwords"),
    ("bob", "Password1234", "common passwords"),
])
def test_weak_passwords_are_refused_with_the_reason(client, sessions, username, password, why):
    response = client.post("/auth/register", data={"username": username, "password": password, "confirm": password})
    assert response.status_code == 400
    assert why in _error_of(response)
    with sessions() as s:
        assert find_user(s, username) is None


def test_weak_new_passwords_are_refused_on_the_account_page_and_by_the_cli(client, alice, auth, sessions, runner):
    auth.login()
    response = client.post("/auth/account", data={"current": PASSWORD, "new": "alice-rules-ok",
                                                  "confirm": "alice-rules-ok"})
    assert response.status_code == 400 and "must not contain the username" in _error_of(response)
    result = runner.invoke(["users", "set-password", "alice", "--password", "1234567890"])
    assert result.exit_code != 0 and "common passwords" in result.output
    with sessions() as s:
        assert check_password(find_user(s, "alice"), PASSWORD)


def test_a_good_password_is_accepted(client, sessions):
    response = client.post("/auth/register", data={"username": "bob", "password": STRONG, "confirm": STRONG})
    assert response.status_code == 302
