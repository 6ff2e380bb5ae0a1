"""Forecaster profiles from the STORED scores: per-question rows, means, pooled calibration and
the Murphy decomposition, and the forecaster's place on the overall board."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import scoring
from ..models import FINAL_STATUSES, Forecast, Question, QuestionOption, ResolutionEvent, Score, User
from . import NotFound
from .board_pages import board_position
from .forecaster_stats import pooled_bins
from .scoreboards import EFFECTIVE_CLOSE, ScoreboardRow, _nan
from .users import find_user

#: Rows per page of a profile's question table.
PROFILE_PAGE_SIZE = 50


@dataclass(frozen=True)
class CalibrationBin:
    """One calibration bin as pages show it: its centre, weighted count, mean forecast, observed
    frequency and 95% Wilson interval."""

    centre: float
    n: float
    f: float
    o: float
    low: float
    high: float


@dataclass
class ProfileQuestion:
    slug: str
    title: str
    close: datetime
    outcome: str
    forecasts: int
    active_days: int
    brier: float
    relative_brier: float
    log_score: float
    coverage: float
    scheduled_close: datetime | None = None  # calibration samples count only once this has passed


@dataclass
class Profile:
    user: User
    questions: list[ProfileQuestion]
    board_row: ScoreboardRow | None  # the forecaster's row on the overall board
    board_size: int
    calibration: scoring.Calibration
    mean_brier: float = np.nan
    mean_relative_brier: float = np.nan
    mean_log_score: float = np.nan
    open_forecasts: int = 0
    bins: list[CalibrationBin] = field(default_factory=list)
    page: int = 1
    page_size: int = PROFILE_PAGE_SIZE

    @property
    def page_questions(self) -> list[ProfileQuestion]:
        """The rows of the question table on this page (by close date, as in ``questions``)."""
        start = (self.page - 1) * self.page_size
        return self.questions[start:start + self.page_size]

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < len(self.questions)

    @property
    def next_calibration_close(self) -> datetime | None:
        """The earliest scheduled close among the scored questions: before it passes, an
        early-resolved question adds no calibration samples."""
        closes = [q.scheduled_close for q in self.questions if q.scheduled_close is not None]
        return min(closes) if closes else None


def forecaster_profile(session: Session, username: str, page: int = 1) -> Profile:
    """A forecaster's stored scores: per-question rows by close date (the table shows ``page``),
    means, pooled calibration and rank from the stored aggregates (never the whole board)."""
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"There is no forecaster {username!r}.")
    rows = session.execute(
        select(Question.slug, Question.title, EFFECTIVE_CLOSE.label("close"), QuestionOption.label.label("outcome"),
               Score.forecasts, Score.active_days, Score.brier, Score.relative_brier, Score.log_score,
               Score.coverage, Question.closes_at.label("scheduled_close"))
        .join(Question, Question.id == Score.question_id)
        .join(ResolutionEvent, ResolutionEvent.id == Score.resolution_event_id)
        .join(QuestionOption, QuestionOption.id == ResolutionEvent.outcome_option_id)
        .where(Score.user_id == user.id, Question.status == "resolved")
        .order_by(EFFECTIVE_CLOSE, Question.slug)
    ).all()
    questions = [
        ProfileQuestion(r.slug, r.title, r.close, r.outcome, r.forecasts, r.active_days, _nan(r.brier),
                        _nan(r.relative_brier), _nan(r.log_score), _nan(r.coverage), r.scheduled_close)
        for r in rows
    ]
    pooled = pooled_bins(session, user.id)  # bin sums are additive across questions (§7)
    board_row, board_size = board_position(session, user.id)
    profile = Profile(
        user=user,
        questions=questions,
        board_row=board_row,
        board_size=board_size,
        page=max(page, 1),
        calibration=scoring.calibration_from_bin_sums(pooled[0], pooled[1], pooled[2]),
        mean_brier=scoring.mean_over_questions(np.array([q.brier for q in questions]))[0],
        mean_relative_brier=scoring.mean_over_questions(np.array([q.relative_brier for q in questions]))[0],
        mean_log_score=scoring.mean_over_questions(np.array([q.log_score for q in questions]))[0],
    )
    cal = profile.calibration
    profile.bins = [
        CalibrationBin(centre=float(scoring.BIN_CENTRES[k]), n=float(cal.n[k]), f=float(cal.f[k]), o=float(cal.o[k]),
                       low=float(cal.wilson_low[k]), high=float(cal.wilson_high[k]))
        for k in range(len(cal.n))
    ]
    profile.open_forecasts = session.scalar(
        select(func.count()).select_from(Forecast).join(Question, Question.id == Forecast.question_id)
        # Annulled questions will never be scored: they are not "not yet resolved".
        .where(Forecast.user_id == user.id, Question.status.not_in(FINAL_STATUSES))
    ) or 0
    return profile

