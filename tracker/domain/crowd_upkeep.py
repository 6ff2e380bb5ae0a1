"""Keeping the crowd tables up to date (standing forecasts, the crowd per UTC day and now).

A new forecast updates them in the submitting transaction: its forecaster's standing row, then the
crowd of today from the question's standing rows (one per forecaster, never the whole history).
Forecasts that arrived any other way (an import, a seed, a test factory) leave the question's
``last_forecast_id`` behind ``max(forecasts.id)``; the next reader notices (one index lookup) and
rebuilds that question once from its forecasts, with the scoring engine's daily crowd.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from typing import cast as cast_type

import numpy as np
from sqlalchemy import (
    JSON,
    CursorResult,
    Date,
    Float,
    Integer,
    LargeBinary,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from .. import scoring
from ..models import (
    CrowdDay,
    Forecast,
    ForecastProbability,
    Question,
    QuestionCrowd,
    QuestionOption,
    StandingForecast,
    UTCDateTime,
)

if TYPE_CHECKING:
    from .forecasts import QuestionLike

#: Class id of the transaction advisory locks that serialise crowd updates of one question (PostgreSQL).
LOCK_CLASS = 1414


def lock_question(session: Session, question_id: int) -> None:
    """Serialise crowd updates of one question until the transaction ends (PostgreSQL; SQLite
    serialises writers anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:c, :q)"), {"c": LOCK_CLASS, "q": question_id})


#: How a standing row stores its probabilities (``StandingForecast.packed_probabilities``): float64,
#: big-endian (network order, as PostgreSQL's float8send writes them), one per option in order.
PACKED = np.dtype(">f8")


def pack_probabilities(probabilities: Sequence[float] | np.ndarray) -> bytes:
    """A standing row's probabilities as stored."""
    return np.asarray(probabilities, dtype=PACKED).tobytes()


def unpack_standing(packed: bytes, n_options: int) -> np.ndarray | None:
    """Concatenated standing rows as an (n, ``n_options``) array; None if the bytes do not hold
    whole rows (a row written for another number of options: the caller rebuilds)."""
    if n_options <= 0 or len(packed) % (8 * n_options):
        return None
    return np.frombuffer(packed, dtype=PACKED).astype(np.float64).reshape(-1, n_options)


#: ``last_forecast_id`` of a crowd row that must be rebuilt: no forecast id equals it.
STALE = -1


def mark_crowds_stale(session: Session, question_ids: Sequence[int]) -> None:
    """Make the next reader or submission rebuild the crowd rows of ``question_ids`` (in the
    caller's transaction, just before it commits forecasts that arrived in bulk).

    Needed where bulk forecasts commit after forecasts with higher ids: a PostgreSQL import draws
    its ids when it stages the file, and a web forecast on the same question that commits meanwhile
    brings ``last_forecast_id`` up to ``max(forecasts.id)``, so the imported forecasts would never
    be noticed. Under each question's lock (the one submissions take) the row is set to
    :data:`STALE`: a submission that read the crowd's state before it got the lock finds its guarded
    update refused and rebuilds from everything committed."""
    ids = sorted(set(question_ids))  # one order for every caller: no deadlock between two imports
    if not ids:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":  # the locks of lock_question, all in one statement, in id order
        session.execute(text("SELECT pg_advisory_xact_lock(:c, q) FROM unnest(CAST(:ids AS integer[])) AS q"),
                        {"c": LOCK_CLASS, "ids": ids})
    make = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(make(QuestionCrowd).values([{"question_id": q, "last_forecast_id": STALE} for q in ids])
                    .on_conflict_do_update(index_elements=["question_id"], set_={"last_forecast_id": STALE}))


def latest_forecast_ids(session: Session, question_ids: Sequence[int]) -> dict[int, int]:
    """max(forecasts.id) per question: one index lookup each (a correlated subquery, never a scan)."""
    if not question_ids:
        return {}
    latest = (select(func.max(Forecast.id)).where(Forecast.question_id == Question.id)
              .correlate(Question).scalar_subquery())
    rows = session.execute(select(Question.id, latest).where(Question.id.in_(question_ids)))
    return {qid: int(fid) for qid, fid in rows if fid is not None}


def _day(value: datetime) -> date:
    return value.astimezone(UTC).date()


def _forecast_arrays(session: Session, question: QuestionLike, until: datetime | None = None):
    """Every forecast of ``question`` (up to ``until``) as (ids, users, times, seconds, probs)."""
    stmt = (
        select(Forecast.id, Forecast.user_id, Forecast.created_at, QuestionOption.position,
               ForecastProbability.probability)
        .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)
        .join(QuestionOption, QuestionOption.id == ForecastProbability.option_id)
        .where(Forecast.question_id == question.id)
        .order_by(Forecast.created_at, Forecast.id)
    )
    if until is not None:
        stmt = stmt.where(Forecast.created_at <= until)
    rows = session.execute(stmt).all()
    n_options = len(question.options)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), [], np.zeros(0), np.zeros((0, n_options))
    fid = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    new = np.r_[True, fid[1:] != fid[:-1]]
    starts = np.flatnonzero(new).tolist()
    row_of = np.cumsum(new) - 1
    probs = np.zeros((len(starts), n_options))
    probs[row_of, np.fromiter((r[3] for r in rows), dtype=np.int64, count=len(rows))] = [r[4] for r in rows]
    users = np.fromiter((rows[i][1] for i in starts), dtype=np.int64, count=len(starts))
    times = [rows[i][2] for i in starts]
    seconds = np.fromiter((t.timestamp() for t in times), dtype=np.float64, count=len(times))
    return fid[starts], users, times, seconds, probs


def crowd_until(session: Session, question: Question, until: datetime) -> tuple[list[float], int] | None:
    """The crowd from forecasts made up to ``until`` (an early effective close) and its forecaster
    count; None without such forecasts. Reads the question's forecasts: callers cache the result."""
    _ids, users, _times, seconds, probs = _forecast_arrays(session, question, until)
    if len(users) == 0:
        return None
    timeline = scoring.crowd_forecast_over_time(users, seconds, probs, len(question.options))
    return timeline.probs[-1].tolist(), int(timeline.n_forecasters[-1])


def rebuild_crowd(session: Session, question: QuestionLike) -> QuestionCrowd:
    """Recompute every crowd row of ``question`` from its forecasts (after bulk inserts)."""
    lock_question(session, question.id)
    # Forecasts after the scheduled close (only an import can add them) never count.
    ids, users, times, seconds, probs = _forecast_arrays(session, question, question.closes_at)
    newest = latest_forecast_ids(session, [question.id]).get(question.id, 0)
    session.execute(delete(StandingForecast).where(StandingForecast.question_id == question.id))
    session.execute(delete(CrowdDay).where(CrowdDay.question_id == question.id))
    # Read again after the lock: another transaction may have just written this row.
    row = session.scalar(select(QuestionCrowd).where(QuestionCrowd.question_id == question.id)
                         .execution_options(populate_existing=True)) or QuestionCrowd(question_id=question.id)
    session.add(row)
    row.close_at = row.close_probabilities = row.close_forecasters = None
    row.forecasts = len(ids)
    row.last_forecast_id = newest
    if len(ids) == 0:
        row.last_forecast_at, row.forecasters, row.probabilities = None, 0, None
        session.flush()
        return row
    # Latest forecast per forecaster: rows are in time order, so the last occurrence wins.
    last_of: dict[int, int] = {}
    for i, user in enumerate(users.tolist()):
        last_of[user] = i
    session.execute(insert(StandingForecast), [
        {"question_id": question.id, "user_id": user, "forecast_id": int(ids[i]), "created_at": times[i],
         "packed_probabilities": pack_probabilities(probs[i])}
        for user, i in last_of.items()
    ])
    daily = scoring.crowd_forecast_over_time(users, seconds, probs, len(question.options), by_day=True)
    session.execute(insert(CrowdDay), [
        {"question_id": question.id, "day": date.fromordinal(date(1970, 1, 1).toordinal() + int(d)),
         "probabilities": daily.probs[k].tolist(), "forecasters": int(daily.n_forecasters[k])}
        for k, d in enumerate(daily.at)
    ])
    row.last_forecast_at = max(times)
    row.forecasters = len(last_of)
    row.probabilities = daily.probs[-1].tolist()
    session.flush()
    return row


def _upsert_statement(dialect: str, model: type, values: dict, keys: list[str]):
    """INSERT ... ON CONFLICT (keys) DO UPDATE: one round trip whether the row exists or not."""
    make = postgresql_insert if dialect == "postgresql" else sqlite_insert
    stmt = make(model).values(**values)
    return stmt.on_conflict_do_update(index_elements=keys, set_={k: stmt.excluded[k] for k in values if k not in keys})


@dataclass(frozen=True)
class _UpkeepStatements:
    """The statements of :func:`record_forecast` for one dialect, built once with bind parameters
    (building them per submission cost more CPU than running them)."""

    standing: Any  # upsert this forecaster's standing row (None on PostgreSQL: part of ``state``)
    state: Any  # the crowd row's state, the previous forecast id, the other forecasters' rows
    today: Any  # upsert today's crowd (None on PostgreSQL: part of ``crowd``)
    crowd: Any  # the question's crowd row


@lru_cache(maxsize=2)
def _upkeep_statements(dialect: str) -> _UpkeepStatements:
    qid, uid, fid = bindparam("qid", type_=Integer), bindparam("uid", type_=Integer), bindparam("fid", type_=Integer)
    at, packed = bindparam("at", type_=UTCDateTime()), bindparam("packed", type_=LargeBinary())
    standing = _upsert_statement(dialect, StandingForecast, {
        "question_id": qid, "user_id": uid, "forecast_id": fid, "created_at": at, "packed_probabilities": packed,
    }, ["question_id", "user_id"])
    previous = select(func.max(Forecast.id)).where(Forecast.question_id == qid, Forecast.id < fid).scalar_subquery()
    # The other forecasters' rows as one string of bytes (SQLite's group_concat makes text, so
    # there it is hex): no per-row decoding in Python.
    theirs = (StandingForecast.question_id == qid, StandingForecast.user_id != uid)
    concatenated = (func.string_agg(StandingForecast.packed_probabilities, literal(b"", LargeBinary()))
                    if dialect == "postgresql" else func.group_concat(func.hex(StandingForecast.packed_probabilities), ""))
    others = select(concatenated).where(*theirs).scalar_subquery()
    row = cast_type(Table, QuestionCrowd.__table__)
    state = select(row.c.last_forecast_id, row.c.last_forecast_at, previous, others).where(row.c.question_id == qid)
    today = _upsert_statement(dialect, CrowdDay, {
        "question_id": qid, "day": bindparam("day", type_=Date), "probabilities": bindparam("crowd", type_=JSON()),
        "forecasters": bindparam("n", type_=Integer),
    }, ["question_id", "day"])
    # Guarded by the state it was computed from: 0 rows means that state was stale.
    crowd = (update(row).where(row.c.question_id == qid, row.c.last_forecast_id == bindparam("expected", type_=Integer))
             .values(last_forecast_id=fid, last_forecast_at=at, forecasts=row.c.forecasts + 1,
                     forecasters=bindparam("n", type_=Integer), probabilities=bindparam("crowd", type_=JSON())))
    if dialect == "postgresql":
        # A data-modifying WITH runs whether or not the statement reads it. The SELECT's snapshot
        # does not see the upsert, which is why it reads the *other* forecasters' rows.
        return _UpkeepStatements(None, state.add_cte(standing.cte("standing_upsert")), None,
                                 crowd.add_cte(today.cte("crowd_day_upsert")))
    return _UpkeepStatements(standing, state, today, crowd)


def _expire_cached(session: Session, question_id: int, user_id: int, day: date) -> None:
    """Forget this session's copies of the rows a submission rewrote with Core statements (a
    dictionary look-up each, no SQL), so a later read in the same session sees the new values."""
    for model, key in ((QuestionCrowd, (question_id,)), (StandingForecast, (question_id, user_id)),
                       (CrowdDay, (question_id, day))):
        cached = session.identity_map.get(identity_key(model, key))
        if cached is not None:
            session.expire(cached)


def record_forecast(session: Session, question: QuestionLike, forecast: Forecast, probabilities: list[float],
                    state: Sequence | None = None) -> None:
    """Bring the crowd rows up to date with ``forecast`` just added (in the same transaction).

    Call after :func:`lock_question` was taken before the forecast's insert, so concurrent
    submissions on one question take turns and each sees the other's standing row.

    ``state`` is what :func:`append_forecast_postgresql` read (this forecaster's standing row
    already written); otherwise this writes the standing row and reads the crowd row's state, the
    previous forecast id and the other forecasters' standing rows (one per forecaster, never the
    history) in one statement on PostgreSQL. Then today's crowd row and the question's crowd row
    are written in one more statement (two on SQLite, which has no data-modifying WITH). The
    median itself is the scoring engine's.
    """
    statements = _upkeep_statements(session.get_bind().dialect.name)
    params = {"qid": question.id, "uid": forecast.user_id, "fid": forecast.id, "at": forecast.created_at,
              "packed": pack_probabilities(probabilities)}
    found = state
    if found is None:
        if statements.standing is not None:
            session.execute(statements.standing, params)
        found = session.execute(statements.state, params).first()
    # Incremental only when the rows reflect every earlier forecast and time moves forward.
    others = None
    if found is not None:
        packed = found[3] or b""
        others = unpack_standing(bytes.fromhex(packed) if isinstance(packed, str) else packed, len(probabilities))
    if others is None or found is None or found[0] is None or found[0] != (found[2] or 0) or (
            found[1] is not None and found[1] > forecast.created_at):
        rebuild_crowd(session, question)
        return
    matrix = np.vstack([others, np.asarray(probabilities, dtype=np.float64)[None, :]])
    params["crowd"] = scoring.crowd_of_standing(matrix).tolist()
    day = _day(forecast.created_at)
    params["n"], params["day"], params["expected"] = len(matrix), day, found[0]
    if statements.today is not None:
        session.execute(statements.today, params)
    updated = cast_type(CursorResult, session.execute(statements.crowd, params)).rowcount
    _expire_cached(session, question.id, forecast.user_id, day)
    if updated != 1:
        # ``state`` was read before the lock was granted and another submission committed in
        # between: read again (now after the lock) and redo; rows written so far are rewritten.
        if state is not None:
            record_forecast(session, question, forecast, probabilities)
        else:
            rebuild_crowd(session, question)


# PostgreSQL, in one round trip: the question's lock; the forecast, drawn from the lock's row so
# its id is taken after the lock is granted (ids on one question grow in lock order); its
# probability rows; the forecaster's standing row; and the state :func:`record_forecast` needs.
# The statement's snapshot is taken before the lock is granted, so that state may miss a
# submission that committed meanwhile: record_forecast's guarded update notices and reads again.
_APPEND_POSTGRESQL = text("""
WITH question_lock AS (SELECT pg_advisory_xact_lock(:lock_class, :question_id)),
new_forecast AS (
    INSERT INTO forecasts (question_id, user_id, created_at, rationale)
    SELECT :question_id, :user_id, :created_at, :rationale FROM question_lock
    ON CONFLICT (question_id, user_id, created_at) DO NOTHING
    RETURNING id
),
new_probabilities AS (
    INSERT INTO forecast_probabilities (forecast_id, option_id, probability)
    SELECT new_forecast.id, given.option_id, given.probability
    FROM new_forecast, unnest(:option_ids, :probabilities) AS given (option_id, probability)
),
standing AS (
    INSERT INTO standing_forecasts (question_id, user_id, forecast_id, created_at, packed_probabilities)
    SELECT :question_id, :user_id, new_forecast.id, :created_at, :standing FROM new_forecast
    ON CONFLICT (question_id, user_id) DO UPDATE SET forecast_id = excluded.forecast_id,
        created_at = excluded.created_at, packed_probabilities = excluded.packed_probabilities
)
SELECT new_forecast.id, crowd.last_forecast_id, crowd.last_forecast_at,
    (SELECT max(f.id) FROM forecasts AS f WHERE f.question_id = :question_id AND f.id < new_forecast.id),
    (SELECT string_agg(s.packed_probabilities, ''::bytea) FROM standing_forecasts AS s
     WHERE s.question_id = :question_id AND s.user_id <> :user_id)
FROM new_forecast LEFT JOIN question_crowds AS crowd ON crowd.question_id = :question_id
""").bindparams(bindparam("created_at", type_=UTCDateTime()), bindparam("option_ids", type_=ARRAY(Integer)),
                bindparam("probabilities", type_=ARRAY(Float)), bindparam("standing", type_=LargeBinary()))


def append_forecast_postgresql(session: Session, values: dict, option_ids: list[int],
                               probabilities: list[float]) -> tuple[int, Sequence] | None:
    """Insert a forecast (``values``: question_id, user_id, created_at, rationale) with its
    probabilities and standing row under the question's lock (PostgreSQL, one statement); its id
    and the crowd state for :func:`record_forecast`, or None when the forecaster already has a
    forecast on the question at that very moment (nothing inserted)."""
    found = session.execute(_APPEND_POSTGRESQL, {
        **values, "lock_class": LOCK_CLASS, "option_ids": option_ids, "probabilities": probabilities,
        "standing": pack_probabilities(probabilities)}).first()
    if found is None:
        return None
    return int(found[0]), tuple(found[1:])


def refresh_stale(session: Session, questions: Sequence[Question]) -> dict[int, QuestionCrowd]:
    """The crowd rows of ``questions``, rebuilding those behind their latest forecast first."""
    ids = [q.id for q in questions]
    if not ids:
        return {}
    rows = {r.question_id: r for r in session.scalars(select(QuestionCrowd).where(QuestionCrowd.question_id.in_(ids)))}
    latest = latest_forecast_ids(session, ids)
    for question in questions:
        row = rows.get(question.id)
        if latest.get(question.id, 0) != (row.last_forecast_id if row is not None else 0):
            rows[question.id] = rebuild_crowd(session, question)
    return rows
