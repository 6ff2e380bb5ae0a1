"""Personal API tokens: create (the clear token is returned once), authenticate, list and revoke.

A token reads ``trk_<id>_<secret>``: the id finds the row by primary key (one indexed query) and
only the SHA-256 digest of the secret is stored. The secret is 32 random bytes, so a fast hash is
right (no password-style stretching needed) and the digests are compared in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import Clock
from ..models import ApiToken, User
from . import Conflict, DomainError, NotFound

PREFIX = "trk"
TOKEN_RE = re.compile(rf"^{PREFIX}_([1-9][0-9]{{0,17}})_([A-Za-z0-9_-]{{20,100}})$")
MAX_NAME = 64
MAX_EXPIRY_DAYS = 3650
#: last_used_at is written at most this often per token, so a busy script does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    """A freshly created token: the row and the clear text, which is never stored or shown again."""

    token: ApiToken
    clear: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_name(name: str) -> str:
    """A token's name: 1 to 64 printable characters, trimmed."""
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the token a name (what script or machine will use it).", field="name")
    if len(name) > MAX_NAME or not name.isprintable():
        raise DomainError(f"A token name is at most {MAX_NAME} printable characters.", field="name")
    return name


def create_token(session: Session, clock: Clock, user: User, name: str,
                 expires_days: int | None = None) -> NewToken:
    """Create a token named ``name`` for ``user`` (names are unique per account), optionally
    expiring after ``expires_days`` days; returns the clear token once."""
    name = validate_name(name)
    now = clock.now()
    expires_at = None
    if expires_days is not None:
        if not 1 <= expires_days <= MAX_EXPIRY_DAYS:
            raise DomainError(f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days.", field="expires_days")
        expires_at = now + timedelta(days=expires_days)
    if session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.name == name)) is not None:
        raise Conflict(f"You already have a token named {name!r}; choose another name.", field="name")
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, secret_hash=_digest(secret), created_at=now, expires_at=expires_at)
    session.add(token)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent request took the name between the check and the insert
        raise Conflict(f"You already have a token named {name!r}; choose another name.", field="name") from None
    return NewToken(token=token, clear=f"{PREFIX}_{token.id}_{secret}")


def is_usable(token: ApiToken, now: datetime) -> bool:
    """Not revoked and not expired at ``now``."""
    return token.revoked_at is None and (token.expires_at is None or now < token.expires_at)


def authenticate_token(session: Session, clock: Clock, text: str) -> ApiToken | None:
    """The live token ``text`` stands for, or None (malformed, unknown, wrong secret, revoked,
    expired, or its account can no longer log in). Records when it was last used."""
    match = TOKEN_RE.match((text or "").strip())
    if match is None:
        return None
    token = session.get(ApiToken, int(match.group(1)))
    if token is None or not hmac.compare_digest(token.secret_hash, _digest(match.group(2))):
        return None
    now = clock.now()
    if not is_usable(token, now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """``user``'s tokens, newest first (revoked ones included, so the page shows what happened)."""
    return list(session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ))


def find_token(session: Session, user: User, name: str) -> ApiToken:
    """``user``'s token named ``name``; :class:`NotFound` when there is none."""
    token = session.scalar(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.name == name.strip()))
    if token is None:
        raise NotFound(f"{user.username} has no token named {name!r}.", field="name")
    return token


def revoke_token(session: Session, clock: Clock, token: ApiToken) -> bool:
    """Revoke ``token`` now; False when it was already revoked (the first revocation time stays)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = clock.now()
    session.flush()
    return True
