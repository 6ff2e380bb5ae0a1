"""CSV export: scoreboards, per-question scores and raw forecasts (the import is csv_import.py).

Exports are generators of byte chunks (tens of kilobytes each, whole lines), so a web response and
the CLI stream the same bytes with flat memory however large the table. The format is documented in
docs/csv.md: UTF-8, a header row, ``\\n`` line ends, ISO 8601 UTC times with a trailing Z, numbers
written exactly (the shortest decimal that reads back as the same float).

Two writers produce those bytes. On PostgreSQL the scores and forecasts are formatted in SQL and
streamed by ``COPY (SELECT ...) TO STDOUT`` (tracker/domain/csv_copy.py): about ten times the rows
per second of formatting them in Python. Elsewhere (SQLite) the rows are read in batches and
formatted here. Each export's columns are listed once (:func:`score_cells`, :func:`forecast_cells`)
with the kind of cell each is, and both writers format a kind the same way; a test compares the two
byte for byte on PostgreSQL.

Text cells are neutralised against formula injection (OWASP "CSV injection"): a cell beginning
with ``= + - @``, a tab or a carriage return gets a leading single quote. Numeric cells are never
touched, so a relative Brier of -0.12 stays a number. The import undoes the quote, so a round
trip gives back the text exactly.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..clock import iso
from ..models import CLOSED_STATUSES, Forecast, ForecastProbability, Question, QuestionOption, Score, User
from .csv_copy import COUNT, NUMBER, TEXT, TIME, Cells, copy_csv, copy_fits
from .scoreboards import ScoreFilter, scoreboard

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
YIELD_PER = 2000
CHUNK_BYTES = 64 * 1024  # a chunk of the response: big enough that per-chunk costs vanish

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


_NEEDS_QUOTES = re.compile('[",\r\n]')


def quote(cell: str) -> str:
    """A cell as written in the file: in double quotes (inner ones doubled) when it holds a comma, a
    double quote, a line feed or a carriage return, else as it is.

    The carriage return counts on its own: a lone CR left unquoted reads back as a line end, so
    the import would refuse the file. (Python's csv.writer only quotes the characters of its line
    terminator, ``\n`` here; PostgreSQL's COPY quotes exactly this set.)
    """
    if _NEEDS_QUOTES.search(cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def format_number(value: float | int | None) -> str:
    """An exact decimal: the shortest digits that read back as the same float; empty for none/NaN."""
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    # repr gives the same shortest round-tripping digits as numpy's unique mode, many times faster;
    # numpy is only needed to write exponents out in full (and for nan and inf).
    text = repr(value)
    if "e" in text or "n" in text:
        if math.isnan(value):
            return ""
        return np.format_float_positional(value, unique=True, trim="-")
    if value == 0.0:
        return "0"  # never "-0"
    return text[:-2] if text.endswith(".0") else text


def format_time(value: datetime | None) -> str:
    return iso(value) if value is not None else ""


def csv_line(cells: Iterable[str]) -> str:
    """One line of the file from cells already formatted (text cells neutralised)."""
    return ",".join(quote(cell) for cell in cells) + "\n"


_FORMATTERS: dict[str, Callable[[Any], str]] = {
    TEXT: lambda v: quote(neutralise(v)),
    COUNT: lambda v: "" if v is None else str(v),
    TIME: format_time,
    NUMBER: format_number,
}


# --- the columns of each export -------------------------------------------------------------

def score_cells() -> Cells:
    """The cells of scores.csv in :data:`SCORE_COLUMNS` order, with their kinds: the one place
    that says what the file holds (both writers and :func:`score_rows` read it)."""
    return [
        (TEXT, Question.slug), (TEXT, User.username), (COUNT, Score.forecasts),
        (TIME, Score.first_forecast_at), (TIME, Score.last_forecast_at), (NUMBER, Score.brier),
        (NUMBER, Score.relative_brier), (NUMBER, Score.log_score), (NUMBER, Score.coverage),
        (COUNT, Score.active_days), (NUMBER, Score.baseline),
    ]


def scores_query(stmt: Select, user: User | None = None) -> Select:
    """Stored scores of resolved questions, by question slug then forecaster."""
    stmt = (
        stmt.join(Question, Question.id == Score.question_id)
        .join(User, User.id == Score.user_id)
        .where(Question.status == "resolved")
        .order_by(Question.slug, User.username)
    )
    return stmt if user is None else stmt.where(Score.user_id == user.id)


def forecast_cells() -> Cells:
    """The cells of forecasts.csv in :data:`FORECAST_COLUMNS` order, with their kinds."""
    return [
        (TEXT, Question.slug), (TEXT, User.username), (TIME, Forecast.created_at), (TEXT, QuestionOption.key),
        (NUMBER, ForecastProbability.probability), (TEXT, Forecast.rationale),
    ]


def forecasts_query(stmt: Select, include_open: bool) -> Select:
    """One row per forecast and option, by question slug, time, forecaster, forecast, option order.

    Forecasts on questions still open (or not yet open) are left out unless ``include_open``:
    showing individual forecasts before the close would invite herding.
    """
    stmt = (
        stmt.select_from(Forecast)
        .join(Question, Question.id == Forecast.question_id)
        .join(User, User.id == Forecast.user_id)
        .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)
        .join(QuestionOption, QuestionOption.id == ForecastProbability.option_id)
        .order_by(Question.slug, Forecast.created_at, User.username, Forecast.id, QuestionOption.position)
    )
    return stmt if include_open else stmt.where(Question.status.in_(CLOSED_STATUSES))


# --- writers --------------------------------------------------------------------------------

def _python_csv(session: Session, cells: Cells, finish: Callable[[Select], Select]) -> Iterator[bytes]:
    """The rows of ``finish(select(columns))`` formatted here, a batch of rows per chunk."""
    formatters = [_FORMATTERS[kind] for kind, _column in cells]
    stmt = finish(select(*(column for _kind, column in cells))).execution_options(yield_per=YIELD_PER)
    for batch in session.execute(stmt).partitions():
        yield "".join([
            ",".join([fmt(value) for fmt, value in zip(formatters, row, strict=True)]) + "\n" for row in batch
        ]).encode("utf-8")


def _export(session: Session, header: Sequence[str], cells: Cells, finish: Callable[[Select], Select],
            use_copy: bool | None) -> Iterator[bytes]:
    """Header, then the rows: by COPY on PostgreSQL (unless ``use_copy`` is False), else in Python."""
    yield csv_line(header).encode("utf-8")
    if use_copy is None:
        use_copy = session.get_bind().dialect.name == "postgresql" and copy_fits(session, cells)
    if use_copy:
        yield from copy_csv(session, cells, finish, CHUNK_BYTES)
    else:
        yield from _python_csv(session, cells, finish)


# --- exports -------------------------------------------------------------------------------

def iter_scoreboard_csv(session: Session, filters: ScoreFilter | None = None) -> Iterator[bytes]:
    """The scoreboard (overall, per tag, per question or date window): one line per forecaster."""
    lines = [csv_line(SCOREBOARD_COLUMNS)]
    for row in scoreboard(session, filters or ScoreFilter()):
        lines.append(csv_line([
            str(row.rank), neutralise(row.username), str(row.questions), str(row.forecasts),
            format_number(row.mean_brier), format_number(row.mean_relative_brier),
            format_number(row.mean_log_score), format_number(row.calibration), format_number(row.coverage),
        ]))
    yield "".join(lines).encode("utf-8")  # one line per forecaster: small, computed whole anyway


def iter_scores_csv(session: Session, *, use_copy: bool | None = None) -> Iterator[bytes]:
    """Stored per-question scores of resolved, non-annulled questions: one line per forecaster and
    question. ``use_copy``: None for COPY on PostgreSQL only; False for the Python writer anywhere."""
    return _export(session, SCORE_COLUMNS, score_cells(), scores_query, use_copy)


def score_rows(session: Session, user: User | None = None) -> Iterator[Any]:
    """The rows of scores.csv (of ``user`` only, when given), by question slug and forecaster, with
    the attributes named as :data:`SCORE_COLUMNS` (``slug``, ``username`` for the first two)."""
    stmt = scores_query(select(*(column for _kind, column in score_cells())), user)
    yield from session.execute(stmt.execution_options(yield_per=YIELD_PER))


def iter_forecasts_csv(session: Session, include_open: bool = False, *,
                       use_copy: bool | None = None) -> Iterator[bytes]:
    """Stored forecasts: one line per forecast and option, in question, time, forecaster order
    (forecasts on open and draft questions only with ``include_open``). ``use_copy`` as for
    :func:`iter_scores_csv`."""
    return _export(session, FORECAST_COLUMNS, forecast_cells(),
                   lambda stmt: forecasts_query(stmt, include_open), use_copy)
