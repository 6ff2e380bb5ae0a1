"""submit_forecast's rules, the history queries and the database-to-crowd adapter."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.domain import Conflict
from tracker.domain.crowd import crowd_history, current_crowds
from tracker.domain.forecasts import (
    ForecastError,
    format_percent,
    probabilities_by_key,
    submit_forecast,
    user_forecasts,
)
from tracker.models import Forecast

DAY = timedelta(days=1)
BOUNDS = (0.01, 0.99)


def stored(session, question) -> list[Forecast]:
    return list(session.scalars(select(Forecast).where(Forecast.question_id == question.id)))


@pytest.fixture
def scene(db_session):
    alice, bob = make_user(db_session, "alice"), make_user(db_session, "bob")
    binary = make_question(db_session, "bin", NOW - 5 * DAY, NOW + 10 * DAY)
    mc = make_question(db_session, "mc", NOW - 5 * DAY, NOW + 10 * DAY, kind="multiple_choice",
                       options=["a", "b", "c"])
    return alice, bob, binary, mc


def test_submit_appends_with_server_time(db_session, clock, scene):
    alice, _bob, binary, _mc = scene
    first = submit_forecast(db_session, clock, binary, alice, {"yes": 0.7, "no": 0.3}, " why ", BOUNDS)
    clock.advance(hours=1)
    second = submit_forecast(db_session, clock, binary, alice, {"yes": 0.55, "no": 0.45}, "", BOUNDS)
    assert first.created_at == NOW and second.created_at == NOW + timedelta(hours=1)
    assert first.rationale == "why"
    assert [f.id for f in user_forecasts(db_session, binary, alice)] == [first.id, second.id]
    assert probabilities_by_key(binary, second) == pytest.approx({"yes": 0.55, "no": 0.45})


@pytest.mark.parametrize(
    ("probs", "message", "field"),
    [
        ({"a": 0.5, "b": 0.3, "c": 0.1}, "The percentages add up to 90%; they must add up to 100%.", "total"),
        ({"a": 0.5, "b": 0.3, "c": 0.3}, "The percentages add up to 110%; they must add up to 100%.", "total"),
        ({"a": 0.5, "b": 0.5}, "Give a probability for “C”.", "c"),
        ({"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.0}, "Unknown option 'd'", None),
        ({"a": 0.995, "b": 0.0025, "c": 0.0025}, "“A”: 99.5% is outside the allowed range 1%–99%.", "a"),
        ({"a": "x", "b": 0.5, "c": 0.5}, "“A”: enter a number.", "a"),
        ({"a": float("nan"), "b": 0.5, "c": 0.5}, "“A”: enter a number.", "a"),
    ],
)
def test_submit_refuses_bad_probabilities(db_session, clock, scene, probs, message, field):
    alice, _bob, _binary, mc = scene
    with pytest.raises(ForecastError) as error:
        submit_forecast(db_session, clock, mc, alice, probs, "", BOUNDS)
    assert message in str(error.value) and error.value.field == field and error.value.status == 400
    assert stored(db_session, mc) == []


def test_sum_tolerance_is_one_in_a_million(db_session, clock, scene):
    alice, _bob, _binary, mc = scene
    submit_forecast(db_session, clock, mc, alice, {"a": 0.333, "b": 0.333, "c": 0.334 + 5e-7}, "", BOUNDS)
    with pytest.raises(ForecastError, match="add up to"):
        submit_forecast(db_session, clock, mc, alice, {"a": 0.333, "b": 0.333, "c": 0.334 + 5e-6}, "", BOUNDS)


def test_bounds_are_inclusive(db_session, clock, scene):
    alice, _bob, binary, _mc = scene
    submit_forecast(db_session, clock, binary, alice, {"yes": 0.99, "no": 0.01}, "", BOUNDS)
    with pytest.raises(ForecastError, match="outside the allowed range 5%–95%"):
        submit_forecast(db_session, clock, binary, alice, {"yes": 0.99, "no": 0.01}, "", (0.05, 0.95))


def test_rationale_limit(db_session, clock, scene):
    alice, _bob, binary, _mc = scene
    submit_forecast(db_session, clock, binary, alice, {"yes": 0.5, "no": 0.5}, "x" * 5000, BOUNDS)
    with pytest.raises(ForecastError, match="limit is 5000") as error:
        submit_forecast(db_session, clock, binary, alice, {"yes": 0.5, "no": 0.5}, "x" * 5001, BOUNDS)
    assert error.value.field == "rationale"


@pytest.mark.parametrize(
    ("at", "status"),
    [(NOW + 10 * DAY, "open"), (NOW - 5 * DAY - timedelta(seconds=1), "open"), (NOW, "closed"), (NOW, "resolved"),
     (NOW, "annulled"), (NOW, "draft")],
)
def test_only_open_questions_take_forecasts(db_session, clock, scene, at, status):
    alice, _bob, binary, _mc = scene
    binary.status = status
    clock.set(at)
    with pytest.raises(Conflict, match="This question is closed for forecasting") as error:
        submit_forecast(db_session, clock, binary, alice, {"yes": 0.5, "no": 0.5}, "", BOUNDS)
    assert error.value.status == 409
    assert stored(db_session, binary) == []


def test_opens_at_is_inclusive(db_session, clock, scene):
    alice, _bob, binary, _mc = scene
    clock.set(binary.opens_at)
    assert submit_forecast(db_session, clock, binary, alice, {"yes": 0.5, "no": 0.5}, "", BOUNDS).id


def test_format_percent():
    assert format_percent(0.9) == "90%" and format_percent(0.9999) == "99.99%" and format_percent(0.333) == "33.3%"


def test_current_crowds_is_the_median_of_latest_forecasts(db_session, scene):
    alice, bob, binary, mc = scene
    cy = make_user(db_session, "cy")
    add_forecast(db_session, binary, alice, 0.9, NOW - 4 * DAY)
    add_forecast(db_session, binary, alice, 0.6, NOW - 2 * DAY)  # supersedes 0.9
    add_forecast(db_session, binary, bob, 0.8, NOW - 3 * DAY)
    add_forecast(db_session, binary, cy, 0.2, NOW - DAY)
    add_forecast(db_session, mc, alice, [0.6, 0.3, 0.1], NOW - DAY)
    add_forecast(db_session, mc, bob, [0.2, 0.2, 0.6], NOW - DAY)
    late = make_question(db_session, "late", NOW - 5 * DAY, NOW - DAY)
    add_forecast(db_session, late, alice, 0.3, NOW - 2 * DAY)
    add_forecast(db_session, late, alice, 0.9, NOW)  # after the close: not part of the crowd
    empty = make_question(db_session, "empty", NOW - 5 * DAY, NOW + DAY)
    crowds = current_crowds(db_session, [binary, mc, late, empty])
    assert crowds[binary.id].probabilities == pytest.approx({"yes": np.median([0.6, 0.8, 0.2]), "no": 0.4})
    assert crowds[binary.id].forecasters == 3
    medians = np.median([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], axis=0)
    expected = medians / medians.sum()
    assert list(crowds[mc.id].probabilities.values()) == pytest.approx(list(expected))
    assert crowds[mc.id].leading()[0] == "a"
    assert crowds[late.id].probabilities["yes"] == pytest.approx(0.3)
    assert empty.id not in crowds
    assert current_crowds(db_session, []) == {}


def test_crowd_history_steps_once_per_day(db_session, scene):
    alice, bob, binary, _mc = scene
    add_forecast(db_session, binary, alice, 0.9, NOW - 4 * DAY)
    add_forecast(db_session, binary, bob, 0.5, NOW - 3 * DAY)
    add_forecast(db_session, binary, alice, 0.6, NOW - 2 * DAY)
    add_forecast(db_session, binary, alice, 0.7, NOW - 2 * DAY + timedelta(seconds=1))  # same day: the later counts
    history = crowd_history(db_session, binary)
    assert [t.date() for t in history.at] == [(NOW - d * DAY).date() for d in (4, 3, 2)]
    assert history.series(0) == pytest.approx([0.9, 0.7, 0.6])
    assert history.forecasters == [1, 2, 2]
    assert len(crowd_history(db_session, scene[3]).at) == 0


def test_the_submission_reads_the_question_as_stored_now(db_session, clock, scene):
    """The forecast form's POST reads the question with one plain query (``submission_question``):
    the same fields and options, in option order, as the ORM's, read afresh, so an edit made
    since (a label, the close) is what the next submission sees."""
    from tracker.domain import NotFound
    from tracker.domain.forecasts import submission_question

    alice, _bob, _binary, mc = scene
    db_session.commit()
    seen = submission_question(db_session, "mc")
    assert (seen.id, seen.slug, seen.title, seen.kind, seen.status, seen.opens_at, seen.closes_at) == (
        mc.id, mc.slug, mc.title, mc.kind, mc.status, mc.opens_at, mc.closes_at)
    assert [(o.id, o.key, o.label, o.position) for o in seen.options] == [
        (o.id, o.key, o.label, o.position) for o in mc.options]
    mc.options[1].label = "Bee"
    mc.closes_at = NOW - DAY
    db_session.commit()
    again = submission_question(db_session, "mc")
    assert again.option_by_key("b").label == "Bee" and again.closes_at == NOW - DAY
    with pytest.raises(Conflict):
        submit_forecast(db_session, clock, again, alice, {"a": 0.2, "b": 0.3, "c": 0.5}, "", BOUNDS)
    with pytest.raises(NotFound):
        submission_question(db_session, "no-such-question")
