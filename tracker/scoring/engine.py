"""Score a batch of questions and their forecasts in one vectorised pass (docs/scoring.md §1–§7)."""

from __future__ import annotations

import numpy as np

from .batch import Forecasts, PairScores, Questions, QuestionScores, Scores
from .brier import brier_scores
from .calibration import N_BINS
from .crowd import crowd_probabilities
from .logscore import (
    LOG_FLOOR,
    baseline_of_outcome_probability,
    log_of_outcome_probability,
    log_scores,
)
from .medians import interval_middles, layered_interval_middles
from .relative import median_sum_from, relative_brier
from .timeline import Standing, standing_forecasts, utc_day


def score_questions(questions: Questions, forecasts: Forecasts, crowd: bool = True) -> Scores:
    """Score every forecaster on every question of a batch, and each question's crowd.

    Questions that are annulled, unresolved (outcome -1) or whose effective close falls on a day
    before ``opens_at`` get no pair rows and NaN crowd scores. Forecasts after the effective close
    are ignored; forecasts before ``opens_at`` stand from the window's first day. With
    ``crowd=False`` the crowd's scores are skipped (NaN): they need a median per option.
    """
    n_q = len(questions)
    effective_close = np.fmin(questions.closes_at, questions.occurred_at)
    day_open = utc_day(questions.opens_at)
    day_close = utc_day(np.nan_to_num(effective_close, nan=0.0))
    window_days = day_close - day_open + 1
    scored = (
        ~questions.annulled
        & (questions.outcome >= 0)
        & (questions.outcome < questions.n_options)
        & np.isfinite(effective_close)
        & (window_days >= 1)
    )
    window_days = np.where(scored, window_days, 0)

    q_all = forecasts.question
    if len(q_all) and (q_all.min() < 0 or q_all.max() >= n_q):
        raise ValueError("Forecasts.question must index into Questions")
    counted = scored[q_all] & (forecasts.time <= effective_close[q_all])
    if np.any(questions.n_options[scored] > forecasts.probs.shape[1]):
        raise ValueError("Forecasts.probs has fewer columns than some question has options")
    rows = np.flatnonzero(counted)
    q = q_all[rows]
    time = forecasts.time[rows]
    tick = np.maximum(utc_day(time), day_open[q])
    standing = standing_forecasts(q, forecasts.forecaster.take(rows), time, tick, day_close)
    del counted, q, time, tick  # free per-forecast arrays early: memory is held to one batch

    kept_row = rows.take(standing.row)
    kq = q_all.take(kept_row)
    k_max = int(questions.n_options[scored].max()) if scored.any() else 2
    source = forecasts.probs[:, :k_max]
    n_options = questions.n_options.take(kq)
    outcome = questions.outcome.take(kq)
    ordered = questions.ordered.take(kq)
    binary = n_options == 2
    # The (E, K) rows are only gathered where they are needed (multi-option or ordered rows):
    # binary rows need the yes probability, and every row the probability of its outcome.
    p_yes = forecasts.probs[:, 0].take(kept_row)
    # Binary Brier 2 (p_yes - o_yes)^2, as brier_scores computes it; the others row by row.
    brier = p_yes - (outcome == 0)
    np.square(brier, out=brier)
    brier *= 2.0
    complex_rows = np.flatnonzero(~binary | ordered)
    if len(complex_rows):
        # A row take is several times cheaper than fancy indexing of a 2-D array.
        brier[complex_rows] = brier_scores(
            np.take(source, kept_row.take(complex_rows), axis=0), n_options.take(complex_rows),
            outcome.take(complex_rows), ordered.take(complex_rows),
        )
    del complex_rows
    n_pairs = len(standing.pair_first)
    length = standing.length.astype(np.float64)

    def per_pair(values: np.ndarray) -> np.ndarray:
        return np.bincount(standing.pair, weights=values, minlength=n_pairs)

    active = np.bincount(standing.pair, weights=length, minlength=n_pairs)
    brier_day_sum = per_pair(length * brier)
    p_outcome = np.maximum(_row_columns(forecasts.probs, kept_row, outcome), LOG_FLOOR)
    log_day_sum = per_pair(length * log_of_outcome_probability(p_outcome))
    baseline_day_sum = per_pair(length * baseline_of_outcome_probability(p_outcome, n_options))
    del p_outcome
    pair_q = standing.pair_group
    pair_window = window_days.take(pair_q).astype(np.float64)

    calibration = _pair_calibration(
        p_yes, source, kept_row, n_options, outcome, questions.closes_at_passed.take(kq),
        length / active.take(standing.pair), standing.pair, n_pairs,
    )
    value = np.where(binary, p_yes, brier)
    del p_yes
    segment_median, yes_median = _daily_brier_medians(standing, value, questions)
    segment_length = standing.segment_length.astype(np.float64)
    median_after = median_sum_from(segment_median, segment_length, standing.segment_group)
    first_segment = standing.segment.take(standing.pair_first)
    relative = relative_brier(brier_day_sum, median_after.take(first_segment), pair_window)
    pairs = PairScores(
        question=pair_q,
        forecaster=standing.pair_forecaster,
        brier=brier_day_sum / active,
        log_score=log_day_sum / active,
        relative_brier=relative,
        baseline=baseline_day_sum / pair_window,
        coverage=active / pair_window,
        active_days=active.astype(np.int64),
        n_forecasts=standing.pair_raw_count,
        calibration_count=calibration[0],
        calibration_sum_forecast=calibration[1],
        calibration_sum_outcome=calibration[2],
    )
    if crowd:
        probs = np.take(source, kept_row, axis=0)
        crowd_brier, crowd_log = _crowd_scores(standing, probs, n_options, yes_median, questions)
    else:
        crowd_brier = crowd_log = np.full(n_q, np.nan)
    question_scores = QuestionScores(
        scored=scored,
        window_days=window_days,
        effective_close=effective_close,
        n_forecasters=np.bincount(pair_q, minlength=n_q),
        crowd_brier=crowd_brier,
        crowd_log_score=crowd_log,
    )
    return Scores(pairs=pairs, questions=question_scores)


def _row_columns(probs: np.ndarray, row: np.ndarray, column: np.ndarray) -> np.ndarray:
    """``probs[row[i], column[i]]`` for each i (a flat take on contiguous rows, cheaper than
    fancy indexing)."""
    if probs.flags.c_contiguous:
        return probs.reshape(-1).take(row * probs.shape[1] + column)
    return probs[row, column]


def _pair_calibration(
    p_yes: np.ndarray,
    source: np.ndarray,
    kept_row: np.ndarray,
    n_options: np.ndarray,
    outcome: np.ndarray,
    eligible: np.ndarray,
    weight: np.ndarray,
    pair: np.ndarray,
    n_pairs: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair calibration bin sums of the standing forecasts' samples (§7).

    Binary questions give one sample per day (the yes probability); questions with more options
    give one yes/no sample per option. ``weight`` is segment length / active days, i.e. each day
    weighted 1 / active days. ``p_yes`` (E,) holds each kept row's yes probability and
    ``source[kept_row]`` its probability row. The sums equal ``calibration.bin_sums`` of the
    samples listed binary rows first, then multi-option rows (the same additions in the same
    order per cell), with fewer temporaries.
    """
    binary = np.flatnonzero(eligible & (n_options == 2))
    several = np.flatnonzero(eligible & (n_options > 2))
    several_options = n_options.take(several)
    n_binary = len(binary)
    n_samples = n_binary + int(several_options.sum())
    # Samples: the binary rows' yes probabilities, then each multi-option row's options in
    # order (padding columns are not samples), written into one array.
    p = np.empty(n_samples)
    np.take(p_yes, binary, out=p[:n_binary])
    in_question = np.arange(source.shape[1]) < several_options[:, None]
    p[n_binary:] = np.take(source, kept_row.take(several), axis=0)[in_question]
    del in_question
    # The bin as in calibration_bin, offset by the pair's N_BINS cells (integers: exact).
    scaled = np.multiply(p, 10.0)
    scaled += 0.5
    scaled += 1e-9
    np.floor(scaled, out=scaled)
    np.clip(scaled, 0, N_BINS - 1, out=scaled)
    cell = scaled.astype(np.int64)
    del scaled
    key = pair * N_BINS
    cell[:n_binary] += key.take(binary)
    cell[n_binary:] += np.repeat(key.take(several), several_options)
    del key
    w = np.empty(n_samples)
    np.take(weight, binary, out=w[:n_binary])
    w[n_binary:] = np.repeat(weight.take(several), several_options)
    size = n_pairs * N_BINS
    count = np.bincount(cell, weights=w, minlength=size)
    sum_forecast = np.bincount(cell, weights=np.multiply(w, p, out=p), minlength=size)
    del p
    # Samples that did not occur add exactly 0.0, so only the hits are summed: binary rows that
    # resolved yes, and the outcome option of each multi-option row.
    several_first = np.empty(len(several), dtype=np.int64)
    several_first[:1] = n_binary
    np.cumsum(several_options[:-1], out=several_first[1:])
    several_first[1:] += n_binary
    hit = np.concatenate((
        np.flatnonzero(outcome.take(binary) == 0), several_first + outcome.take(several)
    ))
    sum_outcome = np.bincount(cell.take(hit), weights=w.take(hit), minlength=size)
    shape = (n_pairs, N_BINS)
    return count.reshape(shape), sum_forecast.reshape(shape), sum_outcome.reshape(shape)


def _daily_brier_medians(
    standing: Standing, value: np.ndarray, questions: Questions
) -> tuple[np.ndarray, np.ndarray]:
    """The median of the forecasters' daily Brier scores on each segment (§4), shape (S,), and
    on binary questions' segments the median yes probability (NaN elsewhere).

    A binary Brier score is monotone in the yes probability, so the two middle Brier scores are
    the Brier scores of the two middle yes probabilities; ranking p_yes instead makes the binary
    crowd (§6) and the Brier median one computation. ``value`` (E,) is each kept forecast's yes
    probability on binary questions and its Brier score elsewhere.
    """
    low, high, _ = interval_middles(
        standing.segment, standing.end_segment, value, standing.segment_group, standing.by_segment
    )
    segment_binary = questions.n_options[standing.segment_group] == 2
    yes = (questions.outcome[standing.segment_group] == 0).astype(np.float64)
    binary_median = (2.0 * (low - yes) ** 2 + 2.0 * (high - yes) ** 2) / 2.0
    middle = (low + high) / 2.0
    return np.where(segment_binary, binary_median, middle), np.where(segment_binary, middle, np.nan)


def _crowd_scores(
    standing: Standing,
    probs: np.ndarray,
    n_options: np.ndarray,
    yes_median: np.ndarray,
    questions: Questions,
) -> tuple[np.ndarray, np.ndarray]:
    """Time-averaged Brier and log score of each question's daily crowd forecast (§6).

    Binary questions reuse the yes medians; other questions need one median per option.
    """
    n_q = len(questions)
    valid = np.arange(probs.shape[1]) < np.where(n_options == 2, 0, n_options)[:, None]
    low, high = layered_interval_middles(
        standing.segment, standing.end_segment, probs, valid, standing.segment_group,
        standing.by_segment,
    )
    medians = (low + high) / 2.0
    binary = ~np.isnan(yes_median)
    medians[binary, 0] = yes_median[binary]
    segment_group = standing.segment_group
    segment_length = standing.segment_length.astype(np.float64)
    k = questions.n_options[segment_group]
    outcome = questions.outcome[segment_group]
    crowd = crowd_probabilities(medians, k)
    brier = brier_scores(crowd, k, outcome, questions.ordered[segment_group])
    logs = log_scores(crowd, outcome)
    days = np.bincount(segment_group, weights=segment_length, minlength=n_q)
    brier_sum = np.bincount(segment_group, weights=segment_length * brier, minlength=n_q)
    log_sum = np.bincount(segment_group, weights=segment_length * logs, minlength=n_q)
    has = days > 0
    safe = np.where(has, days, 1.0)
    return np.where(has, brier_sum / safe, np.nan), np.where(has, log_sum / safe, np.nan)
