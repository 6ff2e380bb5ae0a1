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
from .scoreboards import EFFECTIVE_CLOSE, ScoreboardRow, _nan, calibration_bins, scoreboard
from .users import find_user


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

    @property
    def next_calibration_close(self) -> datetime | None:
        """The earliest scheduled close among the scored questions: before it passes, an
        early-resolved question adds no calibration samples."""
        closes = [q.scheduled_close for q in self.questions if q.scheduled_close is not None]
        return min(closes) if closes else None


def forecaster_profile(session: Session, username: str) -> Profile:
    """A forecaster's stored scores: per-question rows by close date, means and pooled calibration."""
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"There is no forecaster {username!r}.")
    rows = session.execute(
        select(Question.slug, Question.title, EFFECTIVE_CLOSE.label("close"), QuestionOption.label.label("outcome"),
               Score.forecasts, Score.active_days, Score.brier, Score.relative_brier, Score.log_score,
               Score.coverage, Score.calibration, Question.closes_at.label("scheduled_close"))
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
    bins = np.asarray([calibration_bins(r.calibration) for r in rows]).reshape(len(rows), 3, scoring.N_BINS)
    pooled = bins.sum(axis=0)  # bin sums are additive across questions (§7)
    board = scoreboard(session)
    profile = Profile(
        user=user,
        questions=questions,
        board_row=next((r for r in board if r.user_id == user.id), None),
        board_size=len(board),
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

