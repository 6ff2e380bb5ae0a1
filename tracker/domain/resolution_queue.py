"""The admins' read side: the resolution queue (questions waiting for an outcome) and the inbox of
resolution prompts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import FINAL_STATUSES, Prompt, Question

INBOX_LIMIT = 200
RECENT_LIMIT = 20


@dataclass(frozen=True)
class Waiting:
    """A question past its close without a resolution, and how long it has waited."""

    question: Question
    waited_seconds: float
    overdue: bool  # past resolve_by
    overdue_seconds: float
    prompt_step: int | None  # the latest prompt sent about it, if any


@dataclass
class ResolutionQueue:
    waiting: list[Waiting]
    open_questions: list[Question]
    recent: list[Question]  # lately resolved or annulled


def resolution_queue(session: Session, at: datetime) -> ResolutionQueue:
    """Closed (or past resolve_by) questions awaiting resolution, oldest first; the questions still
    open; and the last decided ones (four queries)."""
    waiting = session.scalars(
        select(Question).where(Question.status.not_in(FINAL_STATUSES), Question.closes_at <= at)
        .order_by(Question.closes_at, Question.id)
    ).all()
    steps: dict[int, int] = dict(session.execute(
        select(Prompt.question_id, func.max(Prompt.step))
        .where(Prompt.question_id.in_([q.id for q in waiting])).group_by(Prompt.question_id)
    ).all()) if waiting else {}
    rows = [
        Waiting(question=q, waited_seconds=(at - q.closes_at).total_seconds(), overdue=at >= q.resolve_by,
                overdue_seconds=(at - q.resolve_by).total_seconds(), prompt_step=steps.get(q.id))
        for q in waiting
    ]
    open_questions = session.scalars(
        select(Question).where(Question.status == "open", Question.closes_at > at).order_by(Question.closes_at)
    ).all()
    recent = session.scalars(
        select(Question).where(Question.status.in_(FINAL_STATUSES))
        .order_by(Question.updated_at.desc(), Question.id.desc()).limit(RECENT_LIMIT)
    ).all()
    return ResolutionQueue(waiting=rows, open_questions=list(open_questions), recent=list(recent))


@dataclass(frozen=True)
class InboxItem:
    prompt: Prompt
    question: Question

    @property
    def unresolved(self) -> bool:
        return self.question.status not in FINAL_STATUSES


def prompt_inbox(session: Session, limit: int = INBOX_LIMIT) -> list[InboxItem]:
    """The latest resolution prompts, newest first, each with its question."""
    rows = session.execute(
        select(Prompt, Question).join(Question, Prompt.question_id == Question.id)
        .order_by(Prompt.created_at.desc(), Prompt.id.desc()).limit(limit)
    ).all()
    return [InboxItem(prompt=p, question=q) for p, q in rows]


def question_prompts(session: Session, question: Question) -> list[Prompt]:
    """Every prompt sent about ``question``, in step order (for its audit page)."""
    return list(session.scalars(select(Prompt).where(Prompt.question_id == question.id).order_by(Prompt.step)))
