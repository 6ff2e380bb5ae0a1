"""Stored scores: read forecasts and resolutions into arrays, call the scoring engine, write rows.

Scores are a cache of :mod:`tracker.scoring`'s output. Each run reads a batch of questions with one
query for the questions, one for their latest resolution events and one for every forecast
probability, scores the batch in one engine call, and replaces the batch's rows, all inside the
caller's transaction. Nothing here computes a score itself.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
from sqlalchemy import Table, and_, any_, delete, func, insert, literal_column, or_, select
from sqlalchemy.orm import Session, selectinload

from .. import scoring
from ..clock import Clock
from ..models import BIN_COLUMNS, Forecast, Question, QuestionScore, ResolutionEvent, Score
from .column_copy import read_columns, read_select, replace_rows, write_columns
from .forecaster_stats import (
    FIELDS,
    Contributions,
    KeySums,
    apply_deltas,
    contributions,
    key_sums,
    stored_contributions,
    stored_rows,
    write_totals,
)

BATCH_QUESTIONS = 500
#: Forecasts read and scored per batch: bounds a rebuild's memory whatever the questions' sizes.
BATCH_FORECASTS = 75_000
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


_EMPTY_INT = np.zeros(0, dtype=np.int64)


def _load_forecasts(session: Session, question_ids: Sequence[int], index_of: dict[int, int],
                    position_of: dict[int, int]) -> tuple:
    """Every probability of every forecast in the batch, as arrays sorted by (question, forecaster,
    time, id): question index, forecaster id, time in microseconds, probabilities (n, K_max).

    Two reads, joined here: the batch's forecasts, then their probability rows found through
    the probability table's primary key (``forecast_id = ANY(ARRAY(...))``: one sorted index
    scan). A join lets PostgreSQL's planner hash the batch's forecasts and scan the whole
    probability table for each batch instead: its cost grew with the history, not the batch."""
    in_batch = f"question_id IN ({', '.join(str(int(q)) for q in question_ids)})"
    fid, qid, uid, at = read_columns(session, f"SELECT id, question_id, user_id, created_at FROM forecasts "
                                     f"WHERE {in_batch}", ["i4", "i4", "i4", "ts"])
    if len(fid) == 0:
        return _EMPTY_INT, _EMPTY_INT, _EMPTY_INT, np.zeros((0, 2))
    ids = f"SELECT id FROM forecasts WHERE {in_batch}"
    ids = f"= ANY(ARRAY({ids}))" if session.get_bind().dialect.name == "postgresql" else f"IN ({ids})"
    of, option, prob = read_columns(session, "SELECT forecast_id, option_id, probability FROM "
                                    f"forecast_probabilities WHERE forecast_id {ids}", ["i4", "i4", "f8"])
    by_id = np.argsort(fid)
    row = by_id[np.searchsorted(fid, of, sorter=by_id)]
    positions = _lookup(position_of, option)
    probs = np.zeros((len(fid), int(positions.max(initial=0)) + 1))
    probs[row, positions] = prob
    # A forecast without probability rows is no forecast (as an inner join had it).
    has = np.bincount(row, minlength=len(fid)) > 0
    questions = _lookup(index_of, qid)
    order = np.lexsort((fid, at, uid, questions))
    order = order[has[order]]
    return questions[order], uid[order], at[order], probs[order]


def _lookup(mapping: dict[int, int], keys: np.ndarray) -> np.ndarray:
    """``mapping[k]`` for each of ``keys`` (all present), without a Python step per key."""
    known = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
    values = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))
    order = np.argsort(known)
    at = order[np.minimum(np.searchsorted(known, keys, sorter=order), max(len(known) - 1, 0))]
    if len(keys) and (not len(known) or np.any(known[at] != keys)):
        raise KeyError("a probability row names an option outside its question")
    return values[at]


def rescore_questions(session: Session, clock: Clock, question_ids: Iterable[int],
                      keep_aggregates: bool = True) -> RunReport:
    """Recompute and replace the stored scores of ``question_ids`` to follow their latest event.

    Resolved: one Score row per forecaster and a QuestionScore. Annulled: no Score rows at all
    (null, not zero) and a QuestionScore recording the annulment. No event: nothing stored.
    The forecaster aggregates follow: the batch's old rows' contributions are subtracted and the
    new ones added (``keep_aggregates=False``: the caller rebuilds them).
    """
    report = RunReport()
    for batch in _batches(session, sorted(set(question_ids))):
        if not keep_aggregates:
            _rescore_batch(session, clock.now(), batch, report)
            continue
        old = key_sums(session, stored_contributions(session, batch), -1.0)
        new = _rescore_batch(session, clock.now(), batch, report)
        apply_deltas(session, old + key_sums(session, new))
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


def _rescore_batch(session: Session, now: datetime, ids: list[int], report: RunReport) -> Contributions:
    """Score one batch and replace its rows; returns the new rows' contributions to the
    forecaster aggregates."""
    questions = list(session.scalars(select(Question).where(Question.id.in_(ids)).order_by(Question.id)
                                     .options(selectinload(Question.options))))
    events = latest_events(session, ids)
    session.execute(delete(QuestionScore).where(QuestionScore.question_id.in_(ids)))
    scope = Score.question_id.in_(ids)
    report.questions += len(questions)
    none = Contributions(_EMPTY_INT, _EMPTY_INT, np.zeros((0, len(FIELDS))))
    if not questions:
        return none
    index_of = {q.id: i for i, q in enumerate(questions)}
    position_of = {o.id: o.position for q in questions for o in q.options}
    outcome: list[int] = []
    annulled: list[bool] = []
    occurred: list[float] = []
    for q in questions:
        event = events.get(q.id)
        resolved = event is not None and event.action == "resolve" and event.outcome_option_id is not None
        outcome.append(position_of[event.outcome_option_id] if resolved else -1)  # type: ignore[union-attr,index]
        annulled.append(event is not None and event.action == "annul")
        when = event.occurred_at if resolved and event is not None else None
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
    question, forecaster, micros, probs = _load_forecasts(session, ids, index_of, position_of)
    seconds = micros / 1e6  # exactly datetime.timestamp(): both round micros / 10**6 once
    result = scoring.score_questions(
        batch_questions, scoring.Forecasts(question=question, forecaster=forecaster, time=seconds, probs=probs)
    )
    del probs
    per_q = result.questions
    records = []
    for i, q in enumerate(questions):
        event = events.get(q.id)
        if event is None:
            continue
        if annulled[i]:
            report.annulled += 1
        elif per_q.scored[i]:
            report.scored += 1
        records.append({
            "question_id": q.id,
            "resolution_event_id": event.id,
            "window_days": int(per_q.window_days[i]) if per_q.scored[i] else None,
            "forecasters": int(per_q.n_forecasters[i]),
            "crowd_brier": _float(per_q.crowd_brier[i]),
            "crowd_log_score": _float(per_q.crowd_log_score[i]),
            "computed_at": now,
        })
    if records:
        session.execute(insert(QuestionScore), records)
    pairs = result.pairs
    if len(pairs) == 0:
        session.execute(delete(Score).where(scope))
        return none
    first_at, last_at = _first_last_counted(question, forecaster, seconds, micros, per_q.effective_close, pairs)
    qi = pairs.question.astype(np.int64)
    question_ids = np.asarray([q.id for q in questions], dtype=np.int64)[qi]
    event_ids = np.asarray([events[q.id].id if q.id in events else 0 for q in questions], dtype=np.int64)[qi]
    eligible = np.asarray([q.closes_at <= now for q in questions])[qi]
    # The calibration bin sums stay NULL (NaN) until the scheduled close has passed.
    bins = np.concatenate([pairs.calibration_count, pairs.calibration_sum_forecast,
                           pairs.calibration_sum_outcome], axis=1).astype(np.float64)
    bins[~eligible] = np.nan
    columns: dict[str, np.ndarray] = {
        "question_id": question_ids, "user_id": pairs.forecaster, "resolution_event_id": event_ids,
        "forecasts": pairs.n_forecasts, "first_forecast_at": first_at, "last_forecast_at": last_at,
        "active_days": pairs.active_days, "brier": pairs.brier, "relative_brier": pairs.relative_brier,
        "log_score": pairs.log_score, "baseline": pairs.baseline, "coverage": pairs.coverage,
        "computed_at": np.full(len(pairs), (now - _UNIX_EPOCH) // timedelta(microseconds=1), dtype=np.int64),
    }
    for k, name in enumerate(BIN_COLUMNS):
        columns[name] = bins[:, k]
    report.score_rows += _write_scores(session, columns, scope)
    scores = np.stack([pairs.brier, pairs.relative_brier, pairs.log_score, pairs.coverage], axis=1)
    return contributions(pairs.forecaster, question_ids, pairs.n_forecasts, scores, bins)


#: The Score columns a row's fingerprint covers (computed_at is when the row last changed).
_COMPARED = ["resolution_event_id", "forecasts", "first_forecast_at", "last_forecast_at", "active_days", "brier",
             "relative_brier", "log_score", "baseline", "coverage", *BIN_COLUMNS]
_TIMES = {"first_forecast_at", "last_forecast_at"}
_INTEGERS = {"resolution_event_id", "forecasts", "active_days"}
_GOLDEN = 0x9E3779B97F4A7C15
#: The stored fingerprint of a row that has none (coalesced on read); no computed one equals it.
_UNKNOWN = 0


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every input bit flips about half the output bits (uint64 wraps)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def fingerprints(columns: dict[str, np.ndarray]) -> np.ndarray:
    """A 64-bit hash (int64) of each row's stored values in ``_COMPARED``, bit for bit: times as
    microseconds, floats by their IEEE bits with every NaN (NULL) alike. A run compares these
    with the stored ones to find the rows it must rewrite; two different rows share one with
    probability 2**-64, so a changed row is never kept in practice."""
    n = len(columns["question_id"])
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j, name in enumerate(_COMPARED):
            values = np.asarray(columns[name])
            if name in _TIMES or name in _INTEGERS:
                bits = values.astype(np.int64).view(np.uint64)
            else:
                floats = values.astype(np.float64)
                bits = np.where(np.isnan(floats), np.nan, floats).view(np.uint64)
            h = _mix(h ^ (bits + np.uint64(_GOLDEN * (j + 1) % (1 << 64))))
    result = h.view(np.int64)
    result[result == _UNKNOWN] = _UNKNOWN + 1
    return result


def _write_scores(session: Session, columns: dict[str, np.ndarray], scope) -> int:
    """Make the stored Score rows in ``scope`` the new ``columns``. On PostgreSQL the stored rows'
    keys and fingerprints are read first and only the rows that differ are deleted and written:
    a rebuild mostly finds what is stored, and reading 4 narrow columns of a row costs a small
    fraction of deleting and writing it. Returns the number of new rows."""
    table = cast(Table, Score.__table__)
    columns = dict(columns, fingerprint=fingerprints(columns))
    if session.get_bind().dialect.name != "postgresql":
        return replace_rows(session, table, columns, scope)
    stored = read_select(session, select(Score.id, Score.question_id, Score.user_id,
                                         func.coalesce(Score.fingerprint, _UNKNOWN)).where(scope),
                         ["i4", "i4", "i4", "i8"])
    new_key = (np.asarray(columns["question_id"], dtype=np.int64) << 32) + np.asarray(columns["user_id"], dtype=np.int64)
    old_key = (stored[1] << 32) + stored[2]
    order = np.argsort(old_key, kind="stable")
    at = np.minimum(np.searchsorted(old_key[order], new_key), max(len(order) - 1, 0))
    same = np.zeros(len(new_key), dtype=bool)
    if len(order):
        same = (old_key[order][at] == new_key) & (stored[3][order][at] == columns["fingerprint"])
    kept = np.zeros(len(order), dtype=bool)
    kept[order[at[same]]] = True
    stale = stored[0][~kept].tolist()
    if len(stale) == len(stored[0]):  # every row changed (a correction): one delete by question
        session.execute(delete(Score).where(scope))
        stale = []
    if stale:  # one array literal: an IN list of thousands of parameters costs more to plan
        session.execute(delete(Score).where(Score.id == any_(literal_column(
            f"ARRAY[{','.join(str(int(i)) for i in stale)}]::int[]"))))
    changed = np.flatnonzero(~same)
    write_columns(session, table, {name: np.asarray(values)[changed] for name, values in columns.items()})
    return len(new_key)


def _first_last_counted(question, forecaster, seconds, micros, effective_close, pairs):
    """Times (microseconds) of each pair's first and last forecast made on or before the effective close."""
    counted = seconds <= effective_close[question] if len(question) else np.zeros(0, bool)
    idx = np.flatnonzero(counted)
    # Forecast rows are sorted by (question, forecaster, time), like the pairs.
    keys = question[idx] * (1 << 40) + forecaster[idx]
    pair_keys = pairs.question.astype(np.int64) * (1 << 40) + pairs.forecaster.astype(np.int64)
    first = idx[np.searchsorted(keys, pair_keys, side="left")]
    last = idx[np.searchsorted(keys, pair_keys, side="right") - 1]
    return micros[first], micros[last]


def _float(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def rebuild_all(session: Session, clock: Clock) -> RunReport:
    """Recompute every stored score from the forecasts and resolution events (``tracker scores
    rebuild``), then every forecaster aggregate from the new rows, summed in memory."""
    with_events = sorted(session.scalars(select(ResolutionEvent.question_id).distinct()))
    # Scores of questions that no longer have any event cannot stand; the others are replaced.
    session.execute(delete(Score).where(Score.question_id.not_in(with_events)))
    session.execute(delete(QuestionScore).where(QuestionScore.question_id.not_in(with_events)))
    resolved = set(session.scalars(select(Question.id).where(Question.status == "resolved")))
    report = RunReport()
    totals = KeySums.empty()
    for batch in _batches(session, with_events):
        new = _rescore_batch(session, clock.now(), batch, report)
        # As rebuild_stats: only resolved questions count towards the aggregates.
        keep = np.isin(new.question_id, np.asarray(sorted(resolved), dtype=np.int64))
        totals = totals + key_sums(session, Contributions(new.user_id[keep], new.question_id[keep], new.matrix[keep]))
    write_totals(session, totals, stored_rows(session))
    return report
