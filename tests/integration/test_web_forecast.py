"""The forecast form through the Flask test client: what is stored, and what is refused."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import AuthActions
from tests.factories import NOW, make_question, make_user
from tracker.models import Forecast, ForecastProbability, QuestionCrowd


@pytest.fixture
def scene(db_session, client, auth):
    alice = make_user(db_session, "alice")
    binary = make_question(db_session, "bin", NOW - timedelta(days=5), NOW + timedelta(days=10))
    mc = make_question(db_session, "mc", NOW - timedelta(days=5), NOW + timedelta(days=10), kind="multiple_choice",
                       options=["a", "b", "c"])
    db_session.commit()
    auth.login()
    return {"alice": alice, "bin": binary, "mc": mc}


def stored(sessions) -> list[tuple[datetime, str, list[float]]]:
    with sessions() as s:
        forecasts = s.scalars(select(Forecast).order_by(Forecast.id)).all()
        return [(f.created_at, f.rationale, sorted(p.probability for p in f.probabilities)) for f in forecasts]


def count(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count(Forecast.id))) + s.scalar(select(func.count()).select_from(ForecastProbability))


def test_binary_forecast_then_update(client, scene, sessions, clock):
    response = client.post("/q/bin", data={"p0": "70", "rationale": "  base rate  "})
    assert response.status_code == 303 and response.location.endswith("/q/bin#history")
    clock.advance(hours=5)
    client.post("/q/bin", data={"p0": "55"})
    rows = stored(sessions)
    assert [r[0] for r in rows] == [NOW, NOW + timedelta(hours=5)]
    assert rows[0][1] == "base rate"
    assert rows[0][2] == pytest.approx([0.3, 0.7]) and rows[1][2] == pytest.approx([0.45, 0.55])
    page = client.get("/q/bin").get_data(as_text=True)
    table = page[page.index('id="my-forecasts"'):]
    assert table.count("<tr>") == 3  # header and two forecasts
    assert "70.0%" in table and "55.0%" in table and "base rate" in table
    assert "<svg" in page and 'aria-label="Crowd forecast' in page
    assert 'value="55"' in page  # the form starts from the latest forecast


def test_client_supplied_time_is_ignored(client, scene, sessions):
    client.post("/q/bin", data={"p0": "60", "created_at": "2020-01-01T00:00:00Z"})
    assert [r[0] for r in stored(sessions)] == [NOW]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "“abc” is not a number; enter a percentage such as 70."),
        ("", "this is empty; enter a percentage such as 70."),
        ("nan", "is not a number"),
        ("100", "100% is outside the allowed range 1%–99%."),
        ("0", "0% is outside the allowed range 1%–99%."),
        ("99.5", "99.5% is outside the allowed range 1%–99%."),
        ("-5", "outside the allowed range"),
    ],
)
def test_bad_binary_numbers_are_refused_next_to_the_field(client, scene, sessions, value, message):
    response = client.post("/q/bin", data={"p0": value, "rationale": "kept"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    error = re.search(r'<p class="field-error" id="p0-error"[^>]*>([^<]*)</p>', page)
    assert error and message in error.group(1)
    assert "kept</textarea>" in page  # the rationale survives the round trip
    assert count(sessions) == 0


def test_percent_sign_and_comma_are_understood(client, scene, sessions):
    assert client.post("/q/bin", data={"p0": "62,5 %"}).status_code == 303
    assert stored(sessions)[0][2] == pytest.approx([0.375, 0.625])


def test_bounds_come_from_settings(client, scene, sessions, settings):
    settings.forecast_min, settings.forecast_max = 0.05, 0.95
    response = client.post("/q/bin", data={"p0": "3"})
    assert response.status_code == 400
    assert "3% is outside the allowed range 5%–95%." in response.get_data(as_text=True)
    assert client.post("/q/bin", data={"p0": "5"}).status_code == 303
    assert count(sessions) == 3


def test_multiple_choice_total_must_be_100(client, scene, sessions):
    response = client.post("/q/mc", data={"p0": "50", "p1": "30", "p2": "10"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The percentages add up to 90%; they must add up to 100%." in page
    assert 'value="50"' in page and 'value="30"' in page
    over = client.post("/q/mc", data={"p0": "50", "p1": "30", "p2": "30"}).get_data(as_text=True)
    assert "The percentages add up to 110%; they must add up to 100%." in over
    assert count(sessions) == 0
    assert client.post("/q/mc", data={"p0": "33.3", "p1": "33.3", "p2": "33.4"}).status_code == 303
    assert stored(sessions)[0][2] == pytest.approx([0.333, 0.333, 0.334])


def test_multiple_choice_option_errors_name_the_option(client, scene, sessions):
    page = client.post("/q/mc", data={"p0": "98", "p1": "x", "p2": "1"}).get_data(as_text=True)
    assert "“B”: “x” is not a number" in page
    page = client.post("/q/mc", data={"p0": "99.5", "p1": "0.25", "p2": "0.25"}).get_data(as_text=True)
    assert "“A”: 99.5% is outside the allowed range 1%–99%." in page
    assert count(sessions) == 0


def test_rationale_length_limit(client, scene, sessions):
    response = client.post("/q/bin", data={"p0": "50", "rationale": "x" * 5001})
    assert response.status_code == 400
    assert "the limit is 5000" in response.get_data(as_text=True)
    assert count(sessions) == 0


@pytest.mark.parametrize("move", ["past_close", "status_closed", "resolved", "not_yet_open"])
def test_closed_question_refuses_with_409(client, scene, sessions, db_session, clock, move):
    question = scene["bin"]
    if move == "past_close":
        clock.set(question.closes_at)  # closes_at itself is already closed
    elif move == "not_yet_open":
        clock.set(question.opens_at - timedelta(seconds=1))
    else:
        db_session.get(type(question), question.id).status = "closed" if move == "status_closed" else "resolved"
        db_session.commit()
    response = client.post("/q/bin", data={"p0": "70"})
    assert response.status_code == 409
    assert "This question is closed for forecasting." in response.get_data(as_text=True)
    assert count(sessions) == 0
    page = client.get("/q/bin").get_data(as_text=True)
    assert 'id="forecast-form"' not in page


def test_anonymous_post_goes_to_login_and_stores_nothing(app, scene, sessions):
    anonymous = app.test_client()
    response = anonymous.post("/q/bin", data={"p0": "70"})
    assert response.status_code == 302 and "/auth/login" in response.location
    assert count(sessions) == 0
    page = anonymous.get("/q/bin").get_data(as_text=True)
    assert "to forecast" in page and 'id="forecast-form"' not in page


def test_unknown_question_is_404(client, scene):
    response = client.get("/q/no-such-question")
    assert response.status_code == 404 and "There is no question" in response.get_data(as_text=True)
    assert client.post("/q/no-such-question", data={"p0": "50"}).status_code == 404


def test_csrf_is_enforced_on_the_forecast_form(csrf_app, db_session):
    make_user(db_session, "alice")
    make_question(db_session, "bin", NOW - timedelta(days=5), NOW + timedelta(days=10))
    db_session.commit()
    client = csrf_app.test_client()
    sessions = csrf_app.extensions["tracker"].sessions

    def token(path):
        page = client.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)

    AuthActions(client).login(csrf_token=token("/auth/login"))
    refused = client.post("/q/bin", data={"p0": "70"})
    assert refused.status_code == 400 and count(sessions) == 0
    accepted = client.post("/q/bin", data={"p0": "70", "csrf_token": token("/q/bin")})
    assert accepted.status_code == 303 and count(sessions) == 3


#: SQL statements one forecast through the form may take once the question's crowd rows exist.
#: PostgreSQL: the account, the question with its options, one statement that takes the
#: question's lock, appends the forecast, writes the standing row and reads the crowd's state,
#: and one that writes the crowd. SQLite has no data-modifying WITH, so those two are six
#: statements there (and it begins with BEGIN IMMEDIATE).
MAX_SUBMIT_STATEMENTS = {"postgresql": 4, "sqlite": 9}


def test_a_forecast_takes_a_fixed_small_number_of_statements(app, client, scene, db_session, clock):
    """Issue 14: a submission's cost does not grow with the question's forecasters, and a change
    that adds queries to the path (a lazy load, a savepoint, a per-row read) fails here."""
    from sqlalchemy import event

    engine = app.extensions["tracker"].engine
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def others(start, n):
        users = [make_user(db_session, f"other{i}") for i in range(start, start + n)]
        db_session.commit()
        for user in users:
            other = app.test_client()
            AuthActions(other).login(user.username)
            assert other.post("/q/bin", data={"p0": "40"}).status_code == 303

    def submit(p):
        clock.advance(seconds=1)
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            response = client.post("/q/bin", data={"p0": p})
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 303 and response.location.endswith("/q/bin#history")
        return len(statements)

    others(0, 2)
    submit("60")  # alice's first forecast
    few = submit("61")
    others(2, 20)
    many = submit("62")
    limit = MAX_SUBMIT_STATEMENTS[engine.dialect.name]
    assert few == many, statements
    assert many <= limit, "\n".join(statements)
    db_session.rollback()  # the crowd the submissions kept: the median of every standing forecast
    row = db_session.get(QuestionCrowd, scene["bin"].id, populate_existing=True)
    assert row.forecasters == 23 and row.probabilities[0] == pytest.approx(0.40)
