"""Relative Brier against the daily crowd median (docs/scoring.md §4)."""

from __future__ import annotations

import numpy as np


def median_sum_from(
    segment_median: np.ndarray, segment_length: np.ndarray, segment_group: np.ndarray
) -> np.ndarray:
    """For each segment j, the sum of the daily median from j's first day to its group's end.

    Segments are sorted by (group, start). Returns (S,).
    """
    weighted = segment_median * segment_length
    if len(weighted) == 0:
        return weighted
    # Suffix sum within a group = running total at the group's end - running total here + own.
    prefix = np.cumsum(weighted)
    group_total = np.bincount(segment_group, weights=weighted)
    return np.cumsum(group_total)[segment_group] - prefix + weighted


def relative_brier(
    brier_day_sum: np.ndarray,
    median_day_sum: np.ndarray,
    window_days: np.ndarray,
) -> np.ndarray:
    """``(1/D) sum over active days of (B_d - M_d)`` from the two day sums, per pair."""
    return (brier_day_sum - median_day_sum) / window_days
