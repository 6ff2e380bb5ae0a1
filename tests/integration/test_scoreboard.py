"""Scoreboards and profiles against numbers worked out by hand from docs/scoring.md.

The history (tests/integration/scoreboard_history.py): q1 runs 2017-03-01..04 (D = 4), resolved yes;
q2 runs 2017-03-01..02 (D = 2), resolved no. Binary daily Brier is 2 (p_yes - o_yes)^2.

q1  alice: 0.8 on days 1-2, 0.9 on days 3-4 -> daily 0.08, 0.08, 0.02, 0.02; Brier 0.05
    bob:   0.4 from day 2 -> daily 0.72 on days 2-4; Brier 0.72
    daily median: day 1 0.08 (alice alone), day 2 (0.08+0.72)/2 = 0.40, days 3-4 (0.02+0.72)/2 = 0.37
    alice relative = (0 - 0.32 - 0.35 - 0.35)/4 = -0.255; bob = (0.32 + 0.35 + 0.35)/4 = +0.255
    log: alice (2 ln .8 + 2 ln .9)/4, bob ln .4; coverage alice 1, bob 3/4
q2  alice 0.3 -> 2*0.09 = 0.18 a day; bob 0.1 -> 0.02 a day; median 0.10
    relative alice +0.08, bob -0.08; log alice ln .7, bob ln .9; coverage 1 each
Means over the two questions (§8):
    alice Brier 0.115, relative -0.0875, log ((ln .8 + ln .9)/2 + ln .7)/2, coverage 1, forecasts 3
    bob   Brier 0.37,  relative +0.0875, log (ln .4 + ln .9)/2,             coverage 0.875, forecasts 2
Calibration (§7), each day weighted 1/active days:
    alice bins 80% (n .5, f .8, o 1), 90% (n .5, f .9, o 1), 30% (n 1, f .3, o 0); N = 2
          REL = (.5*.04 + .5*.01 + 1*.09)/2 = 0.0575
    bob   bins 40% (n 1, f .4, o 1), 10% (n 1, f .1, o 0); REL = (.36 + .01)/2 = 0.185
"""
from __future__ import annotations

import csv
import io
import math
import re

import pytest
from sqlalchemy import update

from tests.conftest import append_only_lifted
from tests.factories import add_forecast, make_question, make_user
from tests.integration.scoreboard_history import build_history, utc
from tracker.domain.forecaster_stats import rebuild_stats
from tracker.domain.profiles import forecaster_profile
from tracker.domain.resolution import annul, resolve
from tracker.domain.scoreboards import ScoreFilter, scoreboard
from tracker.models import Forecast, ForecastProbability, Score

LN = math.log
ALICE = {"rank": 1, "questions": 2, "forecasts": 3, "mean_brier": 0.115, "mean_relative_brier": -0.0875,
         "mean_log_score": ((LN(0.8) + LN(0.9)) / 2 + LN(0.7)) / 2, "calibration": 0.0575, "coverage": 1.0}
BOB = {"rank": 2, "questions": 2, "forecasts": 2, "mean_brier": 0.37, "mean_relative_brier": 0.0875,
       "mean_log_score": (LN(0.4) + LN(0.9)) / 2, "calibration": 0.185, "coverage": 0.875}


@pytest.fixture
def history(sessions, clock):
    with sessions() as session:
        data = build_history(session, clock)
        session.commit()
        return {k: v.id for k, v in data.items()}


def check_row(row: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert float(row[key]) == pytest.approx(value, abs=1e-12), key


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_scoreboard_csv_matches_hand_computed_values(client, history):
    response = client.get("/scoreboard.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == ("rank,forecaster,questions,forecasts,mean_brier,mean_relative_brier,"
                                    "mean_log_score,calibration,coverage")
    rows = csv_rows(text)
    assert [r["forecaster"] for r in rows] == ["alice", "bob"]
    check_row(rows[0], ALICE)
    check_row(rows[1], BOB)
    # A negative relative Brier stays a number: no formula-injection quote on numeric cells.
    assert rows[0]["mean_relative_brier"].startswith("-0.087")


def test_per_question_and_per_tag_boards(client, history):
    rows = csv_rows(client.get("/scoreboard.csv?question=q1-four-days").get_data(as_text=True))
    assert [r["forecaster"] for r in rows] == ["alice", "bob"]
    check_row(rows[0], {"questions": 1, "forecasts": 2, "mean_brier": 0.05, "mean_relative_brier": -0.255,
                        "mean_log_score": (LN(0.8) + LN(0.9)) / 2, "coverage": 1.0,
                        "calibration": (0.5 * 0.04 + 0.5 * 0.01) / 1})
    check_row(rows[1], {"mean_brier": 0.72, "mean_relative_brier": 0.255, "coverage": 0.75,
                        "calibration": 0.36})
    # q2 carries the tag beta: bob beats alice there.
    rows = csv_rows(client.get("/scoreboard.csv?tag=beta").get_data(as_text=True))
    assert [(r["rank"], r["forecaster"]) for r in rows] == [("1", "bob"), ("2", "alice")]
    check_row(rows[0], {"mean_relative_brier": -0.08, "mean_brier": 0.02, "mean_log_score": LN(0.9)})
    assert csv_rows(client.get("/scoreboard.csv?tag=nosuchtag").get_data(as_text=True)) == []


def test_date_window_on_close_dates(client, history):
    # q2 closes 2017-03-02, q1 on 2017-03-04: both ends of the window are inclusive days.
    only_q2 = csv_rows(client.get("/scoreboard.csv?until=2017-03-02").get_data(as_text=True))
    assert {r["forecaster"]: float(r["mean_brier"]) for r in only_q2} == {"alice": pytest.approx(0.18),
                                                                          "bob": pytest.approx(0.02)}
    only_q1 = csv_rows(client.get("/scoreboard.csv?since=2017-03-03&until=2017-03-04").get_data(as_text=True))
    assert [r["questions"] for r in only_q1] == ["1", "1"]
    check_row(only_q1[0], {"mean_brier": 0.05})
    assert client.get("/scoreboard.csv?since=2017-03-05").get_data(as_text=True).count("\n") == 1


def test_page_shows_columns_definitions_and_sorting(client, history):
    page = client.get("/scoreboard").get_data(as_text=True)
    for term in ("Rank", "Questions", "Forecasts", "Brier", "Relative Brier", "Log score", "Calibration (REL)",
                 "Coverage"):
        assert f"<dt>{term}</dt>" in page
    shown = [float(v) for v in re.findall(r'<td class="num (?:better|worse)">([-+][0-9.]+)</td>', page)]
    assert shown == [pytest.approx(-0.0875, abs=0.0006), pytest.approx(0.0875, abs=0.0006)]
    assert page.index(">alice<") < page.index(">bob<")
    # Sorting by Brier descending puts bob first, but ranks stay by relative Brier.
    page = client.get("/scoreboard?sort=mean_brier&order=desc").get_data(as_text=True)
    assert page.index(">bob<") < page.index(">alice<")
    assert 'aria-sort="descending"' in page
    # Coverage sorts best (highest) first by default.
    page = client.get("/scoreboard?sort=coverage").get_data(as_text=True)
    assert page.index(">alice<") < page.index(">bob<")


def test_min_questions_filter(client, sessions, clock, history):
    with sessions() as session:
        q3 = make_question(session, "q3-solo", utc(2017, 4, 1), utc(2017, 4, 3))
        carol = make_user(session, "carol")
        add_forecast(session, q3, carol, 0.7, utc(2017, 4, 1, 12))
        resolve(session, clock, q3, "yes", None, "test")
        session.commit()
    with sessions() as session:
        names = [r.username for r in scoreboard(session, ScoreFilter())]
        rows = scoreboard(session, ScoreFilter(), min_questions=2)
    assert "carol" in names
    assert [r.username for r in rows] == ["alice", "bob"]
    page = client.get("/scoreboard?min_questions=2").get_data(as_text=True)
    assert ">carol<" not in page and ">alice<" in page
    assert client.get("/scoreboard?min_questions=two").status_code == 400


def test_bad_filters_are_refused_with_a_message(client, history):
    response = client.get("/scoreboard?since=yesterday")
    assert response.status_code == 400 and b"since" in response.data
    assert client.get("/scoreboard?since=2017-05-01&until=2017-01-01").status_code == 400
    assert client.get("/scoreboard?sort=password").status_code == 400
    response = client.get("/scoreboard?question=no-such-question")
    assert response.status_code == 404 and b"no-such-question" in response.data
    # Issue 13 item 9: a mistyped slug shows the whole board with a message, not a bare 404 page.
    page = response.get_data(as_text=True)
    assert 'id="unknown-question"' in page and "showing the whole board instead" in page
    assert '<form class="filters scoreboard-filters"' in page and "What the columns mean" in page
    assert client.get("/scoreboard.csv?question=no-such-question").status_code == 404


def test_annulled_questions_count_for_nobody(client, sessions, clock, history):
    with sessions() as session:
        from tracker.models import Question

        q2 = session.get(Question, history["q2"])
        annul(session, clock, q2, None, "test", "ambiguous source")
        session.commit()
    rows = csv_rows(client.get("/scoreboard.csv").get_data(as_text=True))
    # Only q1 remains: alice -0.255, bob +0.255.
    assert [r["questions"] for r in rows] == ["1", "1"]
    check_row(rows[0], {"mean_relative_brier": -0.255, "mean_brier": 0.05})


def test_board_reads_stored_scores_not_forecasts(client, sessions, history):
    with sessions() as session:
        # Forecasts vanishing does not change the board: it is a view of the stored Score rows.
        # (The append-only triggers are lifted for this test only: no code path deletes forecasts.)
        with append_only_lifted(session.connection()):
            session.execute(ForecastProbability.__table__.delete())
            session.execute(Forecast.__table__.delete())
        # ... while a changed stored score does.
        session.execute(update(Score).where(Score.question_id == history["q2"], Score.user_id == history["bob"])
                        .values(relative_brier=0.5))
        # The board reads per-forecaster aggregates, kept by every rescore and rebuilt from the Score rows.
        rebuild_stats(session)
        session.commit()
    rows = {r["forecaster"]: r for r in csv_rows(client.get("/scoreboard.csv").get_data(as_text=True))}
    assert float(rows["alice"]["mean_relative_brier"]) == pytest.approx(-0.0875)
    assert float(rows["bob"]["mean_relative_brier"]) == pytest.approx((0.255 + 0.5) / 2)


def test_profile_page(client, history):
    response = client.get("/forecasters/alice")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('<svg role="img"') == 2  # calibration plot and scores over time
    assert 'id="calibration-bins"' in page and 'id="profile-questions"' in page
    for word in ("Reliability (REL)", "Resolution (RES)", "Uncertainty (UNC)"):
        assert word in page
    assert "0.0575" in page  # REL
    assert "q1-four-days" in page and "-0.255" in page
    assert client.get("/forecasters/ALICE").status_code == 200
    assert client.get("/forecasters/nobody").status_code == 404


def test_profile_of_forecaster_without_scores(client, sessions):
    with sessions() as session:
        make_user(session, "newbie")
        session.commit()
    response = client.get("/forecasters/newbie")
    assert response.status_code == 200
    assert b"no scored questions yet" in response.data
    assert b"<svg" not in response.data


def test_profile_murphy_terms(db_session, history):
    profile = forecaster_profile(db_session, "alice")
    cal = profile.calibration
    # Base rate: outcomes weighted 0.5 + 0.5 (q1, yes) and 1 (q2, no) over N = 2.
    assert cal.base_rate == pytest.approx(0.5)
    assert cal.uncertainty == pytest.approx(0.25)
    assert cal.reliability == pytest.approx(0.0575)
    # RES = (1/N) sum n_k (o_k - 0.5)^2 = (0.5*0.25 + 0.5*0.25 + 1*0.25)/2
    assert cal.resolution == pytest.approx(0.25)
    assert [q.slug for q in profile.questions] == ["q2-two-days", "q1-four-days"]  # by close date
    assert profile.board_row.rank == 1 and profile.board_size == 2


def test_every_forecast_lands_in_exactly_one_bin(sessions, clock):
    """0.15 -> 20%, 0.35 -> 40%, 0.0 -> 0%, 1.0 -> 100% (round half up, no gaps at the edges)."""
    with sessions() as session:
        dana = make_user(session, "dana")
        for i, p in enumerate([0.15, 0.35, 0.0, 1.0]):
            q = make_question(session, f"edge-{i}", utc(2017, 5, 1), utc(2017, 5, 3))
            add_forecast(session, q, dana, p, utc(2017, 5, 1, 6))
            resolve(session, clock, q, "yes" if p >= 0.5 else "no", None, "test")
        session.commit()
    with sessions() as session:
        cal = forecaster_profile(session, "dana").calibration
    assert cal.total == pytest.approx(4.0)  # each question counts once: nothing lost, nothing doubled
    expected = {2: 0.15, 4: 0.35, 0: 0.0, 10: 1.0}
    for k in range(11):
        if k in expected:
            assert cal.n[k] == pytest.approx(1.0), k
            assert cal.f[k] == pytest.approx(expected[k]), k
        else:
            assert cal.n[k] == 0, k


def test_question_board_shows_the_crowd_score(client, history):
    page = client.get("/scoreboard?question=q2-two-days").get_data(as_text=True)
    assert "Question q2-two-days?" in page
    # The crowd's daily median forecast is 0.2 yes (median of 0.3 and 0.1): 2 * 0.04 = 0.08 a day.
    assert "Brier of\n    <strong>0.080</strong>" in page
    assert "2 forecasters." in page


def test_a_lone_forecaster_shows_a_plain_zero_relative_brier(client, sessions, clock):
    """A lone forecaster's relative Brier is 0 (docs/scoring.md §4); rounding noise must not show as -0.000."""
    with sessions() as session:
        solo = make_user(session, "solo")
        q = make_question(session, "lonely", utc(2017, 5, 1), utc(2017, 5, 20))
        add_forecast(session, q, solo, 0.73, utc(2017, 5, 1, 6))
        add_forecast(session, q, solo, 0.61, utc(2017, 5, 7, 6))
        resolve(session, clock, q, "yes", None, "test")
        session.commit()
    for path in ("/scoreboard", "/forecasters/solo"):
        page = client.get(path).get_data(as_text=True)
        assert "solo" in page
        assert "-0.000" not in page and "+0.000" not in page
        assert re.search(r">\s*0\.000\s*<", page), path
