"""`tracker import forecasts`: round trip, all-or-nothing errors naming line and column, duplicates."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import Runner
from tests.factories import add_forecast, make_question, make_user
from tests.integration.scoreboard_history import build_history, utc
from tracker.config import Settings
from tracker.db import make_engine, make_session_factory
from tracker.migrate import upgrade
from tracker.models import Forecast, ForecastProbability, Question, Score, User

HEADER = "question,forecaster,forecast_at,option,probability,rationale\n"


@pytest.fixture
def history(sessions, clock):
    with sessions() as session:
        build_history(session, clock)
        session.commit()


@pytest.fixture
def questions_only(sessions, clock):
    """The same questions and resolutions, but nobody has forecast yet."""
    with sessions() as session:
        build_history(session, clock, with_forecasts=False)
        make_question(session, "mc-open", utc(2026, 11, 1), utc(2027, 1, 1), kind="multiple_choice",
                      options=["a", "b", "c"])
        session.commit()


@pytest.fixture
def second_database(request, db_dialect, tmp_path, clock):
    """Another empty, migrated database on the same engine as the suite's, with its own runner."""
    url = request.getfixturevalue("fresh_pg_url") if db_dialect == "postgresql" else f"sqlite:///{tmp_path / 'second.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine), Runner(Settings(env="test", database_url=url, secret_key="k"), clock)
    engine.dispose()


def counts(sessions) -> tuple[int, int, int]:
    with sessions() as session:
        return (session.scalar(select(func.count()).select_from(Forecast)),
                session.scalar(select(func.count()).select_from(ForecastProbability)),
                session.scalar(select(func.count()).select_from(User)))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_round_trip_gives_identical_scoreboards(runner, history, second_database, tmp_path, clock):
    exported = tmp_path / "forecasts.csv"
    assert runner.invoke(["export", "forecasts", "-o", str(exported)]).exit_code == 0
    boards = {name: runner.invoke(args).stdout_bytes for name, args in BOARDS.items()}

    sessions2, runner2 = second_database
    with sessions2() as session:
        build_history(session, clock, with_forecasts=False)
        session.commit()
    result = runner2.invoke(["import", "forecasts", str(exported)])
    assert result.exit_code == 0, result.output
    assert "5 forecasts added" in result.output and "2 forecasters created" in result.output
    assert "2 resolved questions rescored" in result.output
    for name, args in BOARDS.items():
        assert runner2.invoke(args).stdout_bytes == boards[name], name
    # And the raw forecasts themselves, formula-neutralised rationales included.
    assert runner2.invoke(["export", "forecasts"]).stdout_bytes == exported.read_bytes()
    # Imported forecasters have no password: they cannot log in until they set one.
    with sessions2() as session:
        users = session.scalars(select(User)).all()
        assert {u.username for u in users} == {"alice", "bob"}
        assert all(u.password_hash is None and not u.is_active for u in users)


BOARDS = {
    "overall": ["export", "scoreboard"],
    "tag": ["export", "scoreboard", "--tag", "alpha"],
    "question": ["export", "scoreboard", "--question", "q2-two-days"],
    "scores": ["export", "scores"],
}


def test_reimport_changes_nothing(runner, sessions, history, tmp_path):
    exported = tmp_path / "forecasts.csv"
    runner.invoke(["export", "forecasts", "-o", str(exported)])
    before = counts(sessions)
    result = runner.invoke(["import", "forecasts", str(exported)])
    assert result.exit_code == 0, result.output
    assert "0 forecasts added, 5 already stored (skipped)" in result.output
    assert counts(sessions) == before


def test_binary_yes_row_is_enough_and_resolved_questions_are_rescored(runner, sessions, questions_only, tmp_path):
    path = write(tmp_path, HEADER + "q1-four-days,carol,2017-03-01T12:00:00Z,yes,0.75,\n"
                                    "q1-four-days,carol,2017-03-02T12:00:00.5Z,yes,1,\n")
    result = runner.invoke(["import", "forecasts", str(path)])
    assert result.exit_code == 0, result.output
    with sessions() as session:
        probs = session.execute(
            select(Forecast.created_at, ForecastProbability.probability)
            .join(ForecastProbability).order_by(Forecast.created_at, ForecastProbability.option_id)).all()
        assert [p for _, p in probs] == [0.75, 0.25, 1.0, 0.0]
        assert probs[2][0] == utc(2017, 3, 2, 12, 0, 0, 500000)  # placed at the recorded time
        score = session.scalars(select(Score)).one()
        assert score.forecasts == 2 and score.brier == pytest.approx(2 * 0.25 ** 2 / 4)  # 0.125 on day 1, then 0


def test_large_file_in_several_batches(runner, sessions, questions_only, tmp_path):
    lines = [HEADER]
    for i in range(4500):
        at = f"2026-11-{1 + i // 1000:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z"
        lines.append(f"mc-open,user{i % 7},{at},a,0.2,\nmc-open,user{i % 7},{at},b,0.3,\n"
                     f"mc-open,user{i % 7},{at},c,0.5,\n")
    path = write(tmp_path, "".join(lines))
    result = runner.invoke(["import", "forecasts", str(path)])
    assert result.exit_code == 0, result.output
    assert "13500 rows read: 4500 forecasts added" in result.output
    assert counts(sessions)[:2] == (4500, 13500)


@pytest.mark.parametrize("rows, where, problem", [
    ("nope,alice,2017-03-01T10:00:00Z,yes,0.5,\n", "line 3, column question", "unknown question 'nope'"),
    ("q1-four-days,alice,2017-03-01T10:00:00Z,maybe,0.5,\n", "line 3, column option", "unknown option 'maybe'"),
    ("q1-four-days,alice,2017-03-01T10:00:00Z,yes,abc,\n", "line 3, column probability", "'abc' is not a number"),
    ("q1-four-days,alice,2017-03-01T10:00:00Z,yes,1.5,\n", "line 3, column probability", "outside [0, 1]"),
    ("q1-four-days,alice,2017-03-01T10:00:00Z,yes,-0.1,\n", "line 3, column probability", "outside [0, 1]"),
    ("q1-four-days,alice,2017-03-01T10:00:00Z,yes,nan,\n", "line 3, column probability", "not a number"),
    ("q1-four-days,alice,2017-03-01 10:00,yes,0.5,\n", "line 3, column forecast_at", "not an ISO 8601 UTC time"),
    ("q1-four-days,alice,2017-03-01T10:00:00+02:00,yes,0.5,\n", "line 3, column forecast_at", "UTC"),
    ("q1-four-days,alice,2017-02-30T10:00:00Z,yes,0.5,\n", "line 3, column forecast_at", "not a valid date"),
    ("q1-four-days,alice,2026-11-25T12:00:01Z,yes,0.5,\n", "line 3, column forecast_at", "in the future"),
    ("q1-four-days,a lice,2017-03-01T10:00:00Z,yes,0.5,\n", "line 3, column forecaster", "Usernames"),
    ("q1-four-days,alice,2017-03-01T10:00:00Z,yes,0.5,\nq1-four-days,alice,2017-03-01T10:00:00Z,no,0.6,\n",
     "line 4, column probability", "sum to 1.1, not 1"),
    ("q1-four-days,alice,2017-03-01T10:00:00Z,no,0.5,\n", "line 3, column option", "missing option(s) yes"),
    ("mc-open,alice,2026-11-02T10:00:00Z,a,0.5,\nmc-open,alice,2026-11-02T10:00:00Z,b,0.5,\n",
     "line 3, column option", "missing option(s) c"),
    ("mc-open,alice,2026-11-02T10:00:00Z,a,0.5,\nmc-open,alice,2026-11-02T10:00:00Z,a,0.5,\n",
     "line 4, column option", "appears twice"),
    ("q1-four-days,alice,2017-03-01T10:00:00Z,yes\n", "line 3, column probability", "the row has 4 cells"),
])
def test_bad_rows_name_line_and_column_and_store_nothing(runner, sessions, questions_only, tmp_path, rows, where,
                                                         problem):
    # Line 2 is a good forecast by a new forecaster: it must not be stored either.
    path = write(tmp_path, HEADER + "q2-two-days,zed,2017-03-01T09:00:00Z,yes,0.2,fine\n" + rows)
    before = counts(sessions)
    result = runner.invoke(["import", "forecasts", str(path)])
    assert result.exit_code == 1
    assert f"{path}: {where}: " in result.output
    assert problem in result.output
    assert "nothing was imported" in result.output
    assert counts(sessions) == before


def test_all_problems_are_listed_at_once(runner, sessions, questions_only, tmp_path):
    path = write(tmp_path, HEADER + "nope,alice,2017-03-01T10:00:00Z,yes,0.5,\n"
                                    "q1-four-days,bob,2017-03-01T10:00:00Z,yes,2,\n"
                                    "q1-four-days,bob,2017-03-01T11:00:00Z,yes,0.2,\n")
    result = runner.invoke(["import", "forecasts", str(path)])
    assert "line 2, column question" in result.output and "line 3, column probability" in result.output
    assert "2 problem(s)" in result.output
    assert counts(sessions)[0] == 0


def test_header_problems(runner, questions_only, tmp_path):
    result = runner.invoke(["import", "forecasts", str(write(tmp_path, "question,forecaster,forecast_at,option\n"))])
    assert result.exit_code == 1 and "line 1, column probability: is missing from the header row" in result.output
    result = runner.invoke(["import", "forecasts", str(write(tmp_path, ""))])
    assert result.exit_code == 1 and "empty" in result.output


def test_conflicting_forecast_at_the_same_time_is_refused(runner, sessions, history, tmp_path):
    # alice's stored 0.8 at this moment; a different forecast at the same moment is not a duplicate.
    path = write(tmp_path, HEADER + "q1-four-days,Alice,2017-03-01T10:00:00Z,yes,0.7,\n")
    before = counts(sessions)
    result = runner.invoke(["import", "forecasts", str(path)])
    assert result.exit_code == 1 and "line 2, column forecast_at: a different forecast by Alice" in result.output
    assert counts(sessions) == before
    # The same forecast (yes row only, name in another case) is an exact duplicate: skipped.
    path = write(tmp_path, HEADER + "q1-four-days,ALICE,2017-03-01T10:00:00Z,yes,0.8,\n")
    result = runner.invoke(["import", "forecasts", str(path)])
    assert result.exit_code == 0 and "1 already stored" in result.output
    assert counts(sessions) == before


def test_formula_quote_is_undone_on_import(runner, sessions, questions_only, tmp_path):
    path = write(tmp_path, HEADER + "q2-two-days,zed,2017-03-01T09:00:00Z,yes,0.2,'=1+1\n")
    assert runner.invoke(["import", "forecasts", str(path)]).exit_code == 0
    with sessions() as session:
        assert session.scalar(select(Forecast.rationale)) == "=1+1"


def test_round_trip_keeps_a_lone_carriage_return(runner, history, second_database, sessions, tmp_path, clock):
    # A rationale with a CR not followed by LF used to be written unquoted, and the import then
    # read it as a line end and refused the file.
    with sessions() as session:
        q = session.scalar(select(Question).where(Question.slug == "q1-four-days"))
        add_forecast(session, q, make_user(session, "carl"), 0.6, utc(2017, 3, 2, 7), rationale="before\rafter")
        session.commit()
    exported = tmp_path / "forecasts.csv"
    assert runner.invoke(["export", "forecasts", "-o", str(exported)]).exit_code == 0
    assert b',"before\rafter"\n' in exported.read_bytes()

    sessions2, runner2 = second_database
    with sessions2() as session:
        build_history(session, clock, with_forecasts=False)
        session.commit()
    result = runner2.invoke(["import", "forecasts", str(exported)])
    assert result.exit_code == 0, result.output
    assert "6 forecasts added" in result.output
    assert runner2.invoke(["export", "forecasts"]).stdout_bytes == exported.read_bytes()
    with sessions2() as session:
        assert session.scalar(select(Forecast.rationale).join(User).where(User.username == "carl")) == "before\rafter"
