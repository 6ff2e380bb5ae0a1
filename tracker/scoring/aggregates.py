"""Means over questions for scoreboards (docs/scoring.md §8)."""

from __future__ import annotations

import numpy as np


def mean_over_questions(scores: np.ndarray) -> tuple[float, int]:
    """Plain mean of per-question scores, skipping NaN (annulled or unscored); and how many."""
    scores = np.asarray(scores, dtype=np.float64)
    present = scores[~np.isnan(scores)]
    if len(present) == 0:
        return float("nan"), 0
    return float(present.mean()), len(present)


def group_mean(
    key: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaN-skipping mean of ``scores`` per distinct ``key`` (e.g. forecaster id).

    Returns ``(keys, means, counts)``: sorted distinct keys, the mean of their non-NaN scores
    (NaN when none) and how many scores each mean covers.
    """
    keys, inverse = np.unique(np.asarray(key), return_inverse=True)
    scores = np.asarray(scores, dtype=np.float64)
    present = ~np.isnan(scores)
    counts = np.bincount(inverse[present], minlength=len(keys))
    sums = np.bincount(inverse[present], weights=scores[present], minlength=len(keys))
    means = np.divide(sums, counts, out=np.full(len(keys), np.nan), where=counts > 0)
    return keys, means, counts


def group_sum(key: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``values`` (n, ...) per distinct ``key``; e.g. calibration bin sums per forecaster.

    Returns ``(keys, sums)`` with sums of shape (n_keys, ...).
    """
    keys, inverse = np.unique(np.asarray(key), return_inverse=True)
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(len(values), -1)
    width = flat.shape[1]
    cell = (inverse[:, None] * width + np.arange(width)).ravel()
    sums = np.bincount(cell, weights=flat.ravel(), minlength=len(keys) * width)
    return keys, sums.reshape((len(keys),) + values.shape[1:])


def mean_from_sums(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Means over questions kept as running sums and counts (a stored aggregate): ``sums / counts``,
    NaN where the count is 0 — the mean of :func:`group_mean`, up to the order of additions."""
    sums = np.asarray(sums, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    return np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)


#: Stored running sums are kept as whole multiples of SUM_UNIT (see :func:`to_sum_units`).
SUM_UNIT = 1e-12


def to_sum_units(values: np.ndarray) -> np.ndarray:
    """``values`` as whole numbers of SUM_UNIT (float64 holding integers; a change of at most 5e-13).

    A stored aggregate is a running sum: each rescore subtracts a question's old contribution and
    adds the new one. Sums of whole numbers below 2**53 are exact in float64 whatever their order,
    so the sums a run of rescores keeps equal, to the last bit, the sums a rebuild computes from
    scratch. A decimal unit keeps a one-question mean equal to its score (0.08 stays 0.08).
    """
    return np.round(np.asarray(values, dtype=np.float64) * 1e12)


def from_sum_units(units: np.ndarray) -> np.ndarray:
    """Sums in SUM_UNIT back to plain values (what is stored and shown). :func:`to_sum_units`
    recovers the units exactly from a stored value below about 2,000 in magnitude."""
    return np.asarray(units, dtype=np.float64) / 1e12
