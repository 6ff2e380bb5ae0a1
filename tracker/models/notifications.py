"""Notifications to forecasters (in-app, and emailed through the outbox) and their email opt-outs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime
from .outbox import MAIL_STATES_CHECK, OutboxColumns
from .questions import Question

#: resolved: a question you forecast was resolved (with your stored score); closing: it closes within
#: days and your forecast is old; digest: the weekly summary.
NOTIFICATION_KINDS = ("resolved", "closing", "digest")
_KINDS_CHECK = "kind IN ('resolved', 'closing', 'digest')"


class Notification(OutboxColumns, Base):
    """One notification of one account. ``ref`` makes it unique per user and kind: the question id
    (resolved, closing) or the week's Monday (digest), so a re-run or a second scheduler adds nothing."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "ref"),
        CheckConstraint(_KINDS_CHECK, name="kind"),
        CheckConstraint(MAIL_STATES_CHECK, name="mail_state"),
        Index("ix_notifications_mail_state_next_attempt_at", "mail_state", "next_attempt_at"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(32))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    question: Mapped[Question | None] = relationship(lazy="selectin")


class NotificationOptOut(Base):
    """A kind of notification this account does not want emailed (the account page or an
    unsubscribe link); without a row, every kind is emailed to an account with an address."""

    __tablename__ = "notification_opt_outs"
    __table_args__ = (CheckConstraint(_KINDS_CHECK, name="kind"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
