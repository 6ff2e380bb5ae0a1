"""Resolution prompts to admins: each recorded once per question and step."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .outbox import MAIL_STATES_CHECK, OutboxColumns

# question: an ordinary prompt about one question (listed in the inbox, emailed);
# backlog: one question's entry in a backlog summary (not listed or emailed on its own);
# summary: the backlog summary itself (no question; listed and emailed once).
PROMPT_KINDS = ("question", "backlog", "summary")


class Prompt(OutboxColumns, Base):
    """Step 0 fires at the close, step 1 at resolve_by, step n>1 every N days after resolve_by.

    ``step`` is the position in that schedule (the key that records each step once); ``number``
    is what admins see: the count of prompts recorded for the question, 1, 2, 3 ...
    The email is an outbox entry (tracker.domain.outbox): sent after the commit that recorded the
    prompt, by whichever scheduler claims it; ``delivery`` is shown in the inbox."""

    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("question_id", "step"),
        UniqueConstraint("question_id", "number"),
        CheckConstraint(MAIL_STATES_CHECK, name="mail_state"),
        CheckConstraint("kind IN ('question', 'backlog', 'summary')", name="kind"),
        # A summary concerns no one question; every other prompt concerns exactly one, numbered.
        CheckConstraint("(kind = 'summary') = (question_id IS NULL)", name="summary_has_no_question"),
        CheckConstraint("kind = 'summary' OR (number IS NOT NULL AND number >= 1)", name="numbered"),
        Index("ix_prompts_mail_state_next_attempt_at", "mail_state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    number: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="question", server_default="question")
    # A backlog entry points at the summary that told admins about it.
    summary_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
