"""Scoreboards and the caller's per-question scores: the columns of the CSV files, as JSON."""
from __future__ import annotations

from ...domain.csv_export import score_rows
from ...domain.scoreboards import ScoreFilter, check_question, scoreboard
from .. import db
from . import api
from .auth import require_user
from .convert import number
from .schemas import ScoreboardOut, ScoreboardQuery, ScoreboardRowOut, ScoreList, ScoreOut


@api.route("/scoreboard", summary="A scoreboard", tag="scores", response=ScoreboardOut, query=ScoreboardQuery,
           errors=(404,))
def scoreboard_view(query: ScoreboardQuery) -> ScoreboardOut:
    """Overall, by tag, by question, or for a window of close dates (since/until, inclusive),
    ranked by mean relative Brier: the rows of scoreboard.csv."""
    filters = ScoreFilter(tag=query.tag or None, question=query.question or None, since=query.since,
                          until=query.until).validate()
    check_question(db(), filters.question)
    descending = None if query.order is None else query.order == "desc"
    rows = scoreboard(db(), filters, sort=query.sort, descending=descending, min_questions=query.min_questions)
    return ScoreboardOut(covers=filters.describe(), rows=[
        ScoreboardRowOut(rank=r.rank, forecaster=r.username, questions=r.questions, forecasts=r.forecasts,
                         mean_brier=number(r.mean_brier), mean_relative_brier=number(r.mean_relative_brier),
                         mean_log_score=number(r.mean_log_score), calibration=number(r.calibration),
                         coverage=number(r.coverage))
        for r in rows
    ])


@api.route("/me/scores", summary="My per-question scores", tag="scores", response=ScoreList, auth="required")
def my_scores() -> ScoreList:
    """The caller's stored scores on resolved questions: the caller's rows of scores.csv."""
    user = require_user()
    return ScoreList(items=[
        ScoreOut(question=r.slug, forecaster=r.username, forecasts=r.forecasts, first_forecast_at=r.first_forecast_at,
                 last_forecast_at=r.last_forecast_at, brier=number(r.brier), relative_brier=number(r.relative_brier),
                 log_score=number(r.log_score), coverage=number(r.coverage), active_days=r.active_days,
                 baseline=number(r.baseline))
        for r in score_rows(db(), user)
    ])
