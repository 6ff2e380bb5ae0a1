"""Forecasts: validate and append one, and read a question's forecasts back.

A forecast is a probability per option. It is only accepted while the question is open by the
server's clock, and its time is always the server's: a client never supplies ``created_at``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.session import make_transient_to_detached

from ..clock import Clock
from ..models import Forecast, ForecastProbability, Question, QuestionOption, User
from . import Conflict, DomainError, NotFound
from .crowd_upkeep import append_forecast_postgresql, lock_question, record_forecast

MAX_RATIONALE = 5000
SUM_TOLERANCE = 1e-6
CLOSED_MESSAGE = "This question is closed for forecasting."


class OptionLike(Protocol):
    """What a submission reads of an option (a :class:`QuestionOption` or a :class:`SubmissionOption`)."""

    @property
    def id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def position(self) -> int: ...


class QuestionLike(Protocol):
    """What a submission reads of a question: a loaded :class:`Question`, or the lighter
    :class:`SubmissionQuestion` the forecast form's POST reads."""

    @property
    def id(self) -> int: ...
    @property
    def slug(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def opens_at(self) -> datetime: ...
    @property
    def closes_at(self) -> datetime: ...
    @property
    def options(self) -> Sequence[OptionLike]: ...
    def option_by_key(self, key: str) -> OptionLike | None: ...


@dataclass(frozen=True, slots=True)
class SubmissionOption:
    id: int
    key: str
    label: str
    position: int


@dataclass(frozen=True, slots=True)
class SubmissionQuestion:
    """A question as a forecast submission needs it, read fresh (one Core query) on every POST:
    the ORM's identity map, loader options and attribute instrumentation cost more CPU than the
    rest of the submission's Python, and nothing here is written back."""

    id: int
    slug: str
    title: str
    kind: str
    status: str
    opens_at: datetime
    closes_at: datetime
    options: tuple[SubmissionOption, ...]

    def option_by_key(self, key: str) -> SubmissionOption | None:
        return next((o for o in self.options if o.key == key), None)


_questions, _options = cast(Table, Question.__table__), cast(Table, QuestionOption.__table__)
# Built once; one row per option (a question has at least two), in option order.
_SUBMISSION_QUESTION = (
    select(_questions.c.id, _questions.c.slug, _questions.c.title, _questions.c.kind, _questions.c.status,
           _questions.c.opens_at, _questions.c.closes_at, _options.c.id, _options.c.key, _options.c.label,
           _options.c.position)
    .join(_options, _options.c.question_id == _questions.c.id)
    .where(_questions.c.slug == bindparam("slug"))
    .order_by(_options.c.position)
)


def submission_question(session: Session, slug: str) -> SubmissionQuestion:
    """The question with ``slug`` and its options as the forecast form's POST needs them (one
    query, no ORM objects); :class:`NotFound` when there is none."""
    rows = session.connection().execute(_SUBMISSION_QUESTION, {"slug": slug}).all()
    if not rows:
        raise NotFound(f"There is no question with slug {slug!r}.", field="question")
    first = rows[0]
    return SubmissionQuestion(*first[:7], options=tuple(SubmissionOption(*row[7:]) for row in rows))


class ForecastError(DomainError):
    """A refused forecast; ``field`` names the option key (or 'rationale', 'total') it is about."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field)


def format_percent(value: float, sign: bool = True) -> str:
    """A probability as a percentage with at most two decimals and no trailing zeros: '90%',
    '99.99%', '33.33%'; without the sign ('70') it is what a form box is prefilled with."""
    text = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%" if sign else text


def forecast_summary(question: QuestionLike, probabilities: Mapping[str, float]) -> str:
    """'70% yes' for a binary question, 'Macron 60%, Le Pen 30%, ...' otherwise."""
    if question.kind == "binary":
        first = question.options[0]
        return f"{format_percent(probabilities[first.key])} {first.label.lower()}"
    return ", ".join(f"{o.label} {format_percent(probabilities[o.key])}" for o in question.options)


def is_open_for_forecasts(question: QuestionLike, now: datetime) -> bool:
    """Open means status 'open' and the clock between opens_at (inclusive) and closes_at (exclusive)."""
    return question.status == "open" and question.opens_at <= now < question.closes_at


def ensure_open(question: QuestionLike, now: datetime) -> None:
    """Raise :class:`Conflict` unless ``question`` takes forecasts at ``now``."""
    if not is_open_for_forecasts(question, now):
        raise Conflict(CLOSED_MESSAGE)


def validate_probabilities(
    question: QuestionLike, probabilities: Mapping[str, float], bounds: tuple[float, float]
) -> dict[str, float]:
    """Check one probability per option, each within ``bounds``, summing to 1; return them by key."""
    keys = [o.key for o in question.options]
    unknown = [k for k in probabilities if k not in keys]
    if unknown:
        raise ForecastError(f"Unknown option {unknown[0]!r} for this question.")
    missing = [k for k in keys if k not in probabilities]
    if missing:
        label = question.option_by_key(missing[0]).label  # type: ignore[union-attr]
        raise ForecastError(f"Give a probability for “{label}”.", field=missing[0])
    low, high = bounds
    clean: dict[str, float] = {}
    for option in question.options:
        value = probabilities[option.key]
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ForecastError(f"“{option.label}”: enter a number.", field=option.key) from None
        if not math.isfinite(value):
            raise ForecastError(f"“{option.label}”: enter a number.", field=option.key)
        # A hair of slack so 1% typed as 0.01 in floating point is not refused at the bound.
        if value < low - 1e-12 or value > high + 1e-12:
            raise ForecastError(
                f"“{option.label}”: {format_percent(value)} is outside the allowed range "
                f"{format_percent(low)}–{format_percent(high)}.",
                field=option.key,
            )
        clean[option.key] = value
    total = math.fsum(clean.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ForecastError(
            f"The percentages add up to {format_percent(total)}; they must add up to 100%.", field="total"
        )
    return normalise(clean)


def normalise(probabilities: dict[str, float]) -> dict[str, float]:
    """Probabilities whose total is within the tolerance of 1, rescaled to sum to exactly 1 (the
    rounding left over goes to the largest, so no value moves by more than the tolerance)."""
    total = math.fsum(probabilities.values())
    scaled = {key: value / total for key, value in probabilities.items()}
    largest = max(scaled, key=lambda key: scaled[key])
    scaled[largest] = 1.0 - math.fsum(v for k, v in scaled.items() if k != largest)
    return scaled


def submit_forecast(
    session: Session,
    clock: Clock,
    question: QuestionLike,
    user: User,
    probabilities: Mapping[str, float],
    rationale: str = "",
    bounds: tuple[float, float] = (0.01, 0.99),
) -> Forecast:
    """Validate and append a forecast by ``user`` on ``question``, timed by the server's clock.

    ``probabilities`` maps every option key to a probability in [0, 1]. Raises :class:`Conflict`
    when the question is not open, :class:`ForecastError` for bad numbers or a too long rationale.
    """
    now = clock.now()
    ensure_open(question, now)
    clean = validate_probabilities(question, probabilities, bounds)
    rationale = (rationale or "").strip()
    if len(rationale) > MAX_RATIONALE:
        raise ForecastError(
            f"The rationale is {len(rationale)} characters long; the limit is {MAX_RATIONALE}.", field="rationale"
        )
    # Submissions on one question take turns from the insert on (the question's lock), so each
    # sees the other's standing forecast.
    ordered = [clean[o.key] for o in question.options]
    forecast, state = _append(session, question, user, now, rationale, ordered)
    record_forecast(session, question, forecast, ordered, state)
    return forecast


@lru_cache(maxsize=2)
def _insert_forecast(dialect: str):
    """INSERT ... ON CONFLICT (question, forecaster, time) DO NOTHING RETURNING id, built once."""
    make = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = cast(Table, Forecast.__table__)
    return (make(table).values({c: bindparam(c, type_=table.c[c].type) for c in
                                ("question_id", "user_id", "created_at", "rationale")})
            .on_conflict_do_nothing(index_elements=["question_id", "user_id", "created_at"])
            .returning(table.c.id))


def _append(session: Session, question: QuestionLike, user: User, now: datetime, rationale: str,
            probabilities: list[float]) -> tuple[Forecast, Sequence | None]:
    """Take the question's crowd lock, insert the forecast and its probability rows and return it
    as a persistent object of ``session``, as if flushed, with the crowd state read on the way
    (PostgreSQL: one round trip, see :func:`append_forecast_postgresql`; None elsewhere).

    Two submissions by one forecaster in the same microsecond (a double click racing itself)
    share the unique (question, forecaster, time) key: the second inserts nothing and is refused
    as a conflict, with no savepoint needed and the request's transaction still usable.
    """
    values = {"question_id": question.id, "user_id": user.id, "created_at": now, "rationale": rationale}
    option_ids = [o.id for o in question.options]
    dialect = session.get_bind().dialect.name
    state: Sequence | None = None
    if dialect == "postgresql":
        appended = append_forecast_postgresql(session, values, option_ids, probabilities)
        forecast_id, state = appended if appended is not None else (None, None)
    else:
        lock_question(session, question.id)  # (SQLite serialises writers anyway)
        forecast_id = session.execute(_insert_forecast(dialect), values).scalar()
    if forecast_id is None:
        raise Conflict("A forecast of yours on this question was stored at this same moment; "
                       "nothing else was saved. Reload the page to see it.")
    rows = [{"forecast_id": forecast_id, "option_id": o, "probability": p}
            for o, p in zip(option_ids, probabilities, strict=True)]
    if dialect != "postgresql":
        session.execute(insert(cast(Table, ForecastProbability.__table__)), rows)  # one multi-row INSERT
    # The same rows as ORM objects, attached without SQL (their primary keys are known), so the
    # caller's forecast behaves like one the session loaded.
    forecast = Forecast(id=forecast_id, **values)
    children = [ForecastProbability(**row) for row in rows]
    for child in children:
        make_transient_to_detached(child)
    set_committed_value(forecast, "probabilities", children)
    make_transient_to_detached(forecast)
    session.add(forecast)
    return forecast, state


def user_forecasts(session: Session, question: Question, user: User) -> list[Forecast]:
    """``user``'s forecasts on ``question``, oldest first."""
    return list(
        session.scalars(
            select(Forecast)
            .where(Forecast.question_id == question.id, Forecast.user_id == user.id)
            .order_by(Forecast.created_at, Forecast.id)
        )
    )


def probabilities_by_key(question: Question, forecast: Forecast) -> dict[str, float]:
    """A forecast's probabilities keyed by option key, in the question's option order."""
    by_id = {p.option_id: p.probability for p in forecast.probabilities}
    return {o.key: by_id.get(o.id, 0.0) for o in question.options}


def latest_forecasts_of(session: Session, user: User) -> list[tuple[Question, Forecast, int]]:
    """Per question ``user`` forecast on: the question, their latest forecast and how many they
    made, most recently updated first (two queries plus option loading)."""
    ranked = (
        select(
            Forecast.id.label("forecast_id"),
            func.row_number().over(partition_by=Forecast.question_id,
                                   order_by=(Forecast.created_at.desc(), Forecast.id.desc())).label("rank"),
            func.count().over(partition_by=Forecast.question_id).label("n"),
        )
        .where(Forecast.user_id == user.id)
        .subquery()
    )
    rows = session.execute(
        select(Question, Forecast, ranked.c.n)
        .join(ranked, ranked.c.forecast_id == Forecast.id)
        .join(Question, Question.id == Forecast.question_id)
        .where(ranked.c.rank == 1)
        .options(selectinload(Question.options))
        .order_by(Forecast.created_at.desc(), Forecast.id.desc())
    ).all()
    return [(q, f, int(n)) for q, f, n in rows]


def forecasts_of(session: Session, user: User, question: Question | None = None, offset: int = 0,
                 limit: int | None = None) -> list[tuple[Question, Forecast]]:
    """``user``'s forecasts (on ``question`` only, when given) with their questions, oldest first,
    a page at a time (two queries plus option loading)."""
    stmt = (select(Question, Forecast).join(Question, Question.id == Forecast.question_id)
            .where(Forecast.user_id == user.id)
            .options(selectinload(Forecast.probabilities), selectinload(Question.options))
            .order_by(Forecast.created_at, Forecast.id))
    if question is not None:
        stmt = stmt.where(Forecast.question_id == question.id)
    return [(q, f) for q, f in session.execute(stmt.offset(offset).limit(limit))]
