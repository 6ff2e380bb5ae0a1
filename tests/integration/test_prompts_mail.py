"""Prompt email: sent over real SMTP (a local aiosmtpd server) after the commit, once per admin,
through the outbox: claimed by one sender, retried with backoff while the server refuses, taken
over when a sender died mid-send; the outcome is stored on the prompt row."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import SmtpSink, free_port
from tests.factories import NOW, make_question, make_user
from tracker.app_state import build_state
from tracker.domain.mail import MailError, parse_smtp_url
from tracker.models import Prompt
from tracker.scheduler import run_prompts


@pytest.fixture
def state(settings, clock):
    st = build_state(settings, clock)
    yield st
    st.engine.dispose()


def arrange(sessions):
    with sessions.begin() as s:
        a = make_user(s, "alice", role="admin")
        a.email = "alice@example.org"
        b = make_user(s, "bea", role="admin")
        b.email = "bea@example.org"
        make_user(s, "carl", role="admin")  # no email address
        f = make_user(s, "fred")
        f.email = "fred@example.org"  # a forecaster: never prompted
        make_question(s, "closed-q", opens_at=NOW - timedelta(days=9), closes_at=NOW - timedelta(days=1),
                      status="closed", title="Will it rain?")


def all_prompts(sessions) -> list[Prompt]:
    with sessions() as s:
        return list(s.scalars(select(Prompt).order_by(Prompt.id)))


def test_each_admin_with_an_email_gets_each_prompt_once(state, smtp_sink):
    sink, port = smtp_sink
    state.settings = replace(state.settings, smtp_url=f"smtp://127.0.0.1:{port}", mail_from="tracker@example.org",
                             base_url="https://forecasts.example.org")
    arrange(state.sessions)
    assert run_prompts(state) == {"prompts": 1, "emailed": 1}
    assert run_prompts(state) == {"prompts": 0, "emailed": 0}  # second run: nothing new, nothing resent
    assert sorted(r for _f, rcpt, _m in sink.messages for r in rcpt) == ["alice@example.org", "bea@example.org"]
    msg = sink.to("alice@example.org")[0]
    assert msg["From"] == "tracker@example.org" and "Will it rain?" in msg["Subject"]
    body = msg.get_payload(decode=True).decode()
    assert "https://forecasts.example.org/admin/questions/closed-q/resolve" in body and "awaits resolution" in body
    (prompt,) = all_prompts(state.sessions)
    assert prompt.delivery == "emailed to 2 admins" and prompt.emailed_at == NOW


def test_without_smtp_the_prompt_is_logged_and_still_in_the_inbox(state, caplog):
    arrange(state.sessions)
    with caplog.at_level("INFO", logger="tracker.domain.outbox"):
        run_prompts(state)
    (prompt,) = all_prompts(state.sessions)
    assert prompt.delivery == "logged: no SMTP server configured" and prompt.emailed_at is None
    assert "Will it rain?" in caplog.text


def test_an_unreachable_smtp_server_is_retried_until_it_comes_back(state, clock):
    """The reproduction: with the server refusing connections the prompt was marked failed and
    never retried after the server came back."""
    from aiosmtpd.controller import Controller

    port = free_port()
    state.settings = replace(state.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    arrange(state.sessions)
    run_prompts(state)
    (prompt,) = all_prompts(state.sessions)
    assert prompt.mail_state == "pending" and prompt.attempts == 1 and prompt.emailed_at is None
    assert prompt.delivery.startswith("retrying at 2026-11-25 12:01 UTC (attempt 1 of 8)")
    assert "cannot connect" in prompt.delivery
    assert run_prompts(state) == {"prompts": 0, "emailed": 0}  # not due again yet: backoff
    clock.advance(minutes=1)
    run_prompts(state)  # still refused: the wait doubles
    (prompt,) = all_prompts(state.sessions)
    assert prompt.attempts == 2 and prompt.next_attempt_at == NOW + timedelta(minutes=3)
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()  # the server is back
    try:
        clock.advance(minutes=2)
        assert run_prompts(state) == {"prompts": 0, "emailed": 1}
        clock.advance(hours=1)
        assert run_prompts(state) == {"prompts": 0, "emailed": 0}  # sent once, never again
    finally:
        controller.stop()
    assert sorted(r for _f, rcpt, _m in sink.messages for r in rcpt) == ["alice@example.org", "bea@example.org"]
    (prompt,) = all_prompts(state.sessions)
    assert prompt.mail_state == "sent" and prompt.attempts == 3 and prompt.delivery == "emailed to 2 admins"


def test_a_sender_killed_mid_send_is_taken_over_after_the_claim_timeout(state, clock, smtp_sink):
    """The reproduction: with the scheduler killed mid-send the prompt stayed "pending" forever.
    A claim that was never completed (the process died after claiming) is taken over."""
    from tracker.domain import outbox

    sink, port = smtp_sink
    state.settings = replace(state.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    arrange(state.sessions)
    with state.sessions.begin() as s:
        from tracker.domain.prompts import create_due_prompts

        create_due_prompts(s, clock, 7)
    with state.sessions.begin() as s:
        dead = outbox.claim_due(s, clock, Prompt)  # ... and then the process is killed: no send, no outcome
    assert len(dead.ids) == 1
    assert run_prompts(state)["emailed"] == 0  # claimed by someone else, not timed out yet
    assert sink.messages == []
    clock.advance(minutes=11)
    assert run_prompts(state)["emailed"] == 1
    assert len(sink.messages) == 2
    with state.sessions.begin() as s:  # the dead sender's late outcome, if it ever came, is ignored
        outbox.complete(s, clock, dead, {dead.ids[0]: (False, "failed for 2 of 2: late")})
    (prompt,) = all_prompts(state.sessions)
    assert prompt.mail_state == "sent" and prompt.attempts == 2


def test_a_prompt_is_given_up_after_the_retry_limit(state, clock):
    from tracker.domain import outbox

    state.settings = replace(state.settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    arrange(state.sessions)
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        run_prompts(state)
        clock.advance(hours=7)
    (prompt,) = all_prompts(state.sessions)
    assert prompt.mail_state == "failed" and prompt.attempts == outbox.MAX_ATTEMPTS
    assert prompt.delivery.startswith(f"gave up after {outbox.MAX_ATTEMPTS} attempts")


def test_smtp_login_is_used_when_the_url_has_credentials(state):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    seen: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    sink, port = SmtpSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        state.settings = replace(state.settings, smtp_url=f"smtp://tracker%40x:p%3Ass@127.0.0.1:{port}")
        arrange(state.sessions)
        run_prompts(state)
    finally:
        controller.stop()
    assert seen == [("tracker@x", "p:ss")]
    assert len(sink.messages) == 2


@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.local", ("mail.local", 25, None, None, False, False)),
    ("smtp://u:p@mail.local:2525", ("mail.local", 2525, "u", "p", False, False)),
    ("smtps://u:p%40x@mail.example.org", ("mail.example.org", 465, "u", "p@x", True, False)),
    ("smtp+starttls://u:p@mail.example.org", ("mail.example.org", 587, "u", "p", False, True)),
])
def test_smtp_urls(url, expected):
    c = parse_smtp_url(url)
    assert (c.host, c.port, c.username, c.password, c.tls, c.starttls) == expected


def test_the_password_is_never_in_the_repr():
    assert "s3cret" not in repr(parse_smtp_url("smtps://u:s3cret@mail.example.org"))


@pytest.mark.parametrize("url", ["http://mail.local", "smtp://", "smtp://host:notaport"])
def test_bad_smtp_urls_are_refused(url):
    with pytest.raises(MailError):
        parse_smtp_url(url)


def test_required_starttls_is_not_skipped_silently(state, smtp_sink):
    sink, port = smtp_sink  # this server offers no STARTTLS
    state.settings = replace(state.settings, smtp_url=f"smtp+starttls://u:p@127.0.0.1:{port}")
    arrange(state.sessions)
    run_prompts(state)
    (prompt,) = all_prompts(state.sessions)
    assert "STARTTLS" in prompt.delivery and "failed for 2 of 2" in prompt.delivery
    assert sink.messages == []


def test_passwords_go_in_clear_only_to_this_machine():
    from tracker.domain.mail import _is_loopback

    assert _is_loopback("127.0.0.1") and _is_loopback("localhost") and _is_loopback("::1")
    assert not _is_loopback("mail.example.org") and not _is_loopback("10.0.0.5")
