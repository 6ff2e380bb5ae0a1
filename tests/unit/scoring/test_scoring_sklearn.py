"""scikit-learn as an independent oracle for Brier, log loss and calibration bins."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss

from tracker.scoring import (
    Forecasts,
    Questions,
    bin_sums,
    binary_probs,
    brier_scores,
    calibration_from_bin_sums,
    log_scores,
    score_questions,
)

DAY = 86400.0
T0 = 19723 * DAY


def dirichlet_rows(rng, n, k, floor=0.0):
    rows = rng.dirichlet(np.ones(k), size=n) * (1 - k * floor) + floor
    return rows / rows.sum(axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 6))
def test_brier_matches_sklearn(seed, k):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    outcome = rng.integers(0, k, n)
    if k == 2:
        p_yes = rng.random(n)
        ours = brier_scores(binary_probs(p_yes), 2, outcome)
        theirs = brier_score_loss(outcome == 0, p_yes, scale_by_half=False)
    else:
        probs = dirichlet_rows(rng, n, k)
        ours = brier_scores(probs, k, outcome)
        theirs = brier_score_loss(outcome, probs, labels=list(range(k)), scale_by_half=False)
    assert ours.mean() == pytest.approx(theirs, rel=1e-12, abs=1e-14)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 5))
def test_time_averaged_scores_are_day_weighted_sklearn_scores(seed, k):
    """One forecaster updating on random days: the time average is a day-weighted mean."""
    rng = np.random.default_rng(seed)
    window = int(rng.integers(1, 60))
    n = int(rng.integers(1, 12))
    days = np.sort(rng.choice(window, size=min(n, window), replace=False))
    probs = dirichlet_rows(rng, len(days), k, floor=0.002)  # above the 0.001 log floor
    outcome = int(rng.integers(0, k))
    questions = Questions(n_options=[k], outcome=[outcome], opens_at=[T0],
                          closes_at=[T0 + (window - 1) * DAY + 60], closes_at_passed=[True])
    forecasts = Forecasts(question=np.zeros(len(days), int), forecaster=np.full(len(days), 5),
                          time=T0 + days * DAY + 30, probs=probs)
    pairs = score_questions(questions, forecasts).pairs
    held = np.diff(np.append(days, window))  # days each forecast stands
    truth = np.full(len(days), outcome)
    if k == 2:
        brier = brier_score_loss(truth == 0, probs[:, 0], sample_weight=held, scale_by_half=False)
    else:
        brier = brier_score_loss(truth, probs, labels=list(range(k)), sample_weight=held,
                                 scale_by_half=False)
    log = -log_loss(truth, probs, labels=list(range(k)), sample_weight=held)
    assert pairs.brier[0] == pytest.approx(brier, rel=1e-9)
    assert pairs.log_score[0] == pytest.approx(log, rel=1e-9)
    assert pairs.active_days[0] == window - days[0]


def test_log_scores_match_sklearn_log_loss():
    rng = np.random.default_rng(3)
    probs = dirichlet_rows(rng, 50, 4, floor=0.002)
    outcome = rng.integers(0, 4, 50)
    theirs = log_loss(outcome, probs, labels=[0, 1, 2, 3])
    assert -log_scores(probs, outcome).mean() == pytest.approx(theirs, rel=1e-12)


def ours_curve(p, y):
    count, sum_f, sum_o = bin_sums(p, y)
    calibration = calibration_from_bin_sums(count, sum_f, sum_o)
    filled = count > 0
    return calibration.o[filled], calibration.f[filled]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_calibration_curve_agrees_where_bins_coincide(seed):
    """Values kept to the lower half of our bins [c - 0.05, c) fall in one sklearn bin (of 20)
    each, so both binnings group them identically."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    centre = rng.integers(0, 11, n) / 10
    offset = rng.uniform(1e-6, 0.05 - 1e-6, n)
    p = np.where(centre == 0, offset, centre - offset)
    y = rng.random(n) < p
    prob_true, prob_pred = calibration_curve(y, p, n_bins=20, strategy="uniform")
    ours_true, ours_pred = ours_curve(p, y)
    assert np.allclose(ours_pred, prob_pred, rtol=1e-12)
    assert np.allclose(ours_true, prob_true, rtol=1e-12)


def test_edge_value_goes_up_here_and_down_in_sklearn():
    edge = np.linspace(0.0, 1.0, 21)[3]  # sklearn's 0.15 bin edge, exactly
    p = np.array([0.12, edge])
    y = np.array([0, 1])
    # sklearn: the edge value joins 0.12 in the lower bin [0.10, 0.15].
    prob_true, prob_pred = calibration_curve(y, p, n_bins=20)
    assert len(prob_pred) == 1 and prob_pred[0] == pytest.approx((0.12 + edge) / 2)
    # Ours: 0.12 goes to the 10% bin, the edge rounds half up to the 20% bin.
    count, _, _ = bin_sums(p, y)
    assert count[1] == 1 and count[2] == 1


def test_just_below_an_edge_both_agree_and_just_above_both_agree():
    below, above = 0.15 - 1e-6, 0.15 + 1e-6
    p = np.array([0.12, below, above, 0.18])
    y = np.array([0, 1, 1, 0])
    prob_true, prob_pred = calibration_curve(y, p, n_bins=20)
    assert np.allclose(prob_pred, [(0.12 + below) / 2, (above + 0.18) / 2])
    ours_true, ours_pred = ours_curve(p, y)
    assert np.allclose(ours_pred, prob_pred) and np.allclose(ours_true, prob_true)
