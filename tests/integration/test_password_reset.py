"""Password reset by email: a signed, single-use, expiring link built from TRACKER_BASE_URL; the same
answer whether or not the account exists; the claim path of imported accounts (issues 10 and 13)."""
from __future__ import annotations

import re
import time

import pytest

from tests.factories import PASSWORD, make_user
from tracker import create_app
from tracker.domain.users import check_password, find_user

STRONG = "orbit-lantern-42"
BASE = "https://forecasts.example.org"


@pytest.fixture
def mail_app(settings, clock, smtp_sink):
    _sink, port = smtp_sink
    settings.smtp_url = f"smtp://127.0.0.1:{port}"
    settings.base_url = BASE
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["tracker"].engine.dispose()


def _wait_for_mail(sink, address: str, count: int = 1) -> list:
    deadline = time.monotonic() + 10  # the mail goes out from a background thread
    while time.monotonic() < deadline and len(sink.to(address)) < count:
        time.sleep(0.05)
    return sink.to(address)


def _link(message) -> str:
    match = re.search(r"(\S+/auth/reset/\S+)", message.get_payload(decode=True).decode())
    assert match, "no link in the mail"
    return match.group(1)


def _path(link: str) -> str:
    assert link.startswith(BASE + "/auth/reset/"), link
    return link[len(BASE):]


@pytest.fixture
def people(db_session):
    alice = make_user(db_session, "alice")
    alice.email = "alice@example.org"
    imported = make_user(db_session, "imported", password=None)
    imported.email = "imported@example.org"
    make_user(db_session, "nomail")
    db_session.commit()


def _ask(client, identifier: str, host: str = "localhost"):
    return client.post("/auth/reset/", data={"identifier": identifier}, headers={"Host": host})


def test_the_answer_is_the_same_whether_or_not_the_account_exists(mail_app, people, smtp_sink):
    sink, _port = smtp_sink
    answers = []
    for identifier in ("alice", "ALICE@example.org", "nobody", "nobody@example.org", "nomail"):
        client = mail_app.test_client()
        response = _ask(client, identifier)
        page = client.get(response.location).get_data(as_text=True)
        flash = re.search(r'class="flash[^"]*"[^>]*>([^<]*)<', page).group(1)
        answers.append((response.status_code, response.location, flash))
    assert len(set(answers)) == 1, answers
    assert len(_wait_for_mail(sink, "alice@example.org", 2)) == 2
    assert len(sink.messages) == 2  # nobody else got anything


def test_the_link_sets_a_password_once_and_ends_every_session(mail_app, people, smtp_sink):
    sink, _port = smtp_sink
    other = mail_app.test_client()
    assert other.post("/auth/login", data={"username": "alice", "password": PASSWORD}).status_code == 302
    # A forged Host never reaches the link: it is built from TRACKER_BASE_URL alone.
    assert _ask(mail_app.test_client(), "alice", host="127.0.0.1").status_code == 302
    path = _path(_link(_wait_for_mail(sink, "alice@example.org")[0]))
    client = mail_app.test_client()
    assert client.get(path).status_code == 200
    weak = client.post(path, data={"new": "password", "confirm": "password"})
    assert weak.status_code == 400 and "at least 10 characters" in weak.get_data(as_text=True)
    assert client.post(path, data={"new": STRONG, "confirm": STRONG}).status_code == 302
    assert other.get("/auth/account").status_code == 302, "the reset ends the other sessions"
    with mail_app.extensions["tracker"].sessions() as s:
        assert check_password(find_user(s, "alice"), STRONG)
    assert client.get(path).status_code == 410, "a link works once"
    assert client.post(path, data={"new": STRONG + "!", "confirm": STRONG + "!"}).status_code == 410
    assert client.post("/auth/login", data={"username": "alice", "password": STRONG}).status_code == 302


def test_the_link_expires(mail_app, people, smtp_sink, clock):
    sink, _port = smtp_sink
    _ask(mail_app.test_client(), "alice")
    path = _path(_link(_wait_for_mail(sink, "alice@example.org")[0]))
    clock.advance(hours=1, minutes=59)
    assert mail_app.test_client().get(path).status_code == 200
    clock.advance(minutes=2)
    response = mail_app.test_client().get(path)
    assert response.status_code == 410 and "Ask for a new one" in response.get_data(as_text=True)


@pytest.mark.parametrize("tamper", [lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
                                    lambda t: "x" + t, lambda t: "not-a-token"])
def test_a_tampered_link_is_refused(mail_app, people, smtp_sink, tamper):
    sink, _port = smtp_sink
    _ask(mail_app.test_client(), "alice")
    path = _path(_link(_wait_for_mail(sink, "alice@example.org")[0]))
    token = path.rsplit("/", 1)[1]
    assert mail_app.test_client().get("/auth/reset/" + tamper(token)).status_code == 410


def test_an_imported_forecaster_claims_the_account_through_the_reset(mail_app, people, smtp_sink):
    sink, _port = smtp_sink
    client = mail_app.test_client()
    refused = client.post("/auth/login", data={"username": "imported", "password": STRONG})
    assert refused.status_code == 400
    _ask(client, "imported")
    path = _path(_link(_wait_for_mail(sink, "imported@example.org")[0]))
    assert client.post(path, data={"new": STRONG, "confirm": STRONG}).status_code == 302
    assert client.post("/auth/login", data={"username": "imported", "password": STRONG}).status_code == 302


def test_an_admin_records_an_email_from_the_cli_and_users_on_the_account_page(client, db_session, auth, runner,
                                                                               sessions):
    make_user(db_session, "alice")
    db_session.commit()
    assert runner.invoke(["users", "set-email", "alice", "a@example.org"]).exit_code == 0
    auth.login()
    bad = client.post("/auth/account/email", data={"email": "not an address"})
    assert bad.status_code == 400 and "Enter an email address" in bad.get_data(as_text=True)
    assert client.post("/auth/account/email", data={"email": "new@example.org"}).status_code == 302
    with sessions() as s:
        assert find_user(s, "alice").email == "new@example.org"
    page = client.get("/auth/account").get_data(as_text=True)
    assert 'href="/forecasters/alice"' in page, "the account page links to one's own public profile"
