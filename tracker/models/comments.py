"""Comments: a discussion thread per question. A comment is never deleted; an admin may hide it,
and the row then records who hid it, when and why."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class Comment(Base):
    """One comment on one question (Markdown source; rendered and sanitised when shown)."""

    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint("body <> ''", name="body_not_empty"),
        # A hide is all or nothing: a hidden comment always says who hid it, when and why.
        CheckConstraint(
            "(hidden_at IS NULL AND hidden_by_name IS NULL AND hidden_reason IS NULL) OR "
            "(hidden_at IS NOT NULL AND hidden_by_name IS NOT NULL AND hidden_reason IS NOT NULL "
            "AND hidden_reason <> '')",
            name="hide_complete",
        ),
        # The thread pages through a question in (time, id) order.
        Index("ix_comments_question_time_id", "question_id", "created_at", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # set by the server
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    hidden_by_name: Mapped[str | None] = mapped_column(String(100))
    hidden_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def hidden(self) -> bool:
        return self.hidden_at is not None
