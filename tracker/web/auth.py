"""Accounts: register, log in, log out (POST), change password."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..app_state import state
from ..domain import DomainError
from ..domain.forecasts import latest_forecasts_of, probabilities_by_key
from ..domain.users import authenticate, check_password, create_user, find_user, set_password
from . import db, form_error, now
from .forms import ChangePasswordForm, LoginForm, PostForm, RegisterForm

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
            user = create_user(db(), _clock(), form.username.data or "", form.password.data or "")
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
    """Log in with username and password; imported accounts without a password are refused."""
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        username, password = form.username.data or "", form.password.data or ""
        account = find_user(db(), username)
        if account is not None and account.password_hash is None:
            form.password.errors.append(
                "This account has no password yet (it was imported), so it cannot log in. "
                "Ask an administrator to set one with “tracker users set-password”."
            )
            status = 400
        else:
            user = authenticate(db(), username, password)
            if user is None:
                form.password.errors.append("Wrong username or password.")
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
    logout_user()
    flash("Logged out.", "info")
    return redirect(url_for("questions.index"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """The account page: who you are and a form to change your password."""
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
                flash("Your password was changed.", "success")
                return redirect(url_for("auth.account"))
    elif form.is_submitted():
        status = 400
    return render_template(
        "auth/account.html", form=form, at=now(), forecasts=latest_forecasts_of(db(), current_user),
        probs_of=probabilities_by_key,
    ), status


def _clock():
    return state().clock
