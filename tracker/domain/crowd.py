"""The crowd forecast as pages show it, read from the maintained crowd tables
(:mod:`.crowd_upkeep`): a bounded number of rows per question whatever its history. The medians
themselves are computed by :mod:`tracker.scoring.crowd`, nowhere else.

Who may see an open question's crowd is decided in ONE place, :func:`crowd_visible`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import CrowdDay, Question, QuestionCrowd, StandingForecast, User
from .crowd_upkeep import crowd_until, refresh_stale


@dataclass(frozen=True)
class CrowdPolicy:
    """When an open question's crowd is shown (TRACKER_CROWD_MIN_FORECASTERS,
    TRACKER_CROWD_AFTER_OWN_FORECAST): enough forecasters, and the viewer's own forecast first."""

    min_forecasters: int = 3
    after_own_forecast: bool = True


#: Everything visible (the CLI and tests that do not ask about privacy).
OPEN_POLICY = CrowdPolicy(min_forecasters=0, after_own_forecast=False)


def crowd_visible(question: Question, shown_status: str, forecasters: int, viewer_forecast: bool,
                  policy: CrowdPolicy) -> bool:
    """Whether the crowd (number and plot) of ``question`` may be shown: always once forecasting
    has ended; while open only with at least ``policy.min_forecasters`` forecasters and, when the
    policy says so, after the viewer made a forecast of their own (as Fatebook does: no anchoring)."""
    if shown_status not in ("draft", "open"):
        return True
    if forecasters < policy.min_forecasters:
        return False
    return viewer_forecast or not policy.after_own_forecast


def hidden_reason(forecasters: int, viewer_forecast: bool, policy: CrowdPolicy) -> str:
    """Why an open question's crowd is hidden, in words for the page."""
    if forecasters < policy.min_forecasters:
        return (f"The crowd forecast is shown once at least {policy.min_forecasters} forecasters have "
                "forecast on this question.")
    return "Make your own forecast to see the crowd's: it is hidden until then so it cannot anchor you."


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
    """The crowd forecast of one question per UTC day (the crowd scoring uses; today's is the crowd
    now) up to the effective close: plain values, so pages and plots never handle arrays."""

    option_keys: list[str]
    at: list[datetime] = field(default_factory=list)
    probabilities: list[list[float]] = field(default_factory=list)  # per point, per option (in order)
    forecasters: list[int] = field(default_factory=list)
    version: tuple = ()  # changes whenever the history does (a cache key for plots)

    def __len__(self) -> int:
        return len(self.at)

    def series(self, position: int) -> list[float]:
        """The crowd probability of the option at ``position`` at each point."""
        return [row[position] for row in self.probabilities]

    def latest(self) -> CrowdNow | None:
        """The last crowd forecast (now, or at the close), or None before any forecast."""
        if not self.at:
            return None
        return CrowdNow(probabilities=dict(zip(self.option_keys, self.probabilities[-1], strict=True)),
                        forecasters=self.forecasters[-1])


def _midnight(day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _close_crowd(session: Session, question: Question, row: QuestionCrowd,
                 close: datetime) -> tuple[list[float], int] | None:
    """The crowd at an early effective close, cached on the question's crowd row."""
    if row.close_at != close:
        found = crowd_until(session, question, close)
        row.close_at = close
        row.close_probabilities, row.close_forecasters = (found if found else (None, None))
        session.flush()
    if row.close_probabilities is None:
        return None
    return row.close_probabilities, int(row.close_forecasters or 0)


def crowd_history(session: Session, question: Question, close: datetime | None = None) -> CrowdHistory:
    """The crowd of ``question`` per day up to ``close`` (default: the scheduled close). Forecasts
    made after an early effective close do not count, exactly as in scoring."""
    close = question.closes_at if close is None else min(close, question.closes_at)
    keys = [o.key for o in question.options]
    row = refresh_stale(session, [question]).get(question.id)
    if row is None:  # no forecast yet
        return CrowdHistory(option_keys=keys, version=(0, close.isoformat()))
    history = CrowdHistory(option_keys=keys, version=(row.last_forecast_id, close.isoformat()))
    early = row.last_forecast_at is not None and row.last_forecast_at > close
    days = select(CrowdDay).where(CrowdDay.question_id == question.id).order_by(CrowdDay.day)
    if early:
        days = days.where(CrowdDay.day < close.astimezone(UTC).date())
    for day in session.scalars(days):
        history.at.append(_midnight(day.day))
        history.probabilities.append(list(day.probabilities))
        history.forecasters.append(day.forecasters)
    if early:
        final = _close_crowd(session, question, row, close)
        if final is not None:
            history.at.append(close)
            history.probabilities.append(list(final[0]))
            history.forecasters.append(final[1])
    return history


def current_crowds(session: Session, questions: Sequence[Question]) -> dict[int, CrowdNow]:
    """The crowd forecast now (or at the close) of each question: one maintained row each.
    Questions without forecasts are absent from the result."""
    rows = refresh_stale(session, questions)
    result: dict[int, CrowdNow] = {}
    for question in questions:
        row = rows.get(question.id)
        if row is None or not row.probabilities:
            continue
        keys = [o.key for o in question.options]
        result[question.id] = CrowdNow(dict(zip(keys, row.probabilities, strict=True)), row.forecasters)
    return result


def forecast_on(session: Session, viewer: User | None, question_ids: Sequence[int]) -> set[int]:
    """Which of ``question_ids`` the viewer has a forecast on (their standing rows; a primary key read)."""
    if viewer is None or not question_ids:
        return set()
    return set(session.scalars(select(StandingForecast.question_id).where(
        StandingForecast.user_id == viewer.id, StandingForecast.question_id.in_(question_ids))))
