"""WSGI entry point for gunicorn: ``gunicorn tracker.wsgi:app``.

Importing this module starts a web process (nothing else imports it): it reads the settings,
configures logging from ``TRACKER_LOG_LEVEL`` and builds the app.
"""
from flask import Flask

from . import create_app
from .config import Settings
from .logs import configure_logging


def build_app() -> Flask:
    """The configured app for a gunicorn worker, with this process's logging set up first."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_app({"SETTINGS": settings})


app = build_app()
