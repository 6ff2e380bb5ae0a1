"""Imports under concurrency and bad input (issue 15, items 1 and 7): two concurrent
``tracker import forecasts`` processes store each row once; forecasts outside the question's
window, on annulled questions or under real accounts are refused; unreadable CSV gets a line and
column."""
from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.factories import make_question, make_user
from tests.processes import tracker, tracker_env
from tracker.domain.csv_import import check_forecasts, write_forecasts
from tracker.models import Forecast, ForecastProbability, Question, QuestionOption, User

OPENS = datetime(2017, 2, 6, tzinfo=UTC)
CLOSES = datetime(2017, 12, 31, tzinfo=UTC)
HEADER = "question,forecaster,forecast_at,option,probability\n"


def at(minutes: int) -> str:
    return (OPENS + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_file(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


@pytest.fixture
def closed_question(sessions):
    with sessions() as session:
        make_question(session, "q-2017", OPENS, CLOSES, status="closed")
        session.commit()


def counts(sessions) -> tuple[int, int, int]:
    with sessions() as session:
        return (session.scalar(select(func.count()).select_from(Forecast)) or 0,
                session.scalar(select(func.count()).select_from(ForecastProbability)) or 0,
                session.scalar(select(func.count()).select_from(User)) or 0)


@pytest.mark.slow
def test_two_concurrent_imports_store_each_forecast_once(settings, sessions, closed_question, tmp_path):
    forecasts, users = 50_000, 400  # the size of the reproduction
    rows = [f"q-2017,user{i % users},{at(i)},yes,0.{i % 9 + 1}\n" for i in range(forecasts)]
    path = write_file(tmp_path / "forecasts.csv", rows)
    env = tracker_env(settings.database_url, tmp_path)
    procs = [tracker(["import", "forecasts", str(path)], env) for _ in range(2)]
    outputs = [proc.communicate(timeout=900) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    assert counts(sessions) == (forecasts, 2 * forecasts, users)
    # Together the two reports account for every row exactly once.
    added = sum(int(out.split(": ")[1].split(" forecasts added")[0]) for out, _ in outputs)
    assert added == forecasts, outputs


def test_forecasts_outside_the_window_in_the_future_or_on_annulled_questions_are_refused(
        runner, sessions, clock, closed_question, tmp_path):
    with sessions() as session:
        make_question(session, "annulled", OPENS, CLOSES, status="annulled")
        make_question(session, "open-q", OPENS, clock.now() + timedelta(days=30), status="open")
        session.commit()
    path = write_file(tmp_path / "bad.csv", [
        "q-2017,old,2001-03-01T00:00:00Z,yes,0.5\n",       # before the question opened
        "q-2017,late,2018-01-02T00:00:00Z,yes,0.5\n",      # after its close
        f"q-2017,edge,{CLOSES:%Y-%m-%dT%H:%M:%SZ},yes,0.5\n",  # at the close: forecasting had ended
        "annulled,xavier,2017-03-01T00:00:00Z,yes,0.5\n",
        "open-q,future,2099-01-01T00:00:00Z,yes,0.5\n",
    ])
    result = runner.invoke(["import", "forecasts", str(path)])
    assert result.exit_code == 1
    for line, column in ((2, "forecast_at"), (3, "forecast_at"), (4, "forecast_at"), (5, "question"),
                         (6, "forecast_at")):
        assert f"line {line}, column {column}" in result.output, result.output
    assert "2001-03-01T00:00:00Z is outside the question's window" in result.output
    assert "annulled" in result.output and "in the future" in result.output
    assert counts(sessions) == (0, 0, 0)


def test_existing_web_account_needs_allow_existing_users(runner, sessions, clock, tmp_path):
    with sessions() as session:
        make_question(session, "open-q", OPENS, clock.now() + timedelta(days=30), status="open")
        make_user(session, "Alice")  # has a password: a real forecaster
        make_user(session, "imported", password=None)
        session.commit()
    path = write_file(tmp_path / "f.csv", ["open-q,alice,2017-03-01T00:00:00Z,yes,0.9\n",
                                           "open-q,imported,2017-03-01T00:00:00Z,yes,0.2\n"])
    result = runner.invoke(["import", "forecasts", str(path)])
    assert result.exit_code == 1
    assert "line 2, column forecaster: 'alice' is an existing account with a password" in result.output
    assert "--allow-existing-users" in result.output
    assert counts(sessions)[0] == 0
    result = runner.invoke(["import", "forecasts", "--allow-existing-users", str(path)])
    assert result.exit_code == 0, result.output
    assert counts(sessions)[0] == 2


@pytest.mark.parametrize(("content", "where"), [
    (HEADER + "q-2017,bob,2017-03-01T00:00:00Z,yes,0.5\n" + 'q-2017,"' + "x" * (csv.field_size_limit() + 10)
     + '",2017-03-01T00:00:00Z,yes,0.5\n', "line 3, column forecaster: a field longer than"),
    (HEADER + "q-2017,bob,2017-03-01T00:00:00Z,yes,0.5\nq-2017,bob,2017-03-02T00:00:00Z,y\0es,0.5\n",
     "line 3, column option: contains a NUL byte"),
    ("question,forecaster,forecast_at,option,probab\0ility\n", "line 1, column 5: contains a NUL byte"),
])
def test_unreadable_csv_gets_line_and_column(runner, sessions, closed_question, tmp_path, content, where):
    path = tmp_path / "broken.csv"
    path.write_text(content, encoding="utf-8")
    result = runner.invoke(["import", "forecasts", str(path)])
    assert result.exit_code == 1
    assert where in result.output, result.output
    assert "Traceback" not in result.output
    assert counts(sessions)[0] == 0


def test_a_forecast_repeated_in_the_file_is_skipped_or_refused(runner, sessions, closed_question, tmp_path):
    rows = ["q-2017,ann,2017-03-01T00:00:00Z,yes,0.5\n", "q-2017,bob,2017-03-01T00:00:00Z,yes,0.5\n",
            "q-2017,ANN,2017-03-01T00:00:00Z,yes,0.5\n"]  # the same forecast again: skipped
    result = runner.invoke(["import", "forecasts", str(write_file(tmp_path / "same.csv", rows))])
    assert result.exit_code == 0, result.output
    assert "2 forecasts added, 1 already stored" in result.output
    rows = [row.replace("03-01", "04-01") for row in rows]  # a new moment, not stored yet
    rows.append("q-2017,bob,2017-04-01T00:00:00Z,yes,0.6\n")  # bob again, differently: refused
    result = runner.invoke(["import", "forecasts", str(write_file(tmp_path / "differs.csv", rows))])
    assert result.exit_code == 1
    assert "line 5, column forecast_at: bob already has a different forecast at 2017-04-01T00:00:00Z on line 3" \
        in result.output


def test_forecasts_stored_by_another_import_between_check_and_write_are_skipped(
        runner, sessions, clock, closed_question, tmp_path):
    """The write's skip path: some checked forecasts were stored meanwhile (another import got
    there first); only the others are added, each with its own probabilities."""
    rows = [f"q-2017,user{i},{at(i)},yes,0.{i + 1}\n" for i in range(5)]
    with sessions() as session, write_file(tmp_path / "all.csv", rows).open(encoding="utf-8") as fh:
        checked = check_forecasts(session, clock, fh)
        session.rollback()
    first = runner.invoke(["import", "forecasts", str(write_file(tmp_path / "some.csv", rows[1:4:2]))])
    assert first.exit_code == 0, first.output
    with sessions() as session:
        report = write_forecasts(session, clock, checked)
        session.commit()
    assert (report.added, report.duplicates) == (3, 2)
    assert counts(sessions) == (5, 10, 5)
    with sessions() as session:
        stored = session.execute(select(User.username, ForecastProbability.probability)
                                 .join(Forecast, Forecast.user_id == User.id)
                                 .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)
                                 .where(ForecastProbability.option_id == closed_option(session, "yes"))).all()
    assert sorted(stored) == [(f"user{i}", pytest.approx((i + 1) / 10)) for i in range(5)]


def closed_option(session, key: str) -> int:
    return session.scalar(select(QuestionOption.id).join(Question).where(Question.slug == "q-2017",
                                                                           QuestionOption.key == key))


def test_rationales_and_forecasts_in_any_order_are_stored_exactly(runner, sessions, closed_question, tmp_path):
    """Rationales with COPY's special characters (tab, newline, backslash, ``\\N``) and forecasts
    out of key order are stored exactly as the file has them."""
    notes = ["", "plain", "tab\there", "line\nbreak", "back\\slash", "ünïcødé ✓", "", "\\N"]
    rows = [f'q-2017,user{(7 * i) % 5},{at(100 - i)},yes,0.{i + 1},"{notes[i]}"\n' for i in range(len(notes))]
    path = tmp_path / "notes.csv"
    path.write_text(HEADER.rstrip("\n") + ",rationale\n" + "".join(rows), encoding="utf-8")
    result = runner.invoke(["import", "forecasts", str(path)])
    assert result.exit_code == 0, result.output
    with sessions() as session:
        stored = session.execute(select(User.username, Forecast.created_at, Forecast.rationale,
                                        ForecastProbability.probability)
                                 .join(Forecast, Forecast.user_id == User.id)
                                 .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)
                                 .where(ForecastProbability.option_id == closed_option(session, "yes"))).all()
    assert sorted((name, created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), note, p)
                  for name, created, note, p in stored) == sorted(
        (f"user{(7 * i) % 5}", at(100 - i), notes[i], pytest.approx((i + 1) / 10)) for i in range(len(notes)))
    assert counts(sessions) == (len(notes), 2 * len(notes), 5)


def test_the_seed_writes_a_stage_through_the_import_writer(sessions, closed_question):
    """bench/seed.py stages forecasts a question at a time (Stage.add_many) and stores them with
    the import's writer; each forecast gets its own probabilities."""
    from array import array

    import numpy as np

    from tracker.domain.import_stage import Stage, store_stage

    with sessions() as session:
        users = [make_user(session, f"s{i}", password=None).id for i in range(3)]
        question = session.scalar(select(Question).where(Question.slug == "q-2017"))
        option_ids = [o.id for o in question.options]
        stage = Stage()
        micros = np.array([int((OPENS + timedelta(hours=h)).timestamp() * 1e6) for h in range(4)])
        stage.add_many(question.id, np.array([0, 1, 2, 0]), micros, option_ids,
                       np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]]))
        assert store_stage(session.connection(), stage, array("q", users)) == 4
        session.commit()
    with sessions() as session:
        stored = session.execute(select(Forecast.user_id, Forecast.created_at, ForecastProbability.option_id,
                                        ForecastProbability.probability)
                                 .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)).all()
    expected = {(users[u], h, option_ids[k], p) for h, (u, ps) in enumerate(
        [(0, (0.1, 0.9)), (1, (0.2, 0.8)), (2, (0.3, 0.7)), (0, (0.4, 0.6))]) for k, p in enumerate(ps)}
    assert {(uid, round((created.astimezone(UTC) - OPENS).total_seconds() / 3600), option, p)
            for uid, created, option, p in stored} == expected
