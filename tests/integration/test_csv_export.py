"""CSV downloads and `tracker export`: the same bytes, the documented columns, safe text cells."""
from __future__ import annotations

import csv
import io

import pytest

from tests.factories import add_forecast, make_question, make_user
from tests.integration.scoreboard_history import build_history, utc


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
