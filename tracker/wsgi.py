"""WSGI entry point for gunicorn: ``gunicorn tracker.wsgi:app``."""
from . import create_app

app = create_app()
