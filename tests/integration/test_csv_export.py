"""CSV downloads and `tracker export`: the same bytes, the documented columns, safe text cells."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from tests.factories import NOW, add_forecast, make_question, make_user
from tests.integration.scoreboard_history import build_history, utc
from tracker.db import make_engine, make_read_session_factory, make_session_factory
from tracker.domain.csv_copy import copy_csv, copy_fits
from tracker.domain.csv_export import (
    forecast_cells,
    forecasts_query,
    format_number,
    iter_forecasts_csv,
    iter_scores_csv,
    neutralise,
    score_cells,
)
from tracker.migrate import upgrade
from tracker.models import Question, Score


@pytest.fixture
def history(sessions, clock):
    with sessions() as session:
        build_history(session, clock)
        session.commit()


@pytest.mark.parametrize("url, args", [
    ("/scoreboard.csv", ["export", "scoreboard"]),
    ("/scoreboard.csv?tag=alpha", ["export", "scoreboard", "--tag", "alpha"]),
    ("/scoreboard.csv?question=q2-two-days", ["export", "scoreboard", "--question", "q2-two-days"]),
    ("/scoreboard.csv?since=2017-03-03&until=2017-03-31",
     ["export", "scoreboard", "--since", "2017-03-03", "--until", "2017-03-31"]),
    ("/scores.csv", ["export", "scores"]),
    ("/forecasts.csv", ["export", "forecasts"]),
])
def test_download_and_cli_are_byte_identical(client, runner, history, tmp_path, url, args):
    web = client.get(url)
    assert web.status_code == 200
    assert web.headers["Content-Disposition"].startswith("attachment;")
    assert web.is_streamed  # a generator behind the response: memory stays flat for big exports
    body = web.get_data()
    assert body.count(b"\n") >= 2  # header and at least one row
    to_stdout = runner.invoke(args)
    assert to_stdout.exit_code == 0, to_stdout.output
    assert to_stdout.stdout_bytes == body
    target = tmp_path / "out.csv"
    to_file = runner.invoke([*args, "-o", str(target)])
    assert to_file.exit_code == 0 and to_file.output == ""
    assert target.read_bytes() == body


def test_scores_csv_columns_and_values(client, history):
    text = client.get("/scores.csv").get_data(as_text=True)
    header = text.splitlines()[0].split(",")
    assert header[:9] == ["question", "forecaster", "forecasts", "first_forecast_at", "last_forecast_at", "brier",
                          "relative_brier", "log_score", "coverage"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["question"], r["forecaster"]) for r in rows] == [
        ("q1-four-days", "alice"), ("q1-four-days", "bob"), ("q2-two-days", "alice"), ("q2-two-days", "bob")]
    alice_q1 = rows[0]
    assert alice_q1["forecasts"] == "2"
    assert alice_q1["first_forecast_at"] == "2017-03-01T10:00:00Z"
    assert alice_q1["last_forecast_at"] == "2017-03-03T09:00:00Z"
    assert float(alice_q1["brier"]) == pytest.approx(0.05)
    assert float(alice_q1["relative_brier"]) == pytest.approx(-0.255)
    assert alice_q1["relative_brier"].startswith("-")  # a number, never quoted as text
    assert float(rows[1]["coverage"]) == 0.75


def test_forecasts_csv_is_exact_and_neutralises_formulas(client, sessions, history):
    with sessions() as session:
        q = make_question(session, "exact", utc(2017, 6, 1), utc(2017, 6, 5), kind="multiple_choice",
                          options=["a", "b", "c"], status="closed")
        user = make_user(session, "@eve")  # a name a spreadsheet would read as a formula
        add_forecast(session, q, user, [0.1, 0.2, 0.7], utc(2017, 6, 2, 3, 4, 5, 123456),
                     rationale="+1 because\nreasons, \"quoted\"")
        session.commit()
    text = client.get("/forecasts.csv").get_data(as_text=True)
    assert text.splitlines()[0] == "question,forecaster,forecast_at,option,probability,rationale"
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["question"] == "exact"]
    assert [r["option"] for r in rows] == ["a", "b", "c"]
    assert [r["probability"] for r in rows] == ["0.1", "0.2", "0.7"]
    assert {r["forecaster"] for r in rows} == {"'@eve"}
    assert {r["forecast_at"] for r in rows} == {"2017-06-02T03:04:05.123456Z"}
    assert {r["rationale"] for r in rows} == {"'+1 because\nreasons, \"quoted\""}
    # The history's rationales begin with = and -: neutralised too; probabilities untouched.
    everything = list(csv.DictReader(io.StringIO(text)))
    rationales = {r["rationale"] for r in everything if r["rationale"]}
    assert "'=HYPERLINK(\"http://x\")" in rationales and "'-2+3, said bob" in rationales
    assert all(not r["probability"].startswith("'") for r in everything)
    # Binary "no" rows carry the stored complement exactly: 1 - 0.8 in floating point.
    no_row = next(r for r in everything if r["question"] == "q1-four-days" and r["option"] == "no")
    assert float(no_row["probability"]) == 1.0 - 0.8


def test_forecasts_on_open_questions_are_only_exported_for_admins(app, client, sessions, runner, history, auth):
    with sessions() as session:
        q = make_question(session, "still-open", utc(2026, 11, 1), utc(2027, 12, 31), status="open")
        add_forecast(session, q, make_user(session, "olga"), 0.3, utc(2026, 11, 20))
        make_user(session, "root-admin", role="admin")
        session.commit()
    public = client.get("/forecasts.csv")
    assert public.status_code == 200 and b"still-open" not in public.data
    assert runner.invoke(["export", "forecasts"]).stdout_bytes == public.data
    assert client.get("/forecasts.csv?include_open=1").status_code == 403
    auth.login("root-admin")
    full = client.get("/forecasts.csv?include_open=1")
    assert full.status_code == 200 and b"still-open,olga" in full.data
    assert runner.invoke(["export", "forecasts", "--include-open"]).stdout_bytes == full.data


def test_unknown_question_on_cli_export(runner, history):
    result = runner.invoke(["export", "scoreboard", "--question", "nope"])
    assert result.exit_code != 0
    assert "nope" in result.output


def test_empty_database_exports_headers_only(client, runner):
    assert client.get("/scoreboard.csv").get_data() == (
        b"rank,forecaster,questions,forecasts,mean_brier,mean_relative_brier,mean_log_score,calibration,coverage\n")
    assert runner.invoke(["export", "forecasts"]).stdout_bytes == client.get("/forecasts.csv").get_data()


AWKWARD_TEXTS = [
    "", "plain", "ünïcödé ✓ 🎉 日本語", 'say "hi"', "a,b,c", "two\nlines", "crlf\r\nend", "lone\rcr",
    "\rleading cr", "\tleading tab", "tab\tinside", "=1+1", "'=already", "''@twice", "-", "'", " spaced ",
    "\\.", "\\N", "NULL", '",\r\n"',
]
AWKWARD_NUMBERS = [0.0, -0.0, 1e-05, 1.5e-07, 5e-324, 0.0001, 0.00099999, 1 - 0.8, 1 / 3, 0.1, 1.0, 123.0,
                   -36.848279708310315, 1e14, 1.2345e15, 1e15 + 0.5, 2.0**53 - 1, float("inf"), float("nan"), None]


@pytest.fixture
def pg_awkward(fresh_pg_url, clock):
    """A PostgreSQL database holding every awkward cell the exports must write: texts to quote and
    neutralise, unicode, times with and without fractions, tiny, huge and negative-zero numbers."""
    upgrade(fresh_pg_url)
    engine = make_engine(fresh_pg_url)
    factory = make_read_session_factory(engine)
    with make_session_factory(engine)() as session:
        build_history(session, clock)
        q = make_question(session, "ünï-mc", utc(2017, 6, 1), utc(2017, 6, 5), kind="multiple_choice",
                          options=["a", "=b", "c,d", "é"], status="closed")
        shut = make_question(session, "=shut", utc(2017, 6, 1), utc(2017, 6, 5), status="annulled")
        still_open = make_question(session, "still-open", utc(2026, 11, 1), utc(2027, 12, 31), status="open")
        # Created in reverse name order, so id order and name order disagree on ties of time.
        users = [make_user(session, name) for name in ("zoë", "@eve", "bob-2", "Ådam", "a,b")]
        probabilities = [[1e-05, 0.3, 0.6, 0.09999], [0.0, 0.0, 1.0, 0.0], [1 / 3, 1 / 3, 1 / 3, 0.0],
                         [5e-324, 1 - 0.8, 0.8 - 5e-324, 0.0]]
        times = [utc(2017, 6, 2), datetime(2017, 6, 2, 3, 4, 5, 123456, tzinfo=UTC),
                 datetime(2017, 6, 2, 3, 4, 5, 1, tzinfo=UTC), datetime(2017, 6, 2, 3, 4, 5, 500000, tzinfo=UTC),
                 datetime(2017, 6, 3, 23, 59, 59, 999999, tzinfo=UTC)]
        for i, text in enumerate(AWKWARD_TEXTS):
            user = users[i % len(users)]
            at = times[i // len(users) % len(times)]  # several forecasters share each moment
            add_forecast(session, q, user, probabilities[i % len(probabilities)], at, rationale=text)
            add_forecast(session, shut, user, 0.5, at, rationale=text)
            add_forecast(session, still_open, user, 0.25, at, rationale=text)
        # Scores with every awkward number, on a resolved question (stored directly: the numbers,
        # not the scoring, are under test here).
        q1 = session.scalar(select(Question).where(Question.slug == "q1-four-days"))
        event_id = session.scalar(select(Score.resolution_event_id).where(Score.question_id == q1.id))
        for i, value in enumerate(AWKWARD_NUMBERS):
            user = make_user(session, f"scored-{i:02d}", password=None)
            session.add(Score(question_id=q1.id, user_id=user.id, resolution_event_id=event_id, forecasts=i,
                              first_forecast_at=times[i % len(times)] if i % 5 else None,
                              last_forecast_at=times[(i + 1) % len(times)], active_days=i, brier=value,
                              relative_brier=-value if value is not None else None, log_score=value,
                              coverage=value, baseline=value, computed_at=NOW))
        session.commit()
    yield factory
    engine.dispose()


def _export(factory, make) -> bytes:
    with factory() as session:
        try:
            return b"".join(make(session))
        finally:
            session.rollback()


@pytest.mark.parametrize("name, make", [
    ("scores", lambda s, copy: iter_scores_csv(s, use_copy=copy)),
    ("forecasts", lambda s, copy: iter_forecasts_csv(s, use_copy=copy)),
    ("forecasts, include open", lambda s, copy: iter_forecasts_csv(s, include_open=True, use_copy=copy)),
])
def test_copy_writes_the_same_bytes_as_python_on_postgresql(pg_awkward, name, make):
    with pg_awkward() as session:
        assert copy_fits(session, score_cells()) and copy_fits(session, forecast_cells())
    by_copy = _export(pg_awkward, lambda s: make(s, True))
    by_python = _export(pg_awkward, lambda s: make(s, False))
    assert by_copy.count(b"\n") > 20
    assert by_copy.split(b"\n") == by_python.split(b"\n")  # line by line: a readable difference
    # Both are right, not merely alike: the file reads back to the stored values.
    rows = list(csv.reader(io.StringIO(by_copy.decode("utf-8"), newline="")))
    assert len({len(row) for row in rows}) == 1
    if name == "scores":
        written = {row[1]: row for row in rows[1:] if row[1].startswith("scored-")}
        numbers = [written[f"scored-{i:02d}"][5] for i in range(len(AWKWARD_NUMBERS))]
        assert numbers == ["0", "0", "0.00001", "0.00000015", format_number(5e-324), "0.0001", "0.00099999",
                           "0.19999999999999996", "0.3333333333333333", "0.1", "1", "123", "-36.848279708310315",
                           "100000000000000", "1234500000000000", "1000000000000000.5", "9007199254740991", "inf",
                           "", ""]
        assert written["scored-01"][3:5] == ["2017-06-02T03:04:05.123456Z", "2017-06-02T03:04:05.000001Z"]
        assert written["scored-00"][3:5] == ["", "2017-06-02T03:04:05.123456Z"]
    else:
        assert {row[5] for row in rows[1:] if row[0] == "ünï-mc"} == {neutralise(t) for t in AWKWARD_TEXTS}
        assert ("still-open" in by_copy.decode()) == ("include open" in name)
        assert '"lone\rcr"' in by_copy.decode() and "'=shut" in by_copy.decode()


def test_huge_numbers_are_written_by_python_on_postgresql(pg_awkward):
    # From 2**53 on PostgreSQL's float8 digits are not always the shortest (-2.5e22 comes out as
    # -2.4999999999999998e+22): such a value sends the export to the Python writer.
    with pg_awkward() as session:
        session.execute(update(Score).where(Score.forecasts == 3).values(baseline=-2.5e22))
        session.commit()
        assert not copy_fits(session, score_cells())
        assert copy_fits(session, forecast_cells())
    written = _export(pg_awkward, iter_scores_csv)
    assert written == _export(pg_awkward, lambda s: iter_scores_csv(s, use_copy=False))
    assert b",-25000000000000000000000\n" in written
    assert _export(pg_awkward, lambda s: iter_scores_csv(s, use_copy=True)) != written


def test_a_download_stopped_half_way_leaves_the_connection_usable(pg_awkward):
    # A client that goes away closes the generator in the middle of the COPY: psycopg cancels it,
    # and the rolled-back session's connection serves the next request.
    with pg_awkward() as session:
        chunks = copy_csv(session, forecast_cells(), lambda stmt: forecasts_query(stmt, True), chunk_bytes=1)
        assert next(chunks).count(b"\n") == 1
        chunks.close()
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Score)) > 0
        assert b"".join(iter_forecasts_csv(session)).count(b"\n") > 20
