"""The outbox columns shared by every table whose rows are also emails to send (tracker.domain.outbox)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime

#: The states of an outbox entry, as the tables' check constraints list them.
MAIL_STATES_CHECK = "mail_state IN ('pending', 'sending', 'sent', 'failed', 'skipped')"


class OutboxColumns:
    """An email to send after the commit that recorded the row: claimed by one scheduler, retried with
    backoff until sent or given up; the outcome is stored on the row."""

    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery: Mapped[str] = mapped_column(String(200), default="pending")  # shown to people
    # pending (due at next_attempt_at) | sending (claimed at claimed_at) | sent | failed | skipped
    mail_state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(64))
