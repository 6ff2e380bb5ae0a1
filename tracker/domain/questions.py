"""The read side of questions: lookups by slug, the filtered list and everything a question page
shows. The web pages, the CLI, the CSV files and the scoreboards all find questions here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from ..models import (
    CLOSED_STATUSES,
    FINAL_STATUSES,
    Forecast,
    Question,
    QuestionScore,
    QuestionTag,
    ResolutionEvent,
    Score,
    User,
)
from . import NotFound
from .crowd import CrowdHistory, CrowdNow, crowd_history, current_crowds
from .forecasts import is_open_for_forecasts, probabilities_by_key, user_forecasts
from .resolution import standing_event

CLOSING_SOON = timedelta(days=7)
#: The list's status filters, in menu order, with their labels.
STATUS_FILTERS = {
    "open": "Open",
    "closing": "Closing soon",
    "awaiting": "Awaiting resolution",
    "resolved": "Resolved",
    "annulled": "Annulled",
    "all": "All",
}
#: How each stored status reads to a person.
STATUS_LABELS = {
    "draft": "Upcoming", "open": "Open", "closed": "Awaiting resolution", "resolved": "Resolved",
    "annulled": "Annulled",
}
DEFAULT_STATUS = "open"


def find_question(session: Session, slug: str) -> Question | None:
    """The question with ``slug`` (options and tags loaded), or None."""
    return session.scalar(
        select(Question).where(Question.slug == slug)
        .options(selectinload(Question.options), selectinload(Question.tags))
    )


def get_question(session: Session, slug: str) -> Question:
    """The question with ``slug``; :class:`NotFound` when there is none."""
    question = find_question(session, slug)
    if question is None:
        raise NotFound(f"There is no question with slug {slug!r}.", field="question")
    return question


def display_status(question: Question, at: datetime) -> str:
    """The status a reader should see: an 'open' question past its close reads as closed even
    before the scheduler's sweep has stored that."""
    if question.status == "open" and at >= question.closes_at:
        return "closed"
    return question.status


def tag_names(session: Session) -> list[str]:
    """Every tag in use, sorted (for the list's and the scoreboard's tag menus)."""
    return list(session.scalars(select(QuestionTag.tag).distinct().order_by(QuestionTag.tag)))


def _status_condition(name: str, at: datetime) -> Any:
    is_open = and_(Question.status == "open", Question.opens_at <= at, Question.closes_at > at)
    return {
        "open": is_open,
        "closing": and_(is_open, Question.closes_at <= at + CLOSING_SOON),
        "awaiting": or_(Question.status == "closed", and_(Question.status == "open", Question.closes_at <= at)),
        "resolved": Question.status == "resolved",
        "annulled": Question.status == "annulled",
        "all": None,
    }[name]


@dataclass
class QuestionList:
    """One page of the question list with its filters as applied."""

    questions: list[Question]
    crowds: dict[int, CrowdNow]
    tags: list[str]
    status: str
    tag: str
    text: str


def list_questions(session: Session, at: datetime, status: str = DEFAULT_STATUS, tag: str = "",
                   text: str = "") -> QuestionList:
    """Questions filtered by status (a key of :data:`STATUS_FILTERS`; anything else reads as
    'open'), tag and text in the title or background, each with its crowd forecast: a fixed number
    of queries whatever the number of rows. Decided questions come newest first, others by close."""
    if status not in STATUS_FILTERS:
        status = DEFAULT_STATUS
    tag, text = tag.strip(), text.strip()
    stmt = select(Question).options(selectinload(Question.options), selectinload(Question.tags))
    condition = _status_condition(status, at)
    if condition is not None:
        stmt = stmt.where(condition)
    if tag:
        stmt = stmt.where(Question.tags.any(QuestionTag.tag == tag))
    if text:
        stmt = stmt.where(or_(Question.title.icontains(text, autoescape=True),
                              Question.background.icontains(text, autoescape=True)))
    if status in (*FINAL_STATUSES, "awaiting"):
        stmt = stmt.order_by(Question.closes_at.desc(), Question.id)
    else:
        stmt = stmt.order_by(Question.closes_at, Question.id)
    questions = list(session.scalars(stmt))
    return QuestionList(questions=questions, crowds=current_crowds(session, questions), tags=tag_names(session),
                        status=status, tag=tag, text=text)


@dataclass
class QuestionPage:
    """Everything the question page shows, read in a bounded number of queries."""

    question: Question
    status: str  # as displayed (see display_status)
    can_forecast: bool
    mine: list[Forecast]
    crowd: CrowdHistory
    everyone: list[tuple[Forecast, str]] = field(default_factory=list)
    resolution: ResolutionEvent | None = None
    question_score: QuestionScore | None = None
    my_score: Score | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def crowd_now(self) -> CrowdNow | None:
        return self.crowd.latest()

    @property
    def scores_current(self) -> bool:
        """True when the stored scores belong to the standing resolution."""
        return self.question_score is not None

    def probabilities(self, forecast: Forecast) -> dict[str, float]:
        return probabilities_by_key(self.question, forecast)


def question_page(session: Session, question: Question, at: datetime, viewer: User | None) -> QuestionPage:
    """The data of ``question``'s page as ``viewer`` (None: anonymous) sees it at ``at``."""
    shown = display_status(question, at)
    mine = user_forecasts(session, question, viewer) if viewer is not None else []
    page = QuestionPage(question=question, status=shown, can_forecast=is_open_for_forecasts(question, at),
                        mine=mine, crowd=crowd_history(session, question))
    # Everyone's forecasts only once forecasting has closed: showing them earlier invites herding.
    if shown in CLOSED_STATUSES:
        page.everyone = [(f, name) for f, name in session.execute(
            select(Forecast, User.username).join(User, User.id == Forecast.user_id)
            .where(Forecast.question_id == question.id).order_by(Forecast.created_at, Forecast.id)
        )]
    page.resolution = standing_event(session, question)
    if page.resolution is not None:
        stored = session.get(QuestionScore, question.id)
        if stored is not None and stored.resolution_event_id == page.resolution.id:
            page.question_score = stored
            if viewer is not None:
                page.my_score = session.scalar(
                    select(Score).where(Score.question_id == question.id, Score.user_id == viewer.id)
                )
    return page
