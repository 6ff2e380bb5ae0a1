"""The time-driven question lifecycle: draft -> open at opens_at -> closed at closes_at.

Status is derived from the times and the latest resolution event (resolving and annulling live in
:mod:`tracker.domain.resolution`); every change is recorded as a
:class:`~tracker.models.StatusChange` so the audit log shows who (or which process) made it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..clock import Clock, iso
from ..models import FINAL_STATUSES, Question, StatusChange

SYSTEM_ACTOR = "system"
SCHEDULER_ACTOR = "scheduler"


def scheduled_status(question: Question, now: datetime) -> str:
    """The status the clock alone gives a question that has no standing resolution."""
    if now < question.opens_at:
        return "draft"
    if now < question.closes_at:
        return "open"
    return "closed"


def set_status(
    session: Session,
    question: Question,
    new_status: str,
    now: datetime,
    actor_name: str = SYSTEM_ACTOR,
    actor_id: int | None = None,
    reason: str = "",
) -> bool:
    """Move ``question`` to ``new_status`` and record the change; returns False if nothing changed."""
    old = question.status
    if old == new_status:
        return False
    question.status = new_status
    question.updated_at = now
    record_status_change(session, question, old, new_status, now, actor_name, actor_id, reason)
    return True


def record_status_change(
    session: Session,
    question: Question,
    old: str | None,
    new: str,
    now: datetime,
    actor_name: str = SYSTEM_ACTOR,
    actor_id: int | None = None,
    reason: str = "",
) -> None:
    """Append one audit row (``old`` is None for a question's first status)."""
    session.flush()  # the question needs its id before the audit row can point at it
    session.add(StatusChange(question_id=question.id, from_status=old, to_status=new, actor_id=actor_id,
                             actor_name=actor_name, reason=reason, created_at=now))


def sync_time_status(session: Session, question: Question, now: datetime, actor_name: str = SYSTEM_ACTOR) -> bool:
    """Bring an unresolved question's status in line with the clock (resolved/annulled are left alone)."""
    if question.status in FINAL_STATUSES:
        return False
    return set_status(session, question, scheduled_status(question, now), now, actor_name=actor_name,
                      reason="scheduled time reached")


@dataclass(frozen=True)
class Transition:
    """A status change made by :func:`open_and_close_due`."""

    question_id: int
    slug: str
    from_status: str
    to_status: str


def open_and_close_due(session: Session, clock: Clock) -> list[Transition]:
    """Open every draft whose ``opens_at`` has passed and close every open question whose
    ``closes_at`` has passed (a draft whose whole window has passed is opened then closed, both
    recorded). Status changes are recorded with actor "scheduler". Running it twice changes
    nothing the second time.
    """
    now = clock.now()
    # Row locks: a question resolved early by a concurrent request drops out of the WHERE clause
    # once that request commits, so the sweep never overwrites "resolved" with "closed".
    due = session.scalars(
        select(Question).where(or_(
            (Question.status == "draft") & (Question.opens_at <= now),
            (Question.status == "open") & (Question.closes_at <= now),
        )).order_by(Question.id).with_for_update()
    ).all()
    done: list[Transition] = []
    for question in due:
        if question.status == "draft":
            set_status(session, question, "open", now, SCHEDULER_ACTOR,
                       reason=f"opens_at {iso(question.opens_at)} reached")
            done.append(Transition(question.id, question.slug, "draft", "open"))
        if question.status == "open" and question.closes_at <= now:
            set_status(session, question, "closed", now, SCHEDULER_ACTOR,
                       reason=f"closes_at {iso(question.closes_at)} reached")
            done.append(Transition(question.id, question.slug, "open", "closed"))
    return done
