"""Derived tables kept up to date so that no page reads a number of rows that grows with the
history: each forecaster's standing forecast per question, the crowd per question per UTC day,
the crowd now, and per-forecaster score aggregates. Unlike forecasts these rows are rewritten."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class StandingForecast(Base):
    """A forecaster's latest forecast on a question (the one the current crowd counts)."""

    __tablename__ = "standing_forecasts"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    forecast_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: One float64 per option in option order, big-endian (``crowd_upkeep.pack_probabilities``):
    #: every submission reads its question's rows to take the median, and bytes need no parsing.
    packed_probabilities: Mapped[bytes] = mapped_column(LargeBinary)


class CrowdDay(Base):
    """The crowd forecast at the end of one UTC day (or now, for today), as scoring defines it."""

    __tablename__ = "crowd_days"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    probabilities: Mapped[list] = mapped_column(JSON)
    forecasters: Mapped[int] = mapped_column(Integer)


class QuestionCrowd(Base):
    """The crowd of one question now, and which forecasts it reflects (``last_forecast_id``: a
    newer forecast id on the question means these rows are stale and are rebuilt)."""

    __tablename__ = "question_crowds"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    last_forecast_id: Mapped[int] = mapped_column(Integer, default=0)
    last_forecast_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forecasts: Mapped[int] = mapped_column(Integer, default=0)
    forecasters: Mapped[int] = mapped_column(Integer, default=0)
    probabilities: Mapped[list | None] = mapped_column(JSON)
    # The crowd at an early effective close (forecasts up to occurred_at only), cached per close.
    close_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_probabilities: Mapped[list | None] = mapped_column(JSON)
    close_forecasters: Mapped[int | None] = mapped_column(Integer)


class ForecasterStat(Base):
    """One forecaster's means over scored questions, overall (tag '') and per tag, kept by every
    rescore: the sums and counts behind each mean (so a rescore of one question adds its change
    instead of re-reading the forecaster's history) and the pooled calibration bin sums
    (``count_k``, ``sum_forecast_k``, ``sum_outcome_k`` for bins k = 0..10, added after the class)."""

    __tablename__ = "forecaster_stats"
    __table_args__ = (Index("ix_forecaster_stats_tag_rel", "tag", "mean_relative_brier"),)

    # No foreign key (migration 0011): a cache written only by the scoring runs, as scores.
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    questions: Mapped[int] = mapped_column(Integer)
    forecasts: Mapped[int] = mapped_column(Integer)
    mean_brier: Mapped[float | None] = mapped_column(Float)
    mean_relative_brier: Mapped[float | None] = mapped_column(Float)
    mean_log_score: Mapped[float | None] = mapped_column(Float)
    mean_coverage: Mapped[float | None] = mapped_column(Float)
    calibration: Mapped[float | None] = mapped_column(Float)  # REL of the pooled bins
    sum_brier: Mapped[float] = mapped_column(Float, default=0.0)
    n_brier: Mapped[int] = mapped_column(Integer, default=0)
    sum_relative_brier: Mapped[float] = mapped_column(Float, default=0.0)
    n_relative_brier: Mapped[int] = mapped_column(Integer, default=0)
    sum_log_score: Mapped[float] = mapped_column(Float, default=0.0)
    n_log_score: Mapped[int] = mapped_column(Integer, default=0)
    sum_coverage: Mapped[float] = mapped_column(Float, default=0.0)
    n_coverage: Mapped[int] = mapped_column(Integer, default=0)


#: The pooled calibration bin sums as numeric columns of ForecasterStat, in (kind, bin) order.
BIN_COLUMNS = [f"{kind}_{k}" for kind in ("count", "sum_forecast", "sum_outcome") for k in range(11)]
for _name in BIN_COLUMNS:
    setattr(ForecasterStat, _name, mapped_column(_name, Float, nullable=False, default=0.0))
