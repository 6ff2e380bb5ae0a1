"""The question list and question pages through the Flask test client."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.models import QuestionScore, ResolutionEvent, Score

DAY = timedelta(days=1)


@pytest.fixture
def bank(db_session):
    """One question of every kind of status, with titles naming it."""
    q = {
        "open": make_question(db_session, "open-q", NOW - 10 * DAY, NOW + 30 * DAY, tags=["europe"],
                              title="Open question about Berlin?"),
        "closing": make_question(db_session, "closing-q", NOW - 10 * DAY, NOW + 3 * DAY, tags=["asia"],
                                 title="Closing soon question?"),
        "stale": make_question(db_session, "stale-q", NOW - 10 * DAY, NOW - DAY, title="Past close but status open?"),
        "closed": make_question(db_session, "closed-q", NOW - 20 * DAY, NOW - 5 * DAY, status="closed",
                                title="Closed unresolved question?"),
        "resolved": make_question(db_session, "resolved-q", NOW - 40 * DAY, NOW - 20 * DAY, status="resolved",
                                  title="Resolved question?"),
        "annulled": make_question(db_session, "annulled-q", NOW - 40 * DAY, NOW - 20 * DAY, status="annulled",
                                  title="Annulled question?"),
        "draft": make_question(db_session, "draft-q", NOW + 5 * DAY, NOW + 30 * DAY, status="draft",
                               title="Upcoming question?"),
    }
    q["open"].background = "Talks in **Vienna** stalled. <script>alert('x')</script> 100% sure"
    db_session.commit()
    return q


def titles(client, **query) -> set[str]:
    page = client.get("/", query_string=query).get_data(as_text=True)
    found = set()
    for marker in ("Open question about Berlin?", "Closing soon question?", "Past close but status open?",
                   "Closed unresolved question?", "Resolved question?", "Annulled question?", "Upcoming question?"):
        if marker in page:
            found.add(marker.split()[0] + ("" if marker.split()[0] != "Closed" else "-unresolved"))
    return found


def test_status_filters(client, bank):
    assert titles(client) == {"Open", "Closing"}  # the default is open
    assert titles(client, status="open") == {"Open", "Closing"}
    assert titles(client, status="closing") == {"Closing"}
    assert titles(client, status="awaiting") == {"Past", "Closed-unresolved"}
    assert titles(client, status="resolved") == {"Resolved"}
    assert titles(client, status="annulled") == {"Annulled"}
    assert titles(client, status="all") == {"Open", "Closing", "Past", "Closed-unresolved", "Resolved",
                                            "Annulled", "Upcoming"}
    assert titles(client, status="bogus") == {"Open", "Closing"}


def test_tag_and_text_filters(client, bank):
    assert titles(client, tag="europe") == {"Open"}
    assert titles(client, status="all", tag="asia") == {"Closing"}
    assert titles(client, q="berlin") == {"Open"}  # title, case-insensitive
    assert titles(client, q="vienna") == {"Open"}  # background
    assert titles(client, status="all", q="100%") == {"Open"}  # % is a character, not a wildcard
    assert titles(client, status="all", q="0%") == {"Open"}
    assert titles(client, status="all", q="_") == set()
    page = client.get("/", query_string={"q": "nothing-matches"}).get_data(as_text=True)
    assert "No questions match" in page


def test_list_shows_crowd_forecasters_and_time_left(crowd_public, client, db_session, bank):
    users = [make_user(db_session, n) for n in ("ann", "bob", "cy")]
    for user, p in zip(users, (0.6, 0.8, 0.7), strict=True):
        add_forecast(db_session, bank["open"], user, p, NOW - 2 * DAY)
    add_forecast(db_session, bank["open"], users[0], 0.9, NOW - DAY)  # ann's latest: 0.9
    mc = make_question(db_session, "mc-q", NOW - DAY, NOW + 10 * DAY, kind="multiple_choice",
                       options=["red", "green", "blue"], title="Which colour?")
    add_forecast(db_session, mc, users[0], [0.2, 0.5, 0.3], NOW - DAY)
    db_session.commit()
    page = client.get("/").get_data(as_text=True)
    row = page[page.index("Open question about Berlin?"):]
    row = row[: row.index("</tr>")]
    assert "80%" in row and ">3<" in row and "30 days left" in row  # median of 0.9, 0.8, 0.7
    mc_row = page[page.index("Which colour?"):]
    mc_row = mc_row[: mc_row.index("</tr>")]
    assert "50%" in mc_row and "Green" in mc_row and ">1<" in mc_row
    closing = page[page.index("Closing soon question?"):]
    assert "no forecasts" in closing[: closing.index("</tr>")]


def test_list_uses_a_fixed_number_of_queries(app, client, db_session):
    engine = app.extensions["tracker"].engine
    statements: list[str] = []

    def count(*_args):
        statements.append("q")

    users = [make_user(db_session, f"u{i}") for i in range(3)]

    def add_questions(n, start):
        for i in range(start, start + n):
            q = make_question(db_session, f"q{i}", NOW - 5 * DAY, NOW + 20 * DAY, tags=[f"t{i}"],
                              kind="binary" if i % 2 else "multiple_choice")
            for user in users:
                add_forecast(db_session, q, user, 0.5 if q.kind == "binary" else [0.2, 0.3, 0.5], NOW - DAY)
        db_session.commit()

    add_questions(2, 0)
    # Forecasts added behind the app's back (as an import does) are folded into the crowd rows
    # once, by the first reader; count the reads after that.
    client.get("/")
    event.listen(engine, "before_cursor_execute", count)
    try:
        client.get("/")
        few = len(statements)
        add_questions(10, 2)
        event.remove(engine, "before_cursor_execute", count)
        client.get("/")
        event.listen(engine, "before_cursor_execute", count)
        statements.clear()
        client.get("/")
        many = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert many == few
    assert few <= 8


def test_question_page_renders_sanitised_markdown_and_dates(client, bank):
    page = client.get("/q/open-q").get_data(as_text=True)
    assert "<strong>Vienna</strong>" in page
    assert "<script>alert" not in page
    assert "Resolves yes if it happens." in page
    assert "2026-12-25 12:00 UTC" in page and "30 days left" in page
    assert "europe" in page


def test_others_forecasts_hidden_while_open_and_shown_after_close(crowd_public, client, db_session, bank, clock):
    other = make_user(db_session, "other")
    add_forecast(db_session, bank["open"], other, 0.42, NOW - DAY, rationale="secret reasoning")
    db_session.commit()
    page = client.get("/q/open-q").get_data(as_text=True)
    assert "secret reasoning" not in page and 'id="all-forecasts"' not in page
    assert "42%" in page  # the crowd is shown, as an aggregate
    clock.set(bank["open"].closes_at + DAY)
    page = client.get("/q/open-q").get_data(as_text=True)
    assert "secret reasoning" in page and 'id="all-forecasts"' in page and "other" in page
    assert "Awaiting resolution" in page and 'id="forecast-form"' not in page


def test_resolved_question_shows_outcome_and_scores(client, db_session, bank, auth):
    question = bank["resolved"]
    alice = make_user(db_session, "alice")
    add_forecast(db_session, question, alice, 0.7, NOW - 30 * DAY)
    event_ = ResolutionEvent(question_id=question.id, action="resolve", outcome_option_id=question.options[0].id,
                             note="Confirmed by **Reuters**.", actor_name="admin", created_at=NOW - 10 * DAY)
    db_session.add(event_)
    db_session.flush()
    db_session.add(QuestionScore(question_id=question.id, resolution_event_id=event_.id, window_days=21,
                                 forecasters=1, crowd_brier=0.1234, crowd_log_score=-0.3, computed_at=NOW))
    db_session.add(Score(question_id=question.id, user_id=alice.id, resolution_event_id=event_.id, forecasts=1,
                         active_days=11, brier=0.0987, relative_brier=-0.0456, log_score=-0.357, computed_at=NOW))
    db_session.commit()
    auth.login()
    page = client.get("/q/resolved-q").get_data(as_text=True)
    assert "Resolved: <strong>Yes</strong>" in page
    assert "<strong>Reuters</strong>" in page
    for number in ("0.099", "-0.046", "-0.357", "0.123"):
        assert number in page
    assert 'id="forecast-form"' not in page and 'id="all-forecasts"' in page


def test_stale_scores_are_not_shown(client, db_session, bank):
    question = bank["resolved"]
    first = ResolutionEvent(question_id=question.id, action="resolve", outcome_option_id=question.options[0].id,
                            actor_name="admin", created_at=NOW - 10 * DAY)
    db_session.add(first)
    db_session.flush()
    db_session.add(QuestionScore(question_id=question.id, resolution_event_id=first.id, forecasters=0,
                                 crowd_brier=0.5555, computed_at=NOW))
    db_session.add(ResolutionEvent(question_id=question.id, action="resolve", outcome_option_id=question.options[1].id,
                                   note="Corrected.", actor_name="admin", created_at=NOW - 9 * DAY))
    db_session.commit()
    page = client.get("/q/resolved-q").get_data(as_text=True)
    assert "Resolved: <strong>No</strong>" in page  # the latest event stands
    assert "0.556" not in page and "Scores are being computed." in page


def test_annulled_question_says_not_scored(client, db_session, bank):
    question = bank["annulled"]
    db_session.add(ResolutionEvent(question_id=question.id, action="annul", note="The event was cancelled.",
                                   actor_name="admin", created_at=NOW - 10 * DAY))
    db_session.commit()
    page = client.get("/q/annulled-q").get_data(as_text=True)
    assert "Annulled — not scored" in page and "The event was cancelled." in page
    assert 'class="scores"' not in page
    response = client.post("/q/annulled-q", data={"p0": "50"})
    assert response.status_code in (302, 409)  # anonymous: to login; nothing stored either way


def test_multiple_choice_page_lists_options_in_order(client, db_session):
    make_question(db_session, "ordered", NOW - DAY, NOW + 10 * DAY, kind="multiple_choice", ordered=True,
                  options=["low", "mid", "high"])
    db_session.commit()
    page = client.get("/q/ordered").get_data(as_text=True)
    listed = page[page.index('class="options"'):]
    assert listed.index(">Low<") < listed.index(">Mid<") < listed.index(">High<")
    assert "Ordered options" in page
