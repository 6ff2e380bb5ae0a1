"""Web forms (Flask-WTF: every form carries a CSRF token)."""
from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ..domain.comments import MAX_COMMENT
from ..domain.forecasts import MAX_RATIONALE
from ..domain.users import MIN_PASSWORD_LENGTH


def _new_password(label: str, missing: str) -> PasswordField:
    """A password being chosen: required and at least as long as the domain demands."""
    return PasswordField(label, validators=[
        DataRequired(message=missing),
        Length(min=MIN_PASSWORD_LENGTH, message=f"Passwords need at least {MIN_PASSWORD_LENGTH} characters."),
    ])


def _repeat_password(label: str, of: str) -> PasswordField:
    """The confirmation box that must equal the field named ``of``."""
    return PasswordField(label, validators=[
        DataRequired(message=f"{label}."), EqualTo(of, message="The two passwords do not match."),
    ])


def _email(label: str) -> StringField:
    """An optional email address (checked by the domain); it is where password-reset links go."""
    return StringField(label, validators=[Optional(), Length(max=254, message="Email addresses are at most 254 characters.")])


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(message="Choose a username."), Length(max=64)])
    email = _email("Email (optional: only for password-reset links)")
    password = _new_password("Password", "Choose a password.")
    confirm = _repeat_password("Repeat the password", "password")


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(message="Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])
    remember = BooleanField("Keep me logged in")


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(message="Enter your current password.")])
    new = _new_password("New password", "Choose a new password.")
    confirm = _repeat_password("Repeat the new password", "new")


class EmailForm(FlaskForm):
    email = _email("Email for password-reset links and notifications (leave empty to remove)")


class NotificationEmailForm(FlaskForm):
    """Which kinds of notification are emailed (an unticked box turns that email off)."""

    resolved = BooleanField("A question I forecast is resolved (with my score)")
    closing = BooleanField("A question I forecast closes within 3 days and my forecast is over 30 days old")
    digest = BooleanField("The weekly digest: questions closing soon, resolved and new")


class ResetRequestForm(FlaskForm):
    identifier = StringField("Username or email address",
                             validators=[DataRequired(message="Enter your username or email address."),
                                         Length(max=254)])


class ResetPasswordForm(FlaskForm):
    new = _new_password("New password", "Choose a new password.")
    confirm = _repeat_password("Repeat the new password", "new")


class SignOutUserForm(FlaskForm):
    """An admin ends every session of another account."""

    username = StringField("Username", validators=[DataRequired(message="Enter a username."), Length(max=64)])


class PostForm(FlaskForm):
    """A form with nothing but the CSRF token (log out)."""


class ForecastForm(FlaskForm):
    """The rationale and CSRF token; the percentages are read by :func:`parse_percentages`, because
    their fields depend on the question's options."""

    rationale = TextAreaField("Rationale (optional)", validators=[Optional(), Length(max=MAX_RATIONALE)])


class CommentForm(FlaskForm):
    """A comment on a question. Blank and too long bodies are refused by the domain
    (:func:`tracker.domain.comments.post_comment`), whose message is shown beside the box."""

    body = TextAreaField("Add a comment (Markdown)", render_kw={"maxlength": MAX_COMMENT, "rows": 4})


def percent_field_name(position: int) -> str:
    """The form field holding the percentage for the option at ``position``."""
    return f"p{position}"


#: An optional sign (so -5 is refused as out of range, not as unreadable), ASCII digits only (not
#: "７０" nor "1_0", which float() would take), one "." or "," as the decimal
#: mark, an optional '%'.
_PERCENT = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]+)?|[.,][0-9]+)", re.ASCII)
#: Longer than any percentage anyone types: refused without further reading.
MAX_PERCENT_TEXT = 40


def parse_percent(text: str | None) -> float:
    """'70', '70.5', '70 %' or '70,5' -> 0.70, 0.705 ...; ValueError for anything else."""
    cleaned = (text or "").strip()
    if len(cleaned) > MAX_PERCENT_TEXT:
        raise ValueError("too long")
    cleaned = cleaned.removesuffix("%").strip()
    if not cleaned:
        raise ValueError("empty")
    if not _PERCENT.fullmatch(cleaned):
        raise ValueError("not a decimal number")
    return float(cleaned.replace(",", ".")) / 100.0


def excerpt(text: str, limit: int = 20) -> str:
    """At most ``limit`` characters of bad input, to quote back in an error (never the whole of it)."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


__all__ = [
    "RegisterForm", "LoginForm", "ChangePasswordForm", "PostForm", "ForecastForm", "EmailForm",
    "ResetRequestForm", "ResetPasswordForm", "SignOutUserForm", "CommentForm",
    "percent_field_name", "parse_percent", "excerpt",
]
