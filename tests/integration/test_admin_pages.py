"""Admin pages: access, resolution queue, resolve / correct / annul forms, audit log, inbox."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import AuthActions
from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.domain.prompts import create_due_prompts
from tracker.domain.resolution import resolve
from tracker.models import Question, ResolutionEvent, Score, StatusChange


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def ids(sessions):
    with sessions.begin() as s:
        admin = make_user(s, "root", role="admin")
        fred = make_user(s, "fred")
        old = make_question(s, "old-q", opens_at=NOW - days(60), closes_at=NOW - days(30),
                            resolve_by=NOW - days(20), status="closed", title="Old question")
        recent = make_question(s, "recent-q", opens_at=NOW - days(20), closes_at=NOW - days(2),
                               resolve_by=NOW + days(12), status="closed", title="Recent question")
        make_question(s, "open-q", opens_at=NOW - days(5), closes_at=NOW + days(5), title="Open question")
        add_forecast(s, recent, fred, 0.75, NOW - days(10))
        return {"admin": admin.id, "fred": fred.id, "old": old.id, "recent": recent.id}


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def plain(response) -> str:
    """The page's text without tags, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).replace(" ,", ",")


def count(sessions, model) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("path", ["/admin/", "/admin/inbox", "/admin/questions/old-q/resolve",
                                  "/admin/questions/old-q/annul", "/admin/questions/old-q/audit"])
def test_admin_pages_need_an_admin(client, ids, path, auth):
    anonymous = client.get(path)
    assert anonymous.status_code in (302, 401)
    if anonymous.status_code == 302:
        assert "/auth/login" in anonymous.headers["Location"]
    auth.login("fred")
    assert client.get(path).status_code == 403
    if "/questions/" in path and not path.endswith("/audit"):
        assert client.post(path, data={"outcome": "yes", "reason": "x"}).status_code == 403
    auth.login("root")
    assert client.get(path).status_code == 200


def test_queue_lists_unresolved_closed_questions_oldest_first(client, ids, auth):
    auth.login("root")
    page = text_of(client.get("/admin/"))
    queue = page.split("Open questions")[0]
    assert queue.index("Old question") < queue.index("Recent question")
    assert "Open question<" not in queue
    assert "30 days" in queue and "Overdue by 20 days" in queue  # waited since close; past resolve_by
    assert "not yet passed" in queue  # the recent one's resolve_by is ahead
    assert 'href="/admin/questions/old-q/resolve"' in queue


def test_resolving_from_the_form(client, sessions, ids, auth):
    auth.login("root")
    form = text_of(client.get("/admin/questions/recent-q/resolve"))
    assert '<option value="yes">Yes</option>' in form and "correcting" not in form
    response = client.post("/admin/questions/recent-q/resolve", data={"outcome": "yes", "note": "BBC, 24 Nov"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/questions/recent-q/audit")
    with sessions() as s:
        event = s.scalar(select(ResolutionEvent))
        assert (event.outcome.key, event.actor_id, event.actor_name, event.note) == ("yes", ids["admin"], "root", "BBC, 24 Nov")
        assert s.get(Question, ids["recent"]).status == "resolved"
        assert s.scalar(select(Score.brier)) == pytest.approx(2 * 0.25 ** 2)
    audit = text_of(client.get("/admin/questions/recent-q/audit"))
    assert "Resolved as Yes" in audit and "BBC, 24 Nov" in audit and "Status closed → resolved" in audit
    assert "Scores were recomputed" in audit  # the flash message


def test_a_correction_needs_the_confirmation_and_says_what_stands(client, sessions, ids, clock, auth):
    with sessions.begin() as s:
        resolve(s, clock, s.get(Question, ids["recent"]), "yes", None, "earlier-admin", note="first call")
    auth.login("root")
    form = plain(client.get("/admin/questions/recent-q/resolve"))
    assert "Current resolution: resolved as Yes, recorded by earlier-admin" in form
    assert "I am correcting an existing resolution" in form

    refused = client.post("/admin/questions/recent-q/resolve", data={"outcome": "no"})
    assert refused.status_code == 400
    assert "to replace the current resolution" in text_of(refused)
    assert count(sessions, ResolutionEvent) == 1

    ok = client.post("/admin/questions/recent-q/resolve", data={"outcome": "no", "confirm_correction": "y",
                                                                 "note": "misread"})
    assert ok.status_code == 302
    with sessions() as s:
        assert [e.outcome.key for e in s.scalars(select(ResolutionEvent).order_by(ResolutionEvent.id))] == ["yes", "no"]
        assert s.scalar(select(Score.brier)) == pytest.approx(2 * 0.75 ** 2)
    audit = text_of(client.get("/admin/questions/recent-q/audit"))
    assert "Correction: resolved as No" in audit and "earlier-admin" in audit and "misread" in audit


def test_domain_refusals_are_shown_on_the_form_and_store_nothing(client, sessions, ids, auth):
    auth.login("root")
    response = client.post("/admin/questions/open-q/resolve", data={"outcome": "yes"})
    assert response.status_code == 409
    assert "give the moment the outcome became certain" in text_of(response)
    future = client.post("/admin/questions/open-q/resolve", data={"outcome": "yes", "occurred_at": "2026-12-01T10:00"})
    assert future.status_code == 400 and "cannot be in the future" in text_of(future)
    # Written for people (issue 13 item 4): no field names, no machine timestamps.
    assert "2026-12-01 10:00 UTC is later than now" in text_of(future)
    assert "needs occurred_at" not in text_of(response) and "Z)" not in text_of(future)
    bad = client.post("/admin/questions/open-q/resolve", data={"outcome": "yes", "occurred_at": "soon"})
    assert bad.status_code == 400 and "such as 2026-11-20T14:00" in text_of(bad)
    unknown = client.post("/admin/questions/open-q/resolve", data={"outcome": "perhaps"})
    assert unknown.status_code == 400
    assert count(sessions, ResolutionEvent) == 0 and count(sessions, StatusChange) == 0


def test_early_resolution_from_the_form(client, sessions, ids, auth):
    auth.login("root")
    form = text_of(client.get("/admin/questions/open-q/resolve"))
    assert "still open" in form and 'type="datetime-local"' in form
    response = client.post("/admin/questions/open-q/resolve", data={"outcome": "no", "occurred_at": "2026-11-24T09:30"})
    assert response.status_code == 302
    with sessions() as s:
        assert s.scalar(select(ResolutionEvent.occurred_at)) == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def test_annul_needs_a_reason_and_a_confirmation_on_a_resolved_question(client, sessions, ids, clock, auth):
    auth.login("root")
    missing = client.post("/admin/questions/old-q/annul", data={"reason": ""})
    assert missing.status_code == 400 and "An annulment needs a reason." in text_of(missing)
    ok = client.post("/admin/questions/old-q/annul", data={"reason": "The agency stopped publishing.",
                                                                "confirm_annul": "y"})
    assert ok.status_code == 302
    with sessions.begin() as s:
        assert s.get(Question, ids["old"]).status == "annulled"
        resolve(s, clock, s.get(Question, ids["recent"]), "yes", None, "x")
    unconfirmed = client.post("/admin/questions/recent-q/annul", data={"reason": "oops", "confirm_annul": "y"})
    assert unconfirmed.status_code == 400
    assert client.post("/admin/questions/recent-q/annul",
                       data={"reason": "oops", "confirm_correction": "y", "confirm_annul": "y"}).status_code == 302
    assert count(sessions, Score) == 0
    audit = text_of(client.get("/admin/questions/recent-q/audit"))
    assert "Correction: annulled" in audit and "oops" in audit


def test_unknown_question_is_404(client, ids, auth):
    auth.login("root")
    assert client.get("/admin/questions/nope/resolve").status_code == 404


def test_inbox_shows_prompts_newest_first_with_their_state(client, sessions, ids, clock, auth):
    with sessions.begin() as s:
        create_due_prompts(s, clock, 7)
    clock.advance(days=13)
    with sessions.begin() as s:
        create_due_prompts(s, clock, 7)  # the recent question's resolve-by date has now passed
        resolve(s, clock, s.get(Question, ids["old"]), "no", None, "root")
    auth.login("root")
    page = text_of(client.get("/admin/inbox"))
    first, second, third = (page.index(t) for t in (
        "Recent question” (recent-q) reached its resolve-by date",
        "Old question” (old-q) is still unresolved 28 days after",
        "Recent question” (recent-q) closed on",
    ))
    assert first < third and second < third  # newest first
    # recent-q twice and open-q (closed meanwhile); old-q's two prompts show it is resolved now.
    assert page.count("still unresolved</span>") == 3
    assert page.count('<span class="status status-resolved">resolved</span>') == 2
    assert 'href="/admin/questions/recent-q/resolve"' in page and 'href="/q/recent-q"' in page


def test_csrf_is_required(csrf_app, sessions, ids):
    client = csrf_app.test_client()
    login_page = client.get("/auth/login").get_data(as_text=True)
    AuthActions(client).login("root", csrf_token=re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                                                            login_page).group(1))
    response = client.post("/admin/questions/recent-q/resolve", data={"outcome": "yes"})
    assert response.status_code == 400
    assert count(sessions, ResolutionEvent) == 0
    page = client.get("/admin/questions/recent-q/resolve").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ok = client.post("/admin/questions/recent-q/resolve", data={"outcome": "yes", "csrf_token": token})
    assert ok.status_code == 302 and count(sessions, ResolutionEvent) == 1


def test_a_resolution_made_meanwhile_by_someone_else_is_not_silently_corrected(client, sessions, ids, clock, auth):
    auth.login("root")
    assert "correcting" not in text_of(client.get("/admin/questions/recent-q/resolve"))  # unresolved when shown
    with sessions.begin() as s:  # another admin resolves it before this form is submitted
        resolve(s, clock, s.get(Question, ids["recent"]), "yes", None, "bea")
    response = client.post("/admin/questions/recent-q/resolve", data={"outcome": "no"})
    assert response.status_code in (400, 409)
    assert "resolved as Yes" in plain(response) and "bea" in plain(response)
    annul = client.post("/admin/questions/recent-q/annul", data={"reason": "dup", "confirm_annul": "y"})
    assert annul.status_code in (400, 409)
    assert count(sessions, ResolutionEvent) == 1
