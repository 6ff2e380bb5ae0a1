"""The web layer: extensions, the per-request transaction, error pages and blueprints."""
from __future__ import annotations

from flask import Flask, g, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from ..app_state import state

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"


def db() -> Session:
    """The request's session: opened on first use, committed once after a successful response."""
    if "db_session" not in g:
        g.db_session = state().sessions()
    return g.db_session


def now():
    """The request's clock reading (injectable in tests)."""
    return state().clock.now()


@login_manager.user_loader
def _load_user(user_id: str):
    from ..models import User

    try:
        return db().get(User, int(user_id))
    except ValueError:
        return None


def init_web(app: Flask) -> None:
    from . import admin, auth, filters, questions, scoreboards

    csrf.init_app(app)
    login_manager.init_app(app)
    filters.init_app(app)

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
            finally:
                session.close()
        return response

    @app.teardown_request
    def _close(_exc) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):
        return _error_page(400, "The form expired or was sent from elsewhere. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        return _error_page(error.code or 500, error.description or error.name)

    for module in (auth, questions, admin, scoreboards):
        app.register_blueprint(module.bp)


def _error_page(code: int, message: str):
    if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
        return {"error": message, "status": code}, code
    return render_template("error.html", code=code, message=message), code
