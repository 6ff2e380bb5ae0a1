"""Relative Brier against the daily crowd median (docs/scoring.md §4)."""

from __future__ import annotations

import numpy as np


def median_sum_from(
    segment_median: np.ndarray, segment_length: np.ndarray, segment_group: np.ndarray
) -> np.ndarray:
    """For each segment j, the sum of the daily median from j's first day to its group's end.

    Segments are sorted by (group, start). Returns (S,). Each group's sums are its own running
    sum from its end, so a question scores the same to the last bit whatever else is in the
    batch (a running total over the whole batch would round differently from batch to batch).
    """
    weighted = segment_median * segment_length
    result = np.empty_like(weighted)
    bounds = np.r_[0, np.flatnonzero(np.diff(segment_group)) + 1, len(weighted)] if len(weighted) else []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):  # one pass per question: a few hundred per batch
        result[start:end] = np.cumsum(weighted[start:end][::-1])[::-1]
    return result


def relative_brier(
    brier_day_sum: np.ndarray,
    median_day_sum: np.ndarray,
    window_days: np.ndarray,
) -> np.ndarray:
    """``(1/D) sum over active days of (B_d - M_d)`` from the two day sums, per pair."""
    return (brier_day_sum - median_day_sum) / window_days
