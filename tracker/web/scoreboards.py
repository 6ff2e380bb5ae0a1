"""Scoreboards, forecaster profiles and CSV downloads (thin views over tracker.domain)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import numpy as np
from flask import Blueprint, Response, abort, render_template, request, stream_with_context, url_for
from flask_login import current_user
from markupsafe import Markup
from matplotlib.ticker import PercentFormatter

from ..app_state import state
from ..domain import DomainError
from ..domain.csv_io import iter_forecasts_csv, iter_scoreboard_csv, iter_scores_csv
from ..domain.scoreboards import (
    DEFAULT_SORT,
    SORT_COLUMNS,
    Profile,
    ScoreFilter,
    check_question,
    crowd_score,
    forecaster_profile,
    scoreboard,
    tag_names,
)
from . import db
from .svg import new_figure, render_svg

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


def _filters() -> ScoreFilter:
    """The board's filters from the query string; bad values are a 400 with a message, an unknown
    question a 404."""
    return _filters_and_question()[0]


def _filters_and_question():
    filters = ScoreFilter(
        tag=request.args.get("tag", "").strip() or None,
        question=request.args.get("question", "").strip() or None,
        since=_date_arg("since"),
        until=_date_arg("until"),
    )
    try:
        question = check_question(db(), filters.question)
        return filters.validate(), question
    except DomainError as exc:
        abort(exc.status, str(exc))


def _query_args(filters: ScoreFilter) -> dict[str, str]:
    args = {"tag": filters.tag, "question": filters.question,
            "since": filters.since and filters.since.isoformat(), "until": filters.until and filters.until.isoformat()}
    return {k: v for k, v in args.items() if v}


@bp.route("/scoreboard")
def index():
    """The scoreboard: overall, per tag, per question or for a window of close dates."""
    filters, question = _filters_and_question()
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
    rows = scoreboard(db(), filters, sort=sort, descending=descending, min_questions=min_questions)
    args = _query_args(filters)
    if min_questions:
        args["min_questions"] = str(min_questions)
    current_desc = (not SORT_COLUMNS[sort]) if descending is None else descending
    return render_template(
        "scoreboards/index.html", rows=rows, filters=filters, args=args, sort=sort, descending=current_desc,
        columns=COLUMN_TITLES, ascending_default=SORT_COLUMNS, min_questions=min_questions,
        tags=tag_names(db()), question=question, crowd=crowd_score(db(), question) if question else None,
        csv_url=url_for("scoreboards.scoreboard_csv", **_query_args(filters)),
    )


@bp.route("/forecasters/<username>")
def profile(username: str):
    """A forecaster's calibration, Murphy decomposition, scores over time and per-question table."""
    try:
        data = forecaster_profile(db(), username)
    except DomainError as exc:
        abort(exc.status, str(exc))
    return render_template(
        "scoreboards/profile.html", profile=data, bins=_bin_table(data),
        calibration_svg=calibration_plot(data) if data.questions else None,
        history_svg=history_plot(data) if data.questions else None,
    )


def _bin_table(profile: Profile) -> list[dict]:
    cal = profile.calibration
    return [
        {"centre": k / 10, "n": float(cal.n[k]), "f": float(cal.f[k]), "o": float(cal.o[k]),
         "low": float(cal.wilson_low[k]), "high": float(cal.wilson_high[k])}
        for k in range(len(cal.n))
    ]


def calibration_plot(profile: Profile) -> Markup:
    """Observed frequency against mean forecast per bin, with Wilson 95% error bars and the diagonal."""
    cal = profile.calibration
    has = cal.n > 0
    fig, ax = new_figure(5.0, 4.6)
    ax.plot([0, 1], [0, 1], linestyle="--", color="#8a94a6", linewidth=1, label="Perfect calibration")
    if has.any():
        f, o = cal.f[has], cal.o[has]
        # Rounding can leave o a hair outside its own interval; error bars cannot be negative.
        err = np.clip(np.vstack([o - cal.wilson_low[has], cal.wilson_high[has] - o]), 0.0, None)
        ax.errorbar(f, o, yerr=err, fmt="o", color="#2457c5", ecolor="#7d99d6", capsize=3, markersize=6,
                    label="Observed (95% Wilson interval)")
        for x, y, n in zip(f, o, cal.n[has]):
            ax.annotate(f"{n:.3g}", (x, y), textcoords="offset points", xytext=(6, -12), fontsize=8,
                        color="#5b6475")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("Forecast probability (bin mean)")
    ax.set_ylabel("Observed frequency")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return render_svg(fig, f"Calibration plot of {profile.user.username}: observed frequency against forecast")


def history_plot(profile: Profile) -> Markup:
    """Relative Brier per question by close date (below zero: better than the crowd)."""
    fig, ax = new_figure(7.0, 3.0)
    when = [q.close for q in profile.questions]
    values = [q.relative_brier for q in profile.questions]
    colours = ["#177245" if v <= 0 else "#b42318" for v in values]
    ax.axhline(0, color="#8a94a6", linewidth=1)
    ax.scatter(when, values, c=colours, s=28, zorder=3)
    ax.set_ylabel("Relative Brier")
    ax.set_xlabel("Question close date")
    fig.autofmt_xdate()
    return render_svg(fig, f"Relative Brier of {profile.user.username} per question by close date")


# --- CSV downloads ----------------------------------------------------------------------------

def _csv_response(make_lines, filename: str) -> Response:
    """Stream CSV lines from a session of its own, opened and closed inside the generator (the
    request's session is committed and closed before a streamed body is sent)."""

    def generate() -> Iterator[bytes]:
        session = state().sessions()
        try:
            for line in make_lines(session):
                yield line.encode("utf-8")
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
    filters = _filters()
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
        abort(403, "Forecasts on open questions are only exported for admins.")
    return _csv_response(lambda session: iter_forecasts_csv(session, include_open=include_open), "forecasts.csv")
