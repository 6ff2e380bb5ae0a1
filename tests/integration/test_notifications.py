"""Notifications to forecasters: recorded once per (account, kind, question or week) by the
scheduler's sweep, shown in the app, emailed over real SMTP (a local aiosmtpd server) through the
same outbox as the admin prompts, with a signed unsubscribe link that works without logging in."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.app_state import build_state
from tracker.domain import outbox
from tracker.domain.notification_inbox import set_emailed_kinds
from tracker.domain.notification_mail import unsubscribe_token
from tracker.domain.notifications import create_due_notifications, digest_drafts, record, resolved_drafts
from tracker.domain.resolution import resolve
from tracker.models import Notification, NotificationOptOut, Score, User
from tracker.scheduler import run_notifications, run_once


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def state(settings, clock, smtp_sink):
    _sink, port = smtp_sink
    settings = replace(settings, smtp_url=f"smtp://127.0.0.1:{port}", mail_from="tracker@example.org",
                       base_url="https://forecasts.example.org")
    st = build_state(settings, clock)
    yield st
    st.engine.dispose()


def people(s) -> dict[str, User]:
    ann, bob, cid = make_user(s, "ann"), make_user(s, "bob"), make_user(s, "cid")
    ann.email, cid.email = "ann@example.org", "cid@example.org"  # bob has no address
    return {"ann": ann, "bob": bob, "cid": cid, "root": make_user(s, "root", role="admin")}


def notes(sessions, kind: str | None = None) -> list[Notification]:
    with sessions() as s:
        query = select(Notification).order_by(Notification.id)
        if kind:
            query = query.where(Notification.kind == kind)
        return list(s.scalars(query))


def body(message) -> str:
    return message.get_payload(decode=True).decode().replace("\r\n", "\n")


def test_a_resolution_tells_each_forecaster_their_stored_score_once(state, clock, smtp_sink):
    sink, _port = smtp_sink
    with state.sessions.begin() as s:
        u = people(s)
        q = make_question(s, "rain", NOW - days(20), NOW - days(1), status="closed", title="Will it rain?")
        add_forecast(s, q, u["ann"], 0.8, NOW - days(10))
        add_forecast(s, q, u["bob"], 0.3, NOW - days(9))
        resolve(s, clock, q, "yes", u["root"], "root")
    clock.advance(minutes=1)
    # Two "resolved" (ann, bob) and this week's digest for the four accounts; ann and cid have addresses.
    assert run_notifications(state) == {"notifications": 6, "emailed": 3}
    assert run_notifications(state) == {"notifications": 0, "emailed": 0}  # a re-run adds and sends nothing
    clock.advance(days=3)
    assert run_notifications(state)["notifications"] == 0
    with state.sessions() as s:
        stored = {s.get_one(User, sc.user_id).username: sc for sc in s.scalars(select(Score))}
    (msg,) = [m for m in sink.to("ann@example.org") if "Resolved" in m["Subject"]]
    assert len(sink.messages) == 3 and msg["Subject"] == "[Forecast tracker] Resolved: Will it rain?"
    text = body(msg)
    # The score quoted is the stored one (written by the rescoring), not one computed elsewhere.
    assert f"your Brier score {stored['ann'].brier:.3f}" in text and "resolved as Yes" in text
    assert "https://forecasts.example.org/q/rain" in text
    assert msg["List-Unsubscribe"].startswith("<https://forecasts.example.org/notifications/unsubscribe/")
    resolved = {n.user_id: n for n in notes(state.sessions, "resolved")}
    assert resolved[stored["ann"].user_id].mail_state == "sent"
    bobs = resolved[stored["bob"].user_id]  # no address: in the app only
    assert bobs.mail_state == "skipped" and "no email address" in bobs.delivery
    assert f"{stored['bob'].brier:.3f}" in bobs.body


def test_closing_soon_with_a_stale_forecast_over_weeks_of_schedule(state, clock, smtp_sink):
    sink, _port = smtp_sink
    with state.sessions.begin() as s:
        u = people(s)
        soon = make_question(s, "soon", NOW - days(60), NOW + days(10), title="Closes in ten days?")
        add_forecast(s, soon, u["ann"], 0.4, NOW - days(50))  # stale by the time it closes
        add_forecast(s, soon, u["cid"], 0.4, NOW - days(50))
        add_forecast(s, soon, u["cid"], 0.5, NOW + days(1))  # cid updates: never stale
        later = make_question(s, "later", NOW - days(5), NOW + days(30))
        add_forecast(s, later, u["ann"], 0.6, NOW - days(4))  # closes 34 days after this forecast
    sent_on = []
    for day in range(40):  # six weeks of daily sweeps, in seconds
        clock.set(NOW + days(day))
        report = run_notifications(state)
        if notes(state.sessions, "closing") and not sent_on:
            sent_on.append(day)
    closing = notes(state.sessions, "closing")
    assert [(n.user_id, n.question_id) for n in closing] == [(1, 1), (1, 2)]
    assert sent_on == [7]  # 3 days before the close at NOW + 10 days
    assert closing[1].created_at == NOW + days(27)
    subjects = [m["Subject"] for m in sink.to("ann@example.org") if "Closing" in m["Subject"]]
    assert subjects == ["[Forecast tracker] Closing soon: Closes in ten days?",
                        "[Forecast tracker] Closing soon: Question later?"]
    assert not [m for m in sink.to("cid@example.org") if "Closing" in m["Subject"]]
    assert report == {"notifications": 0, "emailed": 0}


def test_one_digest_a_week_with_closing_resolved_and_new_questions(state, clock, smtp_sink):
    sink, _port = smtp_sink
    with state.sessions.begin() as s:
        u = people(s)
        old = make_question(s, "old", NOW - days(40), NOW - days(2), status="closed", title="Old one?")
        add_forecast(s, old, u["ann"], 0.7, NOW - days(30))
        resolve(s, clock, old, "no", u["root"], "root")
        make_question(s, "fresh", NOW - days(2), NOW + days(5), title="Fresh one?")
        make_question(s, "far", NOW + days(6), NOW + days(60), status="draft", title="Far one?")
    run_notifications(state)
    run_notifications(state)
    with state.sessions() as s:
        ann_brier = s.scalar(select(Score.brier))
    digests = notes(state.sessions, "digest")
    assert [n.ref for n in digests] == ["2026-11-23"] * 4  # every account, once (the week's Monday)
    (msg,) = [m for m in sink.to("ann@example.org") if "digest" in m["Subject"]]
    text = body(msg)
    assert "Closing within a week:\n- Fresh one?" in text and "New questions:\n- Fresh one?" in text
    assert f"- Old one?: No; your Brier score {ann_brier:.3f}" in text
    assert "your Brier score" not in body(next(m for m in sink.to("cid@example.org") if "digest" in m["Subject"]))
    # Four more weeks of the whole scheduler: the week of Nov 30 has news ("far" opened on Dec 1),
    # the later weeks have none and send nothing.
    for week in range(1, 5):
        clock.set(NOW + days(7 * week))
        run_once(state)
        run_once(state)
    by_user = [n.ref for n in notes(state.sessions, "digest") if n.user_id == 1]
    assert by_user == ["2026-11-23", "2026-11-30"]
    second = [m for m in sink.to("ann@example.org") if "week of 2026-11-30" in m["Subject"]]
    assert len(second) == 1 and "New questions:\n- Far one?" in body(second[0])


def test_two_schedulers_and_two_sessions_record_each_notification_once(state, settings, clock, smtp_sink):
    sink, _port = smtp_sink
    with state.sessions.begin() as s:
        u = people(s)
        q = make_question(s, "q", NOW - days(20), NOW - days(1), status="closed")
        add_forecast(s, q, u["ann"], 0.8, NOW - days(10))
        resolve(s, clock, q, "yes", u["root"], "root")
    # Session B reads what is due before session A commits it, and inserts after: the unique key
    # (ON CONFLICT DO NOTHING) records nothing the second time.
    with state.read_sessions() as b:
        late = [*resolved_drafts(b, clock.now()), *digest_drafts(b, clock.now())]
    with state.sessions.begin() as a:
        first = create_due_notifications(a, clock)
    with state.sessions.begin() as b:
        assert record(b, clock.now(), late) == []
    assert len(first) == len(late) == 5
    other = build_state(state.settings, clock)  # a second scheduler process: its own engine
    try:
        reports = [run_notifications(other), run_notifications(state), run_notifications(other)]
    finally:
        other.engine.dispose()
    assert sum(r["emailed"] for r in reports) == 3  # ann: resolved + digest; cid: digest
    assert len(sink.messages) == 3 and len(notes(state.sessions)) == 5


def test_a_kind_turned_off_is_not_emailed_but_still_shown(state, clock, smtp_sink):
    sink, _port = smtp_sink
    with state.sessions.begin() as s:
        u = people(s)
        set_emailed_kinds(s, NOW, u["ann"], {"resolved": False, "digest": False})
        set_emailed_kinds(s, NOW, u["cid"], {"digest": False})
        q = make_question(s, "q", NOW - days(20), NOW - days(1), status="closed")
        add_forecast(s, q, u["ann"], 0.8, NOW - days(10))
        add_forecast(s, q, u["cid"], 0.6, NOW - days(10))
        resolve(s, clock, q, "yes", u["root"], "root")
    with state.sessions.begin() as s:
        create_due_notifications(s, clock)
        # cid turns the email off after it was queued and before it is sent: the later choice wins.
        set_emailed_kinds(s, NOW, s.get_one(User, 3), {"resolved": False})
    assert run_notifications(state) == {"notifications": 0, "emailed": 0}
    assert sink.messages == []
    mine = [n for n in notes(state.sessions) if n.user_id == 1]
    assert {n.kind for n in mine} == {"resolved", "digest"}
    assert all(n.mail_state == "skipped" and "turned off" in n.delivery for n in mine)
    cids = next(n for n in notes(state.sessions, "resolved") if n.user_id == 3)
    assert cids.mail_state == "skipped" and cids.delivery.startswith("not emailed:")


def test_a_notification_email_is_retried_and_taken_over_like_a_prompt(state, clock, smtp_sink):
    from tracker.models import Notification as N

    sink, _port = smtp_sink
    with state.sessions.begin() as s:
        people(s)
        make_question(s, "fresh", NOW - days(1), NOW + days(30))
    with state.sessions.begin() as s:
        create_due_notifications(s, clock)
    with state.sessions.begin() as s:
        dead = outbox.claim_due(s, clock, N)  # a sender that dies mid-send
    assert len(dead.ids) == 2
    assert run_notifications(state)["emailed"] == 0  # claimed, not timed out yet
    clock.advance(minutes=11)
    assert run_notifications(state)["emailed"] == 2
    assert sorted(r for _f, rcpt, _m in sink.messages for r in rcpt) == ["ann@example.org", "cid@example.org"]


def test_the_unsubscribe_link_works_logged_out_and_refuses_a_tampered_token(app, client, sessions, settings, smtp_sink):
    with sessions.begin() as s:
        ann = people(s)["ann"]
        token = unsubscribe_token(settings.secret_key, ann.id, "digest")
    page = client.get(f"/notifications/unsubscribe/{token}")
    assert page.status_code == 200 and "Stop the emails sent when the weekly digest" in page.get_data(as_text=True)
    with sessions() as s:  # a GET (a mail scanner's prefetch) changes nothing
        assert s.scalar(select(func.count()).select_from(NotificationOptOut)) == 0
    done = client.post(f"/notifications/unsubscribe/{token}")
    assert done.status_code == 200 and "no longer get an email" in done.get_data(as_text=True)
    assert client.post(f"/notifications/unsubscribe/{token}").status_code == 200  # twice: still one row
    with sessions() as s:
        assert [(o.user_id, o.kind) for o in s.scalars(select(NotificationOptOut))] == [(ann.id, "digest")]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, unsubscribe_token("another-secret", ann.id, "resolved"),
                unsubscribe_token(settings.secret_key, ann.id, "everything"), "nonsense"):
        for method in ("GET", "POST"):
            answer = client.open(f"/notifications/unsubscribe/{bad}", method=method)
            assert answer.status_code == 400 and "not valid" in answer.get_data(as_text=True)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(NotificationOptOut)) == 1


def test_one_click_unsubscribe_needs_no_csrf_token(csrf_app, sessions, settings):
    with sessions.begin() as s:
        ann = people(s)["ann"]
    token = unsubscribe_token(settings.secret_key, ann.id, "resolved")
    answer = csrf_app.test_client().post(f"/notifications/unsubscribe/{token}",
                                         data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    with sessions() as s:
        assert s.scalar(select(NotificationOptOut.kind)) == "resolved"


def test_the_notifications_page_is_paged_newest_first_with_an_unread_count(client, auth, sessions, clock):
    from tracker.domain.notifications import Draft

    with sessions.begin() as s:
        people(s)
        for i in range(25):
            record(s, NOW + timedelta(minutes=i), [Draft(1, "digest", f"w{i}", None, f"Digest number {i}", "text")])
        record(s, NOW, [Draft(2, "digest", "w0", None, "Bob's own", "text")])
    auth.login("ann")
    first = client.get("/notifications/").get_data(as_text=True)
    assert "Digest number 24" in first and "Digest number 5" in first and "Digest number 4" not in first
    assert first.index("Digest number 24") < first.index("Digest number 23") and "Bob's own" not in first
    assert 'aria-label="25 unread"' in first
    second = client.get("/notifications/?page=2").get_data(as_text=True)
    assert "Digest number 4" in second and "Digest number 0" in second and "Next page" not in second
    with sessions() as s:
        newest = s.scalar(select(Notification.id).where(Notification.subject == "Digest number 24"))
        bobs = s.scalar(select(Notification.id).where(Notification.user_id == 2))
    assert client.post(f"/notifications/{newest}/read").status_code == 302
    assert 'aria-label="24 unread"' in client.get("/notifications/").get_data(as_text=True)
    assert client.post(f"/notifications/{bobs}/read").status_code == 404  # not hers
    assert client.post("/notifications/read").status_code == 302
    page = client.get("/auth/account").get_data(as_text=True)
    assert "unread" not in page.split("</nav>")[0]
    with sessions() as s:
        assert s.get_one(Notification, bobs).read_at is None


def test_the_account_page_sets_which_kinds_are_emailed(client, auth, sessions):
    with sessions.begin() as s:
        people(s)
    auth.login("ann")
    page = client.get("/auth/account").get_data(as_text=True)
    assert page.count('type="checkbox"') == 3 and page.count("checked") == 3
    answer = client.post("/auth/account/notifications", data={"resolved": "y"})
    assert answer.status_code == 302 and answer.location.endswith("/auth/account#notifications")
    with sessions() as s:
        assert sorted(s.scalars(select(NotificationOptOut.kind))) == ["closing", "digest"]
    client.post("/auth/account/notifications", data={"resolved": "y", "digest": "y"})
    with sessions() as s:
        assert list(s.scalars(select(NotificationOptOut.kind))) == ["closing"]
    assert client.get("/auth/account").get_data(as_text=True).count("checked") == 2
