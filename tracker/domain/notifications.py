"""Notifications to forecasters, recorded by the scheduler's ``notifications`` sweep.

Three kinds (``Notification.kind``):

- ``resolved``: a question you forecast was resolved; the text quotes your score as the rescoring
  stored it (the ``scores`` row of the standing resolution event; nothing is computed here).
  Resolutions recorded within :data:`RESOLVED_LOOKBACK` are announced, so a scheduler that was down
  for a few days catches up, and a first start does not announce the whole history.
- ``closing``: a question you forecast closes within :data:`CLOSING_WITHIN` and your latest forecast
  on it is older than :data:`STALE_AFTER`.
- ``digest``: once per ISO week (from Monday 00:00 UTC, by the first sweep of the week), to every
  account that can log in: open questions closing within a week, questions resolved in the last
  week (with your stored score where you have one), questions opened in the last week. An empty
  week sends nothing.

Each notification is unique per (account, kind, ``ref``): ``ref`` is the question id or the week's
Monday. The insert is ``ON CONFLICT DO NOTHING`` on that key, so a re-run or a second scheduler adds
nothing. Every notification is shown in the app; its email goes through the outbox
(:mod:`tracker.domain.outbox`) when the account has an address and has not turned the kind off
(otherwise the row is recorded as ``skipped``).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from ..clock import Clock
from ..models import Forecast, Notification, NotificationOptOut, Question, QuestionScore, ResolutionEvent, Score, User
from .unique_insert import insert_many_once

CLOSING_WITHIN = timedelta(days=3)
STALE_AFTER = timedelta(days=30)
RESOLVED_LOOKBACK = timedelta(days=7)
DIGEST_WINDOW = timedelta(days=7)
NOTIFICATION_KEY = ["user_id", "kind", "ref"]
RECORD_BATCH = 500


@dataclass(frozen=True)
class Draft:
    """A notification to record for one account."""

    user_id: int
    kind: str
    ref: str
    question_id: int | None
    subject: str
    body: str


def create_due_notifications(session: Session, clock: Clock) -> list[int]:
    """Record every notification due now that is not recorded yet; return the ids this call inserted."""
    now = clock.now()
    drafts = [*resolved_drafts(session, now), *closing_drafts(session, now), *digest_drafts(session, now)]
    return record(session, now, drafts)


def record(session: Session, now: datetime, drafts: list[Draft]) -> list[int]:
    """Insert ``drafts`` once each; the email is queued when the account has an address and wants
    this kind emailed, else the row is ``skipped`` with the reason."""
    inserted = []
    for start in range(0, len(drafts), RECORD_BATCH):  # bounded IN lists, whatever the accounts' number
        inserted += _record_batch(session, now, drafts[start:start + RECORD_BATCH])
    return inserted


def _record_batch(session: Session, now: datetime, drafts: list[Draft]) -> list[int]:
    users = {d.user_id for d in drafts}
    emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(users))).all())
    off = set(session.execute(
        select(NotificationOptOut.user_id, NotificationOptOut.kind).where(NotificationOptOut.user_id.in_(users))
    ).all())
    rows = []
    for d in drafts:
        if not emails.get(d.user_id):
            state, delivery = "skipped", "not emailed: the account has no email address"
        elif (d.user_id, d.kind) in off:
            state, delivery = "skipped", "not emailed: email for this kind is turned off"
        else:
            state, delivery = "pending", "pending"
        rows.append({
            "user_id": d.user_id, "kind": d.kind, "ref": d.ref, "question_id": d.question_id,
            "subject": d.subject[:200], "body": d.body, "created_at": now, "read_at": None, "emailed_at": None,
            "mail_state": state, "delivery": delivery, "next_attempt_at": now, "attempts": 0,
            "claimed_at": None, "claim_token": None,
        })
    return insert_many_once(session, Notification, rows, key=NOTIFICATION_KEY)


def _not_yet(kind: str, user_id: Any, question_id: Any) -> ColumnElement[bool]:
    return ~exists().where(Notification.user_id == user_id, Notification.kind == kind,
                           Notification.question_id == question_id)


def _standing_scores(since: datetime):
    """Score rows of the standing (scored) resolution events recorded after ``since``."""
    return (
        select(Score, Question, ResolutionEvent)
        .join(QuestionScore, and_(QuestionScore.question_id == Score.question_id,
                                  QuestionScore.resolution_event_id == Score.resolution_event_id))
        .join(Question, Question.id == Score.question_id)
        .join(ResolutionEvent, ResolutionEvent.id == Score.resolution_event_id)
        .where(Question.status == "resolved", ResolutionEvent.created_at > since)
    )


def score_text(score: Score) -> str:
    """The stored scores of one forecaster on one question, as the notifications quote them."""
    text = f"your Brier score {score.brier:.3f}" if score.brier is not None else "no Brier score"
    if score.relative_brier is not None:
        text += f", relative to the crowd {score.relative_brier:+.3f}"
    return text + " (lower is better)"


def _outcome(event: ResolutionEvent) -> str:
    return event.outcome.label if event.outcome is not None else "?"


def resolved_drafts(session: Session, now: datetime) -> list[Draft]:
    """One ``resolved`` notification per forecaster with a stored score on a question resolved lately."""
    rows = session.execute(
        _standing_scores(now - RESOLVED_LOOKBACK).where(_not_yet("resolved", Score.user_id, Score.question_id))
        .order_by(Score.question_id, Score.user_id)
    ).all()
    return [
        Draft(score.user_id, "resolved", str(question.id), question.id, f"Resolved: {question.title}",
              f"“{question.title}” resolved as {_outcome(event)} on {event.created_at:%Y-%m-%d}: "
              f"{score_text(score)}, over {score.forecasts} forecast{'s' if score.forecasts != 1 else ''}.")
        for score, question, event in rows
    ]


def closing_drafts(session: Session, now: datetime) -> list[Draft]:
    """One ``closing`` notification per forecaster whose latest forecast on a question closing soon is stale."""
    latest = func.max(Forecast.created_at)
    rows = session.execute(
        select(Forecast.user_id, Question, latest)
        .join(Question, Question.id == Forecast.question_id)
        .where(Question.status == "open", Question.closes_at > now, Question.closes_at <= now + CLOSING_WITHIN,
               _not_yet("closing", Forecast.user_id, Forecast.question_id))
        .group_by(Forecast.user_id, Question.id)
        .having(latest <= now - STALE_AFTER)
        .order_by(Question.id, Forecast.user_id)
    ).all()
    return [
        Draft(user_id, "closing", str(question.id), question.id, f"Closing soon: {question.title}",
              f"“{question.title}” closes on {question.closes_at:%Y-%m-%d %H:%M} UTC. Your latest forecast "
              f"on it is from {last:%Y-%m-%d}: update it before the close if your view has changed.")
        for user_id, question, last in rows
    ]


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of ``moment``'s ISO week."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def digest_drafts(session: Session, now: datetime) -> list[Draft]:
    """This week's digest for every account that can log in and has none yet (nothing when the
    week has nothing to tell)."""
    ref = week_start(now).date().isoformat()
    closing = session.scalars(
        select(Question).where(Question.status == "open", Question.closes_at > now,
                               Question.closes_at <= now + DIGEST_WINDOW).order_by(Question.closes_at, Question.id)
    ).all()
    opened = session.scalars(
        select(Question).where(Question.status == "open", Question.opens_at > now - DIGEST_WINDOW,
                               Question.opens_at <= now).order_by(Question.opens_at, Question.id)
    ).all()
    latest = select(ResolutionEvent.question_id, func.max(ResolutionEvent.id).label("event_id")) \
        .group_by(ResolutionEvent.question_id).subquery()
    resolved = session.execute(
        select(Question, ResolutionEvent).join(latest, latest.c.question_id == Question.id)
        .join(ResolutionEvent, ResolutionEvent.id == latest.c.event_id)
        .where(Question.status == "resolved", ResolutionEvent.created_at > now - DIGEST_WINDOW)
        .order_by(ResolutionEvent.created_at, Question.id)
    ).all()
    if not (closing or opened or resolved):
        return []
    scores: dict[int, dict[int, Score]] = defaultdict(dict)
    for score, question, _event in session.execute(_standing_scores(now - DIGEST_WINDOW)):
        scores[score.user_id][question.id] = score
    users = session.scalars(
        select(User.id).where(User.password_hash.is_not(None), User.is_demo.is_(False),
                              ~exists().where(Notification.user_id == User.id, Notification.kind == "digest",
                                              Notification.ref == ref))
        .order_by(User.id)
    ).all()
    subject = f"Your weekly digest: week of {ref}"
    # The same for everyone; only the resolved questions' lines carry each reader's own score.
    head = (["Closing within a week:", *(f"- {q.title} (closes {q.closes_at:%Y-%m-%d %H:%M} UTC)" for q in closing)]
            if closing else [])
    tail = (["New questions:", *(f"- {q.title} (closes {q.closes_at:%Y-%m-%d})" for q in opened)]
            if opened else [])
    outcomes = [(q.id, f"- {q.title}: {_outcome(event)}") for q, event in resolved]
    drafts = []
    for user_id in users:
        mine = scores.get(user_id, {})
        middle = (["Resolved this week:", *(line + (f"; {score_text(mine[qid])}" if qid in mine else "")
                                             for qid, line in outcomes)] if outcomes else [])
        drafts.append(Draft(user_id, "digest", ref, None, subject, "\n".join([*head, *middle, *tail])))
    return drafts
