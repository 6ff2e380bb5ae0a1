"""Changing the times of a question that is already in play (``questions load --allow-reschedule``).

Moving ``opens_at`` or ``closes_at`` of a question with forecasts or a resolution changes which
forecasts count and for how many days, so it changes scores. Such a change is refused unless asked
for explicitly; then it is recorded in the question's audit log (who, why, old and new times) and
the question is rescored in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import iso
from ..models import Forecast, Question, ResolutionEvent
from .lifecycle import record_status_change

TIME_FIELDS = ("opens_at", "closes_at", "resolve_by")


@dataclass(frozen=True)
class Reschedule:
    """Permission to change the times of questions in play, and the audit log's who and why."""

    actor_name: str
    reason: str


def time_changes(question: Question, new_times: dict[str, datetime]) -> list[str]:
    """``field: old -> new`` for each time that differs."""
    return [f"{name} {iso(getattr(question, name))} → {iso(new_times[name])}"
            for name in TIME_FIELDS if getattr(question, name) != new_times[name]]


def in_play(session: Session, question: Question) -> str | None:
    """Why the question's times matter now (it has forecasts, a resolution), or None."""
    forecasts = session.scalar(select(func.count()).select_from(Forecast).where(Forecast.question_id == question.id))
    decided = session.scalar(select(ResolutionEvent.id).where(ResolutionEvent.question_id == question.id).limit(1))
    reasons = []
    if forecasts:
        reasons.append(f"{forecasts} forecast{'s' if forecasts != 1 else ''}")
    if decided is not None:
        reasons.append("a resolution")
    return " and ".join(reasons) or None


def refusal(slug: str, changes: list[str], why: str) -> str:
    return (f"field '{changes[0].split(' ')[0]}': {slug!r} has {why}, so its times cannot change "
            f"({'; '.join(changes)}) unless you pass --allow-reschedule with --reason")


def record(session: Session, question: Question, changes: list[str], allowed: Reschedule, now: datetime) -> None:
    """The audit row: a status change (to the same status, or the new one) naming the new times."""
    record_status_change(session, question, question.status, question.status, now, actor_name=allowed.actor_name,
                         reason=f"rescheduled: {'; '.join(changes)}. Why: {allowed.reason}")
