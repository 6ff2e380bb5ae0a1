"""Notifications in the app (login required) and the unsubscribe link of their emails (no login).

The unsubscribe link's GET only shows a confirmation (mail scanners fetch links); the POST, from
that page or a mail client's one-click unsubscribe (RFC 8058), turns the email off. The POST needs
no CSRF token: the signed token in the URL is the proof, and all it can do is stop an email.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from ..app_state import state
from ..domain.notification_inbox import mark_read, notification_page, unread_count
from ..domain.notification_mail import KIND_LABELS, read_unsubscribe_token, turn_off
from . import csrf, db, now
from .forms import PostForm

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.app_context_processor
def _header() -> dict:
    # A function, called by the header only for a logged-in visitor: no query for anyone else.
    return {"unread_notifications": lambda: unread_count(db(), current_user)}


@bp.route("/")
@login_required
def index() -> str:
    """Your notifications, newest first, a page at a time."""
    page = request.args.get("page", 1, type=int) or 1
    return render_template("notifications/index.html", page=notification_page(db(), current_user, page),
                           post_form=PostForm())


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def mark_one_read(notification_id: int) -> Response:
    """Mark one notification read (404 for someone else's)."""
    _check_form()
    mark_read(db(), now(), current_user, notification_id)
    return redirect(url_for("notifications.index", page=request.args.get("page", type=int)))


@bp.route("/read", methods=["POST"])
@login_required
def mark_all_read() -> Response:
    """Mark every notification read."""
    _check_form()
    count = mark_read(db(), now(), current_user)
    flash(f"{count} notification{'s' if count != 1 else ''} marked as read.", "success")
    return redirect(url_for("notifications.index"))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str) -> Response | str:
    """Stop one kind of notification email, without logging in; 400 for a tampered link."""
    user, kind = read_unsubscribe_token(db(), state().settings.secret_key, token)
    if request.method == "POST":
        turn_off(db(), now(), user, kind)
        return render_template("notifications/unsubscribed.html", label=KIND_LABELS[kind], done=True)
    return render_template("notifications/unsubscribed.html", label=KIND_LABELS[kind], done=False)


def _check_form() -> None:
    if not PostForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
