"""Issue 13, item 13: a discussion thread on each question, admins hiding comments with a reason,
and forecast rationales shown to everyone once the question has closed (never before).

Runs on SQLite and, with TRACKER_TEST_DATABASE_URL, on PostgreSQL.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from tests.conftest import AuthActions
from tests.factories import NOW, add_forecast, make_question, make_user
from tracker import create_app
from tracker.domain.comments import COMMENTS_PAGE_SIZE, MAX_COMMENT
from tracker.domain.resolution import audit_log
from tracker.models import Comment, Question, User


@pytest.fixture
def scene(db_session):
    make_user(db_session, "alice")
    make_user(db_session, "bob")
    make_user(db_session, "root", role="admin")
    make_question(db_session, "q1", NOW - timedelta(days=10), NOW + timedelta(days=10))
    make_question(db_session, "q2", NOW - timedelta(days=10), NOW + timedelta(days=10))
    db_session.commit()


def logged_in(app, username: str):
    client = app.test_client()
    AuthActions(client).login(username)
    return client


def stored(sessions) -> list[Comment]:
    with sessions() as s:
        return list(s.scalars(select(Comment).order_by(Comment.id)))


def thread_html(body: str) -> str:
    """The discussion section of a question page (the rest of the page has its own scripts)."""
    match = re.search(r'<section id="comments".*?</section>', body, re.S)
    assert match, "the page has no discussion section"
    return match.group(0)


def post(client, body: str, slug: str = "q1"):
    return client.post(f"/q/{slug}/comments", data={"body": body})


# --- posting ---------------------------------------------------------------------------------

def test_a_comment_is_posted_and_rendered_as_markdown(app, scene, sessions):
    alice = logged_in(app, "alice")
    response = post(alice, "I think **yes**: see [the report](https://example.org/r).\n\n- one\n- two")
    assert response.status_code == 302
    [comment] = stored(sessions)
    assert response.location.endswith(f"/q/q1?cpage=1#comment-{comment.id}")
    assert comment.created_at == NOW  # the server's clock, not the client's
    assert "Comment posted." in alice.get(response.location).get_data(as_text=True)

    for client in (alice, app.test_client()):  # the author and an anonymous reader
        html = thread_html(client.get("/q/q1").get_data(as_text=True))
        assert "<strong>yes</strong>" in html
        assert '<a href="https://example.org/r" rel="noopener noreferrer">the report</a>' in html
        assert "<li>one</li>" in html and "alice" in html
    # Another question's thread is its own.
    assert "No comments yet." in thread_html(alice.get("/q/q2").get_data(as_text=True))


def test_anonymous_visitors_read_but_cannot_post(app, scene, sessions):
    client = app.test_client()
    response = post(client, "drive-by")
    assert response.status_code == 302 and "/auth/login" in response.location
    assert stored(sessions) == []
    assert "Log in</a> to join the discussion" in client.get("/q/q1").get_data(as_text=True)


@pytest.mark.parametrize(("attack", "forbidden"), [
    ("<script>alert('x')</script>", ["<script>alert"]),
    ("[click](javascript:alert(1))", ["javascript:"]),
    ('<a href="javascript:alert(1)">click</a>', ["javascript:"]),
    ('<a href="JaVaScRiPt:alert(1)">click</a>', ["javascript:"]),
    ("<img src=x onerror=alert(1)>", ["onerror", "<img"]),
    ('<p onmouseover="alert(1)">hover</p>', ["onmouseover"]),
    ('<svg onload="alert(1)"><circle r="5"/></svg>', ["onload", "<svg"]),
    ('<iframe src="https://evil.example"></iframe>', ["<iframe"]),
    ('<a href="data:text/html,<script>alert(1)</script>">x</a>', ["data:text/html", "<script"]),
    ('<style>body{display:none}</style>', ["<style"]),
])
def test_markup_attacks_are_sanitised(app, scene, sessions, attack, forbidden):
    alice = logged_in(app, "alice")
    assert post(alice, f"Before {attack} after").status_code == 302
    assert stored(sessions)[0].body == f"Before {attack} after"  # stored as written, cleaned when shown
    for client in (alice, app.test_client()):
        html = thread_html(client.get("/q/q1").get_data(as_text=True)).lower()
        assert "before" in html and "after" in html
        for word in forbidden:
            assert word.lower() not in html, f"{word!r} survived in {html}"


@pytest.mark.parametrize(("body", "message"), [
    ("", "The comment is empty; write something first."),
    ("   \n\t  ", "The comment is empty; write something first."),
    ("x" * (MAX_COMMENT + 1), f"The comment is {MAX_COMMENT + 1} characters long; the limit is {MAX_COMMENT}."),
    ("x" * 200_000, f"The comment is 200000 characters long; the limit is {MAX_COMMENT}."),
])
def test_empty_or_oversized_comment_is_a_400_beside_the_box(app, scene, sessions, body, message):
    alice = logged_in(app, "alice")
    response = post(alice, body)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'id="comment-error"' in page  # beside the comment box, on the question page
    assert "x" * (MAX_COMMENT + 2) not in page  # a huge body is not echoed back whole
    assert stored(sessions) == []


def test_exactly_the_limit_is_accepted(app, scene, sessions):
    assert post(logged_in(app, "alice"), "y" * MAX_COMMENT).status_code == 302
    assert len(stored(sessions)[0].body) == MAX_COMMENT


def test_comments_need_the_csrf_token(csrf_app, scene):
    client = csrf_app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/auth/login", data={"username": "alice", "password": "password123", "csrf_token": token})
    response = post(client, "no token")
    assert response.status_code == 400
    assert "The form expired or was sent from elsewhere" in response.get_data(as_text=True)
    sessions = csrf_app.extensions["tracker"].sessions
    assert stored(sessions) == []
    form = client.get("/q/q1").get_data(as_text=True)
    token = re.search(r'id="comment-form">\s*<input id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"',
                      form).group(1)
    assert client.post("/q/q1/comments", data={"body": "with token", "csrf_token": token}).status_code == 302
    assert [c.body for c in stored(sessions)] == ["with token"]


def test_posting_is_rate_limited_per_account(settings, clock, scene):
    settings.ratelimit_enabled = True
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})
    try:
        alice = logged_in(app, "alice")
        for n in range(5):
            assert post(alice, f"comment {n}").status_code == 302
        refused = post(alice, "one too many")
        assert refused.status_code == 429
        assert "Too many attempts" in refused.get_data(as_text=True)
        assert len(stored(app.extensions["tracker"].sessions)) == 5
        assert post(logged_in(app, "bob"), "bob's own counter").status_code == 302
    finally:
        app.extensions["tracker"].engine.dispose()


# --- paging ----------------------------------------------------------------------------------

def _add_comments(sessions, count: int, slug: str = "q1") -> None:
    with sessions() as s:
        question = s.scalar(select(Question).where(Question.slug == slug))
        users = list(s.scalars(select(User).order_by(User.id)))[:3]
        for n in range(count):
            # Some share a timestamp: the order is (time, id), stable either way.
            s.add(Comment(question_id=question.id, user_id=users[n % 3].id, body=f"comment number {n + 1}.",
                          created_at=NOW - timedelta(hours=100 - n // 2)))
        s.commit()


def _numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r"comment number (\d+)\.", html)]


def test_comments_are_paged_oldest_first(app, scene, sessions):
    _add_comments(sessions, 2 * COMMENTS_PAGE_SIZE + 5)
    client = app.test_client()
    first = thread_html(client.get("/q/q1").get_data(as_text=True))
    assert _numbers(first) == list(range(1, COMMENTS_PAGE_SIZE + 1))
    assert f"({2 * COMMENTS_PAGE_SIZE + 5} comments)" in first
    assert 'href="/q/q1?cpage=2#comments" rel="next"' in first and "cpage=3" in first
    last = thread_html(client.get("/q/q1?cpage=3").get_data(as_text=True))
    assert _numbers(last) == list(range(2 * COMMENTS_PAGE_SIZE + 1, 2 * COMMENTS_PAGE_SIZE + 6))
    assert f'start="{2 * COMMENTS_PAGE_SIZE + 1}"' in last
    assert client.get("/q/q1?cpage=4").status_code == 404
    assert client.get("/q/q1?cpage=0").status_code == 400
    assert client.get("/q/q1?cpage=two").status_code == 400
    # A new comment lands on the last page, and the redirect goes there.
    response = post(logged_in(app, "alice"), "the newest")
    assert response.location.endswith(f"?cpage=3#comment-{stored(sessions)[-1].id}")


def test_a_page_of_comments_costs_the_same_queries_however_long_the_thread(app, scene, sessions):
    engine = app.extensions["tracker"].engine
    client = app.test_client()

    def statements(url: str) -> int:
        seen: list[str] = []
        listener = lambda conn, cursor, statement, *rest: seen.append(statement)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    _add_comments(sessions, 3)
    statements("/q/q1")  # the first visit also renders and stores the page's plots, once per change
    short = statements("/q/q1")
    _add_comments(sessions, 3 * COMMENTS_PAGE_SIZE)
    assert statements("/q/q1") == short
    assert statements("/q/q1?cpage=3") == short


# --- hiding ----------------------------------------------------------------------------------

def _one_comment(app, text: str = "Buy cheap pills at spam.example") -> int:
    assert post(logged_in(app, "alice"), text).status_code == 302
    return stored(app.extensions["tracker"].sessions)[-1].id


def test_only_an_admin_hides_a_comment(app, scene, sessions):
    comment_id = _one_comment(app)
    url = f"/admin/questions/q1/comments/{comment_id}/hide"
    assert app.test_client().post(url, data={"reason": "spam"}).status_code == 302  # to the login page
    for name in ("alice", "bob"):  # not even the author
        assert logged_in(app, name).post(url, data={"reason": "spam"}).status_code == 403
    assert stored(sessions)[0].hidden_at is None


@pytest.mark.parametrize("reason", ["", "   "])
def test_hiding_needs_a_reason(app, scene, sessions, reason):
    comment_id = _one_comment(app)
    response = logged_in(app, "root").post(f"/admin/questions/q1/comments/{comment_id}/hide", data={"reason": reason})
    assert response.status_code == 400
    assert "The reason for hiding is empty; write something first." in response.get_data(as_text=True)
    assert stored(sessions)[0].hidden_at is None


def test_a_hidden_comment_shows_its_reason_and_stays_stored(app, scene, sessions, clock):
    comment_id = _one_comment(app)
    root = logged_in(app, "root")
    page = root.get("/q/q1").get_data(as_text=True)
    assert f'action="/admin/questions/q1/comments/{comment_id}/hide"' in page  # admins get the form
    assert "Hide comment" not in logged_in(app, "bob").get("/q/q1").get_data(as_text=True)
    clock.advance(minutes=5)
    response = root.post(f"/admin/questions/q1/comments/{comment_id}/hide", data={"reason": "Advertising."})
    assert response.status_code == 302 and response.location.endswith(f"?cpage=1#comment-{comment_id}")

    [comment] = stored(sessions)
    assert comment.body == "Buy cheap pills at spam.example"  # kept
    assert comment.hidden_at == NOW + timedelta(minutes=5)
    assert comment.hidden_by_name == "root" and comment.hidden_reason == "Advertising."
    for client in (app.test_client(), logged_in(app, "bob"), logged_in(app, "alice")):
        html = thread_html(client.get("/q/q1").get_data(as_text=True))
        assert "Hidden by an admin: Advertising." in html
        assert "spam.example" not in html
    admin_view = thread_html(root.get("/q/q1").get_data(as_text=True))
    assert "Hidden by an admin: Advertising." in admin_view and "spam.example" in admin_view
    # In the audit trail, with who, when and why.
    audit = root.get("/admin/questions/q1/audit").get_data(as_text=True)
    assert f"Hid comment #{comment_id}" in audit and "Advertising." in audit
    with sessions() as s:
        [entry] = [e for e in audit_log(s, s.scalar(select(Question).where(Question.slug == "q1")))
                   if e.kind == "comment_hidden"]
    assert (entry.actor_name, entry.at, entry.note) == ("root", NOW + timedelta(minutes=5), "Advertising.")
    # Hiding twice is a conflict that changes nothing.
    again = root.post(f"/admin/questions/q1/comments/{comment_id}/hide", data={"reason": "Twice."})
    assert again.status_code == 409
    assert stored(sessions)[0].hidden_reason == "Advertising."


def test_a_comment_is_hidden_only_through_its_own_question(app, scene, sessions):
    comment_id = _one_comment(app)
    root = logged_in(app, "root")
    assert root.post(f"/admin/questions/q2/comments/{comment_id}/hide", data={"reason": "x"}).status_code == 404
    assert root.post("/admin/questions/q1/comments/987654/hide", data={"reason": "x"}).status_code == 404
    assert stored(sessions)[0].hidden_at is None


# --- the API ---------------------------------------------------------------------------------

def test_the_api_lists_comments_read_only(app, scene, sessions):
    _add_comments(sessions, 3)
    hidden_id = _one_comment(app, "<script>x</script> rude words")
    logged_in(app, "root").post(f"/admin/questions/q1/comments/{hidden_id}/hide", data={"reason": "Rude."})
    client = app.test_client()
    first = client.get("/api/v1/questions/q1/comments?limit=2").get_json()
    assert first["total"] == 4 and [c["body"] for c in first["items"]] == ["comment number 1.", "comment number 2."]
    assert first["items"][0]["html"] == "<p>comment number 1.</p>"
    rest = client.get(f"/api/v1/questions/q1/comments?limit=2&cursor={first['next_cursor']}").get_json()
    assert rest["next_cursor"] is None
    hidden = rest["items"][-1]
    assert hidden["id"] == hidden_id and hidden["body"] is None and hidden["html"] is None
    assert hidden["hidden"]["reason"] == "Rude." and hidden["hidden"]["by"] == "root"
    admin = logged_in(app, "root").get("/api/v1/questions/q1/comments").get_json()
    assert admin["items"][-1]["body"] == "<script>x</script> rude words"
    assert "<script" not in admin["items"][-1]["html"]
    assert client.get("/api/v1/questions/nope/comments").status_code == 404
    assert client.get("/api/v1/questions/q1/comments?limit=0").status_code == 422
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Comment)) == 4


def test_the_audit_api_reports_hides(app, scene):
    comment_id = _one_comment(app)
    root = logged_in(app, "root")
    root.post(f"/admin/questions/q1/comments/{comment_id}/hide", data={"reason": "Off topic."})
    items = root.get("/api/v1/questions/q1/audit").get_json()["items"]
    assert [(i["kind"], i["actor"], i["note"]) for i in items if i["kind"] == "comment_hidden"] == [
        ("comment_hidden", "root", "Off topic.")]


# --- rationales --------------------------------------------------------------------------------

def test_rationales_are_the_authors_until_the_close_then_everyones(app, db_session, clock):
    alice, bob = make_user(db_session, "alice"), make_user(db_session, "bob")
    question = make_question(db_session, "r1", NOW - timedelta(days=10), NOW + timedelta(days=1))
    add_forecast(db_session, question, alice, 0.7, NOW - timedelta(days=3), rationale="ALICE-REASONS")
    add_forecast(db_session, question, bob, 0.2, NOW - timedelta(days=2), rationale="BOB-REASONS")
    db_session.commit()
    anon, a, b = app.test_client(), logged_in(app, "alice"), logged_in(app, "bob")

    def page(client) -> str:
        return client.get("/q/r1").get_data(as_text=True)

    assert "ALICE-REASONS" in page(a) and "BOB-REASONS" not in page(a)
    assert "BOB-REASONS" in page(b) and "ALICE-REASONS" not in page(b)
    assert "REASONS" not in page(anon)

    clock.set(NOW + timedelta(days=1, minutes=1))  # past the close (before the scheduler's sweep)
    for client in (anon, a, b):
        table = re.search(r'<table class="history-table" id="all-forecasts">.*?</table>', page(client), re.S)
        assert table, "everyone's forecasts are shown after the close"
        rows = re.findall(r"<tr.*?</tr>", table.group(0), re.S)
        # Beside the forecast it explains: the row of that forecaster and that forecast.
        assert any("alice" in r and "70.0%" in r and "ALICE-REASONS" in r for r in rows)
        assert any("bob" in r and "20.0%" in r and "BOB-REASONS" in r for r in rows)
