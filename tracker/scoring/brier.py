"""Brier score of single forecasts (docs/scoring.md §1), on the 0–2 scale."""

from __future__ import annotations

import numpy as np


def binary_probs(p_yes: np.ndarray) -> np.ndarray:
    """Turn yes-probabilities of shape (n,) into the (n, 2) layout the engine reads.

    Binary questions use option 0 for yes and option 1 for no, so ``outcome == 0`` means yes.
    """
    p_yes = np.asarray(p_yes, dtype=np.float64)
    return np.stack([p_yes, 1.0 - p_yes], axis=1)


def take_columns(probs: np.ndarray, column: np.ndarray) -> np.ndarray:
    """``probs[i, column[i]]`` for each row of a 2-D array (a flat take, cheaper than
    ``take_along_axis``)."""
    n, k_max = probs.shape
    if n == 0 or int(column.min()) < 0 or int(column.max()) >= k_max:
        return np.take_along_axis(probs, column[:, None], axis=1)[:, 0]
    flat = np.ascontiguousarray(probs).reshape(-1)
    return flat.take(np.arange(0, n * k_max, k_max) + column)


def brier_scores(
    probs: np.ndarray,
    n_options: np.ndarray | int,
    outcome: np.ndarray | int,
    ordered: np.ndarray | bool = False,
) -> np.ndarray:
    """Brier score of each forecast row.

    ``probs`` is (n, K_max), padded with zeros beyond a row's own ``n_options``; ``n_options``,
    ``outcome`` (index of the option that occurred) and ``ordered`` are per row or scalars.
    Unordered: ``sum_k (p_k - o_k)^2`` (binary: ``2 (p_yes - o_yes)^2``, option 0 = yes). Ordered: the
    mean over the K-1 cumulative splits
    ``{1..j} | {j+1..K}`` of the binary Brier ``2 (P_j - O_j)^2``. Returns shape (n,).
    """
    probs = np.asarray(probs, dtype=np.float64)
    n, k_max = probs.shape
    n_options = np.broadcast_to(np.asarray(n_options, dtype=np.int64), (n,))
    outcome = np.broadcast_to(np.asarray(outcome, dtype=np.int64), (n,))
    ordered = np.broadcast_to(np.asarray(ordered, dtype=bool), (n,))
    # sum_k (p_k - o_k)^2 = sum_k p_k^2 - 2 p_outcome + 1; padding columns hold p = 0, and this
    # form reads the (n, K_max) array once instead of building (p - o) temporaries.
    p_outcome = take_columns(probs, outcome)
    plain = np.einsum("ij,ij->i", probs, probs) - 2.0 * p_outcome + 1.0
    # Binary: 2 (p_yes - o_yes)^2 from the yes column alone, the same expression the daily
    # medians use, so stored p_no rounding cannot make a lone forecaster differ from the median.
    binary = n_options == 2
    if binary.any():
        plain = np.where(binary, 2.0 * (probs[:, 0] - (outcome == 0)) ** 2, plain)
    if not ordered.any():
        return plain

    # Split j (1-based) compares P_j = p_1 + ... + p_j with O_j = [outcome <= j]; in 0-based
    # columns that is cumsum column j-1 against outcome <= j-1, for j-1 < K-1.
    rows = np.flatnonzero(ordered)
    column = np.arange(k_max)
    cum_p = np.cumsum(probs[rows], axis=1)
    cum_o = column >= outcome[rows, None]
    in_split = column < (n_options[rows] - 1)[:, None]
    split_sum = np.sum(np.where(in_split, 2.0 * (cum_p - cum_o) ** 2, 0.0), axis=1)
    plain[rows] = split_sum / np.maximum(n_options[rows] - 1, 1)
    return plain
