"""Issue 10, item 8: the authorisation matrix.

Every rule of the URL map, with every method it allows, is requested as an anonymous visitor,
forecaster A, forecaster B and an admin, and the answer is checked against the table below. A new
route without a row here fails ``test_every_route_has_a_row``. The second half checks what each may
see: no page or CSV shows another forecaster's forecast or rationale on a question still open.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.domain.notification_mail import unsubscribe_token
from tracker.domain.password_reset import make_reset_token
from tracker.models import User

ROLES = ("anon", "A", "B", "admin")
LOGIN = "login"  # a 302 to the login page
OK, MOVED, REDIR, BAD, UNAUTHORISED, FORBIDDEN, NOTFOUND, UNSUPPORTED = 200, 301, 302, 400, 401, 403, 404, 415


def everyone(status):
    return dict.fromkeys(ROLES, status)


def members(anon, member, admin=None):
    return {"anon": anon, "A": member, "B": member, "admin": member if admin is None else admin}


ADMIN_ONLY = members(LOGIN, FORBIDDEN, OK)

#: (endpoint, method) -> expected answer per role; POSTs send an empty form (CSRF is tested elsewhere).
MATRIX: dict[tuple[str, str], dict[str, object]] = {
    ("static", "GET"): everyone(OK),
    ("auth.register", "GET"): members(OK, REDIR),
    ("auth.register", "POST"): members(BAD, REDIR),
    ("auth.login", "GET"): everyone(OK),
    ("auth.login", "POST"): everyone(BAD),
    ("auth.logout", "POST"): everyone(REDIR),
    ("auth.account", "GET"): members(LOGIN, OK),
    ("auth.account", "POST"): members(LOGIN, BAD),
    ("auth.change_email", "POST"): members(LOGIN, REDIR),
    ("auth.notification_emails", "POST"): members(LOGIN, REDIR),  # an empty form: every email off
    ("auth.sign_out_everywhere", "POST"): everyone(LOGIN),  # members end up on the login page too
    ("auth.sign_out_user", "POST"): members(LOGIN, FORBIDDEN, BAD),
    ("password_reset.request_link", "GET"): everyone(OK),
    ("password_reset.request_link", "POST"): everyone(BAD),
    ("password_reset.choose", "GET"): everyone(OK),
    ("password_reset.choose", "POST"): everyone(BAD),
    ("questions.index", "GET"): everyone(OK),
    ("questions.detail", "GET"): everyone(OK),
    ("questions.detail", "POST"): members(LOGIN, BAD),
    ("questions.quick_forecast", "POST"): members(LOGIN, REDIR),  # no-JS form: back to the list with the error
    ("questions.post_comment", "POST"): members(LOGIN, BAD),  # an empty comment is refused, beside the box
    ("questions.login_alias", "GET"): everyone(MOVED),
    ("questions.register_alias", "GET"): everyone(MOVED),
    ("questions.favicon", "GET"): everyone(MOVED),
    ("admin.queue", "GET"): ADMIN_ONLY,
    ("admin.resolve_question", "GET"): ADMIN_ONLY,
    ("admin.resolve_question", "POST"): members(LOGIN, FORBIDDEN, BAD),
    ("admin.annul_question", "GET"): ADMIN_ONLY,
    ("admin.annul_question", "POST"): members(LOGIN, FORBIDDEN, BAD),
    ("admin.audit", "GET"): ADMIN_ONLY,
    ("admin.inbox", "GET"): ADMIN_ONLY,
    ("admin.hide_question_comment", "POST"): members(LOGIN, FORBIDDEN, NOTFOUND),  # no such comment
    ("scoreboards.index", "GET"): everyone(OK),
    ("scoreboards.profile", "GET"): everyone(OK),
    ("scoreboards.scoreboard_csv", "GET"): everyone(OK),
    ("scoreboards.scores_csv", "GET"): everyone(OK),
    ("scoreboards.forecasts_csv", "GET"): everyone(OK),
    ("health.healthz", "GET"): everyone(OK),
    ("help.scoring", "GET"): everyone(OK),
    # Notifications: one's own, after login; the unsubscribe link works for anyone holding it.
    ("notifications.index", "GET"): members(LOGIN, OK),
    ("notifications.mark_one_read", "POST"): members(LOGIN, NOTFOUND),
    ("notifications.mark_all_read", "POST"): members(LOGIN, REDIR),
    ("notifications.unsubscribe", "GET"): everyone(OK),
    ("notifications.unsubscribe", "POST"): everyone(OK),
    # Personal API tokens (account page forms): an empty form is refused, a missing token is 404.
    ("tokens.create", "POST"): members(LOGIN, BAD),
    ("tokens.revoke", "POST"): members(LOGIN, NOTFOUND),
    # The JSON API, here with the login cookie (tokens are tested in test_api_tokens.py).
    ("api.openapi_json", "GET"): everyone(OK),
    ("api.docs_page", "GET"): everyone(OK),
    ("api.question_list", "GET"): everyone(OK),
    ("api.question_detail", "GET"): everyone(OK),
    ("api.question_comments", "GET"): everyone(OK),
    ("api.forecast_create", "POST"): members(UNAUTHORISED, UNSUPPORTED),
    ("api.my_forecasts", "GET"): members(UNAUTHORISED, OK),
    ("api.me", "GET"): members(UNAUTHORISED, OK),
    ("api.scoreboard_view", "GET"): everyone(OK),
    ("api.my_scores", "GET"): members(UNAUTHORISED, OK),
    ("api.question_resolve", "POST"): members(UNAUTHORISED, FORBIDDEN, UNSUPPORTED),
    ("api.question_annul", "POST"): members(UNAUTHORISED, FORBIDDEN, UNSUPPORTED),
    ("api.question_audit", "GET"): members(UNAUTHORISED, FORBIDDEN, OK),
    ("api.resolution_queue_view", "GET"): members(UNAUTHORISED, FORBIDDEN, OK),
}

#: Query-string variants that change who may see what.
VARIANTS = [
    ("/forecasts.csv?include_open=1", members(FORBIDDEN, FORBIDDEN, OK)),
    ("/q/open-q?slug=x", everyone(OK)),
]

SECRET = {"A": "SECRET-RATIONALE-OF-A", "B": "SECRET-RATIONALE-OF-B"}
OPEN_P = {"A": 0.83, "B": 0.21}


@pytest.fixture
def scene(db_session):
    users = {"A": make_user(db_session, "alice"), "B": make_user(db_session, "bob"),
             "admin": make_user(db_session, "root", role="admin")}
    for user in users.values():
        user.email = f"{user.username}@example.org"
    open_q = make_question(db_session, "open-q", NOW - timedelta(days=10), NOW + timedelta(days=10))
    closed = make_question(db_session, "closed-q", NOW - timedelta(days=20), NOW - timedelta(days=1), status="closed")
    for role in ("A", "B"):
        add_forecast(db_session, open_q, users[role], OPEN_P[role], NOW - timedelta(days=5), rationale=SECRET[role])
        add_forecast(db_session, closed, users[role], 0.6, NOW - timedelta(days=5), rationale=f"visible-after-close-{role}")
    db_session.commit()
    return users


def _url(app, rule, sessions, settings, clock) -> str:
    args = {}
    for name in rule.arguments:
        if name == "filename":
            args[name] = "tracker.css"
        elif name == "slug":
            args[name] = "closed-q" if rule.endpoint.startswith("admin.") else "open-q"
        elif name in ("token_id", "comment_id", "notification_id"):
            args[name] = 999_999
        elif name == "username":
            args[name] = "alice"
        elif name == "token":
            with sessions() as s:
                alice = s.query(User).filter_by(username="alice").one()
                args[name] = (unsubscribe_token(settings.secret_key, alice.id, "digest")
                              if rule.endpoint == "notifications.unsubscribe"
                              else make_reset_token(settings.secret_key, clock, alice))
        else:
            raise AssertionError(f"no value for <{name}> in {rule.rule}: extend _url")
    with app.test_request_context():
        from flask import url_for
        return url_for(rule.endpoint, **args)


def _client_as(app, sessions, role):
    """A client whose session is logged in as ``role`` (built directly: fast, and independent of the
    sessions that logout and sign-out requests end)."""
    client = app.test_client()
    if role == "anon":
        return client
    name = {"A": "alice", "B": "bob", "admin": "root"}[role]
    with sessions() as s:
        user = s.query(User).filter_by(username=name).one()
        ident = user.get_id()
    with client.session_transaction() as session:
        session["_user_id"] = ident
        session["_fresh"] = True
    return client


def _answer(response) -> object:
    response.get_data()  # read streamed bodies (CSV) to the end, inside their request context
    response.close()
    if response.status_code == 302 and "/auth/login" in (response.location or ""):
        return LOGIN
    return response.status_code


def test_every_route_has_a_row(app):
    missing = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in MATRIX:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "routes without a row in the authorisation matrix: " + ", ".join(missing)
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules() for method in rule.methods}
    stale = [f"{method} {endpoint}" for endpoint, method in MATRIX if (endpoint, method) not in routes]
    assert not stale, "rows for routes that do not exist: " + ", ".join(stale)


def test_the_matrix(app, scene, sessions, settings, clock):
    wrong = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            expected = MATRIX.get((rule.endpoint, method))
            if expected is None:
                continue  # reported by test_every_route_has_a_row
            for role in ROLES:
                url = _url(app, rule, sessions, settings, clock)
                client = _client_as(app, sessions, role)
                response = client.open(url, method=method, data={} if method == "POST" else None)
                got = _answer(response)
                if got != expected[role]:
                    wrong.append(f"{method} {url} as {role}: {got}, expected {expected[role]}")
    for url, expected in VARIANTS:
        for role in ROLES:
            got = _answer(_client_as(app, sessions, role).get(url))
            if got != expected[role]:
                wrong.append(f"GET {url} as {role}: {got}, expected {expected[role]}")
    assert not wrong, "\n".join(wrong)


def _readable_pages(app, sessions, settings, clock):
    """Every GET the matrix lets everyone see, plus the CSVs and profiles."""
    urls = ["/forecasters/bob", "/forecasters/alice", "/q/closed-q"]
    for rule in app.url_map.iter_rules():
        if ("GET" in rule.methods and MATRIX.get((rule.endpoint, "GET")) != ADMIN_ONLY
                and rule.endpoint not in ("static", "help.scoring")):  # the guide is fixed text
            urls.append(_url(app, rule, sessions, settings, clock))
    return urls


@pytest.mark.parametrize(("viewer", "other"), [("anon", "A"), ("B", "A"), ("A", "B"), ("anon", "B")])
def test_nobody_sees_another_forecasters_open_forecast(app, scene, sessions, settings, clock, viewer, other):
    client = _client_as(app, sessions, viewer)
    for url in _readable_pages(app, sessions, settings, clock):
        body = client.get(url).get_data(as_text=True)
        assert SECRET[other] not in body, f"{viewer} sees {other}'s open rationale on {url}"
        percent = f"{round(OPEN_P[other] * 100)}%"
        assert percent not in body, f"{viewer} sees {other}'s open forecast ({percent}) on {url}"
        if ".csv" in url:
            assert f",{OPEN_P[other]}" not in body, f"{viewer} sees {other}'s open forecast on {url}"
    # What is not secret is shown: one's own open forecast, and rationales once a question closed.
    if viewer != "anon":
        assert SECRET[viewer] in client.get("/q/open-q").get_data(as_text=True)
    assert f"visible-after-close-{other}" in client.get("/q/closed-q").get_data(as_text=True)


def test_crowd_below_its_minimum_size_is_not_shown(app, scene, settings):
    """CROWD-MIN ROW (issue 14's TRACKER_CROWD_MIN_FORECASTERS): a crowd of fewer forecasters
    than the minimum must not be shown to anyone but admins."""
    settings.crowd_min_forecasters = 3  # two forecasters on open-q: below the minimum
    for role in ("anon", "A", "B"):
        body = _client_as(app, app.extensions["tracker"].sessions, role).get("/q/open-q").get_data(as_text=True)
        assert "52%" not in body, f"{role} sees a crowd of 2 (the median of 83% and 21%)"
