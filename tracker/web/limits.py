"""Rate limits (Flask-Limiter), set up once per app from the settings.

Storage comes from ``TRACKER_RATELIMIT_STORAGE_URL`` (``memory://`` by default, which counts per
process; ``redis://...`` makes every gunicorn worker count together) and the whole thing can be
switched off with ``TRACKER_RATELIMIT_ENABLED=0``. Blueprints add their own limits with
:func:`limit_blueprint` (the API: per token).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from ..config import Settings


def init_limits(app: Flask, settings: Settings) -> Limiter:
    """Attach a limiter to ``app``; Flask config (``RATELIMIT_*``) given to create_app wins."""
    app.config.setdefault("RATELIMIT_ENABLED", settings.ratelimit_enabled)
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.ratelimit_storage_url or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "tracker")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # A broken Redis must not lock every user out: fall back to counting in this process.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter = Limiter(key_func=get_remote_address)
    limiter.init_app(app)
    app.extensions["tracker_limiter"] = limiter
    return limiter


def limit_blueprint(limiter: Limiter, bp: Blueprint, limit: str, key_func: Callable[[], str]) -> None:
    """Apply ``limit`` (e.g. '300 per minute') to every route of ``bp``, counted per ``key_func``."""
    limiter.limit(limit, key_func=key_func)(bp)
