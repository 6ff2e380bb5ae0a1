"""Forecasts: append-only rows, one probability row per option."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime


class Forecast(Base):
    """One submission. Never updated or deleted: an update is a new row."""

    __tablename__ = "forecasts"
    __table_args__ = (
        Index("ix_forecasts_question_user_time", "question_id", "user_id", "created_at"),
        # Everyone's forecasts and exports page through a question in time order; the crowd's
        # staleness check reads max(id) per question.
        Index("ix_forecasts_question_time_id", "question_id", "created_at", "id"),
        Index("ix_forecasts_question_id_id", "question_id", "id"),
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
