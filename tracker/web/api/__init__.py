"""The JSON API under /api/v1: questions, forecasts, scores, admin decisions and the caller's
account, authenticated by personal tokens. Every route is declared with :class:`.spec.Api`, so the
OpenAPI document at /api/v1/openapi.json lists exactly what is served."""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limiter

from .. import csrf
from ..limits import limit_blueprint
from .spec import Api

#: Bodies larger than this get a 413 (the app's own limit, for CSV uploads, is larger).
MAX_BODY = 1024 * 1024

bp = Blueprint("api", __name__, url_prefix="/api/v1")
api = Api(bp)


@bp.before_request
def _before() -> None:
    from .auth import authenticate

    configured = current_app.config.get("MAX_CONTENT_LENGTH") or MAX_BODY
    request.max_content_length = min(MAX_BODY, configured)
    authenticate()


def init_api(app: Flask, limiter: Limiter, limit: str) -> None:
    """Register the API blueprint: token auth instead of the blanket CSRF check, a limit per token."""
    from . import admin, docs, questions, scores  # noqa: F401  (their routes register on ``api``)
    from .auth import rate_limit_key

    csrf.exempt(bp)  # auth.authenticate still checks CSRF for cookie-authenticated writes
    limit_blueprint(limiter, bp, limit, rate_limit_key)
    app.register_blueprint(bp)
