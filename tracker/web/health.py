"""``/healthz``: is this web process up and can it reach its database? For container healthchecks
and load balancers, so no login, no session, no HTML and never cached."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from ..app_state import state

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def check_database() -> str | None:
    """Run ``SELECT 1`` in a session of its own; None when it works, else a short reason (the
    exception's class name: the full message, which may name hosts or users, only goes to the log)."""
    try:
        with state().sessions() as session:
            session.execute(text("SELECT 1")).scalar_one()
    except Exception as exc:  # any failure means unhealthy, whatever the driver raises
        log.warning("health check: database unavailable: %s", exc)
        return type(exc).__name__
    return None


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 ``{"status": "ok", "database": "ok"}``, or 503 ``{"status": "error", "database": reason}``."""
    problem = check_database()
    if problem is None:
        response, code = jsonify(status="ok", database="ok"), 200
    else:
        response, code = jsonify(status="error", database=problem), 503
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Pragma"] = "no-cache"
    return response, code
