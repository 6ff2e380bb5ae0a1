"""What the question list adds for one reader: their latest forecast per listed question, the
"my forecasts" filters, and the standing outcome of the decided questions on the list.

Kept apart from :mod:`tracker.domain.questions` so the list's own queries can change freely: each
function here is one bounded query over the ids of the questions already listed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..models import FINAL_STATUSES, Forecast, Question, ResolutionEvent, User
from .forecasts import probabilities_by_key

#: A forecast older than this is "stale" for the list's filter.
STALE_AFTER = timedelta(days=30)
#: The list's "my forecasts" filters, in menu order, with their labels.
MINE_FILTERS = {
    "": "All",
    "unforecast": "Not yet forecast by me",
    "stale": "My forecasts older than 30 days",
}


@dataclass(frozen=True)
class MyForecast:
    """The reader's latest forecast on one question."""

    created_at: datetime
    probabilities: dict[str, float]


def my_latest_forecasts(session: Session, user: User | None, questions: Sequence[Question]) -> dict[int, MyForecast]:
    """``user``'s latest forecast on each of ``questions`` by question id (one query; anonymous
    readers have none)."""
    if user is None or not questions:
        return {}
    by_id = {q.id: q for q in questions}
    ranked = (
        select(Forecast.id.label("forecast_id"),
               func.row_number().over(partition_by=Forecast.question_id,
                                      order_by=(Forecast.created_at.desc(), Forecast.id.desc())).label("rank"))
        .where(Forecast.user_id == user.id, Forecast.question_id.in_(list(by_id)))
        .subquery()
    )
    rows = session.scalars(
        select(Forecast).join(ranked, ranked.c.forecast_id == Forecast.id).where(ranked.c.rank == 1)
        .options(selectinload(Forecast.probabilities))
    )
    return {f.question_id: MyForecast(f.created_at, probabilities_by_key(by_id[f.question_id], f)) for f in rows}


def filter_by_mine(questions: Sequence[Question], mine: dict[int, MyForecast], which: str,
                   at: datetime) -> list[Question]:
    """``questions`` kept by the "my forecasts" filter ``which`` (a key of :data:`MINE_FILTERS`;
    anything else keeps all): never forecast by the reader, or last forecast over 30 days ago."""
    if which == "unforecast":
        return [q for q in questions if q.id not in mine]
    if which == "stale":
        return [q for q in questions if q.id in mine and at - mine[q.id].created_at > STALE_AFTER]
    return list(questions)


def standing_outcomes(session: Session, questions: Sequence[Question]) -> dict[int, ResolutionEvent]:
    """The resolution in force (latest event) of each resolved or annulled question among
    ``questions``, by question id (one query, outcomes loaded)."""
    ids = [q.id for q in questions if q.status in FINAL_STATUSES]
    if not ids:
        return {}
    latest = (
        select(func.max(ResolutionEvent.id)).where(ResolutionEvent.question_id.in_(ids))
        .group_by(ResolutionEvent.question_id)
    )
    events = session.scalars(
        select(ResolutionEvent).where(ResolutionEvent.id.in_(latest)).options(selectinload(ResolutionEvent.outcome))
    )
    return {e.question_id: e for e in events}


@dataclass
class ReaderList:
    """The listed questions as one reader sees them: kept by the "my forecasts" filter, with the
    reader's latest forecasts and the decided questions' outcomes."""

    questions: list[Question]
    mine: dict[int, MyForecast]
    outcomes: dict[int, ResolutionEvent]
    which: str


def for_reader(session: Session, questions: Sequence[Question], reader: User | None, which: str,
               at: datetime) -> ReaderList:
    """``questions`` (already filtered by status, tag and text) for ``reader``: their filter
    ``which`` applied (ignored for anonymous readers and unknown keys), in two bounded queries."""
    which = which if reader is not None and which in MINE_FILTERS else ""
    mine = my_latest_forecasts(session, reader, questions)
    kept = filter_by_mine(questions, mine, which, at)
    return ReaderList(questions=kept, mine=mine, outcomes=standing_outcomes(session, kept), which=which)
