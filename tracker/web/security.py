"""Web security that is not about one page: response headers, accepted hosts, the reverse proxy and
the rate limits on the account forms.

Every response gets a Content-Security-Policy that allows nothing inline and nothing from another
origin (scripts and styles are files under /static), ``frame-ancestors 'none'`` with
``X-Frame-Options: DENY``, ``nosniff`` and ``Referrer-Policy: same-origin``; production adds HSTS.
The Host header is checked against Flask's ``TRUSTED_HOSTS``, so a forged host never reaches a
redirect or a link. Flask-Limiter counts attempts per client address and per account.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.exceptions import SecurityError, TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from ..config import Settings

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HSTS = "max-age=31536000; includeSubDomains"

#: Attempts on one account (login, password change, reset), from anywhere.
PER_ACCOUNT = "10 per minute;100 per day"
#: Attempts from one client address, whatever the account (allows a shared NAT some room).
PER_ADDRESS = "30 per minute;1000 per day"
#: Comments one account may post: a lively discussion fits, a flood does not.
COMMENTS_PER_ACCOUNT = "5 per minute;100 per day"



def account_key_from_form(field: str = "username") -> str:
    """The rate-limit key of the account a form names (case-insensitive, bounded length), so
    spreading guesses over many addresses does not spread them over many counters."""
    name = (request.form.get(field) or "").strip().lower()[:254]
    return f"account:{name}"


def login_account_key() -> str:
    return account_key_from_form("username")


def reset_account_key() -> str:
    return account_key_from_form("identifier")


def current_account_key() -> str:
    """The logged-in account (password change, comments)."""
    return f"user:{current_user.id}" if current_user.is_authenticated else f"address:{get_remote_address()}"


#: The throttled views: endpoint -> (limit, key function; None for the client address). Only POSTs
#: count, so showing a form is never refused.
RATE_LIMITS: dict[str, list[tuple[str, Callable[[], str] | None]]] = {
    "auth.login": [(PER_ADDRESS, None), (PER_ACCOUNT, login_account_key)],
    "auth.register": [(PER_ADDRESS, None)],
    "auth.account": [(PER_ADDRESS, None), (PER_ACCOUNT, current_account_key)],
    "password_reset.request_link": [(PER_ADDRESS, None), (PER_ACCOUNT, reset_account_key)],
    "password_reset.choose": [(PER_ADDRESS, None)],
    "questions.post_comment": [(PER_ADDRESS, None), (COMMENTS_PER_ACCOUNT, current_account_key)],
}


def limit_views(app: Flask, limiter: Limiter) -> None:
    """Apply the limits of :data:`RATE_LIMITS` to their views with the app's limiter
    (:func:`tracker.web.limits.init_limits`); call after the blueprints are registered."""
    for endpoint, limits in RATE_LIMITS.items():
        view: Any = app.view_functions[endpoint]
        for limit, key_func in limits:
            view = limiter.limit(limit, key_func=key_func, methods=["POST"])(view)
        app.view_functions[endpoint] = view


def init_security(app: Flask, settings: Settings) -> None:
    """Wire the proxy fix, trusted hosts and security headers into ``app``."""
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    if app.config.get("TRUSTED_HOSTS") is None:  # Flask's default (None) trusts any Host header
        app.config["TRUSTED_HOSTS"] = settings.accepted_hosts()
    production = settings.env == "production"

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if production:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    @app.errorhandler(SecurityError)
    def _untrusted_host(error: SecurityError):
        # No page template: with an untrusted Host there is no URL adapter to build links with.
        return Response("Bad Request: this host name is not served here.\n", 400, mimetype="text/plain")

    @app.errorhandler(429)
    def _too_many(error: TooManyRequests):
        retry_at = _retry_at()
        seconds = max(1, math.ceil((retry_at - datetime.now(UTC)).total_seconds()))
        message = (f"Too many attempts. Try again in {_duration(seconds)}, "
                   f"after {retry_at:%H:%M:%S} UTC.")
        if request.path.startswith("/api/"):
            from .api.errors import error_response

            limit = error.description or "the rate limit"
            return error_response(429, f"Too many requests (the limit is {limit}). Try again in {_duration(seconds)}.",
                                  "rate_limited", None, {"Retry-After": str(seconds)})
        response = render_template("error.html", code=429, message=message), 429, {"Retry-After": str(seconds)}
        return response


def _retry_at() -> datetime:
    """When the limit that was just exceeded lets the next attempt through."""
    limiter = current_app.extensions.get("tracker_limiter")
    current = getattr(limiter, "current_limit", None)
    reset = getattr(current, "reset_at", None) or time.time() + 60
    return datetime.fromtimestamp(reset, UTC) + timedelta(seconds=1)


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"
