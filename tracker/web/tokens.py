"""Personal API tokens on the account page: create one (shown once), list them, revoke one.

The account page's token section reads its data through :func:`token_section` (a template
function), so the account view itself needs no change.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..app_state import state
from ..domain import DomainError
from ..domain.tokens import MAX_EXPIRY_DAYS, MAX_NAME, create_token, is_usable, list_tokens, revoke_token
from ..models import ApiToken
from . import db, form_error, now
from .forms import PostForm

bp = Blueprint("tokens", __name__, url_prefix="/auth/tokens")


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(message="Give the token a name."),
                                                 Length(max=MAX_NAME)])
    expires_days = IntegerField("Expires after (days, empty: never)", validators=[
        Optional(), NumberRange(min=1, max=MAX_EXPIRY_DAYS, message=f"Between 1 and {MAX_EXPIRY_DAYS} days.")])


@bp.app_context_processor
def _section() -> dict[str, Any]:
    def token_section(form: TokenForm | None = None) -> dict[str, Any]:
        """The account page's token section: the create form, the tokens and a revoke form."""
        return {"form": form or TokenForm(formdata=None), "tokens": list_tokens(db(), current_user),
                "revoke": PostForm(), "usable": lambda t: is_usable(t, now())}

    return {"token_section": token_section}


@bp.route("", methods=["POST"])
@login_required
def create():
    """Create a token and show it, this once (it is stored only as a hash)."""
    form = TokenForm()
    status = 400
    if form.validate_on_submit():
        try:
            new = create_token(db(), state().clock, current_user, form.name.data or "", form.expires_days.data)
        except DomainError as exc:
            status = form_error(form, exc)
        else:
            # Rendered, not flashed: a flash would put the token in the session cookie.
            return render_template("auth/token_created.html", token=new.token, clear=new.clear), 201
    return render_template("auth/token_created.html", form=form, token=None, clear=None), status


@bp.route("/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int):
    """Revoke one of your own tokens."""
    if not PostForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    token = db().get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404, "You have no such token.")
    if revoke_token(db(), state().clock, token):
        flash(f"Token “{token.name}” revoked; it no longer works.", "success")
    return redirect(url_for("auth.account") + "#tokens")
