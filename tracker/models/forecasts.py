"""Forecasts: append-only rows, one probability row per option."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime


class Forecast(Base):
    """One submission. Never updated or deleted: an update is a new row.

    The database enforces both: one forecast per (question, forecaster, time), so concurrent imports
    of one file store each row once, and triggers refuse UPDATE and DELETE (migration 0002). Ids are
    never reused (AUTOINCREMENT on SQLite), so a row deleted by hand never lends its id, and its
    leftover probability rows, to the next forecast.
    """

    __tablename__ = "forecasts"
    __table_args__ = (
        UniqueConstraint("question_id", "user_id", "created_at"),
        # Everyone's forecasts and exports page through a question in time order; the crowd's
        # staleness check reads max(id) per question.
        Index("ix_forecasts_question_time_id", "question_id", "created_at", "id"),
        Index("ix_forecasts_question_id_id", "question_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # set by the server, never by a client
    rationale: Mapped[str] = mapped_column(Text, default="")

    probabilities: Mapped[list[ForecastProbability]] = relationship(
        back_populates="forecast", cascade="all, delete-orphan", lazy="selectin"
    )


class ForecastProbability(Base):
    __tablename__ = "forecast_probabilities"
    __table_args__ = (CheckConstraint("probability >= 0 AND probability <= 1", name="probability_range"),)

    forecast_id: Mapped[int] = mapped_column(ForeignKey("forecasts.id", ondelete="CASCADE"), primary_key=True)
    option_id: Mapped[int] = mapped_column(ForeignKey("question_options.id", ondelete="RESTRICT"), primary_key=True)
    probability: Mapped[float] = mapped_column(Float)

    forecast: Mapped[Forecast] = relationship(back_populates="probabilities")
