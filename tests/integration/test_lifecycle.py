"""Lifecycle rules: opening, closing, resolving (on time and early), corrections, annulment, audit."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.domain import Conflict, DomainError
from tracker.domain.lifecycle import open_and_close_due
from tracker.domain.resolution import annul, audit_log, latest_event, resolve
from tracker.models import QuestionScore, ResolutionEvent, Score, StatusChange


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def admin(db_session):
    return make_user(db_session, "root", role="admin")


@pytest.fixture
def closed_q(db_session):
    """Closed yesterday after ten days open; two forecasters."""
    q = make_question(db_session, "closed-q", opens_at=NOW - days(11), closes_at=NOW - days(1), status="closed")
    ann, bob = make_user(db_session, "ann"), make_user(db_session, "bob")
    add_forecast(db_session, q, ann, 0.8, NOW - days(10))
    add_forecast(db_session, q, bob, 0.3, NOW - days(5))
    return q


def scores(session, q) -> dict[str, Score]:
    rows = session.execute(select(Score).where(Score.question_id == q.id)).scalars()
    return {s.user_id: s for s in rows}


def status_changes(session, q) -> list[tuple[str | None, str, str]]:
    rows = session.scalars(select(StatusChange).where(StatusChange.question_id == q.id).order_by(StatusChange.id))
    return [(c.from_status, c.to_status, c.actor_name) for c in rows]


# --- the scheduled sweep ---------------------------------------------------------------------------

def test_sweep_opens_and_closes_due_questions_once(db_session, clock):
    draft = make_question(db_session, "draft", opens_at=NOW + days(1), closes_at=NOW + days(5), status="draft")
    open_ = make_question(db_session, "open", opens_at=NOW - days(3), closes_at=NOW + days(2), status="open")
    assert open_and_close_due(db_session, clock) == []

    clock.set(NOW + days(1))
    done = open_and_close_due(db_session, clock)
    assert [(t.slug, t.from_status, t.to_status) for t in done] == [("draft", "draft", "open")]
    assert draft.status == "open"
    assert open_and_close_due(db_session, clock) == []  # nothing left to do the second time

    clock.set(NOW + days(2))
    assert [(t.slug, t.to_status) for t in open_and_close_due(db_session, clock)] == [("open", "closed")]
    clock.set(NOW + days(6))
    assert [(t.slug, t.to_status) for t in open_and_close_due(db_session, clock)] == [("draft", "closed")]
    assert open_and_close_due(db_session, clock) == []
    assert status_changes(db_session, draft) == [("draft", "open", "scheduler"), ("open", "closed", "scheduler")]
    assert status_changes(db_session, open_) == [("open", "closed", "scheduler")]


def test_sweep_walks_a_draft_whose_whole_window_passed_through_open(db_session, clock):
    q = make_question(db_session, "late", opens_at=NOW - days(9), closes_at=NOW - days(2), status="draft")
    done = open_and_close_due(db_session, clock)
    assert [(t.from_status, t.to_status) for t in done] == [("draft", "open"), ("open", "closed")]
    assert q.status == "closed"


def test_sweep_leaves_resolved_and_annulled_questions_alone(db_session, clock, admin):
    q = make_question(db_session, "early", opens_at=NOW - days(5), closes_at=NOW + days(5))
    resolve(db_session, clock, q, "yes", admin, "root", occurred_at=NOW - days(1))
    clock.set(NOW + days(6))
    assert open_and_close_due(db_session, clock) == []
    assert q.status == "resolved"


# --- resolving --------------------------------------------------------------------------------------

def test_resolving_a_closed_question_records_who_when_and_scores_it(db_session, clock, admin, closed_q):
    event = resolve(db_session, clock, closed_q, "yes", admin, "root", note="Reuters, 24 Nov")
    assert (event.action, event.outcome.key, event.actor_id, event.actor_name) == ("resolve", "yes", admin.id, "root")
    assert event.created_at == NOW and event.note == "Reuters, 24 Nov" and event.occurred_at is None
    assert closed_q.status == "resolved"
    assert latest_event(db_session, closed_q.id).id == event.id
    assert status_changes(db_session, closed_q)[-1] == ("closed", "resolved", "root")
    s = scores(db_session, closed_q)
    assert len(s) == 2 and all(row.resolution_event_id == event.id for row in s.values())
    assert db_session.get(QuestionScore, closed_q.id).resolution_event_id == event.id


def test_an_open_question_needs_occurred_at_to_resolve_early(db_session, clock, admin):
    q = make_question(db_session, "open-q", opens_at=NOW - days(10), closes_at=NOW + days(20))
    with pytest.raises(Conflict, match="the moment the outcome became certain"):
        resolve(db_session, clock, q, "yes", admin, "root")
    assert q.status == "open"

    ann = make_user(db_session, "ann")
    add_forecast(db_session, q, ann, 0.6, NOW - days(9))
    add_forecast(db_session, q, ann, 0.99, NOW - days(1))  # after the event: must not count
    event = resolve(db_session, clock, q, "yes", admin, "root", occurred_at=NOW - days(3))
    assert q.status == "resolved" and event.occurred_at == NOW - days(3)
    score = scores(db_session, q)[ann.id]
    assert score.forecasts == 1 and score.last_forecast_at == NOW - days(9)
    assert score.brier == pytest.approx(2 * 0.4 ** 2)
    reasons = [c.reason for c in db_session.scalars(select(StatusChange).where(StatusChange.question_id == q.id))]
    assert any("resolved early" in r for r in reasons)


@pytest.mark.parametrize("occurred, message", [
    (NOW + timedelta(minutes=1), "in the future"),
    (NOW - days(12), "before the question opened"),
    (NOW - timedelta(hours=12), "after the scheduled close"),
])
def test_occurred_at_must_lie_in_the_window_and_the_past(db_session, clock, admin, closed_q, occurred, message):
    with pytest.raises(DomainError, match=message):
        resolve(db_session, clock, closed_q, "yes", admin, "root", occurred_at=occurred)
    assert db_session.scalar(select(func.count()).select_from(ResolutionEvent)) == 0


def test_occurred_at_equal_to_the_close_is_allowed(db_session, clock, admin, closed_q):
    event = resolve(db_session, clock, closed_q, "no", admin, "root", occurred_at=closed_q.closes_at)
    assert event.occurred_at == closed_q.closes_at


def test_unknown_outcome_lists_the_valid_keys(db_session, clock, admin):
    q = make_question(db_session, "mc", opens_at=NOW - days(9), closes_at=NOW - days(1), kind="multiple_choice",
                      options=["macron", "le-pen", "other"], status="closed")
    with pytest.raises(DomainError, match="unknown outcome 'fillon'.*macron, le-pen, other"):
        resolve(db_session, clock, q, "fillon", admin, "root")
    assert q.status == "closed"


def test_a_draft_cannot_be_resolved(db_session, clock, admin):
    q = make_question(db_session, "draft", opens_at=NOW + days(1), closes_at=NOW + days(9), status="draft")
    with pytest.raises(Conflict, match="draft"):
        resolve(db_session, clock, q, "yes", admin, "root", occurred_at=NOW)


def test_resolution_catches_up_a_status_the_scheduler_has_not_set_yet(db_session, clock, admin):
    q = make_question(db_session, "stale", opens_at=NOW - days(9), closes_at=NOW - days(1), status="open")
    resolve(db_session, clock, q, "no", admin, "root")
    assert [(a, b) for a, b, _ in status_changes(db_session, q)] == [("open", "closed"), ("closed", "resolved")]


def test_an_empty_actor_name_is_refused(db_session, clock, closed_q):
    with pytest.raises(DomainError, match="actor"):
        resolve(db_session, clock, closed_q, "yes", None, "  ")


# --- corrections and annulment ---------------------------------------------------------------------

def test_a_correction_keeps_the_history_and_rescoring_follows(db_session, clock, admin, closed_q):
    first = resolve(db_session, clock, closed_q, "yes", admin, "root")
    brier_yes = {uid: s.brier for uid, s in scores(db_session, closed_q).items()}
    clock.advance(hours=2)
    second = resolve(db_session, clock, closed_q, "no", None, "cli:ops", note="misread the source")
    assert second.id > first.id and closed_q.status == "resolved"
    assert db_session.get(ResolutionEvent, first.id).outcome.key == "yes"  # never rewritten
    assert latest_event(db_session, closed_q.id).id == second.id
    after = scores(db_session, closed_q)
    assert {uid: s.resolution_event_id for uid, s in after.items()} == dict.fromkeys(brier_yes, second.id)
    for uid, old in brier_yes.items():
        assert after[uid].brier != pytest.approx(old)
    kinds = [(e.kind, e.actor_name) for e in audit_log(db_session, closed_q) if e.kind != "status"]
    assert kinds == [("resolve", "root"), ("correction", "cli:ops")]


def test_a_correction_that_changes_nothing_is_refused(db_session, clock, admin, closed_q):
    resolve(db_session, clock, closed_q, "yes", admin, "root")
    with pytest.raises(Conflict, match="already resolved as Yes"):
        resolve(db_session, clock, closed_q, "yes", admin, "root")
    # Changing only occurred_at is a real correction.
    resolve(db_session, clock, closed_q, "yes", admin, "root", occurred_at=NOW - days(4))
    assert db_session.scalar(select(func.count()).select_from(ResolutionEvent)) == 2


def test_correcting_an_early_resolution_before_the_close_needs_occurred_at(db_session, clock, admin):
    q = make_question(db_session, "early", opens_at=NOW - days(10), closes_at=NOW + days(20))
    resolve(db_session, clock, q, "yes", admin, "root", occurred_at=NOW - days(1))
    with pytest.raises(Conflict, match="resolved early"):
        resolve(db_session, clock, q, "no", admin, "root")


def test_annulment_needs_a_reason_and_removes_scores(db_session, clock, admin, closed_q):
    with pytest.raises(DomainError, match="reason"):
        annul(db_session, clock, closed_q, admin, "root", "  ")
    resolve(db_session, clock, closed_q, "yes", admin, "root")
    assert scores(db_session, closed_q)
    event = annul(db_session, clock, closed_q, admin, "root", "The source stopped publishing.")
    assert (event.action, event.note, event.outcome_option_id) == ("annul", "The source stopped publishing.", None)
    assert closed_q.status == "annulled"
    assert scores(db_session, closed_q) == {}  # null, not zero
    assert db_session.get(QuestionScore, closed_q.id).resolution_event_id == event.id
    with pytest.raises(Conflict, match="already annulled"):
        annul(db_session, clock, closed_q, admin, "root", "again")
    # Un-annulling is a correction back to a resolution; scores come back.
    resolve(db_session, clock, closed_q, "no", admin, "root")
    assert closed_q.status == "resolved" and len(scores(db_session, closed_q)) == 2


def test_an_open_question_can_be_annulled(db_session, clock, admin):
    q = make_question(db_session, "moot", opens_at=NOW - days(3), closes_at=NOW + days(30))
    annul(db_session, clock, q, admin, "root", "The event was cancelled.")
    assert q.status == "annulled"
    clock.set(NOW + days(40))
    assert open_and_close_due(db_session, clock) == []


def test_audit_log_lists_every_event_and_status_change_in_order(db_session, clock, admin):
    q = make_question(db_session, "full", opens_at=NOW + days(1), closes_at=NOW + days(10), status="draft")
    clock.set(NOW + days(1))
    open_and_close_due(db_session, clock)
    clock.set(NOW + days(10))
    open_and_close_due(db_session, clock)
    clock.set(NOW + days(11))
    resolve(db_session, clock, q, "yes", admin, "root", note="first")
    clock.set(NOW + days(12))
    resolve(db_session, clock, q, "no", admin, "root", note="fixed")
    clock.set(NOW + days(13))
    annul(db_session, clock, q, None, "cli:ops", "ambiguous criteria")
    log = audit_log(db_session, q)
    assert [(e.kind, e.summary, e.actor_name) for e in log] == [
        ("status", "Status draft → open", "scheduler"),
        ("status", "Status open → closed", "scheduler"),
        ("resolve", "Resolved as Yes", "root"),
        ("status", "Status closed → resolved", "root"),
        ("correction", "Correction: resolved as No", "root"),
        ("annul", "Correction: annulled", "cli:ops"),
        ("status", "Status resolved → annulled", "cli:ops"),
    ]
    assert [e.at for e in log] == sorted(e.at for e in log)
    assert log[-1].note.startswith("correction: annulled: ambiguous criteria")


def test_a_caller_can_refuse_to_correct_by_accident(db_session, clock, admin, closed_q):
    resolve(db_session, clock, closed_q, "yes", None, "bea")
    with pytest.raises(Conflict, match="already resolved as Yes \\(by bea"):
        resolve(db_session, clock, closed_q, "no", admin, "root", allow_correction=False)
    with pytest.raises(Conflict, match="confirm that you are correcting"):
        annul(db_session, clock, closed_q, admin, "root", "dup", allow_correction=False)
    assert db_session.scalar(select(func.count()).select_from(ResolutionEvent)) == 1
