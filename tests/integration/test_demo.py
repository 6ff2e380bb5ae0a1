"""`tracker demo`: the 2017-2018 questions replayed with synthetic forecasters, then every page."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.conftest import ROOT, empty_all_tables
from tests.factories import make_user
from tracker.models import Forecast, Question, ResolutionEvent, Score, User

BANK = str(ROOT / "questions")


@pytest.fixture
def demo(runner):
    result = runner.invoke(["demo", "--questions", BANK])
    assert result.exit_code == 0, result.output
    return result


def test_demo_loads_forecasts_and_resolves_the_public_record(demo, db_session):
    assert "36 demo forecasters (36 created)" in demo.output
    users = db_session.scalars(select(User)).all()
    assert len(users) == 36
    assert all(u.is_demo and u.username.startswith("demo-") and u.password_hash is None for u in users)
    assert {u.username.split("-")[1] for u in users} == {"sharp", "steady", "herd", "bold", "noisy"}

    questions = db_session.scalars(select(Question)).all()
    assert len(questions) == 23
    assert all(q.closes_at.year in (2017, 2018) and q.is_demo for q in questions)
    resolved = [q for q in questions if q.status == "resolved"]
    assert len(resolved) == 21
    # What the record cannot settle stays open (the reasons are in demo_resolutions.yaml).
    assert {q.slug for q in questions if q.status != "resolved"} == {
        "iskander-kaliningrad-permanent-2018", "syria-ceasefire-holds-2017"}
    events = db_session.scalars(select(ResolutionEvent)).all()
    assert len(events) == 21 and {e.actor_name for e in events} == {"demo"}
    # Every recorded outcome carries its source.
    assert all(" Source: " in e.note for e in events)
    slug_of = {q.id: q.slug for q in questions}
    by_slug = {slug_of[e.question_id]: e for e in events}
    palmyra = by_slug["palmyra-recaptured-2017"]
    assert palmyra.outcome.key == "yes" and palmyra.occurred_at == datetime(2017, 3, 2, tzinfo=UTC)
    assert by_slug["merkel-reelected-chancellor-2018"].occurred_at == datetime(2018, 3, 14, 8, 53, tzinfo=UTC)
    assert by_slug["nato-efp-battlegroups-2017"].occurred_at == datetime(2017, 6, 19, tzinfo=UTC)
    assert by_slug["us-russia-joint-strike-syria-2017"].outcome.key == "no"

    # Forecasts are historical: inside each question's window, before its (effective) close.
    close_of = {q.id: q for q in questions}
    occurred = {e.question_id: e.occurred_at for e in events if e.occurred_at}
    rows = db_session.execute(select(Forecast.question_id, Forecast.created_at)).all()
    assert len(rows) > 1000
    for question_id, at in rows:
        q = close_of[question_id]
        assert q.opens_at <= at < min(q.closes_at, occurred.get(question_id, q.closes_at))
    # Stored scores exist for every resolved question.
    scored = set(db_session.scalars(select(Score.question_id).distinct()))
    assert scored == {q.id for q in resolved}


def test_demo_is_idempotent_and_reproducible(runner, demo, sessions, settings):
    first = runner.invoke(["export", "forecasts"]).stdout_bytes
    again = runner.invoke(["demo", "--questions", BANK])
    assert again.exit_code == 0
    assert "already loaded: nothing changed" in again.output
    assert runner.invoke(["export", "forecasts"]).stdout_bytes == first
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 36
        assert session.scalar(select(func.count()).select_from(ResolutionEvent)) == 21
    # The same seed on an empty database gives the same history, byte for byte.
    empty_all_tables(settings.database_url)
    assert runner.invoke(["demo", "--questions", BANK]).exit_code == 0
    assert runner.invoke(["export", "forecasts"]).stdout_bytes == first


def test_demo_never_touches_live_questions(runner, sessions):
    assert runner.invoke(["questions", "load", BANK]).exit_code == 0
    result = runner.invoke(["demo", "--questions", BANK])
    assert result.exit_code == 0, result.output
    with sessions() as session:
        live = session.scalars(select(Question).where(Question.closes_at >= datetime(2027, 1, 1, tzinfo=UTC))).all()
        assert live
        assert session.scalar(select(func.count()).select_from(Forecast)
                              .where(Forecast.question_id.in_([q.id for q in live]))) == 0
        assert all(q.status not in ("resolved", "annulled") for q in live)


def test_demo_refuses_to_reuse_a_real_account(runner, sessions):
    with sessions() as session:
        make_user(session, "demo-sharp-01")
        session.commit()
    result = runner.invoke(["demo", "--questions", BANK])
    assert result.exit_code == 1
    assert "not a demo account" in result.output and "nothing was written" in result.output
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Forecast)) == 0


def test_skill_shows_in_the_scores(runner, demo):
    rows = list(csv.DictReader(io.StringIO(runner.invoke(["export", "scoreboard"]).stdout)))
    assert len(rows) == 36
    by_kind: dict[str, list[float]] = {}
    for row in rows:
        by_kind.setdefault(row["forecaster"].split("-")[1], []).append(float(row["mean_relative_brier"]))
    assert np.mean(by_kind["sharp"]) < np.mean(by_kind["steady"]) < np.mean(by_kind["noisy"])
    assert np.mean(by_kind["sharp"]) < 0 < np.mean(by_kind["noisy"])


def test_every_page_shows_real_numbers_after_the_demo(client, demo):
    page = client.get("/scoreboard").get_data(as_text=True)
    assert page.count('href="/forecasters/demo-') == 36
    assert "No scores yet" not in page
    europe = client.get("/scoreboard?tag=europe").get_data(as_text=True)
    assert europe.count('href="/forecasters/demo-') > 10
    one = client.get("/scoreboard?question=palmyra-recaptured-2017").get_data(as_text=True)
    assert one.count('href="/forecasters/demo-') > 10
    window = client.get("/scoreboard?since=2018-01-01&until=2018-12-31").get_data(as_text=True)
    assert window.count('href="/forecasters/demo-') > 10

    profile = client.get("/forecasters/demo-sharp-01").get_data(as_text=True)
    assert profile.count('<svg role="img"') == 2
    assert "No calibration samples yet" not in profile
    assert "palmyra" in profile.lower()

    for url in ("/scoreboard.csv", "/scores.csv", "/forecasts.csv", "/scoreboard.csv?tag=syria"):
        body = client.get(url).get_data(as_text=True)
        assert body.count("\n") > 20, url
        assert ",nan" not in body.lower()
