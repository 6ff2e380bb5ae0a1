"""Resolution prompts to admins: each recorded once per question and step."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class Prompt(Base):
    """Step 0 fires at the close, step 1 at resolve_by, step n>1 every N days after resolve_by."""

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("question_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Delivery by email happens after the commit that recorded the prompt; these say how it went.
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery: Mapped[str] = mapped_column(String(200), default="pending")
