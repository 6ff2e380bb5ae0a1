"""Calibration bins, 95% Wilson intervals and the Murphy decomposition (docs/scoring.md §7).

Bin sums are additive: a forecaster's calibration over many questions is the sum of their stored
per-question bin sums passed to ``calibration_from_bin_sums``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BINS = 11
#: Two-sided 95% normal quantile.
Z_95 = 1.959963984540054


#: The probability each bin is centred on: 0%, 10%, ..., 100%.
BIN_CENTRES = np.arange(N_BINS) / (N_BINS - 1)


def _bin_as_float(p: np.ndarray) -> np.ndarray:
    """The bin rule, the only place it is written: ``floor(10 p + 0.5 + 1e-9)`` (halves round up),
    clipped to 0..10, as floats (a fresh array the caller may modify)."""
    scaled = np.multiply(p, 10.0)
    scaled += 0.5  # in place, but in the spec's order of additions
    scaled += 1e-9
    np.floor(scaled, out=scaled)
    # Only rounding noise can fall outside [0, 1]; it belongs in the end bins.
    return np.clip(scaled, 0, N_BINS - 1, out=scaled)


def calibration_bin(p: np.ndarray) -> np.ndarray:
    """Bin index 0..10 of each probability (see :func:`_bin_as_float`)."""
    return _bin_as_float(np.asarray(p, dtype=np.float64)).astype(np.int64)


def bin_sums(
    p: np.ndarray,
    occurred: np.ndarray,
    weight: np.ndarray | None = None,
    key: np.ndarray | None = None,
    n_keys: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted (count, sum of forecasts, sum of outcomes) per calibration bin.

    ``p``, ``occurred`` (0/1) and ``weight`` (default 1) are per sample. Without ``key`` the
    result arrays have shape (11,); with ``key`` (ints in [0, n_keys)) they are (n_keys, 11).
    """
    p = np.asarray(p, dtype=np.float64)
    weight = np.ones(len(p)) if weight is None else np.asarray(weight, dtype=np.float64)
    shape: tuple[int, ...] = (N_BINS,)
    if key is None:
        cell = calibration_bin(p)
    else:
        key = np.asarray(key, dtype=np.int64)
        n_keys = int(n_keys if n_keys is not None else (key.max() + 1 if len(key) else 0))
        shape = (n_keys, N_BINS)
        # The bin, offset by key * N_BINS while still float (exact).
        scaled = _bin_as_float(p)
        scaled += key * float(N_BINS)
        cell = scaled.astype(np.int64)
    size = int(np.prod(shape))
    count = np.bincount(cell, weights=weight, minlength=size)
    sum_forecast = np.bincount(cell, weights=weight * p, minlength=size)
    occurred = np.asarray(occurred)
    if occurred.dtype == bool:
        # Samples that did not occur add exactly 0.0: leave them out.
        hit = np.flatnonzero(occurred)
        sum_outcome = np.bincount(cell.take(hit), weights=weight.take(hit), minlength=size)
    else:
        occurred = occurred.astype(np.float64)
        sum_outcome = np.bincount(cell, weights=weight * occurred, minlength=size)
    return count.reshape(shape), sum_forecast.reshape(shape), sum_outcome.reshape(shape)


def wilson_interval(
    frequency: np.ndarray, count: np.ndarray, z: float = Z_95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for an observed frequency over ``count`` (weighted) trials.

    NaN where the count is zero.
    """
    frequency = np.asarray(frequency, dtype=np.float64)
    count = np.asarray(count, dtype=np.float64)
    has = count > 0
    safe_n = np.where(has, count, 1.0)
    safe_o = np.where(has, frequency, 0.0)
    z2 = z * z
    denominator = 1.0 + z2 / safe_n
    centre = (safe_o + z2 / (2.0 * safe_n)) / denominator
    half = z / denominator * np.sqrt(safe_o * (1.0 - safe_o) / safe_n + z2 / (4.0 * safe_n**2))
    low = np.where(has, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(has, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


@dataclass(frozen=True)
class Calibration:
    """Per-bin calibration and its Murphy decomposition; leading axes follow the input's."""

    n: np.ndarray  # (..., 11) weighted count
    f: np.ndarray  # (..., 11) mean forecast, NaN for empty bins
    o: np.ndarray  # (..., 11) observed frequency, NaN for empty bins
    wilson_low: np.ndarray  # (..., 11)
    wilson_high: np.ndarray  # (..., 11)
    total: np.ndarray  # (...) N, the sum of weights
    base_rate: np.ndarray  # (...) o, NaN when N == 0
    reliability: np.ndarray  # (...) REL
    resolution: np.ndarray  # (...) RES
    uncertainty: np.ndarray  # (...) UNC


def calibration_from_bin_sums(
    count: np.ndarray, sum_forecast: np.ndarray, sum_outcome: np.ndarray
) -> Calibration:
    """Calibration curve, Wilson intervals and REL/RES/UNC from (summed) bin sums.

    Inputs have shape (..., 11), e.g. (11,) for one forecaster or (n_forecasters, 11) for many.
    """
    count = np.asarray(count, dtype=np.float64)
    sum_forecast = np.asarray(sum_forecast, dtype=np.float64)
    sum_outcome = np.asarray(sum_outcome, dtype=np.float64)
    has = count > 0
    safe = np.where(has, count, 1.0)
    f = np.where(has, sum_forecast / safe, np.nan)
    o = np.where(has, sum_outcome / safe, np.nan)
    low, high = wilson_interval(o, count)

    total = count.sum(axis=-1)
    has_total = total > 0
    safe_total = np.where(has_total, total, 1.0)
    base = np.where(has_total, sum_outcome.sum(axis=-1) / safe_total, np.nan)
    f0, o0 = np.where(has, f, 0.0), np.where(has, o, 0.0)
    reliability = np.sum(count * (f0 - o0) ** 2, axis=-1) / safe_total
    resolution = np.sum(count * (o0 - np.where(has_total, base, 0.0)[..., None]) ** 2, axis=-1)
    resolution = resolution / safe_total
    return Calibration(
        n=count,
        f=f,
        o=o,
        wilson_low=low,
        wilson_high=high,
        total=total,
        base_rate=base,
        reliability=np.where(has_total, reliability, np.nan),
        resolution=np.where(has_total, resolution, np.nan),
        uncertainty=base * (1.0 - base),
    )
