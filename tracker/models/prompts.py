"""Resolution prompts to admins: each recorded once per question and step."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .outbox import MAIL_STATES_CHECK, OutboxColumns


class Prompt(OutboxColumns, Base):
    """Step 0 fires at the close, step 1 at resolve_by, step n>1 every N days after resolve_by.

    The email is an outbox entry (tracker.domain.outbox): sent after the commit that recorded the
    prompt, by whichever scheduler claims it; ``delivery`` is shown in the inbox."""

    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("question_id", "step"),
        CheckConstraint(MAIL_STATES_CHECK, name="mail_state"),
        Index("ix_prompts_mail_state_next_attempt_at", "mail_state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
