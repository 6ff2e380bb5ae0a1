"""Password reset by email: a signed, expiring, single-use link.

The token is signed with the app's secret key (itsdangerous) and names the account and its session
generation. Setting the new password raises the generation, so the link works once; it also stops
working after ``max_age`` and whenever the account logs out or changes its password in between.
Asking for a link answers the same whether or not the account exists: the caller gets the account
and token to mail, or None, and shows one message either way.

This is also how an imported forecaster (an account made by a CSV import, without a password)
claims the account: the link sets its first password.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..clock import Clock
from ..models import User
from . import DomainError
from .users import set_password

SALT = "tracker.password-reset"
INVALID_LINK = "This password-reset link is invalid, used already or expired. Ask for a new one."


class _ClockSigner(TimestampSigner):
    """itsdangerous reads time.time(); this signer reads the injected clock (FrozenClock in tests)."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock.now().timestamp())


def _serializer(secret_key: str, clock: Clock) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT, signer=_ClockSigner, signer_kwargs={"clock": clock})


def find_reset_account(session: Session, identifier: str) -> User | None:
    """The account a reset request names by username or email address (case-insensitive), when it
    has an address to send the link to; None otherwise (the caller must not say which)."""
    ident = identifier.strip().lower()
    if not ident:
        return None
    users = session.scalars(
        select(User).where(or_(func.lower(User.username) == ident, func.lower(User.email) == ident))
    ).all()
    # An address shared by two accounts would make the request ambiguous: send nothing.
    with_email = [u for u in users if u.email]
    return with_email[0] if len(with_email) == 1 else None


def make_reset_token(secret_key: str, clock: Clock, user: User) -> str:
    """A signed token for ``user``'s current session generation, timestamped by ``clock``."""
    return _serializer(secret_key, clock).dumps({"u": user.id, "g": user.session_generation or 0})


def account_for_token(session: Session, secret_key: str, clock: Clock, token: str, max_age: timedelta) -> User:
    """The account a still-valid token was made for, or a DomainError (410) with one message for
    every way a link can be bad, so the page reveals nothing more."""
    try:
        data = _serializer(secret_key, clock).loads(token, max_age=int(max_age.total_seconds()))
        user = session.get(User, int(data["u"]))
        generation = int(data["g"])
    except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError):
        raise DomainError(INVALID_LINK, status=410) from None
    if user is None or (user.session_generation or 0) != generation:
        raise DomainError(INVALID_LINK, status=410)
    return user


def reset_password(session: Session, secret_key: str, clock: Clock, token: str, new_password: str,
                   max_age: timedelta) -> User:
    """Set a new password through a reset link; the link (and every session) is then spent."""
    user = account_for_token(session, secret_key, clock, token, max_age)
    set_password(user, new_password)
    return user
