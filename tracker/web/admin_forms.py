"""Forms of the admin pages (Flask-WTF: every POST carries a CSRF token)."""
from __future__ import annotations

from datetime import datetime

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..clock import ensure_utc, parse_iso
from ..domain.comments import MAX_HIDE_REASON

CORRECTION_LABEL = "I am correcting an existing resolution"


def parse_form_time(text: str) -> datetime:
    """A datetime-local value ("2026-11-20T14:00") or an ISO timestamp; times without an offset are UTC."""
    return parse_iso(text)


def form_time(value: datetime) -> str:
    """``value`` as a datetime-local box shows it (UTC; seconds only when there are some)."""
    value = ensure_utc(value)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return value.strftime("%Y-%m-%dT%H:%M:%S" if value.second else "%Y-%m-%dT%H:%M")


def option_choice_label(label: str, key: str) -> str:
    """An outcome in the menu: its label, with the key only when it says something more."""
    return label if label.lower() == key.lower() else f"{label} ({key})"


class ResolveForm(FlaskForm):
    outcome = SelectField("Outcome", validators=[DataRequired(message="Choose the outcome.")])
    occurred_at = StringField(
        "Occurred at (UTC, optional)", validators=[Optional()],
        render_kw={"type": "datetime-local", "step": "60"},
        description="Only when the outcome became certain before the scheduled close: the question is "
                    "then scored as if it closed at that moment.",
    )
    note = TextAreaField("Note (source, reasoning)", validators=[Length(max=4000)])
    confirm_correction = BooleanField(CORRECTION_LABEL)

    def validate_occurred_at(self, field: StringField) -> None:
        if field.data:
            try:
                parse_form_time(field.data)
            except ValueError as exc:
                raise ValidationError("Give a date and time such as 2026-11-20T14:00 (UTC).") from exc

    def occurred_at_value(self) -> datetime | None:
        return parse_form_time(self.occurred_at.data) if self.occurred_at.data else None


ANNUL_CONFIRM_LABEL = "I understand that nobody will have a score on this question"


class AnnulForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(message="An annulment needs a reason."),
                                                 Length(max=4000)])
    # An annulment removes every score at once: a second, deliberate step (issue 13 item 9).
    confirm_annul = BooleanField(ANNUL_CONFIRM_LABEL, validators=[
        DataRequired(message=f"Tick “{ANNUL_CONFIRM_LABEL}” to annul the question.")])
    confirm_correction = BooleanField(CORRECTION_LABEL)


class HideCommentForm(FlaskForm):
    """An admin hides a comment; the reason (required by the domain) is shown in its place."""

    reason = StringField("Reason", render_kw={"maxlength": MAX_HIDE_REASON})
