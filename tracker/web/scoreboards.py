"""Scoreboards, forecaster profiles and CSV downloads (thin views over tracker.domain)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, stream_with_context, url_for
from flask_login import current_user

from ..app_state import state
from ..domain import Forbidden, NotFound
from ..domain.board_pages import board_page
from ..domain.csv_export import iter_forecasts_csv, iter_scoreboard_csv, iter_scores_csv
from ..domain.profiles import forecaster_profile
from ..domain.questions import tag_names
from ..domain.scoreboards import DEFAULT_SORT, SORT_COLUMNS, ScoreFilter, check_question, crowd_score
from ..models import Question
from . import db, now
from .plots import cached_plot, calibration_plot, history_plot

bp = Blueprint("scoreboards", __name__)

COLUMN_TITLES = {
    "rank": "Rank",
    "forecaster": "Forecaster",
    "questions": "Questions",
    "forecasts": "Forecasts",
    "mean_brier": "Brier",
    "mean_relative_brier": "Relative Brier",
    "mean_log_score": "Log score",
    "calibration": "Calibration (REL)",
    "coverage": "Coverage",
}


def _date_arg(name: str) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        abort(400, f"'{name}' must be a date like 2017-12-31, not {text!r}.")


def _filters_and_question(lenient: bool = False) -> tuple[ScoreFilter, Question | None, str | None]:
    """The board's filters from the query string; bad values are a 400 with a message. An unknown
    question is a 404, or with ``lenient`` (the page) dropped from the filters and returned third,
    so the page can show the whole board with a message instead of a bare error."""
    filters = ScoreFilter(
        tag=request.args.get("tag", "").strip() or None,
        question=request.args.get("question", "").strip() or None,
        since=_date_arg("since"),
        until=_date_arg("until"),
    )
    try:
        question = check_question(db(), filters.question)
    except NotFound:
        if not lenient:
            raise
        return replace(filters, question=None).validate(), None, filters.question
    return filters.validate(), question, None


def _query_args(filters: ScoreFilter) -> dict[str, Any]:
    args = {"tag": filters.tag, "question": filters.question,
            "since": filters.since and filters.since.isoformat(), "until": filters.until and filters.until.isoformat()}
    return {k: v for k, v in args.items() if v}


@bp.route("/scoreboard")
def index():
    """The scoreboard: overall, per tag, per question or for a window of close dates."""
    filters, question, unknown = _filters_and_question(lenient=True)
    sort = request.args.get("sort", DEFAULT_SORT)
    if sort not in SORT_COLUMNS:
        abort(400, f"Cannot sort by {sort!r}; choose one of: {', '.join(SORT_COLUMNS)}.")
    order = request.args.get("order", "")
    if order not in ("", "asc", "desc"):
        abort(400, "'order' must be asc or desc.")
    descending = None if not order else order == "desc"
    try:
        min_questions = int(request.args.get("min_questions", "0") or 0)
    except ValueError:
        abort(400, "'min_questions' must be a whole number.")
    if min_questions < 0:
        abort(400, "'min_questions' cannot be negative.")
    page = _page_arg()
    board = board_page(db(), filters, sort=sort, descending=descending, min_questions=min_questions, page=page)
    rows = board.rows
    args = _query_args(filters)
    if min_questions:
        args["min_questions"] = str(min_questions)
    current_desc = (not SORT_COLUMNS[sort]) if descending is None else descending
    return render_template(
        "scoreboards/index.html", rows=rows, filters=filters, args=args, sort=sort, descending=current_desc,
        columns=COLUMN_TITLES, ascending_default=SORT_COLUMNS, min_questions=min_questions,
        tags=tag_names(db()), question=question, crowd=crowd_score(db(), question) if question else None,
        csv_url=url_for("scoreboards.scoreboard_csv", **_query_args(filters)), unknown_question=unknown,
        page=board.page, has_next=board.has_next, total=board.total, order=order,
    ), 404 if unknown else 200  # the page still says "not found" to programs, but shows the board


def _page_arg() -> int:
    raw = request.args.get("page", "").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        abort(400, f"'page' must be a whole number from 1, not {raw!r}.")
    return int(raw)


@bp.route("/forecasters/<username>")
def profile(username: str):
    """A forecaster's calibration, Murphy decomposition, scores over time and per-question table."""
    data = forecaster_profile(db(), username, page=_page_arg())
    # Keyed by everything the plots draw, so they are rendered once per rescore that changes them.
    # (repr: NaN never equals itself, so a tuple holding one would never hit the cache)
    drawn = repr((data.user.id, data.user.username, [(q.slug, q.close, q.relative_brier) for q in data.questions],
                  [(b.n, b.f, b.o) for b in data.bins]))
    calibration_svg = history_svg = None
    if data.questions:
        calibration_svg = cached_plot(db(), ("calibration", drawn), lambda: calibration_plot(data))
        history_svg = cached_plot(db(), ("history", drawn), lambda: history_plot(data))
    return render_template("scoreboards/profile.html", profile=data, bins=data.bins, calibration_svg=calibration_svg,
                           history_svg=history_svg, at=now())


# --- CSV downloads ----------------------------------------------------------------------------

def _csv_response(make_chunks, filename: str) -> Response:
    """Stream CSV chunks (bytes) from a session of its own, opened and closed inside the generator
    (the request's session is committed and closed before a streamed body is sent)."""

    def generate() -> Iterator[bytes]:
        # A reader: on SQLite a deferred transaction (a WAL snapshot), so a slow download never
        # holds a lock that forecasts wait for; on PostgreSQL one COPY statement, one snapshot.
        session = state().read_sessions()
        try:
            yield from make_chunks(session)
        finally:
            session.rollback()
            session.close()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/scoreboard.csv")
def scoreboard_csv():
    """The scoreboard as CSV, with the same filters as the page (byte-identical to the CLI export)."""
    filters, _question, _unknown = _filters_and_question()
    return _csv_response(lambda session: iter_scoreboard_csv(session, filters), "scoreboard.csv")


@bp.route("/scores.csv")
def scores_csv():
    """Every stored per-question score."""
    return _csv_response(iter_scores_csv, "scores.csv")


@bp.route("/forecasts.csv")
def forecasts_csv():
    """Raw forecasts, one line per option. Forecasts on open questions are for admins only
    (``?include_open=1``), as on the question pages: showing them early invites herding."""
    include_open = request.args.get("include_open") == "1"
    if include_open and not (current_user.is_authenticated and current_user.is_admin):
        raise Forbidden("Forecasts on open questions are only exported for admins.")
    return _csv_response(lambda session: iter_forecasts_csv(session, include_open=include_open), "forecasts.csv")
