"""The web layer: extensions, the per-request transaction, error pages and blueprints.

One error path: a view lets a :class:`~tracker.domain.DomainError` propagate, and the handler here
turns it into the error page (or JSON under /api) with the error's status; a view that shows a form
puts a field's error beside the field with :func:`form_error` instead.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, render_template, request
from flask import session as flask_session
from flask_login import LoginManager, current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from werkzeug.exceptions import HTTPException, InternalServerError

from ..app_state import state
from ..domain import DomainError
from ..models import User

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"


READ_METHODS = ("GET", "HEAD", "OPTIONS")
# POSTs that read first and rarely write: logging in checks an argon2 hash (tens of milliseconds of
# CPU), and holding SQLite's write lock through it queued every other writer behind each login. Its
# one write (upgrading an old hash) upgrades the deferred transaction when it is needed.
READ_FIRST_ENDPOINTS = frozenset({"auth.login"})
#: Flash messages kept in the session cookie until a page shows them: a client that never follows
#: the redirect (a script posting forecasts) would otherwise grow the cookie with every request,
#: past the 4 kB browsers keep, and make every request decode and copy a longer list.
MAX_FLASHES = 5


def db() -> Session:
    """The request's session: opened on first use, committed once after a successful response.
    GET requests only read (a deferred transaction on SQLite, blocking no writer); other methods
    may write (``BEGIN IMMEDIATE``: they take the write lock up front and wait their turn)."""
    if "db_session" not in g:
        reads = request.method in READ_METHODS or request.endpoint in READ_FIRST_ENDPOINTS
        g.db_session = (state().read_sessions if reads else state().sessions)()
    return g.db_session


def now() -> datetime:
    """The request's clock reading (injectable in tests)."""
    return state().clock.now()


def viewer() -> User | None:
    """The logged-in account, or None for an anonymous visitor (what domain functions take)."""
    return current_user if current_user.is_authenticated else None


def form_error(form: FlaskForm, exc: DomainError, default: str | None = None) -> int:
    """Show ``exc`` beside the form field it names (or ``default``'s, or at the top of the form
    when neither exists there) and return its status for the re-rendered form."""
    target: Any = getattr(form, exc.field or "", None) or (getattr(form, default, None) if default else None)
    if target is not None and hasattr(target, "errors"):
        if not isinstance(target.errors, list):
            target.errors = list(target.errors)
        target.errors.append(str(exc))
    else:
        form.form_errors.append(str(exc))
    return exc.status


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The account of a session or remember-me cookie, only while its session generation is the
    account's current one (logout, a password change or "sign out everywhere" raise it)."""
    ident, _, generation = user_id.partition(".")
    try:
        user = _get_user(db(), int(ident))
        wanted = int(generation)
    except ValueError:
        return None
    if user is None or (user.session_generation or 0) != wanted:
        return None
    return user


_USER_COLUMNS = [(attr.key, attr.columns[0]) for attr in sa_inspect(User).column_attrs]
_USER_BY_ID = select(*(column for _key, column in _USER_COLUMNS)).where(User.id == bindparam("id"))


def _get_user(session: Session, user_id: int) -> User | None:
    """``session.get(User, user_id)`` for the one account every logged-in request loads, at a
    third of the CPU: a plain query, then the row attached to the session as a loaded object
    (the ORM's loading machinery cost more than the query). Same result: the session's own copy
    when it already holds one, else a persistent object with every column loaded."""
    cached = session.identity_map.get(identity_key(User, user_id))
    if cached is not None:
        return cached
    row = session.connection().execute(_USER_BY_ID, {"id": user_id}).first()
    if row is None:
        return None
    user = User(**{key: value for (key, _column), value in zip(_USER_COLUMNS, row, strict=True)})
    make_transient_to_detached(user)  # every attribute counts as loaded, nothing as changed
    session.add(user)
    return user


def init_web(app: Flask) -> None:
    from . import admin, auth, filters, help, notifications, password_reset, questions, scoreboards, tokens
    from .api import init_api
    from .limits import init_limits
    from .security import init_security, limit_views
    from .svg import configure_matplotlib

    settings = app.extensions["tracker"].settings
    configure_matplotlib()
    init_security(app, settings)
    csrf.init_app(app)
    login_manager.init_app(app)
    filters.init_app(app)
    limiter = init_limits(app, settings)
    init_api(app, limiter, settings.api_rate_limit)

    @app.after_request
    def _bound_flashes(response):
        flashes = flask_session.get("_flashes")
        if flashes is not None and len(flashes) > MAX_FLASHES:
            flask_session["_flashes"] = flashes[-MAX_FLASHES:]  # the newest ones
        return response

    @app.after_request
    def _commit(response):
        # One transaction per request: commit only what a successful request did; a refused or
        # failed request (4xx/5xx) leaves the database exactly as it was.
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400:
                    session.commit()
                else:
                    session.rollback()
            except Exception:
                session.rollback()
                raise  # handled by _server_error: the app's error page, the cookie unchanged
            finally:
                session.close()
        if response.status_code >= 500:
            _restore_cookie_session()
        return response

    @app.teardown_request
    def _close(_exc) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):
        if _wants_json():
            from .api.errors import error_response

            return error_response(400, "A cookie-authenticated write needs a valid X-CSRFToken header; "
                                       "scripts should use a personal API token instead.", "csrf_failed")
        return _error_page(400, "The form expired or was sent from elsewhere. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        headers = dict(error.get_headers())
        headers.pop("Content-Type", None)
        message = error.description or error.name
        if error.code == 429:  # Flask-Limiter's description is the bare limit ("300 per 1 minute")
            message = f"Too many requests (the limit is {message}); retry after Retry-After seconds."
        return _error_page(error.code or 500, message, headers=headers)

    @app.errorhandler(InternalServerError)
    def _server_error(error: InternalServerError):
        # Roll back first: rendering the page may query (the logged-in user), and a session left
        # in a failed transaction would raise again (PendingRollbackError) inside this handler.
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()
        _restore_cookie_session()
        g.pop("_login_user", None)  # loaded by the failed session (expired now): load it afresh
        try:
            return _error_page(500, "Something went wrong on our side; nothing was saved. Please try again.")
        except Exception:  # the database itself may be what failed: still the app's own page
            app.logger.exception("the error page could not be rendered in full")
            g._login_user = login_manager.anonymous_user()
            return _error_page(500, "Something went wrong on our side; nothing was saved. Please try again.")

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return _error_page(error.status, str(error), error.field, domain_error=error)

    for module in (auth, password_reset, questions, admin, scoreboards, help, tokens, notifications):
        app.register_blueprint(module.bp)
    # One limiter for the whole app: the account forms' limits (per address and per account) and
    # the API's (per token) share its storage and its on/off switch.
    limit_views(app, limiter)


def _restore_cookie_session() -> None:
    """Put the cookie session back as the request found it (flashes, login) and forget the user
    this request may have logged in, so a flash ("Forecast saved") or a login never outlives a
    transaction that did not commit.

    What the request found is its cookie, decoded again here: a failed request is rare, and a deep
    copy of the session before every request was 2% of a forecast submission's CPU."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    before = app.session_interface.open_session(app, request)
    if before is None or dict(flask_session) == dict(before):
        return
    flask_session.clear()
    flask_session.update(before)
    g.pop("_login_user", None)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/")


def _error_page(code: int, message: str, field: str | None = None, domain_error: DomainError | None = None,
                headers: dict[str, Any] | None = None):
    """The error page, or under /api (or for a JSON client) the API's JSON error body."""
    if _wants_json():
        from .api.errors import api_error_status, error_response

        error_code = None
        if domain_error is not None and request.path.startswith("/api/"):
            code, error_code = api_error_status(domain_error)
        return error_response(code, message, error_code, field, headers)
    return render_template("error.html", code=code, message=message), code
