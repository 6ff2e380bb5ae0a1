"""Resolution prompts on schedule: step 0 at the close, step 1 at resolve_by, then every N days,
each recorded once, only the latest due step after an outage, none once resolved or annulled."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.factories import NOW, make_question, make_user
from tracker.domain.prompts import create_due_prompts, due_step
from tracker.domain.resolution import annul, resolve
from tracker.domain.unique_insert import insert_once
from tracker.models import Prompt

EVERY = 7


def days(n: float) -> timedelta:
    return timedelta(days=n)


def prompts(session, q=None) -> list[tuple[int, datetime, datetime]]:
    query = select(Prompt).order_by(Prompt.question_id, Prompt.step)
    if q is not None:
        query = query.where(Prompt.question_id == q.id)
    return [(p.step, p.due_at, p.created_at) for p in session.scalars(query)]


def test_due_step_follows_the_schedule(db_session):
    q = make_question(db_session, "q", opens_at=NOW - days(30), closes_at=NOW, resolve_by=NOW + days(10))
    assert due_step(q, NOW - timedelta(seconds=1), EVERY) is None
    assert due_step(q, NOW, EVERY) == (0, NOW)
    assert due_step(q, NOW + days(9.9), EVERY) == (0, NOW)
    rb = NOW + days(10)
    assert due_step(q, rb, EVERY) == (1, rb)
    assert due_step(q, rb + days(6.99), EVERY) == (1, rb)
    assert due_step(q, rb + days(7), EVERY) == (2, rb + days(7))
    assert due_step(q, rb + days(22), EVERY) == (4, rb + days(21))
    assert due_step(q, rb + days(22), 2) == (12, rb + days(22))


def test_five_weeks_of_schedule_hour_by_hour(db_session, clock):
    """Run the sweep every hour for five weeks: each step appears once, at its due time."""
    q = make_question(db_session, "q", opens_at=NOW - days(30), closes_at=NOW + days(1), resolve_by=NOW + days(4))
    other = make_question(db_session, "other", opens_at=NOW - days(30), closes_at=NOW + days(50))
    created: list[tuple[int, datetime]] = []
    for hour in range(0, 24 * 35 + 1):
        clock.set(NOW + timedelta(hours=hour))
        for pid in create_due_prompts(db_session, clock, EVERY):
            p = db_session.get(Prompt, pid)
            created.append((p.step, p.created_at))
    close, rb = NOW + days(1), NOW + days(4)
    expected = [(0, close), (1, rb)] + [(k, rb + days(7 * (k - 1))) for k in range(2, 6)]
    assert created == expected
    assert [(s, d) for s, d, _ in prompts(db_session, q)] == expected
    assert prompts(db_session, other) == []
    assert "closed on" in db_session.scalars(select(Prompt).where(Prompt.step == 0)).one().message
    assert "28 days after its resolve-by date" in db_session.scalars(select(Prompt).where(Prompt.step == 5)).one().message


def test_after_an_outage_only_the_current_step_is_created(db_session, clock):
    q = make_question(db_session, "q", opens_at=NOW - days(60), closes_at=NOW - days(40), resolve_by=NOW - days(30))
    assert list(create_due_prompts(db_session, clock, EVERY))  # one prompt
    assert prompts(db_session, q) == [(5, NOW - days(30) + days(28), NOW)]
    assert create_due_prompts(db_session, clock, EVERY) == []  # again: nothing
    clock.advance(days=7)
    create_due_prompts(db_session, clock, EVERY)
    assert [s for s, *_ in prompts(db_session, q)] == [5, 6]


def test_resolve_by_at_the_close_starts_at_step_one(db_session, clock):
    q = make_question(db_session, "q", opens_at=NOW - days(9), closes_at=NOW - days(1), resolve_by=NOW - days(1))
    create_due_prompts(db_session, clock, EVERY)
    assert [s for s, *_ in prompts(db_session, q)] == [1]


def test_resolved_and_annulled_questions_are_not_prompted(db_session, clock):
    admin = make_user(db_session, "root", role="admin")
    a = make_question(db_session, "a", opens_at=NOW - days(9), closes_at=NOW - days(1), status="closed")
    b = make_question(db_session, "b", opens_at=NOW - days(9), closes_at=NOW - days(1), status="closed")
    c = make_question(db_session, "c", opens_at=NOW - days(9), closes_at=NOW - days(1), status="closed")
    resolve(db_session, clock, a, "yes", admin, "root")
    annul(db_session, clock, b, admin, "root", "moot")
    create_due_prompts(db_session, clock, EVERY)
    assert {p.question_id for p in db_session.scalars(select(Prompt))} == {c.id}
    # Once resolved, reminders stop for good.
    resolve(db_session, clock, c, "no", admin, "root")
    clock.advance(days=60)
    assert create_due_prompts(db_session, clock, EVERY) == []


def test_an_open_question_whose_close_passed_is_prompted_even_before_the_sweep(db_session, clock):
    q = make_question(db_session, "lagging", opens_at=NOW - days(9), closes_at=NOW - days(1), status="open")
    create_due_prompts(db_session, clock, EVERY)
    assert [s for s, *_ in prompts(db_session, q)] == [0]


def test_the_insert_does_nothing_when_another_process_got_there_first(db_session, clock):
    q = make_question(db_session, "q", opens_at=NOW - days(9), closes_at=NOW - days(1))
    values = {"question_id": q.id, "step": 0, "number": 1, "due_at": q.closes_at, "message": "m", "created_at": NOW,
              "delivery": "pending"}
    first = insert_once(db_session, Prompt, values, key=["question_id", "step"])
    assert first is not None
    assert insert_once(db_session, Prompt, values, key=["question_id", "step"]) is None
    # The transaction is still usable and holds exactly one row.
    assert [p.id for p in db_session.scalars(select(Prompt))] == [first]


@pytest.mark.parametrize("every", [1, 3, 14])
def test_the_period_comes_from_settings(db_session, clock, every):
    q = make_question(db_session, "q", opens_at=NOW - days(90), closes_at=NOW - days(60), resolve_by=NOW - days(50))
    create_due_prompts(db_session, clock, every)
    step, due, _ = prompts(db_session, q)[0]
    assert step == 1 + 50 // every and due == NOW - days(50) + days(every * (50 // every))
