"""Log score and Metaculus-style Baseline score of single forecasts (docs/scoring.md §5)."""

from __future__ import annotations

import numpy as np

from .brier import take_columns

#: Probabilities of the outcome are clipped below at this value before taking logs.
LOG_FLOOR = 0.001


def outcome_probability(probs: np.ndarray, outcome: np.ndarray | int) -> np.ndarray:
    """The probability each row gave to the option that occurred, clipped below at LOG_FLOOR."""
    probs = np.asarray(probs, dtype=np.float64)
    outcome = np.broadcast_to(np.asarray(outcome, dtype=np.int64), (probs.shape[0],))
    return np.maximum(take_columns(probs, outcome), LOG_FLOOR)


def log_scores(probs: np.ndarray, outcome: np.ndarray | int) -> np.ndarray:
    """Daily log score ``ln p_outcome`` (0 best) of each row of ``probs`` (n, K_max)."""
    return log_of_outcome_probability(outcome_probability(probs, outcome))


def log_of_outcome_probability(p: np.ndarray) -> np.ndarray:
    """Daily log score from ``outcome_probability``'s clipped probabilities."""
    return np.log(p)


def baseline_scores(
    probs: np.ndarray, n_options: np.ndarray | int, outcome: np.ndarray | int
) -> np.ndarray:
    """Daily Baseline score ``100 ln(K p_outcome) / ln K`` of each row (binary: 100 log2(2p)).

    The same 0.001 floor as the log score applies, so a confident miss costs a finite amount.
    """
    p = outcome_probability(probs, outcome)
    return baseline_of_outcome_probability(p, n_options)


def baseline_of_outcome_probability(p: np.ndarray, n_options: np.ndarray | int) -> np.ndarray:
    """Daily Baseline score from ``outcome_probability``'s clipped probabilities."""
    k = np.broadcast_to(np.asarray(n_options, dtype=np.float64), p.shape)
    return 100.0 * np.log(k * p) / np.log(k)
