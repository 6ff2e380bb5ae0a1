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
