"""CSV export (scoreboards, per-question scores, raw forecasts) and import of raw forecasts.

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
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..clock import Clock, ensure_utc, iso
from ..models import Forecast, ForecastProbability, Question, QuestionOption, Score, User
from . import DomainError
from .users import create_user, validate_username

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SUM_TOLERANCE = 1e-6
MAX_REPORTED_ERRORS = 25
INSERT_BATCH = 2000
YIELD_PER = 2000

SCOREBOARD_COLUMNS = ["rank", "forecaster", "questions", "forecasts", "mean_brier", "mean_relative_brier",
                      "mean_log_score", "calibration", "coverage"]
SCORE_COLUMNS = ["question", "forecaster", "forecasts", "first_forecast_at", "last_forecast_at", "brier",
                 "relative_brier", "log_score", "coverage", "active_days", "baseline"]
FORECAST_COLUMNS = ["question", "forecaster", "forecast_at", "option", "probability", "rationale"]
REQUIRED_IMPORT_COLUMNS = FORECAST_COLUMNS[:5]


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

def iter_scoreboard_csv(session: Session, filters=None) -> Iterator[str]:
    """The scoreboard (overall, per tag, per question or date window): one line per forecaster."""
    from .scoreboards import ScoreFilter, scoreboard

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
    for r in session.execute(stmt):
        yield writer.line([
            neutralise(r.slug), neutralise(r.username), str(r.forecasts), format_time(r.first_forecast_at),
            format_time(r.last_forecast_at), format_number(r.brier), format_number(r.relative_brier),
            format_number(r.log_score), format_number(r.coverage), str(r.active_days), format_number(r.baseline),
        ])


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
        stmt = stmt.where(Question.status.not_in(("draft", "open")))
    for r in session.execute(stmt):
        yield writer.line([
            neutralise(r.slug), neutralise(r.username), format_time(r.created_at), neutralise(r.key),
            format_number(r.probability), neutralise(r.rationale),
        ])


# --- bulk insert (shared with the demo) ----------------------------------------------------

@dataclass
class NewForecast:
    question_id: int
    user_id: int
    created_at: datetime
    probabilities: dict[int, float]  # option id -> probability
    rationale: str = ""


def insert_forecasts(session: Session, forecasts: list[NewForecast]) -> None:
    """Insert many forecasts with two executemany statements (no ORM object per row)."""
    if not forecasts:
        return
    session.flush()
    stmt = insert(Forecast).returning(Forecast.id, sort_by_parameter_order=True)
    ids = session.scalars(stmt, [
        {"question_id": f.question_id, "user_id": f.user_id, "created_at": f.created_at, "rationale": f.rationale}
        for f in forecasts
    ]).all()
    session.execute(insert(ForecastProbability), [
        {"forecast_id": forecast_id, "option_id": option_id, "probability": p}
        for forecast_id, f in zip(ids, forecasts, strict=True)
        for option_id, p in f.probabilities.items()
    ])


# --- import --------------------------------------------------------------------------------

class CsvImportError(DomainError):
    """The file was refused; ``errors`` holds one ``line N, column C: problem`` entry each."""

    def __init__(self, errors: list[str], total: int | None = None) -> None:
        total = len(errors) if total is None else total
        more = f"\n... and {total - len(errors)} more" if total > len(errors) else ""
        super().__init__("\n".join(errors) + more)
        self.errors = errors
        self.total = total


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    users_created: list[str] = field(default_factory=list)
    rescored: list[int] = field(default_factory=list)


@dataclass
class _QuestionInfo:
    id: int
    kind: str
    status: str
    options: dict[str, int]  # key -> option id, in position order


@dataclass
class _Group:
    """The consecutive rows of one forecast."""

    key: tuple[str, str, str]
    first_line: int
    last_line: int = 0
    question: _QuestionInfo | None = None
    username: str = ""
    at: datetime | None = None
    rationale: str = ""
    probs: list[tuple[int, str, float]] = field(default_factory=list)  # (line, option key, p)
    bad: bool = False


_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|\+00:00)$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class _Importer:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.session, self.clock, self.now = session, clock, clock.now()
        self.errors: list[str] = []
        self.error_count = 0
        self.report = ImportReport()
        self.questions: dict[str, _QuestionInfo | None] = {}
        self.users = {name.lower(): uid for uid, name in session.execute(select(User.id, User.username))}
        self.new_users: dict[str, str] = {}  # lower -> spelling, created when first needed
        self.existing: dict[int, dict[tuple[int, datetime], dict[int, float]]] = {}
        self.seen: dict[tuple[int, str, datetime], tuple[int, dict[int, float]]] = {}
        self.pending: list[tuple[str, NewForecast]] = []
        self.touched: set[int] = set()

    def error(self, line: int, column: str, problem: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"line {line}, column {column}: {problem}")

    def question(self, slug: str) -> _QuestionInfo | None:
        if slug not in self.questions:
            q = self.session.scalar(select(Question).where(Question.slug == slug))
            self.questions[slug] = None if q is None else _QuestionInfo(
                q.id, q.kind, q.status, {o.key: o.id for o in q.options})
        return self.questions[slug]

    def parse_row(self, line: int, cells: dict[str, str], group: _Group) -> None:
        """Check one row's cells; problems are recorded and mark the group bad."""
        ok = True
        if group.question is None and not group.bad:
            slug = restore(cells["question"].strip())
            group.question = self.question(slug) if slug else None
            if group.question is None:
                self.error(line, "question", f"unknown question {slug!r}" if slug else "is empty")
                ok = False
            raw_user = restore(cells["forecaster"].strip())
            try:
                group.username = validate_username(raw_user)
            except DomainError as exc:
                self.error(line, "forecaster", f"{raw_user!r}: {exc}")
                ok = False
            group.at = self.parse_time(line, cells["forecast_at"])
            ok = ok and group.at is not None
            group.rationale = restore(cells.get("rationale", "") or "")
        option = restore(cells["option"].strip())
        if group.question is not None and option not in group.question.options:
            known = ", ".join(group.question.options)
            self.error(line, "option", f"unknown option {option!r} (this question has: {known})")
            ok = False
        text = cells["probability"].strip()
        if not _NUMBER_RE.match(text):
            self.error(line, "probability", f"{text!r} is not a number")
            ok = False
        elif not 0.0 <= float(text) <= 1.0:
            self.error(line, "probability", f"{text} is outside [0, 1]")
            ok = False
        else:
            group.probs.append((line, option, float(text)))
        group.bad = group.bad or not ok

    def parse_time(self, line: int, text: str) -> datetime | None:
        text = text.strip()
        if not _TIME_RE.match(text):
            self.error(line, "forecast_at", f"{text!r} is not an ISO 8601 UTC time (e.g. 2017-02-06T12:00:00Z)")
            return None
        try:
            at = ensure_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            self.error(line, "forecast_at", f"{text!r} is not a valid date and time")
            return None
        if at > self.now:
            self.error(line, "forecast_at", f"{text} is in the future (now is {iso(self.now)})")
            return None
        return at

    def finish(self, group: _Group) -> None:
        """Check a complete forecast; queue it for insertion unless it is a duplicate."""
        if group.bad:
            return
        q = group.question
        assert q is not None and group.at is not None
        given: dict[str, float] = {}
        for line, key, p in group.probs:
            if key in given:
                self.error(line, "option", f"option {key!r} appears twice in this forecast")
                return
            given[key] = p
        if q.kind == "binary" and set(given) == {"yes"}:
            given["no"] = 1.0 - given["yes"]  # one yes row is enough for a binary question
        missing = [k for k in q.options if k not in given]
        if missing:
            self.error(group.first_line, "option",
                       f"missing option(s) {', '.join(missing)}: a forecast gives every option a probability")
            return
        total = math.fsum(given.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            self.error(group.last_line, "probability",
                       f"the probabilities of this forecast (lines {group.first_line}-{group.last_line}) "
                       f"sum to {format_number(total)}, not 1")
            return
        probs = {q.options[k]: given[k] for k in q.options}
        lower = group.username.lower()
        key = (q.id, lower, group.at)
        if key in self.seen:
            earlier, earlier_probs = self.seen[key]
            if _same(earlier_probs, probs):
                self.report.duplicates += 1
            else:
                self.error(group.first_line, "forecast_at",
                           f"{group.username} already has a different forecast at {iso(group.at)} "
                           f"on line {earlier}")
            return
        self.seen[key] = (group.first_line, probs)
        user_id = self.users.get(lower)
        if user_id is not None:
            stored = self.stored(q.id).get((user_id, group.at))
            if stored is not None:
                if _same(stored, probs):
                    self.report.duplicates += 1
                else:
                    self.error(group.first_line, "forecast_at",
                               f"a different forecast by {group.username} at {iso(group.at)} is already stored")
                return
        elif lower not in self.new_users:
            self.new_users[lower] = group.username
        self.pending.append((lower, NewForecast(q.id, 0, group.at, probs, group.rationale)))
        self.touched.add(q.id)
        if len(self.pending) >= INSERT_BATCH:
            self.flush()

    def stored(self, question_id: int) -> dict[tuple[int, datetime], dict[int, float]]:
        """Forecasts already in the database for one question, loaded once."""
        if question_id not in self.existing:
            found: dict[tuple[int, datetime], dict[int, float]] = {}
            stmt = (
                select(Forecast.user_id, Forecast.created_at, ForecastProbability.option_id,
                       ForecastProbability.probability)
                .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)
                .where(Forecast.question_id == question_id)
            )
            for user_id, at, option_id, p in self.session.execute(stmt):
                found.setdefault((user_id, at), {})[option_id] = p
            self.existing[question_id] = found
        return self.existing[question_id]

    def flush(self) -> None:
        """Write queued forecasts, unless the file has already shown an error (nothing is kept then)."""
        if self.error_count or not self.pending:
            self.pending.clear()
            return
        for lower, spelling in list(self.new_users.items()):
            user = create_user(self.session, self.clock, spelling, None)
            self.users[lower] = user.id
            self.report.users_created.append(user.username)
        self.new_users.clear()
        batch = []
        for lower, forecast in self.pending:
            forecast.user_id = self.users[lower]
            batch.append(forecast)
        insert_forecasts(self.session, batch)
        self.report.added += len(batch)
        self.pending.clear()


def _same(a: dict[int, float], b: dict[int, float]) -> bool:
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=0.0, abs_tol=1e-12) for k in a)


def import_forecasts(
    session: Session,
    clock: Clock,
    lines: Iterable[str],
    on_row: Callable[[], None] | None = None,
) -> ImportReport:
    """Import raw forecasts in the export's format, all or nothing.

    Rows of one forecast (same question, forecaster and forecast_at) must be consecutive, as the
    export writes them. Forecasters are created as needed without a password. Exact duplicates of
    stored forecasts are skipped, so importing the same file twice changes nothing. Raises
    :class:`CsvImportError` naming the line and column of every problem (the caller rolls back).
    Afterwards the affected resolved questions are rescored.
    """
    importer = _Importer(session, clock)
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise CsvImportError(["line 1, column -: the file is empty (expected a header row)"])
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    for column in REQUIRED_IMPORT_COLUMNS:
        if column not in names:
            importer.error(1, column, "is missing from the header row "
                                      f"(expected {','.join(REQUIRED_IMPORT_COLUMNS)}[,rationale])")
    if importer.error_count:
        raise CsvImportError(importer.errors, importer.error_count)
    index = {name: i for i, name in reversed(list(enumerate(names)))}
    group: _Group | None = None
    for cells in reader:
        line = reader.line_num
        if on_row is not None:
            on_row()
        if not any(c.strip() for c in cells):
            continue  # blank line
        importer.report.rows += 1
        if len(cells) < len(names):
            importer.error(line, names[len(cells)], f"the row has {len(cells)} cells; the header has {len(names)}")
            if group is not None:
                group.bad = True
            continue
        row = {name: cells[i] for name, i in index.items()}
        key = (row["question"].strip(), row["forecaster"].strip().lower(), row["forecast_at"].strip())
        if group is None or group.key != key:
            if group is not None:
                importer.finish(group)
            group = _Group(key=key, first_line=line)
        group.last_line = line
        importer.parse_row(line, row, group)
    if group is not None:
        importer.finish(group)
    if importer.error_count:
        raise CsvImportError(importer.errors, importer.error_count)
    importer.flush()
    session.flush()
    resolved = session.scalars(
        select(Question.id).where(Question.id.in_(importer.touched), Question.status == "resolved")
    ).all()
    if resolved:
        from .scoring_runs import rescore_questions  # lazy: written alongside this module

        rescore_questions(session, clock, sorted(resolved))
        importer.report.rescored = sorted(resolved)
    return importer.report
