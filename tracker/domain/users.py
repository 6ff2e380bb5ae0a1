"""Accounts: creation, password hashing (argon2id), the password policy and authentication."""
from __future__ import annotations

import gzip
import re
import secrets
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import Clock
from ..models import User
from . import Conflict, DomainError, NotFound

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10
#: Royce Williams' list of 20,000 common passwords as Django ships it (BSD licence), lower-cased.
COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    """True when ``password`` matches; accounts without a password never match."""
    if not user.password_hash:
        return False
    return check_password_against(user.password_hash, password)


def validate_username(username: str) -> str:
    """``username`` without surrounding blanks, or a DomainError about the 'username' field."""
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise DomainError(
            "Usernames are 2–64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit.",
            field="username",
        )
    return username


def validate_email(email: str | None) -> str | None:
    """A plausible address without surrounding blanks, None for an empty one, or a DomainError."""
    email = (email or "").strip()
    if not email:
        return None
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise DomainError("Enter an email address such as name@example.org.", field="email")
    return email


def set_email(user: User, email: str | None) -> None:
    """Set (or with an empty value remove) the address password-reset links are sent to."""
    user.email = validate_email(email)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (loaded once)."""
    data = resources.files("tracker").joinpath("data", COMMON_PASSWORDS_FILE).read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines() if line.strip())


def validate_password(password: str, username: str | None = None) -> None:
    """Refuse a password too weak to set (a DomainError about the 'password' field, saying why)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    name = (username or "").strip().lower()
    if name and name in password.lower():
        raise DomainError("The password must not contain the username.", field="password")
    if password.lower() in common_passwords() or password.strip().lower() in common_passwords():
        raise DomainError("This password is on a list of common passwords that attackers try first; "
                          "choose another.", field="password")


@cache
def _dummy_hash() -> str:
    """A hash to verify against when there is no account (or no password), so a refusal takes as
    long whether or not the account exists."""
    return _hasher.hash(secrets.token_urlsafe(16))


def find_user(session: Session, username: str) -> User | None:
    """Case-insensitive lookup, so 'Alice' and 'alice' are one account."""
    return session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))


def get_user(session: Session, username: str) -> User:
    """The account named ``username`` (any case); :class:`NotFound` when there is none."""
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def create_user(
    session: Session,
    clock: Clock,
    username: str,
    password: str | None,
    role: str = "forecaster",
    email: str | None = None,
    is_demo: bool = False,
) -> User:
    """Create an account. ``password=None`` makes an account that cannot log in until one is set."""
    username = validate_username(username)
    if password is not None:
        validate_password(password, username)
    if role not in ("forecaster", "admin"):
        raise DomainError(f"unknown role {role!r}", field="role")
    # Hash before the first query: on SQLite that query takes the write lock, which no one should
    # hold through tens of milliseconds of argon2.
    password_hash = hash_password(password) if password is not None else None
    if find_user(session, username) is not None:
        raise Conflict(f"The username {username!r} is taken.", field="username")
    email = validate_email(email)
    user = User(
        username=username,
        email=email,
        password_hash=password_hash,
        role=role,
        is_demo=is_demo,
        created_at=clock.now(),
    )
    try:
        # A savepoint: a concurrent registration of the same name in any case loses to the
        # unique lower(username) index here, and the request's transaction stays usable.
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict(f"The username {username!r} is taken.", field="username") from None
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The account whose username and password match, else None (a stale hash is upgraded).

    An unknown account, or one without a password (imported), costs one argon2 verification as a
    known one does, and the caller gets the same None: neither timing nor answer tells them apart."""
    user = find_user(session, username)
    if user is None or user.password_hash is None:
        check_password_against(_dummy_hash(), password)
        return None
    if not check_password(user, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def check_password_against(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash`` (argon2)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(user: User, new_password: str) -> None:
    """Check and store a new password for ``user``; every session of the account ends."""
    validate_password(new_password, user.username)
    user.password_hash = hash_password(new_password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """End every login session and remember-me cookie of ``user`` (logout, "sign out everywhere"):
    they carry the session generation, which no longer matches."""
    user.session_generation = (user.session_generation or 0) + 1


def make_admin(session: Session, clock: Clock, username: str, password: str, email: str | None = None) -> bool:
    """Create an admin account ``username``, or make an existing account an admin with this
    password. Returns True when the account was created."""
    user = find_user(session, username)
    if user is None:
        create_user(session, clock, username, password, role="admin", email=email)
        return True
    user.role = "admin"
    set_password(user, password)
    return False


FIRST_ADMIN = "admin"


def ensure_first_admin(session: Session, clock: Clock) -> str | None:
    """First run: when no admin exists, create ``admin`` with a random password and return that
    password (to be shown once); None when an admin exists already."""
    if session.scalar(select(User.id).where(User.role == "admin").limit(1)) is not None:
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, clock, FIRST_ADMIN, password, role="admin")
    return password
