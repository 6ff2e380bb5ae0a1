"""Scoreboards from the STORED scores (never from forecasts on a request).

One query reads the Score rows that a board covers into arrays; the means over questions (§8) and
the calibration of the pooled bin sums (§7) come from :mod:`tracker.scoring`. Only resolved,
non-annulled questions count (Score rows exist only for those; the status check guards a board
read between an annulment and its rescoring).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from .. import scoring
from ..models import BIN_COLUMNS, Question, QuestionScore, QuestionTag, ResolutionEvent, Score, User
from . import DomainError
from .questions import get_question

#: The close date of a scored question: the scheduled close, or the resolution's occurred_at
#: when the question was resolved early (docs/scoring.md §2, the effective close).
EFFECTIVE_CLOSE = case(
    (ResolutionEvent.occurred_at < Question.closes_at, ResolutionEvent.occurred_at),
    else_=Question.closes_at,
)

#: Sortable columns and their better-first direction (True = ascending).
SORT_COLUMNS: dict[str, bool] = {
    "rank": True,
    "forecaster": True,
    "questions": False,
    "forecasts": False,
    "mean_brier": True,
    "mean_relative_brier": True,
    "mean_log_score": False,  # ln p: 0 is best, so higher is better
    "calibration": True,
    "coverage": False,
}
DEFAULT_SORT = "mean_relative_brier"


@dataclass(frozen=True)
class ScoreFilter:
    """Which questions a board covers. ``since``/``until`` bound the close date, both inclusive."""

    tag: str | None = None
    question: str | None = None
    since: date | None = None
    until: date | None = None

    def validate(self) -> ScoreFilter:
        # The window's end is compared with the start of the next day, which must exist.
        if self.until is not None and self.until >= date.max:
            raise DomainError(f"'until' must be before {date.max.isoformat()}", field="until")
        if self.since and self.until and self.since > self.until:
            raise DomainError(f"'since' ({self.since}) is after 'until' ({self.until})")
        return self

    def describe(self) -> str:
        parts = []
        if self.question:
            parts.append(f"question {self.question}")
        if self.tag:
            parts.append(f"tag {self.tag}")
        if self.since or self.until:
            parts.append(f"closing {self.since or '…'} to {self.until or '…'}")
        return ", ".join(parts) or "all resolved questions"


@dataclass
class ScoreboardRow:
    rank: int
    user_id: int
    username: str
    is_demo: bool
    questions: int
    forecasts: int
    mean_brier: float
    mean_relative_brier: float
    mean_log_score: float
    calibration: float  # REL of the pooled bin sums; NaN when no calibration samples yet
    coverage: float

    def value(self, column: str) -> Any:
        return self.username.lower() if column == "forecaster" else getattr(self, column)


@dataclass
class _ScoreArrays:
    """The Score rows of a board, column by column."""

    user_id: np.ndarray
    question_id: np.ndarray
    forecasts: np.ndarray
    brier: np.ndarray
    relative: np.ndarray
    log_score: np.ndarray
    coverage: np.ndarray
    bins: np.ndarray  # (n, 3, 11): count, sum of forecasts, sum of outcomes
    close: list[datetime]
    names: dict[int, tuple[str, bool]]


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _score_query(filters: ScoreFilter):
    stmt = (
        select(Score.user_id, User.username, User.is_demo, Score.question_id, Score.forecasts, Score.brier,
               Score.relative_brier, Score.log_score, Score.coverage, EFFECTIVE_CLOSE.label("close"),
               *[getattr(Score, name) for name in BIN_COLUMNS])
        .join(Question, Question.id == Score.question_id)
        .join(User, User.id == Score.user_id)
        .join(ResolutionEvent, ResolutionEvent.id == Score.resolution_event_id)
        .where(Question.status == "resolved")
        .order_by(Score.user_id, Score.question_id)
    )
    if filters.question:
        stmt = stmt.where(Question.slug == filters.question)
    if filters.tag:
        stmt = stmt.where(Question.id.in_(select(QuestionTag.question_id).where(QuestionTag.tag == filters.tag)))
    if filters.since:
        stmt = stmt.where(_day_start(filters.since) <= EFFECTIVE_CLOSE)
    if filters.until:
        stmt = stmt.where(_day_start(filters.until + timedelta(days=1)) > EFFECTIVE_CLOSE)
    return stmt


def load_scores(session: Session, filters: ScoreFilter) -> _ScoreArrays:
    """One query: the stored scores a board covers, as arrays."""
    rows = session.execute(_score_query(filters.validate())).all()
    names = {r.user_id: (r.username, bool(r.is_demo)) for r in rows}
    return _ScoreArrays(
        user_id=np.fromiter((r.user_id for r in rows), dtype=np.int64, count=len(rows)),
        question_id=np.fromiter((r.question_id for r in rows), dtype=np.int64, count=len(rows)),
        forecasts=np.fromiter((r.forecasts for r in rows), dtype=np.float64, count=len(rows)),
        brier=np.fromiter((_nan(r.brier) for r in rows), dtype=np.float64, count=len(rows)),
        relative=np.fromiter((_nan(r.relative_brier) for r in rows), dtype=np.float64, count=len(rows)),
        log_score=np.fromiter((_nan(r.log_score) for r in rows), dtype=np.float64, count=len(rows)),
        coverage=np.fromiter((_nan(r.coverage) for r in rows), dtype=np.float64, count=len(rows)),
        # NULL bin sums (scheduled close not yet passed) count as no samples.
        bins=np.nan_to_num(np.asarray([r[-len(BIN_COLUMNS):] for r in rows], dtype=np.float64), nan=0.0)
        .reshape(len(rows), 3, scoring.N_BINS),
        close=[r.close for r in rows],
        names=names,
    )


def check_question(session: Session, slug: str | None) -> Question | None:
    """A per-question board needs a question that exists (a 404 otherwise)."""
    return get_question(session, slug) if slug else None


def crowd_score(session: Session, question: Question) -> QuestionScore | None:
    """The stored facts of a question's last scoring run (the crowd's own scores among them)."""
    return session.get(QuestionScore, question.id) if question.status == "resolved" else None


def scoreboard(
    session: Session,
    filters: ScoreFilter | None = None,
    sort: str = "rank",
    descending: bool | None = None,
    min_questions: int = 0,
) -> list[ScoreboardRow]:
    """One row per forecaster with a stored score in the filtered set, ranked by mean relative Brier.

    ``rank`` always follows the mean relative Brier (ties share a rank); ``sort`` only reorders.
    ``min_questions`` drops forecasters with fewer scored questions before ranking. Boards over all
    questions or one tag read the stored aggregates; other filters compute from the score rows.
    """
    if sort not in SORT_COLUMNS:
        raise DomainError(f"cannot sort by {sort!r}; choose one of {', '.join(SORT_COLUMNS)}")
    filters = (filters or ScoreFilter()).validate()
    from .board_pages import board_page, from_aggregates  # the aggregate boards fall back to this one

    if from_aggregates(filters):
        return board_page(session, filters, sort, descending, min_questions, page=1, size=None).rows
    data = load_scores(session, filters)
    if len(data.user_id) == 0:
        return []
    users, mean_brier, _ = scoring.group_mean(data.user_id, data.brier)
    _, mean_relative, _ = scoring.group_mean(data.user_id, data.relative)
    _, mean_log, _ = scoring.group_mean(data.user_id, data.log_score)
    _, mean_coverage, _ = scoring.group_mean(data.user_id, data.coverage)
    _, forecasts = scoring.group_sum(data.user_id, data.forecasts)
    _, questions = scoring.group_sum(data.user_id, np.ones(len(data.user_id)))
    _, pooled = scoring.group_sum(data.user_id, data.bins)
    calibration = scoring.calibration_from_bin_sums(pooled[:, 0], pooled[:, 1], pooled[:, 2])
    rows = [
        ScoreboardRow(
            rank=0, user_id=int(uid), username=data.names[int(uid)][0], is_demo=data.names[int(uid)][1],
            questions=int(questions[i]), forecasts=int(forecasts[i]), mean_brier=float(mean_brier[i]),
            mean_relative_brier=float(mean_relative[i]), mean_log_score=float(mean_log[i]),
            calibration=float(calibration.reliability[i]), coverage=float(mean_coverage[i]),
        )
        for i, uid in enumerate(users)
        if questions[i] >= min_questions
    ]
    _assign_ranks(rows)
    return sort_rows(rows, sort, descending)


def _assign_ranks(rows: list[ScoreboardRow]) -> None:
    """Competition ranking ("1, 2, 2, 4") by mean relative Brier, lower first; ties by name for order."""
    rows.sort(key=lambda r: (np.isnan(r.mean_relative_brier), r.mean_relative_brier, r.username.lower()))
    previous, rank = None, 0
    for position, row in enumerate(rows, 1):
        if row.mean_relative_brier != previous:
            rank, previous = position, row.mean_relative_brier
        row.rank = rank


def sort_rows(rows: list[ScoreboardRow], column: str, descending: bool | None = None) -> list[ScoreboardRow]:
    """Order by ``column`` (default direction: better first); missing values always last."""
    if descending is None:
        descending = not SORT_COLUMNS[column]
    present = [r for r in rows if not _missing(r.value(column))]
    absent = [r for r in rows if _missing(r.value(column))]
    # Two stable sorts: ties keep rank order whichever way the column runs.
    present.sort(key=lambda r: (r.rank, r.username.lower()))
    present.sort(key=lambda r: r.value(column), reverse=descending)
    return present + sorted(absent, key=lambda r: (r.rank, r.username.lower()))


def _missing(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)

