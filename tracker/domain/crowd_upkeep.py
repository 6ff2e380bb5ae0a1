"""Keeping the crowd tables up to date (standing forecasts, the crowd per UTC day and now).

A new forecast updates them in the submitting transaction: its forecaster's standing row, then the
crowd of today from the question's standing rows (one per forecaster, never the whole history).
Forecasts that arrived any other way (an import, a seed, a test factory) leave the question's
``last_forecast_id`` behind ``max(forecasts.id)``; the next reader notices (one index lookup) and
rebuilds that question once from its forecasts, with the scoring engine's daily crowd.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import Text, cast, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .. import scoring
from ..models import CrowdDay, Forecast, ForecastProbability, Question, QuestionCrowd, QuestionOption, StandingForecast

#: Class id of the transaction advisory locks that serialise crowd updates of one question (PostgreSQL).
LOCK_CLASS = 1414


def lock_question(session: Session, question_id: int) -> None:
    """Serialise crowd updates of one question until the transaction ends (PostgreSQL; SQLite
    serialises writers anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:c, :q)"), {"c": LOCK_CLASS, "q": question_id})


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


def _forecast_arrays(session: Session, question: Question, until: datetime | None = None):
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


def rebuild_crowd(session: Session, question: Question) -> QuestionCrowd:
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
         "probabilities": probs[i].tolist()}
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


def _upsert(session: Session, model: type, values: dict, keys: list[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE: one round trip whether the row exists or not."""
    dialect = session.get_bind().dialect.name
    make = postgresql_insert if dialect == "postgresql" else sqlite_insert
    stmt = make(model).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=keys, set_={k: stmt.excluded[k] for k in values if k not in keys}))


def record_forecast(session: Session, question: Question, forecast: Forecast, probabilities: list[float]) -> None:
    """Bring the crowd rows up to date with ``forecast`` just added (in the same transaction).

    Call after :func:`lock_question` was taken before the forecast's insert, so concurrent
    submissions on one question take turns and each sees the other's standing row.
    """
    previous = (select(func.max(Forecast.id))
                .where(Forecast.question_id == question.id, Forecast.id < forecast.id).scalar_subquery())
    found = session.execute(select(QuestionCrowd, previous).where(QuestionCrowd.question_id == question.id)
                            .execution_options(populate_existing=True)).first()
    row = found[0] if found is not None else None
    # Incremental only when the rows reflect every earlier forecast and time moves forward.
    if (found is None or row is None or row.last_forecast_id != (found[1] or 0)
            or (row.last_forecast_at is not None and row.last_forecast_at > forecast.created_at)):
        rebuild_crowd(session, question)
        return
    _upsert(session, StandingForecast, {"question_id": question.id, "user_id": forecast.user_id,
                                        "forecast_id": forecast.id, "created_at": forecast.created_at,
                                        "probabilities": probabilities}, ["question_id", "user_id"])
    # The rows as JSON text parsed in one call: a JSON decode per row costs more than the median.
    texts = session.scalars(select(cast(StandingForecast.probabilities, Text))
                            .where(StandingForecast.question_id == question.id)).all()
    matrix = json.loads("[" + ",".join(texts) + "]")
    crowd = scoring.crowd_of_standing(np.asarray(matrix, dtype=np.float64)).tolist()
    _upsert(session, CrowdDay, {"question_id": question.id, "day": _day(forecast.created_at),
                                "probabilities": crowd, "forecasters": len(matrix)}, ["question_id", "day"])
    row.last_forecast_id, row.last_forecast_at = forecast.id, forecast.created_at
    row.forecasts += 1
    row.forecasters, row.probabilities = len(matrix), crowd
    session.flush()


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
