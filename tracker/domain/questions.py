"""The read side of questions: lookups by slug, the filtered list and everything a question page
shows. The web pages, the CLI, the CSV files and the scoreboards all find questions here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

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
from .crowd import (
    OPEN_POLICY,
    CrowdHistory,
    CrowdNow,
    CrowdPolicy,
    crowd_history,
    crowd_visible,
    current_crowds,
    forecast_on,
    hidden_reason,
)
from .forecasts import is_open_for_forecasts, probabilities_by_key, user_forecasts
from .my_forecasts import STALE_AFTER
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
#: Rows per page of the question list and of everyone's forecasts.
LIST_PAGE_SIZE = 50
EVERYONE_PAGE_SIZE = 100


# Built once: constructing the statement and its loader option costs as much CPU as running it.
_BY_SLUG_WITH_OPTIONS = (select(Question).where(Question.slug == bindparam("slug"))
                         .options(joinedload(Question.options)))


def find_question(session: Session, slug: str, tags: bool = True) -> Question | None:
    """The question with ``slug`` (options and, unless ``tags`` is false, tags loaded), or None.
    Without tags it is one query (options joined): what a forecast submission needs."""
    if not tags:
        return session.scalars(_BY_SLUG_WITH_OPTIONS, {"slug": slug}).unique().one_or_none()
    return session.scalar(
        select(Question).where(Question.slug == slug)
        .options(selectinload(Question.options), selectinload(Question.tags))
    )


def get_question(session: Session, slug: str, tags: bool = True) -> Question:
    """The question with ``slug``; :class:`NotFound` when there is none."""
    question = find_question(session, slug, tags)
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
    crowds: dict[int, CrowdNow]  # only the crowds the viewer may see (see crowd_visible)
    tags: list[str]
    status: str
    tag: str
    text: str
    page: int = 1
    has_next: bool = False
    hidden: set[int] = field(default_factory=set)  # questions whose crowd is withheld from this viewer


def list_questions(session: Session, at: datetime, status: str = DEFAULT_STATUS, tag: str = "",
                   text: str = "", page: int = 1, viewer: User | None = None,
                   policy: CrowdPolicy = OPEN_POLICY, mine_filter: str = "",
                   page_size: int | None = LIST_PAGE_SIZE) -> QuestionList:
    """One page (:data:`LIST_PAGE_SIZE` rows) of the questions filtered by status (a key of
    :data:`STATUS_FILTERS`; anything else reads as 'open'), tag and text in the title or
    background, each with its crowd forecast as ``viewer`` may see it: a fixed number of queries
    whatever the number of rows. Decided questions come newest first, others by close. ``mine_filter``
    (a key of :data:`tracker.domain.my_forecasts.MINE_FILTERS`, for a logged-in ``viewer``) keeps
    the questions the viewer has not forecast, or last forecast over 30 days ago, before paging.
    ``page_size`` None lists every matching question on one page (the API pages by itself)."""
    page = max(page, 1)
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
    if viewer is not None and mine_filter in ("unforecast", "stale"):
        latest_mine = (select(func.max(Forecast.created_at))
                       .where(Forecast.question_id == Question.id, Forecast.user_id == viewer.id)
                       .scalar_subquery())
        stmt = stmt.where(latest_mine.is_(None) if mine_filter == "unforecast" else latest_mine < at - STALE_AFTER)
    if status in (*FINAL_STATUSES, "awaiting"):
        stmt = stmt.order_by(Question.closes_at.desc(), Question.id)
    else:
        stmt = stmt.order_by(Question.closes_at, Question.id)
    if page_size is None:
        questions, has_next = list(session.scalars(stmt)), False
    else:
        questions = list(session.scalars(stmt.offset((page - 1) * page_size).limit(page_size + 1)))
        has_next = len(questions) > page_size
        questions = questions[:page_size]
    crowds = current_crowds(session, questions)
    mine = forecast_on(session, viewer, [q.id for q in questions])
    hidden = {q.id for q in questions if q.id in crowds and not crowd_visible(
        q, display_status(q, at), crowds[q.id].forecasters, q.id in mine, policy)}
    return QuestionList(questions=questions, crowds={k: v for k, v in crowds.items() if k not in hidden},
                        tags=tag_names(session), status=status, tag=tag, text=text, page=page,
                        has_next=has_next, hidden=hidden)


@dataclass
class QuestionPage:
    """Everything the question page shows, read in a bounded number of queries."""

    question: Question
    status: str  # as displayed (see display_status)
    can_forecast: bool
    mine: list[Forecast]
    crowd: CrowdHistory
    everyone: list[tuple[Forecast, str]] = field(default_factory=list)
    everyone_next: int | None = None  # forecast id to continue everyone's forecasts after
    close: datetime | None = None  # the effective close: forecasts after it do not count
    crowd_hidden: str = ""  # why the crowd is not shown to this viewer, when it is not
    no_score_reason: str = ""
    resolution: ResolutionEvent | None = None
    question_score: QuestionScore | None = None
    my_score: Score | None = None
    viewer_id: int | None = None

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

    def rationale(self, forecast: Forecast) -> str:
        """``forecast``'s rationale as this viewer may read it: everyone's once forecasting has
        closed, before that only the author's own (others get "")."""
        return rationale_visible(self.status, forecast, self.viewer_id)


def rationale_visible(status: str, forecast: Forecast, viewer_id: int | None) -> str:
    """THE rule for rationales: shown beside their forecast to everyone once the question's
    displayed ``status`` is closed, resolved or annulled; before that only to their author."""
    if status in CLOSED_STATUSES or (viewer_id is not None and forecast.user_id == viewer_id):
        return forecast.rationale
    return ""


def effective_close(question: Question, event: ResolutionEvent | None) -> datetime:
    """The scheduled close, or the resolution's ``occurred_at`` when it came earlier (docs/scoring.md)."""
    if event is not None and event.action == "resolve" and event.occurred_at is not None:
        return min(event.occurred_at, question.closes_at)
    return question.closes_at


def everyone_page(session: Session, question: Question, after: int | None = None,
                  size: int = EVERYONE_PAGE_SIZE) -> tuple[list[tuple[Forecast, str]], int | None]:
    """One page of everyone's forecasts on ``question`` in (time, id) order, continuing after the
    forecast with id ``after`` (keyset: an index range, however many forecasts there are); and the
    id to continue after, or None on the last page."""
    stmt = (select(Forecast, User.username).join(User, User.id == Forecast.user_id)
            .where(Forecast.question_id == question.id).order_by(Forecast.created_at, Forecast.id).limit(size + 1))
    if after is not None:
        mark = session.get(Forecast, after)
        if mark is None or mark.question_id != question.id:
            raise NotFound("That page of forecasts does not exist.", field="after")
        stmt = stmt.where(or_(Forecast.created_at > mark.created_at,
                              and_(Forecast.created_at == mark.created_at, Forecast.id > mark.id)))
    rows = [(f, name) for f, name in session.execute(stmt)]
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1][0].id if more else None)


def question_page(session: Session, question: Question, at: datetime, viewer: User | None,
                  policy: CrowdPolicy = OPEN_POLICY, after: int | None = None) -> QuestionPage:
    """The data of ``question``'s page as ``viewer`` (None: anonymous) sees it at ``at``: the crowd
    per day up to the effective close (hidden per :func:`crowd_visible`), and one page of
    everyone's forecasts after the forecast ``after``."""
    shown = display_status(question, at)
    mine = user_forecasts(session, question, viewer) if viewer is not None else []
    resolution = standing_event(session, question)
    close = effective_close(question, resolution)
    crowd = crowd_history(session, question, close)
    page = QuestionPage(question=question, status=shown, can_forecast=is_open_for_forecasts(question, at),
                        mine=mine, crowd=crowd, resolution=resolution, close=close,
                        viewer_id=viewer.id if viewer is not None else None)
    latest = crowd.latest()
    forecasters = latest.forecasters if latest else 0
    if not crowd_visible(question, shown, forecasters, bool(mine), policy):
        page.crowd = CrowdHistory(option_keys=crowd.option_keys, version=("hidden",))
        page.crowd_hidden = hidden_reason(forecasters, bool(mine), policy)
    # Everyone's forecasts only once forecasting has closed: showing them earlier invites herding.
    if shown in CLOSED_STATUSES:
        page.everyone, page.everyone_next = everyone_page(session, question, after)
    if page.resolution is not None:
        stored = session.get(QuestionScore, question.id)
        if stored is not None and stored.resolution_event_id == page.resolution.id:
            page.question_score = stored
            if viewer is not None:
                page.my_score = session.scalar(
                    select(Score).where(Score.question_id == question.id, Score.user_id == viewer.id)
                )
        if page.my_score is None and mine and all(f.created_at > close for f in mine):
            page.no_score_reason = (
                "You have no score on this question: the question was resolved as of "
                f"{close:%Y-%m-%d %H:%M} UTC, and every forecast you made came after that, so none of them counts.")
    return page
