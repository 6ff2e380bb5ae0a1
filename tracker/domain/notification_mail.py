"""The notifications' emails: what each says, and the signed unsubscribe link it carries.

The unsubscribe token is signed with the app's secret key (itsdangerous) and names the account and
the kind of notification. It has no expiry and survives password changes: an old email's link must
still stop the emails, without logging in. A tampered token is refused. Following it only turns the
kind's email off (in-app notifications go on); the account page turns it back on.
"""
from __future__ import annotations

from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Settings
from ..models import NOTIFICATION_KINDS, Notification, NotificationOptOut, Question, User
from . import DomainError
from .outbox import OutboxMail
from .unique_insert import insert_once

SALT = "tracker.unsubscribe"
INVALID_LINK = "This unsubscribe link is not valid. Change your email settings on your account page instead."
# The pages the emails link to (tracker.web serves them).
UNSUBSCRIBE_PATH = "/notifications/unsubscribe/{token}"
QUESTION_PATH = "/q/{slug}"
NOTIFICATIONS_PATH = "/notifications"
ACCOUNT_PATH = "/auth/account#notifications"

#: What each kind is called on the account page and in the emails.
KIND_LABELS = {
    "resolved": "a question you forecast is resolved (with your score)",
    "closing": "a question you forecast closes within 3 days and your forecast is over 30 days old",
    "digest": "the weekly digest",
}


def unsubscribe_token(secret_key: str, user_id: int, kind: str) -> str:
    """A signed token that turns off ``kind`` emails for the account ``user_id``."""
    return URLSafeSerializer(secret_key, salt=SALT).dumps({"u": user_id, "k": kind})


def read_unsubscribe_token(session: Session, secret_key: str, token: str) -> tuple[User, str]:
    """The account and kind a genuine token names; DomainError (400) for anything else."""
    try:
        data = URLSafeSerializer(secret_key, salt=SALT).loads(token)
        user, kind = session.get(User, int(data["u"])), str(data["k"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise DomainError(INVALID_LINK, status=400) from None
    if user is None or kind not in NOTIFICATION_KINDS:
        raise DomainError(INVALID_LINK, status=400)
    return user, kind


def turn_off(session: Session, now: datetime, user: User, kind: str) -> None:
    """Stop emailing ``kind`` to ``user`` (idempotent: a second time changes nothing)."""
    insert_once(session, NotificationOptOut, {"user_id": user.id, "kind": kind, "created_at": now},
                key=["user_id", "kind"])


def prepare_mail(session: Session, settings: Settings, ids: list[int]) -> list[OutboxMail]:
    """Read what the emails for notifications ``ids`` need (inside a transaction; sending comes later).
    The address and the account's choice are read again now: a later change wins."""
    if not ids:
        return []
    base = settings.base_url.rstrip("/")
    rows = session.execute(
        select(Notification, User).join(User, User.id == Notification.user_id)
        .where(Notification.id.in_(ids)).order_by(Notification.id)
    ).all()
    off = set(session.execute(
        select(NotificationOptOut.user_id, NotificationOptOut.kind)
        .where(NotificationOptOut.user_id.in_({user.id for _n, user in rows}))
    ).all())
    mails = []
    for note, user in rows:
        link = base + NOTIFICATIONS_PATH
        if note.question_id is not None:
            question = session.get_one(Question, note.question_id)
            link = base + QUESTION_PATH.format(slug=question.slug)
        stop = base + UNSUBSCRIBE_PATH.format(token=unsubscribe_token(settings.secret_key, user.id, note.kind))
        body = (f"{note.body}\n\n{link}\n\n--\nYou get this email because you asked to be told when "
                f"{KIND_LABELS[note.kind]}.\nStop these emails: {stop}\nAll your email settings: {base}{ACCOUNT_PATH}\n")
        recipients: tuple[str, ...] = (user.email,) if user.email and (user.id, note.kind) not in off else ()
        mails.append(OutboxMail(
            note.id, f"[Forecast tracker] {note.subject}", body, recipients,
            headers=(("List-Unsubscribe", f"<{stop}>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")),
            nobody="the account has no email address or turned this email off",
        ))
    return mails
