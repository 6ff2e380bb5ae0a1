"""The crowd forecast from the database: load forecasts into arrays and let the scoring engine
compute it (the medians live in :mod:`tracker.scoring.crowd`, nowhere else).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Forecast, ForecastProbability, Question, QuestionOption
from ..scoring.crowd import CrowdTimeline, crowd_forecast_over_time


@dataclass(frozen=True)
class CrowdNow:
    """The crowd's current forecast on one question."""

    probabilities: dict[str, float]  # option key -> probability, in option order
    forecasters: int

    def leading(self) -> tuple[str, float]:
        """The option key with the highest crowd probability (first in order on a tie)."""
        key = max(self.probabilities, key=lambda k: self.probabilities[k])
        return key, self.probabilities[key]


@dataclass(frozen=True)
class CrowdHistory:
    """The crowd forecast of one question from each moment it changed: plain Python values, so
    pages and plots never handle the scoring engine's arrays."""

    option_keys: list[str]
    at: list[datetime] = field(default_factory=list)
    probabilities: list[list[float]] = field(default_factory=list)  # per moment, per option (in order)
    forecasters: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.at)

    def series(self, position: int) -> list[float]:
        """The crowd probability of the option at ``position`` at each moment."""
        return [row[position] for row in self.probabilities]

    def latest(self) -> CrowdNow | None:
        """The last crowd forecast (now, or at the close), or None before any forecast."""
        if not self.at:
            return None
        return CrowdNow(probabilities=dict(zip(self.option_keys, self.probabilities[-1], strict=True)),
                        forecasters=self.forecasters[-1])


def _seconds(value: datetime) -> float:
    return value.astimezone(UTC).timestamp()


def _timeline(rows: Sequence[tuple[int, datetime, int, int, float]], n_options: int,
              until: datetime | None) -> CrowdTimeline:
    """Rows of (forecast id, created_at, user id, option position, probability) -> crowd timeline."""
    by_forecast: dict[int, list] = {}
    for forecast_id, created_at, user_id, position, probability in rows:
        entry = by_forecast.setdefault(forecast_id, [user_id, _seconds(created_at), [0.0] * n_options])
        entry[2][position] = probability
    entries = list(by_forecast.values())
    forecaster = np.array([e[0] for e in entries], dtype=np.int64)
    times = np.array([e[1] for e in entries], dtype=np.float64)
    probs = np.array([e[2] for e in entries], dtype=np.float64).reshape(len(entries), n_options)
    return crowd_forecast_over_time(
        forecaster, times, probs, n_options, until=None if until is None else _seconds(until)
    )


def _forecast_rows(question_ids: Sequence[int]):
    return (
        select(Forecast.question_id, Forecast.id, Forecast.created_at, Forecast.user_id,
               QuestionOption.position, ForecastProbability.probability)
        .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)
        .join(QuestionOption, QuestionOption.id == ForecastProbability.option_id)
        .where(Forecast.question_id.in_(question_ids))
    )


def crowd_timeline(session: Session, question: Question) -> CrowdTimeline:
    """The crowd forecast of ``question`` from each moment it changed, up to the close (one query)."""
    rows = session.execute(_forecast_rows([question.id])).all()
    return _timeline([r[1:] for r in rows], len(question.options), question.closes_at)


def crowd_history(session: Session, question: Question) -> CrowdHistory:
    """:func:`crowd_timeline` as plain values, for pages and plots."""
    timeline = crowd_timeline(session, question)
    return CrowdHistory(
        option_keys=[o.key for o in question.options],
        at=[datetime.fromtimestamp(float(s), tz=UTC) for s in timeline.at],
        probabilities=timeline.probs.tolist(),
        forecasters=[int(n) for n in timeline.n_forecasters],
    )


def current_crowds(session: Session, questions: Sequence[Question]) -> dict[int, CrowdNow]:
    """The crowd forecast now (or at the close) of each question, in one query for all of them.

    Only each forecaster's latest forecast made before the close is read: that is all the current
    crowd depends on. Questions without forecasts are absent from the result.
    """
    if not questions:
        return {}
    ids = [q.id for q in questions]
    ranked = (
        select(
            Forecast.id.label("forecast_id"),
            func.row_number()
            .over(partition_by=(Forecast.question_id, Forecast.user_id),
                  order_by=(Forecast.created_at.desc(), Forecast.id.desc()))
            .label("rank"),
        )
        .join(Question, Question.id == Forecast.question_id)
        .where(Forecast.question_id.in_(ids), Forecast.created_at <= Question.closes_at)
        .subquery()
    )
    rows = session.execute(
        _forecast_rows(ids).join(ranked, ranked.c.forecast_id == Forecast.id).where(ranked.c.rank == 1)
    ).all()
    grouped: dict[int, list] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row[1:])
    result: dict[int, CrowdNow] = {}
    for question in questions:
        if question.id not in grouped:
            continue
        timeline = _timeline(grouped[question.id], len(question.options), None)
        keys = [o.key for o in question.options]
        result[question.id] = CrowdNow(
            probabilities=dict(zip(keys, (float(p) for p in timeline.probs[-1]), strict=True)),
            forecasters=int(timeline.n_forecasters[-1]),
        )
    return result
