"""A forecaster's notifications in the app: the page, the unread count, marking read, and which
kinds are emailed (the account page)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from ..models import NOTIFICATION_KINDS, Notification, NotificationOptOut, User
from . import DomainError
from .notification_mail import turn_off

PAGE_SIZE = 20


@dataclass
class NotificationPage:
    items: list[Notification]
    total: int
    page: int
    size: int

    @property
    def has_next(self) -> bool:
        return self.page * self.size < self.total


def notification_page(session: Session, user: User, page: int = 1, size: int = PAGE_SIZE) -> NotificationPage:
    """One page of ``user``'s notifications, newest first."""
    page = max(page, 1)
    mine = Notification.user_id == user.id
    total = session.scalar(select(func.count()).select_from(Notification).where(mine)) or 0
    items = list(session.scalars(
        select(Notification).where(mine).order_by(Notification.created_at.desc(), Notification.id.desc())
        .offset((page - 1) * size).limit(size)
    ))
    return NotificationPage(items, total, page, size)


def unread_count(session: Session, user: User) -> int:
    """How many of ``user``'s notifications are unread (one index read)."""
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def mark_read(session: Session, now: datetime, user: User, notification_id: int | None = None) -> int:
    """Mark one of ``user``'s notifications read (404 when it is not theirs), or all of them when
    ``notification_id`` is None; return how many changed."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        note = session.get(Notification, notification_id)
        if note is None or note.user_id != user.id:
            raise DomainError("No such notification.", status=404)
        stmt = stmt.where(Notification.id == notification_id)
    result = session.execute(stmt.values(read_at=now).execution_options(synchronize_session=False))
    return cast(CursorResult, result).rowcount or 0


def emailed_kinds(session: Session, user: User) -> dict[str, bool]:
    """Per kind, whether ``user`` wants it emailed (every kind is, until turned off)."""
    off = set(session.scalars(select(NotificationOptOut.kind).where(NotificationOptOut.user_id == user.id)))
    return {kind: kind not in off for kind in NOTIFICATION_KINDS}


def set_emailed_kinds(session: Session, now: datetime, user: User, wanted: dict[str, bool]) -> None:
    """Email the kinds ``wanted`` maps to True, stop the others (a missing kind is left as it is)."""
    for kind in NOTIFICATION_KINDS:
        if kind not in wanted:
            continue
        if wanted[kind]:
            session.execute(delete(NotificationOptOut).where(NotificationOptOut.user_id == user.id,
                                                             NotificationOptOut.kind == kind))
        else:
            turn_off(session, now, user, kind)
