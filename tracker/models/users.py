"""Accounts: forecasters and admins."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime

ROLES = ("forecaster", "admin")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('forecaster', 'admin')", name="role"),
        {"sqlite_autoincrement": True},  # ids are never reused
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    # NULL for accounts created by an import: they cannot log in until a password is set.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="forecaster")
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Part of every login session and remember-me cookie (see get_id): raising it ends them all
    # (logout, password change or reset, "sign out everywhere").
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    # Flask-Login protocol, kept here so the web layer needs no wrapper class.
    @property
    def is_active(self) -> bool:
        return self.password_hash is not None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie: the id and the session
        generation, so a session made before the generation changed no longer loads the user."""
        return f"{self.id}.{self.session_generation or 0}"

    def __repr__(self) -> str:
        return f"<User {self.username} ({self.role})>"


# 'Alice' and 'alice' are one account, in the schema too: a registration race ends in a unique
# violation (answered 409 "taken"), never in two accounts. Login and the import look users up by
# lower(username), which this index serves too.
Index("uq_users_username_lower", func.lower(User.username), unique=True)
