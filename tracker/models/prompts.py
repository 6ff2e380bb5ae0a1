"""Resolution prompts to admins: each recorded once per question and step."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class Prompt(Base):
    """Step 0 fires at the close, step 1 at resolve_by, step n>1 every N days after resolve_by."""

    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("question_id", "step"),
        CheckConstraint("mail_state IN ('pending', 'sending', 'sent', 'failed', 'skipped')", name="mail_state"),
        Index("ix_prompts_mail_state_next_attempt_at", "mail_state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The email is an outbox entry (tracker.domain.outbox): sent after the commit that recorded
    # the prompt, by whichever scheduler claims it, retried with backoff until sent or given up.
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery: Mapped[str] = mapped_column(String(200), default="pending")  # shown in the inbox
    # pending (due at next_attempt_at) | sending (claimed at claimed_at) | sent | failed | skipped
    mail_state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(64))
