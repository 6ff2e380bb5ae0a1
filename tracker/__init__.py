"""Forecast tracker: questions, forecasts over time, resolutions and scores.

``create_app`` is the application factory; nothing happens at import time.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

__all__ = ["create_app"]


def templates_dir() -> Path:
    """The checkout's top-level templates/ folder, or the copy shipped inside an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "base.html").exists():
            return candidate
    raise FileNotFoundError("templates folder not found next to the tracker package")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the web application.

    ``config`` may override Flask settings and these tracker keys: ``SETTINGS`` (a
    :class:`tracker.config.Settings`; default: from the environment), ``DATABASE_URL`` and ``CLOCK``
    (an object with ``now()``). The schema is never changed here: run ``tracker db upgrade``.
    """
    from .app_state import init_state
    from .config import Settings
    from .web import init_web
    from .web.health import bp as health_bp

    config = dict(config or {})
    settings: Settings = config.pop("SETTINGS", None) or Settings.from_env()
    if "DATABASE_URL" in config:
        settings.database_url = config.pop("DATABASE_URL")

    app = Flask(
        __name__,
        template_folder=str(templates_dir()),
        static_folder=str(Path(__file__).resolve().parent / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env == "production",
        REMEMBER_COOKIE_SECURE=settings.env == "production",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_DURATION=timedelta(days=settings.remember_days),
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
    )
    clock = config.pop("CLOCK", None)
    app.config.update(config)
    init_state(app, settings, clock=clock)
    init_web(app)
    app.register_blueprint(health_bp)  # GET /healthz
    return app
