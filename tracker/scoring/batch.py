"""The arrays the database layer passes in, and the arrays it gets back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .timeline import epoch_seconds


def _array(values: object, dtype: type | str) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=dtype))


@dataclass(frozen=True)
class Questions:
    """Per-question inputs, all of shape (Q,). Times are seconds since epoch UTC or datetime64.

    ``outcome`` is the index of the option that occurred, -1 while unresolved (binary: 0 = yes).
    ``occurred_at`` is NaN (or NaT) when the resolution gives none. ``closes_at_passed`` says
    whether the scheduled close is in the past at scoring time (calibration uses only those).
    """

    n_options: np.ndarray
    outcome: np.ndarray
    opens_at: np.ndarray
    closes_at: np.ndarray
    closes_at_passed: np.ndarray
    # None means "all False / NaN"; __post_init__ replaces it with an array, so after construction
    # these are always arrays (hence typed as such).
    ordered: np.ndarray = None  # type: ignore[assignment]
    occurred_at: np.ndarray = None  # type: ignore[assignment]
    annulled: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        size = len(np.asarray(self.n_options))
        fill = {"ordered": False, "occurred_at": np.nan, "annulled": False}
        for name, default in fill.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(size, default))
        object.__setattr__(self, "n_options", _array(self.n_options, np.int64))
        object.__setattr__(self, "outcome", _array(self.outcome, np.int64))
        for name in ("opens_at", "closes_at", "occurred_at"):
            object.__setattr__(self, name, epoch_seconds(getattr(self, name)))
        for name in ("closes_at_passed", "ordered", "annulled"):
            object.__setattr__(self, name, _array(getattr(self, name), bool))
        for name in ("outcome", "opens_at", "closes_at", "occurred_at", "closes_at_passed",
                     "ordered", "annulled"):
            if getattr(self, name).shape != (size,):
                raise ValueError(f"Questions.{name} must have shape ({size},)")
        if np.any(self.n_options < 2):
            raise ValueError("every question needs at least two options")

    def __len__(self) -> int:
        return len(self.n_options)


@dataclass(frozen=True)
class Forecasts:
    """Per-forecast inputs: ``question`` (n,) index into Questions, ``forecaster`` (n,) int id,
    ``time`` (n,) seconds since epoch UTC or datetime64, ``probs`` (n, K_max) zero-padded.

    Rows already sorted by (question, forecaster, time) skip the engine's sort.
    """

    question: np.ndarray
    forecaster: np.ndarray
    time: np.ndarray
    probs: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "question", _array(self.question, np.int64))
        object.__setattr__(self, "forecaster", _array(self.forecaster, np.int64))
        object.__setattr__(self, "time", epoch_seconds(self.time))
        probs = np.asarray(self.probs, dtype=np.float64)
        if probs.ndim != 2:
            raise ValueError("Forecasts.probs must be (n, K_max)")
        object.__setattr__(self, "probs", probs)
        n = len(self.question)
        for name in ("forecaster", "time", "probs"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Forecasts.{name} must have length {n}")

    def __len__(self) -> int:
        return len(self.question)


@dataclass(frozen=True)
class PairScores:
    """One row per (question, forecaster) with a counted forecast on a scored question, sorted
    by (question, forecaster). Calibration sums are zero where the question is not eligible."""

    question: np.ndarray  # (P,) int index into Questions
    forecaster: np.ndarray  # (P,) int id
    brier: np.ndarray  # (P,) time-averaged Brier over active days
    log_score: np.ndarray  # (P,) time-averaged ln p_outcome over active days
    relative_brier: np.ndarray  # (P,)
    baseline: np.ndarray  # (P,) Baseline averaged over the window, 0 before joining
    coverage: np.ndarray  # (P,) active days / window days
    active_days: np.ndarray  # (P,) int
    n_forecasts: np.ndarray  # (P,) int, forecasts made on or before the effective close
    calibration_count: np.ndarray  # (P, 11) weighted sample count per bin
    calibration_sum_forecast: np.ndarray  # (P, 11) weighted sum of forecasts per bin
    calibration_sum_outcome: np.ndarray  # (P, 11) weighted sum of outcomes per bin

    def __len__(self) -> int:
        return len(self.question)


@dataclass(frozen=True)
class QuestionScores:
    """Per-question results, shape (Q,), aligned with the Questions passed in."""

    scored: np.ndarray  # bool: resolved, not annulled, window of at least one day
    window_days: np.ndarray  # int D, 0 where not scored
    effective_close: np.ndarray  # seconds: closes_at, or occurred_at when earlier
    n_forecasters: np.ndarray  # int, pairs with a score row
    crowd_brier: np.ndarray  # the crowd forecast's time-averaged Brier, NaN if none
    crowd_log_score: np.ndarray  # and its time-averaged log score


@dataclass(frozen=True)
class Scores:
    """Everything ``score_questions`` returns."""

    pairs: PairScores
    questions: QuestionScores
