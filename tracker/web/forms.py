"""Web forms (Flask-WTF: every form carries a CSRF token)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ..domain.forecasts import MAX_RATIONALE
from ..domain.users import MIN_PASSWORD_LENGTH


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(message="Choose a username."), Length(max=64)])
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(message="Choose a password."),
            Length(min=MIN_PASSWORD_LENGTH, message=f"Passwords need at least {MIN_PASSWORD_LENGTH} characters."),
        ],
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(message="Repeat the password."),
                    EqualTo("password", message="The two passwords do not match.")],
    )


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(message="Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])
    remember = BooleanField("Keep me logged in")


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(message="Enter your current password.")])
    new = PasswordField(
        "New password",
        validators=[
            DataRequired(message="Choose a new password."),
            Length(min=MIN_PASSWORD_LENGTH, message=f"Passwords need at least {MIN_PASSWORD_LENGTH} characters."),
        ],
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(message="Repeat the new password."),
                    EqualTo("new", message="The two passwords do not match.")],
    )


class PostForm(FlaskForm):
    """A form with nothing but the CSRF token (log out)."""


class ForecastForm(FlaskForm):
    """The rationale and CSRF token; the percentages are read by :func:`parse_percentages`, because
    their fields depend on the question's options."""

    rationale = TextAreaField("Rationale (optional)", validators=[Optional(), Length(max=MAX_RATIONALE)])


def percent_field_name(position: int) -> str:
    """The form field holding the percentage for the option at ``position``."""
    return f"p{position}"


def parse_percent(text: str | None) -> float:
    """'70', '70.5', '70 %' or '70,5' -> 0.70, 0.705 ...; ValueError for anything else."""
    cleaned = (text or "").strip().rstrip("%").strip().replace(",", ".")
    if not cleaned:
        raise ValueError("empty")
    value = float(cleaned)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not finite")
    return value / 100.0


__all__ = [
    "RegisterForm", "LoginForm", "ChangePasswordForm", "PostForm", "ForecastForm",
    "percent_field_name", "parse_percent",
]
