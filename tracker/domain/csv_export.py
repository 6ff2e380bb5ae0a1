"""CSV export: scoreboards, per-question scores and raw forecasts (the import is csv_import.py).

Exports are generators of text chunks, one line each, so a web response and the CLI stream the
same bytes with flat memory however large the table (queries use ``yield_per``). The format is
documented in docs/csv.md: UTF-8, a header row, ``\\n`` line ends, ISO 8601 UTC times with a
trailing Z, numbers written exactly (the shortest decimal that reads back as the same float).

Text cells are neutralised against formula injection (OWASP "CSV injection"): a cell beginning
with ``= + - @``, a tab or a carriage return gets a leading single quote. Numeric cells are never
touched, so a relative Brier of -0.12 stays a number. The import undoes the quote, so a round
trip gives back the text exactly.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import iso
from ..models import CLOSED_STATUSES, Forecast, ForecastProbability, Question, QuestionOption, Score, User
from .scoreboards import ScoreFilter, scoreboard

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
YIELD_PER = 2000

SCOREBOARD_COLUMNS = ["rank", "forecaster", "questions", "forecasts", "mean_brier", "mean_relative_brier",
                      "mean_log_score", "calibration", "coverage"]
SCORE_COLUMNS = ["question", "forecaster", "forecasts", "first_forecast_at", "last_forecast_at", "brier",
                 "relative_brier", "log_score", "coverage", "active_days", "baseline"]
FORECAST_COLUMNS = ["question", "forecaster", "forecast_at", "option", "probability", "rationale"]


# --- cell formatting -----------------------------------------------------------------------

def neutralise(text: str | None) -> str:
    """Make a text cell safe to open in a spreadsheet: prefix a quote before a formula trigger.

    A cell that already starts with quotes followed by a trigger gets one more, so that
    :func:`restore` is an exact inverse.
    """
    if not text:
        return ""
    if text.lstrip("'")[:1] in FORMULA_TRIGGERS and text.lstrip("'"):
        return "'" + text
    return text


def restore(text: str) -> str:
    """Undo :func:`neutralise` on an imported text cell."""
    if text.startswith("'") and text.lstrip("'")[:1] in FORMULA_TRIGGERS and text.lstrip("'"):
        return text[1:]
    return text


def format_number(value: float | int | None) -> str:
    """An exact decimal: the shortest digits that read back as the same float; empty for none/NaN."""
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return ""
    if value == 0.0:
        return "0"  # never "-0"
    return np.format_float_positional(value, unique=True, trim="-")


def format_time(value: datetime | None) -> str:
    return iso(value) if value is not None else ""


class _LineWriter:
    """Turns one row of cells into one CSV line (quoting as needed)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def line(self, cells: Iterable[str]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(list(cells))
        return self._buffer.getvalue()


# --- exports -------------------------------------------------------------------------------

def iter_scoreboard_csv(session: Session, filters: ScoreFilter | None = None) -> Iterator[str]:
    """The scoreboard (overall, per tag, per question or date window): one line per forecaster."""
    writer = _LineWriter()
    yield writer.line(SCOREBOARD_COLUMNS)
    for row in scoreboard(session, filters or ScoreFilter()):
        yield writer.line([
            str(row.rank), neutralise(row.username), str(row.questions), str(row.forecasts),
            format_number(row.mean_brier), format_number(row.mean_relative_brier),
            format_number(row.mean_log_score), format_number(row.calibration), format_number(row.coverage),
        ])


def iter_scores_csv(session: Session) -> Iterator[str]:
    """Stored per-question scores of resolved, non-annulled questions: one line per forecaster and question."""
    writer = _LineWriter()
    yield writer.line(SCORE_COLUMNS)
    for r in score_rows(session):
        yield writer.line([
            neutralise(r.slug), neutralise(r.username), str(r.forecasts), format_time(r.first_forecast_at),
            format_time(r.last_forecast_at), format_number(r.brier), format_number(r.relative_brier),
            format_number(r.log_score), format_number(r.coverage), str(r.active_days), format_number(r.baseline),
        ])


def score_rows(session: Session, user: User | None = None) -> Iterator[Any]:
    """The rows of scores.csv (of ``user`` only, when given), by question slug and forecaster, with
    the attributes named as :data:`SCORE_COLUMNS` (``slug``, ``username`` for the first two)."""
    stmt = (
        select(Question.slug, User.username, Score.forecasts, Score.first_forecast_at, Score.last_forecast_at,
               Score.brier, Score.relative_brier, Score.log_score, Score.coverage, Score.active_days,
               Score.baseline)
        .join(Question, Question.id == Score.question_id)
        .join(User, User.id == Score.user_id)
        .where(Question.status == "resolved")
        .order_by(Question.slug, User.username)
        .execution_options(yield_per=YIELD_PER)
    )
    if user is not None:
        stmt = stmt.where(Score.user_id == user.id)
    yield from session.execute(stmt)


def iter_forecasts_csv(session: Session, include_open: bool = False) -> Iterator[str]:
    """Stored forecasts: one line per forecast and option, in question, time, forecaster order.

    Forecasts on questions still open (or not yet open) are left out unless ``include_open``:
    showing individual forecasts before the close would invite herding.
    """
    writer = _LineWriter()
    yield writer.line(FORECAST_COLUMNS)
    stmt = (
        select(Question.slug, User.username, Forecast.created_at, QuestionOption.key,
               ForecastProbability.probability, Forecast.rationale)
        .join(Question, Question.id == Forecast.question_id)
        .join(User, User.id == Forecast.user_id)
        .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)
        .join(QuestionOption, QuestionOption.id == ForecastProbability.option_id)
        .order_by(Question.slug, Forecast.created_at, User.username, Forecast.id, QuestionOption.position)
        .execution_options(yield_per=YIELD_PER)
    )
    if not include_open:
        stmt = stmt.where(Question.status.in_(CLOSED_STATUSES))
    for r in session.execute(stmt):
        yield writer.line([
            neutralise(r.slug), neutralise(r.username), format_time(r.created_at), neutralise(r.key),
            format_number(r.probability), neutralise(r.rationale),
        ])
