"""Password reset by email (also how an imported forecaster claims the account).

Asking for a link answers with the same page and message whether or not the account exists, and
the mail is sent from a background thread so the answer takes as long either way. The link is
built from ``TRACKER_BASE_URL`` only, never from the request's Host header.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta
from email.message import EmailMessage

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..app_state import state
from ..config import Settings
from ..domain import DomainError
from ..domain.mail import parse_smtp_url, send_messages
from ..domain.password_reset import account_for_token, find_reset_account, make_reset_token, reset_password
from ..models import User
from . import db, form_error
from .forms import ResetPasswordForm, ResetRequestForm

bp = Blueprint("password_reset", __name__, url_prefix="/auth/reset")
log = logging.getLogger(__name__)

SENT = ("If an account with this username or email address exists and has an email address, a link "
        "to choose a new password is on its way. It works once, for {hours} hours.")


def _max_age(settings: Settings) -> timedelta:
    return timedelta(hours=settings.reset_link_hours)


@bp.route("/", methods=["GET", "POST"])
def request_link() -> Response | tuple[str, int]:
    """Ask for a reset link by username or email address."""
    form = ResetRequestForm()
    settings = state().settings
    if form.validate_on_submit():
        user = find_reset_account(db(), form.identifier.data or "")
        if user is not None:
            token = make_reset_token(settings.secret_key, state().clock, user)
            _send_link(settings, user, f"{settings.base_url.rstrip('/')}/auth/reset/{token}")
        flash(SENT.format(hours=settings.reset_link_hours), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/<token>", methods=["GET", "POST"])
def choose(token: str) -> Response | tuple[str, int]:
    """Choose a new password through a link; 410 for a link that is bad, spent or expired."""
    settings, clock = state().settings, state().clock
    user = account_for_token(db(), settings.secret_key, clock, token, _max_age(settings))
    form = ResetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            reset_password(db(), settings.secret_key, clock, token, form.new.data or "", _max_age(settings))
        except DomainError as exc:
            if exc.status == 410:
                raise
            status = form_error(form, exc, default="new")
        else:
            flash("Your new password is set. Log in with it.", "success")
            return redirect(url_for("auth.login"))
    elif form.is_submitted():
        status = 400
    return render_template("auth/reset_choose.html", form=form, username=user.username), status


def _send_link(settings: Settings, user: User, link: str) -> None:
    """Mail ``link`` to ``user`` off the request thread (without SMTP, log it for the admin)."""
    if not settings.smtp_url:
        log.warning("no TRACKER_SMTP_URL: password-reset link for %s: %s", user.username, link)
        return
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = user.email
    message["Subject"] = "Forecast tracker: choose a new password"
    message.set_content(
        f"Someone (we hope you) asked to choose a new password for the account {user.username}.\n\n"
        f"Open this link to choose it; it works once, for {settings.reset_link_hours} hours:\n\n{link}\n\n"
        "If you did not ask, ignore this message: your password stays as it is.\n"
    )
    config = parse_smtp_url(settings.smtp_url)
    username = user.username  # read now: the thread outlives the request's database session

    def send() -> None:
        errors = [e for e in send_messages(config, [message]) if e]
        for error in errors:
            log.error("password-reset mail to %s not sent: %s", username, error)

    threading.Thread(target=send, name="reset-mail", daemon=True).start()
