"""Accounts: register, log in, log out (POST), change password, end sessions.

Sessions and remember-me cookies carry the account's session generation (``User.get_id``):
logging out, changing the password and "sign out everywhere" raise it and so end every other
session. Every failed login gets the same message and status, whether the account exists, has no
password (imported) or the password is wrong. The account forms are rate-limited (``security``).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..app_state import state
from ..domain import DomainError
from ..domain.forecasts import latest_forecasts_of, probabilities_by_key
from ..domain.notification_inbox import emailed_kinds, set_emailed_kinds
from ..domain.users import authenticate, check_password, create_user, end_sessions, find_user, set_email, set_password
from . import db, form_error, now
from .forms import (
    ChangePasswordForm,
    EmailForm,
    LoginForm,
    NotificationEmailForm,
    PostForm,
    RegisterForm,
    SignOutUserForm,
)

LOGIN_FAILED = "Wrong username or password."

bp = Blueprint("auth", __name__, url_prefix="/auth")


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the question list: never an open redirect."""
    default = url_for("questions.index")
    if not target:
        return default
    target = target.strip()
    parts = urlsplit(target)
    # '//evil.example' and '/\\evil.example' are read by browsers as another host.
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return default
    return target


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create a forecaster account and log it in."""
    if current_user.is_authenticated:
        return redirect(url_for("questions.index"))
    form = RegisterForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = create_user(db(), _clock(), form.username.data or "", form.password.data or "",
                               email=form.email.data or None)
        except DomainError as exc:
            status = form_error(form, exc, default="password")
        else:
            login_user(user)
            flash(f"Welcome, {user.username}! Pick a question and make your first forecast.", "success")
            return redirect(safe_next(request.args.get("next")))
    elif form.is_submitted():
        status = 400
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with username and password. Every refusal looks the same (message, status and,
    thanks to a dummy hash, time): an imported account is claimed through the password reset."""
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = authenticate(db(), form.username.data or "", form.password.data or "")
        if user is None:
            form.password.errors.append(LOGIN_FAILED)
            status = 400
        else:
            login_user(user, remember=bool(form.remember.data))
            flash(f"Logged in as {user.username}.", "success")
            return redirect(safe_next(request.args.get("next")))
    elif form.is_submitted():
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out (POST only, with a CSRF token, so a link elsewhere cannot log anyone out)."""
    if not PostForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    if current_user.is_authenticated:
        # A copy of this session's cookie, taken before, must not outlive the logout.
        end_sessions(current_user)
    logout_user()
    flash("Logged out.", "info")
    return redirect(url_for("questions.index"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """The account page: who you are, a link to your public profile and a form to change your
    password (which ends every other session; this one goes on)."""
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        if not check_password(current_user, form.current.data or ""):
            form.current.errors.append("The current password is wrong.")
            status = 400
        else:
            try:
                set_password(current_user, form.new.data or "")
            except DomainError as exc:
                status = form_error(form, exc, default="new")
            else:
                login_user(current_user._get_current_object())  # the new generation: this session goes on
                flash("Your password was changed. Every other session of this account has ended.", "success")
                return redirect(url_for("auth.account"))
    elif form.is_submitted():
        status = 400
    return _account_page(form=form), status


def _account_page(**forms):
    forms.setdefault("form", ChangePasswordForm(formdata=None))
    forms.setdefault("email_form", EmailForm(formdata=None, data={"email": current_user.email or ""}))
    forms.setdefault("signout_form", SignOutUserForm(formdata=None))
    forms.setdefault("notify_form", NotificationEmailForm(formdata=None, data=emailed_kinds(db(), current_user)))
    return render_template(
        "auth/account.html", at=now(), forecasts=latest_forecasts_of(db(), current_user),
        probs_of=probabilities_by_key, post_form=PostForm(), **forms,
    )


@bp.route("/account/email", methods=["POST"])
@login_required
def change_email():
    """Set or remove the address password-reset links go to."""
    form = EmailForm()
    if form.validate_on_submit():
        try:
            set_email(current_user, form.email.data)
        except DomainError as exc:
            status = form_error(form, exc)
            return _account_page(email_form=form), status
        flash("Your email address was saved." if current_user.email else "Your email address was removed.", "success")
        return redirect(url_for("auth.account"))
    return _account_page(email_form=form), 400


@bp.route("/account/notifications", methods=["POST"])
@login_required
def notification_emails():
    """Choose which kinds of notification are emailed (all are shown in the app regardless)."""
    form = NotificationEmailForm()
    if not form.validate_on_submit():
        return _account_page(notify_form=form), 400
    set_emailed_kinds(db(), now(), current_user, {name: bool(form[name].data) for name in emailed_kinds(db(), current_user)})
    flash("Your notification emails were saved.", "success")
    return redirect(url_for("auth.account") + "#notifications")


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere():
    """End every session and remember-me cookie of this account, this browser's included."""
    if not PostForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    end_sessions(current_user)
    logout_user()
    flash("Every session of your account has ended, this one too. Log in again.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/users/sign-out", methods=["POST"])
@login_required
def sign_out_user():
    """Admins: end every session of another account (a lost laptop, a shared computer)."""
    if not current_user.is_admin:
        abort(403, "Only administrators can sign other accounts out.")
    form = SignOutUserForm()
    if not form.validate_on_submit():
        return _account_page(signout_form=form), 400
    user = find_user(db(), form.username.data or "")
    if user is None:
        form.username.errors.append("No account has this username.")
        return _account_page(signout_form=form), 404
    end_sessions(user)
    flash(f"Every session of {user.username} has ended.", "success")
    return redirect(url_for("auth.account"))


def _clock():
    return state().clock
