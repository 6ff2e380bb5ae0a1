"""Scoreboards over all questions or one tag, read from the stored forecaster aggregates
(:mod:`.forecaster_stats`): ranks from a window function, pages by LIMIT/OFFSET, a forecaster's
place by an index count. Other filters fall back to :func:`.scoreboards.scoreboard`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import ForecasterStat, User
from . import DomainError
from .scoreboards import SORT_COLUMNS, ScoreboardRow, ScoreFilter, _nan, scoreboard

#: Rows per page of the scoreboard.
BOARD_PAGE_SIZE = 50


def from_aggregates(filters: ScoreFilter) -> bool:
    """Boards over every resolved question, or one tag, are stored as forecaster aggregates."""
    return not (filters.question or filters.since or filters.until)


@dataclass
class BoardPage:
    """One page of a scoreboard and how many rows the whole board has."""

    rows: list[ScoreboardRow]
    total: int
    page: int
    size: int | None

    @property
    def has_next(self) -> bool:
        return self.size is not None and self.page * self.size < self.total


def _stat_columns():
    rel = ForecasterStat.mean_relative_brier
    return (
        ForecasterStat.user_id, User.username, User.is_demo, ForecasterStat.questions, ForecasterStat.forecasts,
        ForecasterStat.mean_brier, ForecasterStat.mean_relative_brier, ForecasterStat.mean_log_score,
        ForecasterStat.calibration, ForecasterStat.mean_coverage,
        # Competition ranking by mean relative Brier, computed by the database over the whole board.
        func.rank().over(order_by=(rel.is_(None), rel)).label("rank"),
    )


_STAT_SORT = {
    "questions": "questions", "forecasts": "forecasts", "mean_brier": "mean_brier",
    "mean_relative_brier": "mean_relative_brier", "mean_log_score": "mean_log_score",
    "calibration": "calibration", "coverage": "mean_coverage",
}


def board_page(session: Session, filters: ScoreFilter, sort: str = "rank", descending: bool | None = None,
               min_questions: int = 0, page: int = 1, size: int | None = BOARD_PAGE_SIZE) -> BoardPage:
    """A page of the board (all rows when ``size`` is None), in the order of :func:`sort_rows`.

    Over all questions or a tag it reads the stored aggregates with the rank from a window function
    and the page by LIMIT/OFFSET (a board has one row per forecaster, never one per forecast);
    other filters compute the board from the score rows (see :func:`scoreboard`).
    """
    if sort not in SORT_COLUMNS:
        raise DomainError(f"cannot sort by {sort!r}; choose one of {', '.join(SORT_COLUMNS)}")
    page = max(page, 1)
    if descending is None:
        descending = not SORT_COLUMNS[sort]
    if from_aggregates(filters) and sort in ("rank", "mean_relative_brier") and not descending and size:
        return _page_in_rank_order(session, filters.tag or "", min_questions, page, size)
    if not from_aggregates(filters):
        rows = scoreboard(session, filters, sort, descending, min_questions)
        start = (page - 1) * size if size else 0
        return BoardPage(rows[start:start + size] if size else rows, len(rows), page, size)
    ranked = (
        select(*_stat_columns()).join(User, User.id == ForecasterStat.user_id)
        .where(ForecasterStat.tag == (filters.tag or ""), ForecasterStat.questions >= min_questions)
        .subquery()
    )
    total = session.scalar(select(func.count()).select_from(ranked)) or 0
    name = func.lower(ranked.c.username)
    if sort in ("rank", "forecaster"):
        first = ranked.c.rank if sort == "rank" else name
        order: list[Any] = [first.desc() if descending else first, name, ranked.c.user_id]
    else:
        col = ranked.c[_STAT_SORT[sort]]
        order = [col.is_(None), col.desc() if descending else col, ranked.c.rank, name, ranked.c.user_id]
    stmt = select(ranked).order_by(*order)
    if size is not None:
        stmt = stmt.offset((page - 1) * size).limit(size)
    rows = [_row(r, int(r.rank)) for r in session.execute(stmt)]
    return BoardPage(rows, total, page, size)


def _row(r: Any, rank: int) -> ScoreboardRow:
    return ScoreboardRow(
        rank=rank, user_id=r.user_id, username=r.username, is_demo=bool(r.is_demo),
        questions=r.questions, forecasts=r.forecasts, mean_brier=_nan(r.mean_brier),
        mean_relative_brier=_nan(r.mean_relative_brier), mean_log_score=_nan(r.mean_log_score),
        calibration=_nan(r.calibration), coverage=_nan(r.mean_coverage),
    )


def _page_in_rank_order(session: Session, tag: str, min_questions: int, page: int, size: int) -> BoardPage:
    """The board's default order (rank, then name): the page's rows straight from the
    (tag, mean_relative_brier) index, stopping after ``page * size`` rows, instead of ranking
    the whole board with a window function and sorting it by name to keep 50 rows (15-40 ms at
    10,000 forecasters, twice a page: once more for the count).

    Competition ranks follow from the order: a row's rank is its position on the board unless it
    ties the row before it (same mean, or both without one), whose rank it shares; only the
    page's first row needs a count (an index range) of the rows ranked strictly better."""
    rel = ForecasterStat.mean_relative_brier
    where = [ForecasterStat.tag == tag]
    if min_questions > 0:
        where.append(ForecasterStat.questions >= min_questions)
    total = session.scalar(select(func.count()).select_from(ForecasterStat).where(*where)) or 0
    columns = [c for c in _stat_columns() if c.key != "rank"]
    offset = (page - 1) * size
    found = session.execute(
        select(*columns).join(User, User.id == ForecasterStat.user_id).where(*where)
        .order_by(rel.asc().nulls_last(), func.lower(User.username), ForecasterStat.user_id)
        .offset(offset).limit(size)
    ).all()
    rows: list[ScoreboardRow] = []
    for i, r in enumerate(found):
        if i == 0:
            better = rel < r.mean_relative_brier if r.mean_relative_brier is not None else rel.is_not(None)
            rank = 1 + (session.scalar(select(func.count()).select_from(ForecasterStat).where(*where, better)) or 0)
        elif r.mean_relative_brier != found[i - 1].mean_relative_brier:
            rank = offset + i + 1
        rows.append(_row(r, rank))
    return BoardPage(rows, total, page, size)


def board_position(session: Session, user_id: int) -> tuple[ScoreboardRow | None, int]:
    """A forecaster's row on the overall board and the board's size: two index reads."""
    mine = session.get(ForecasterStat, (user_id, ""))
    size = session.scalar(select(func.count()).select_from(ForecasterStat).where(ForecasterStat.tag == "")) or 0
    if mine is None:
        return None, size
    rel = ForecasterStat.mean_relative_brier
    if mine.mean_relative_brier is None:
        better = select(func.count()).where(ForecasterStat.tag == "", rel.is_not(None))
    else:
        better = select(func.count()).where(ForecasterStat.tag == "", rel < mine.mean_relative_brier)
    user = session.get(User, user_id)
    row = ScoreboardRow(
        rank=1 + (session.scalar(better.select_from(ForecasterStat)) or 0), user_id=user_id,
        username=user.username if user else "", is_demo=bool(user and user.is_demo), questions=mine.questions,
        forecasts=mine.forecasts, mean_brier=_nan(mine.mean_brier),
        mean_relative_brier=_nan(mine.mean_relative_brier), mean_log_score=_nan(mine.mean_log_score),
        calibration=_nan(mine.calibration), coverage=_nan(mine.mean_coverage),
    )
    return row, size
