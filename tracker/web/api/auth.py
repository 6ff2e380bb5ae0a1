"""Who is calling the API: a personal token (``Authorization: Bearer trk_...``) or the logged-in
session cookie. Token requests need no CSRF token; cookie-authenticated writes still do.

A token acts with exactly its owner's rights: the admin check reads the owner's role, so a token
never grants more than its owner has (and loses admin rights the moment the owner does).
"""
from __future__ import annotations

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from ...app_state import state
from ...domain.tokens import authenticate_token
from ...models import ApiToken, User
from .. import csrf, db
from .errors import ApiError

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def bearer_text() -> str | None:
    """The token text of the Authorization header, '' for a header that is not a bearer token,
    None when there is no header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def current_token() -> ApiToken | None:
    """The request's live token (looked up once per request), or None."""
    if "api_token" not in g:
        text = bearer_text()
        g.api_token = authenticate_token(db(), state().clock, text) if text else None
    return g.api_token


def authenticate() -> None:
    """Before every API request: settle ``g.api_user``; a token that is given but not valid is a
    401 at once, and a cookie-authenticated write must carry a CSRF token."""
    g.api_user = None
    g.api_auth = None
    if bearer_text() is not None:
        token = current_token()
        if token is None:
            raise ApiError("The API token is missing, malformed, unknown, revoked or expired.", 401,
                           code="invalid_token")
        g.api_user, g.api_auth = token.user, "token"
        return
    if current_user.is_authenticated:
        g.api_user, g.api_auth = current_user._get_current_object(), "session"
        if request.method in UNSAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()  # raises CSRFError (a 400) without a valid X-CSRFToken header


def api_user() -> User | None:
    """The calling account, or None for an anonymous call."""
    return g.get("api_user")


def require_user(admin: bool = False) -> User:
    """The calling account; 401 when anonymous, 403 when ``admin`` and the owner is not one."""
    user = api_user()
    if user is None:
        raise ApiError("Authenticate with a personal API token: Authorization: Bearer trk_...", 401)
    if admin and not user.is_admin:
        raise ApiError("This operation is for admins.", 403)
    return user


def rate_limit_key() -> str:
    """Count requests per token (so each script has its own budget), else per client address."""
    token = current_token() if bearer_text() else None
    return f"token:{token.id}" if token is not None else f"ip:{get_remote_address()}"
