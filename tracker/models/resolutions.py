"""Resolution events and the audit trail of status changes. Rows are only ever added."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime
from .questions import QuestionOption
from .users import User


class ResolutionEvent(Base):
    """A resolution, a correction (a later resolution) or an annulment. The latest one stands."""

    __tablename__ = "resolution_events"
    __table_args__ = (
        CheckConstraint("action IN ('resolve', 'annul')", name="action"),
        CheckConstraint(
            "(action = 'resolve' AND outcome_option_id IS NOT NULL) OR "
            "(action = 'annul' AND outcome_option_id IS NULL)",
            name="outcome_matches_action",
        ),
        Index("ix_resolution_events_question_id_id", "question_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(String(16))
    outcome_option_id: Mapped[int | None] = mapped_column(ForeignKey("question_options.id", ondelete="RESTRICT"))
    # When the event happened before the scheduled close: scored as if the question closed then.
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    actor_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    outcome: Mapped[QuestionOption | None] = relationship(lazy="joined")
    actor: Mapped[User | None] = relationship()


class StatusChange(Base):
    """Every change of a question's status, with who (or which process) made it and why."""

    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="RESTRICT"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    actor_name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
