"""The admins' read side: the resolution queue (questions waiting for an outcome) and the inbox of
resolution prompts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import FINAL_STATUSES, Prompt, Question
from .prompts import latest_prompts

INBOX_LIMIT = 200
RECENT_LIMIT = 20


@dataclass(frozen=True)
class Waiting:
    """A question past its close without a resolution, and how long it has waited."""

    question: Question
    waited_seconds: float
    overdue: bool  # past resolve_by
    overdue_seconds: float
    last_prompt: Prompt | None  # the latest prompt recorded about it, if any

    @property
    def prompt_step(self) -> int | None:
        """The schedule step of the latest prompt (the API's ``prompt_step``)."""
        return self.last_prompt.step if self.last_prompt else None

    @property
    def reminder_number(self) -> int | None:
        """How many prompts were recorded about it: the number the inbox shows for the latest one."""
        return self.last_prompt.number if self.last_prompt else None


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
    latest = latest_prompts(session, [q.id for q in waiting])
    rows = [
        Waiting(question=q, waited_seconds=(at - q.closes_at).total_seconds(), overdue=at >= q.resolve_by,
                overdue_seconds=(at - q.resolve_by).total_seconds(), last_prompt=latest.get(q.id))
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
    """One prompt in the inbox: about one question, or a backlog summary standing for ``covered``."""

    prompt: Prompt
    question: Question | None
    covered: tuple[Question, ...] = ()

    @property
    def unresolved(self) -> bool:
        if self.question is None:
            return any(q.status not in FINAL_STATUSES for q in self.covered)
        return self.question.status not in FINAL_STATUSES


def prompt_inbox(session: Session, limit: int = INBOX_LIMIT) -> list[InboxItem]:
    """The latest resolution prompts, newest first, each with its question; a backlog summary
    with the questions it stands for (whose own backlog rows are not listed)."""
    rows = session.execute(
        select(Prompt, Question).outerjoin(Question, Prompt.question_id == Question.id)
        .where(Prompt.kind != "backlog")
        .order_by(Prompt.created_at.desc(), Prompt.id.desc()).limit(limit)
    ).all()
    summaries = [p.id for p, _q in rows if p.kind == "summary"]
    covered: dict[int, list[Question]] = {}
    if summaries:
        for summary_id, question in session.execute(
            select(Prompt.summary_id, Question).join(Question, Prompt.question_id == Question.id)
            .where(Prompt.summary_id.in_(summaries)).order_by(Question.closes_at, Question.id)
        ):
            if summary_id is not None:  # always, by the WHERE; for the type checker
                covered.setdefault(summary_id, []).append(question)
    return [InboxItem(prompt=p, question=q, covered=tuple(covered.get(p.id, ()))) for p, q in rows]


def question_prompts(session: Session, question: Question) -> list[Prompt]:
    """Every prompt recorded about ``question``, in order (for its audit page)."""
    return list(session.scalars(select(Prompt).where(Prompt.question_id == question.id).order_by(Prompt.number)))
