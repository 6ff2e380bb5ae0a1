"""Question lifecycle: draft -> open at opens_at -> closed at closes_at -> resolved or annulled.

Status is derived from the times and the latest resolution event; every change is recorded as a
:class:`~tracker.models.StatusChange` so the audit log shows who (or which process) made it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..models import Question, StatusChange

SYSTEM_ACTOR = "system"


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
    if question.status in ("resolved", "annulled"):
        return False
    return set_status(session, question, scheduled_status(question, now), now, actor_name=actor_name,
                      reason="scheduled time reached")
