"""Stored scores: read forecasts and resolutions into arrays, call the scoring engine, write rows.

Scores are a cache of :mod:`tracker.scoring`'s output. Each run reads a batch of questions with one
query for the questions, one for their latest resolution events and one for every forecast
probability, scores the batch in one engine call, and replaces the batch's rows, all inside the
caller's transaction. Nothing here computes a score itself.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from .. import scoring
from ..clock import Clock
from ..models import (
    Forecast,
    ForecastProbability,
    Question,
    QuestionOption,
    QuestionScore,
    ResolutionEvent,
    Score,
)
from .forecaster_stats import accumulate, apply_deltas, rebuild_stats, stored_contributions

BATCH_QUESTIONS = 500
#: Forecasts read and scored per batch: bounds a rebuild's memory whatever the questions' sizes.
BATCH_FORECASTS = 150_000


@dataclass
class RunReport:
    questions: int = 0
    scored: int = 0
    annulled: int = 0
    score_rows: int = 0


def latest_events(session: Session, question_ids: Sequence[int]) -> dict[int, ResolutionEvent]:
    """The standing (latest) resolution event of each question that has one."""
    if not question_ids:
        return {}
    latest = (
        select(ResolutionEvent.question_id, func.max(ResolutionEvent.id).label("event_id"))
        .where(ResolutionEvent.question_id.in_(question_ids))
        .group_by(ResolutionEvent.question_id)
        .subquery()
    )
    events = session.scalars(select(ResolutionEvent).join(latest, ResolutionEvent.id == latest.c.event_id))
    return {e.question_id: e for e in events}


def stale_question_ids(session: Session, now: datetime | None = None) -> list[int]:
    """Questions whose stored scores do not reflect their latest resolution event, plus resolved
    questions whose scheduled close has passed since they were scored (calibration samples only
    count once ``closes_at`` has passed, so an early resolution must be scored again then)."""
    latest = (
        select(ResolutionEvent.question_id, func.max(ResolutionEvent.id).label("event_id"))
        .group_by(ResolutionEvent.question_id)
        .subquery()
    )
    stale = or_(QuestionScore.question_id.is_(None), QuestionScore.resolution_event_id != latest.c.event_id)
    if now is not None:
        stale = or_(stale, and_(Question.closes_at <= now, QuestionScore.computed_at < Question.closes_at))
    query = (
        select(latest.c.question_id)
        .join(Question, Question.id == latest.c.question_id)
        .outerjoin(QuestionScore, QuestionScore.question_id == latest.c.question_id)
        .where(stale)
        .order_by(latest.c.question_id)
    )
    return list(session.scalars(query))


def _load_forecasts(session: Session, question_ids: Sequence[int], index_of: dict[int, int]) -> tuple:
    """One query for every probability of every forecast in the batch, turned into arrays."""
    rows = session.execute(
        select(
            Forecast.id, Forecast.question_id, Forecast.user_id, Forecast.created_at,
            QuestionOption.position, ForecastProbability.probability,
        )
        .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)
        .join(QuestionOption, QuestionOption.id == ForecastProbability.option_id)
        .where(Forecast.question_id.in_(question_ids))
        .order_by(Forecast.question_id, Forecast.user_id, Forecast.created_at, Forecast.id)
    ).all()
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), np.zeros((0, 2)), []
    fid_col, qid, uid, created, pos_col, prob = zip(*rows, strict=True)
    fid = np.asarray(fid_col, dtype=np.int64)
    # Rows come grouped by forecast; a new forecast starts where the id changes.
    starts = np.flatnonzero(np.r_[True, fid[1:] != fid[:-1]])
    row_of = np.cumsum(np.r_[True, fid[1:] != fid[:-1]]) - 1
    pos = np.asarray(pos_col, dtype=np.int64)
    probs = np.zeros((len(starts), int(pos.max()) + 1))
    probs[row_of, pos] = np.asarray(prob, dtype=np.float64)
    question = np.fromiter((index_of[q] for q in np.asarray(qid)[starts]), dtype=np.int64, count=len(starts))
    forecaster = np.asarray(uid, dtype=np.int64)[starts]
    times = [created[i] for i in starts]
    seconds = np.fromiter((t.timestamp() for t in times), dtype=np.float64, count=len(times))
    return question, forecaster, seconds, probs, times


def rescore_questions(session: Session, clock: Clock, question_ids: Iterable[int],
                      keep_aggregates: bool = True) -> RunReport:
    """Recompute and replace the stored scores of ``question_ids`` to follow their latest event.

    Resolved: one Score row per forecaster and a QuestionScore. Annulled: no Score rows at all
    (null, not zero) and a QuestionScore recording the annulment. No event: nothing stored.
    The forecaster aggregates follow (``keep_aggregates=False``: the caller rebuilds them).
    """
    report = RunReport()
    for batch in _batches(session, sorted(set(question_ids))):
        # The forecaster aggregates lose the batch's old scores and gain its new ones.
        if not keep_aggregates:
            _rescore_batch(session, clock.now(), batch, report)
            continue
        deltas = accumulate(session, stored_contributions(session, batch), -1.0)
        _rescore_batch(session, clock.now(), batch, report)
        apply_deltas(session, accumulate(session, stored_contributions(session, batch), 1.0, into=deltas))
    return report


def _batches(session: Session, ids: list[int]) -> Iterable[list[int]]:
    """Consecutive runs of ``ids`` holding at most BATCH_FORECASTS forecasts (a bigger question
    alone) and BATCH_QUESTIONS questions."""
    counts: dict[int, int] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        for qid, n in session.execute(select(Forecast.question_id, func.count()).where(
                Forecast.question_id.in_(chunk)).group_by(Forecast.question_id)):
            counts[qid] = n
    batch: list[int] = []
    size = 0
    for qid in ids:
        n = counts.get(qid, 0)
        if batch and (size + n > BATCH_FORECASTS or len(batch) >= BATCH_QUESTIONS):
            yield batch
            batch, size = [], 0
        batch.append(qid)
        size += n
    if batch:
        yield batch


def _rescore_batch(session: Session, now: datetime, ids: list[int], report: RunReport) -> list[int]:
    """Score one batch; returns the forecasters it wrote scores for."""
    questions = list(session.scalars(select(Question).where(Question.id.in_(ids)).order_by(Question.id)))
    events = latest_events(session, ids)
    session.execute(delete(Score).where(Score.question_id.in_(ids)))
    session.execute(delete(QuestionScore).where(QuestionScore.question_id.in_(ids)))
    report.questions += len(questions)
    if not questions:
        return []
    index_of = {q.id: i for i, q in enumerate(questions)}
    outcome: list[int] = []
    annulled: list[bool] = []
    occurred: list[float] = []
    for q in questions:
        event = events.get(q.id)
        option = event.outcome if event is not None and event.action == "resolve" else None
        outcome.append(option.position if option is not None else -1)
        annulled.append(event is not None and event.action == "annul")
        when = event.occurred_at if option is not None and event is not None else None
        occurred.append(when.timestamp() if when is not None else np.nan)
    batch_questions = scoring.Questions(
        n_options=np.asarray([len(q.options) for q in questions]),
        outcome=np.asarray(outcome),
        opens_at=np.asarray([q.opens_at.timestamp() for q in questions]),
        closes_at=np.asarray([q.closes_at.timestamp() for q in questions]),
        closes_at_passed=np.asarray([q.closes_at <= now for q in questions]),
        ordered=np.asarray([q.ordered for q in questions]),
        occurred_at=np.asarray(occurred),
        annulled=np.asarray(annulled),
    )
    question, forecaster, seconds, probs, times = _load_forecasts(session, ids, index_of)
    result = scoring.score_questions(
        batch_questions, scoring.Forecasts(question=question, forecaster=forecaster, time=seconds, probs=probs)
    )
    per_q = result.questions
    for i, q in enumerate(questions):
        event = events.get(q.id)
        if event is None:
            continue
        if annulled[i]:
            report.annulled += 1
        elif per_q.scored[i]:
            report.scored += 1
        session.add(QuestionScore(
            question_id=q.id,
            resolution_event_id=event.id,
            window_days=int(per_q.window_days[i]) if per_q.scored[i] else None,
            forecasters=int(per_q.n_forecasters[i]),
            crowd_brier=_float(per_q.crowd_brier[i]),
            crowd_log_score=_float(per_q.crowd_log_score[i]),
            computed_at=now,
        ))
    pairs = result.pairs
    if len(pairs) == 0:
        session.flush()
        return []
    first_at, last_at = _first_last_counted(question, forecaster, seconds, times, per_q.effective_close, pairs)
    eligible = np.asarray([q.closes_at <= now for q in questions])
    rows = []
    for j in range(len(pairs)):
        qi = int(pairs.question[j])
        rows.append({
            "question_id": questions[qi].id,
            "user_id": int(pairs.forecaster[j]),
            "resolution_event_id": events[questions[qi].id].id,
            "forecasts": int(pairs.n_forecasts[j]),
            "first_forecast_at": first_at[j],
            "last_forecast_at": last_at[j],
            "active_days": int(pairs.active_days[j]),
            "brier": _float(pairs.brier[j]),
            "relative_brier": _float(pairs.relative_brier[j]),
            "log_score": _float(pairs.log_score[j]),
            "baseline": _float(pairs.baseline[j]),
            "coverage": _float(pairs.coverage[j]),
            "calibration": {
                "count": pairs.calibration_count[j].tolist(),
                "sum_forecast": pairs.calibration_sum_forecast[j].tolist(),
                "sum_outcome": pairs.calibration_sum_outcome[j].tolist(),
            } if eligible[qi] else None,
            "computed_at": now,
        })
    session.execute(insert(Score), rows)
    report.score_rows += len(rows)
    session.flush()
    return [int(u) for u in np.unique(pairs.forecaster)]


def _first_last_counted(question, forecaster, seconds, times, effective_close, pairs):
    """Times of each pair's first and last forecast made on or before the effective close."""
    counted = seconds <= effective_close[question] if len(question) else np.zeros(0, bool)
    idx = np.flatnonzero(counted)
    # Forecast rows are sorted by (question, forecaster, time), like the pairs.
    keys = question[idx] * (1 << 40) + forecaster[idx]
    pair_keys = pairs.question.astype(np.int64) * (1 << 40) + pairs.forecaster.astype(np.int64)
    first = idx[np.searchsorted(keys, pair_keys, side="left")]
    last = idx[np.searchsorted(keys, pair_keys, side="right") - 1]
    return [times[i] for i in first], [times[i] for i in last]


def _float(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def rebuild_all(session: Session, clock: Clock) -> RunReport:
    """Recompute every stored score from the forecasts and resolution events (``tracker scores rebuild``)."""
    with_events = list(session.scalars(select(ResolutionEvent.question_id).distinct()))
    # Scores of questions that no longer have any event cannot stand.
    session.execute(delete(Score).where(Score.question_id.not_in(with_events)))
    session.execute(delete(QuestionScore).where(QuestionScore.question_id.not_in(with_events)))
    report = rescore_questions(session, clock, with_events, keep_aggregates=False)
    # From scratch, so rounding in the running sums never accumulates across rebuilds.
    rebuild_stats(session)
    return report
