"""The crowd forecast: per option, the median of every forecaster's latest forecast (§6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .medians import layered_interval_middles
from .timeline import epoch_seconds, standing_forecasts, utc_day


def crowd_probabilities(medians: np.ndarray, n_options: np.ndarray) -> np.ndarray:
    """Crowd forecast rows from per-option medians (rows, K_max), zero-padded beyond K.

    Binary rows take ``(m_yes, 1 - m_yes)``: the median of ``1 - p`` is ``1 - median(p)``, and
    this keeps the pair summing to one exactly. Rows with K > 2 are renormalised to sum to 1; in
    the degenerate case where every option's median is 0 the crowd is taken as uniform.
    """
    n_rows, k_max = medians.shape
    n_options = np.broadcast_to(np.asarray(n_options, dtype=np.int64), (n_rows,))
    in_question = np.arange(k_max) < n_options[:, None]
    values = np.where(in_question, np.nan_to_num(medians, nan=0.0), 0.0)
    total = values.sum(axis=1, keepdims=True)
    uniform = in_question / np.maximum(n_options, 1)[:, None]
    normalised = np.divide(values, total, out=uniform.copy(), where=total > 0)
    if k_max >= 2:
        binary = n_options == 2
        normalised[binary, 1] = 1.0 - values[binary, 0]
        normalised[binary, 0] = values[binary, 0]
    return normalised


@dataclass(frozen=True)
class CrowdTimeline:
    """The crowd forecast of one question from each moment it changes on."""

    at: np.ndarray  # (T,) seconds since epoch, or UTC day numbers when by_day
    probs: np.ndarray  # (T, K) crowd probabilities from that moment until the next
    n_forecasters: np.ndarray  # (T,) forecasters with a standing forecast


def crowd_forecast_over_time(
    forecaster: np.ndarray,
    time: np.ndarray,
    probs: np.ndarray,
    n_options: int,
    until: float | None = None,
    by_day: bool = False,
) -> CrowdTimeline:
    """The crowd forecast of one question over time, for plots; needs no outcome.

    ``forecaster`` (n,), ``time`` (n,) seconds since epoch (or datetime64) and ``probs`` (n, K)
    describe every forecast on the question, in any order. Forecasts after ``until`` (e.g. the
    effective close) are dropped. With ``by_day`` the crowd is the one at the end of each UTC day
    (the one scoring uses) and ``at`` holds day numbers.
    """
    seconds = epoch_seconds(time)
    probs = np.asarray(probs, dtype=np.float64)[:, :n_options]
    keep = np.ones(len(seconds), dtype=bool) if until is None else seconds <= until
    seconds, probs = seconds[keep], probs[keep]
    forecaster = np.asarray(forecaster, dtype=np.int64)[keep]
    if len(seconds) == 0:
        return CrowdTimeline(np.zeros(0), np.zeros((0, n_options)), np.zeros(0, dtype=np.int64))
    # Ticks: distinct moments (or days); every tick is a change tick of this single group.
    moments, tick = np.unique(utc_day(seconds) if by_day else seconds, return_inverse=True)
    group = np.zeros(len(seconds), dtype=np.int64)
    standing = standing_forecasts(group, forecaster, seconds, tick, np.array([len(moments) - 1]))
    low, high = layered_interval_middles(
        standing.segment,
        standing.end_segment,
        probs[standing.row],
        np.ones((len(standing.row), n_options), dtype=bool),
        standing.segment_group,
        standing.by_segment,
    )
    medians = (low + high) / 2.0
    started = np.bincount(standing.segment, minlength=len(moments))
    ended = np.bincount(standing.end_segment, minlength=len(moments))
    active = np.cumsum(started) - np.concatenate(([0], np.cumsum(ended)[:-1]))
    crowd = crowd_probabilities(medians, np.full(len(moments), n_options))
    return CrowdTimeline(moments, crowd, active)


def crowd_of_standing(probs: np.ndarray) -> np.ndarray:
    """The crowd forecast (K,) from the standing forecasts (n, K) of one question: per option the
    median (the mean of the two middle values for even n, as in :func:`crowd_forecast_over_time`),
    then :func:`crowd_probabilities`. Empty input gives an empty array."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        return np.zeros(0)
    ordered = np.sort(probs, axis=0)
    n = len(ordered)
    medians = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2.0
    return crowd_probabilities(medians[None, :], np.array([probs.shape[1]]))[0]
