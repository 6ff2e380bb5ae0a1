"""Stored scores: a cache of the scoring engine's output, rebuilt by ``tracker scores rebuild``."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .aggregates import BIN_COLUMNS
from .base import Base, UTCDateTime


class Score(Base):
    """One forecaster's scores on one resolved, non-annulled question."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("question_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign keys (migration 0011): a cache written only by the scoring runs, from ids they
    # read in the same transaction; PostgreSQL's per-row key checks cost more than the rows.
    question_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    resolution_event_id: Mapped[int] = mapped_column(Integer)
    forecasts: Mapped[int] = mapped_column(Integer)
    first_forecast_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_forecast_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active_days: Mapped[int] = mapped_column(Integer)
    brier: Mapped[float | None] = mapped_column(Float)
    relative_brier: Mapped[float | None] = mapped_column(Float)
    log_score: Mapped[float | None] = mapped_column(Float)
    baseline: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)
    # The calibration bin sums (BIN_COLUMNS: weighted count, sum of forecasts, sum of outcomes per
    # bin, summable across questions) are numeric columns added after the class; all NULL while
    # the question's scheduled close has not passed.
    # When the row's values last changed: a run that finds the same values keeps the row.
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A 64-bit hash of the stored values (tracker.domain.scoring_runs.fingerprints): a run reads
    # it, not every column, to find the rows it must rewrite. NULL: unknown, rewritten next run.
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)


for _name in BIN_COLUMNS:
    setattr(Score, _name, mapped_column(_name, Float, nullable=True))


class QuestionScore(Base):
    """Per-question facts of the last scoring run, including the crowd's own score."""

    __tablename__ = "question_scores"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    # The event that was scored; a newer event than this means the question needs rescoring.
    # For an annulment the row records the annul event and no Score rows exist (null, not zero).
    resolution_event_id: Mapped[int] = mapped_column(ForeignKey("resolution_events.id", ondelete="CASCADE"))
    window_days: Mapped[int | None] = mapped_column(Integer)
    forecasters: Mapped[int] = mapped_column(Integer, default=0)
    crowd_brier: Mapped[float | None] = mapped_column(Float)
    crowd_log_score: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
