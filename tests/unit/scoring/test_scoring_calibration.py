"""Calibration bins, Wilson intervals, the Murphy decomposition and the aggregates."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.scoring import (
    N_BINS,
    bin_sums,
    calibration_bin,
    calibration_from_bin_sums,
    group_mean,
    group_sum,
    mean_over_questions,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0.0, 0), (0.05, 1), (0.15, 2), (0.35, 4), (0.95, 10), (1.0, 10), (0.04999, 0), (0.5, 5),
     (0.25, 3), (0.45, 5), (0.65, 7), (0.85, 9), (0.55, 6), (0.75, 8)],
)
def test_listed_probabilities_land_in_their_bin(p, expected):
    assert calibration_bin(np.array([p]))[0] == expected


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 1.0))
def test_every_probability_lands_in_exactly_one_bin(p):
    count, _, _ = bin_sums(np.array([p]), np.array([1]))
    assert count.sum() == 1.0 and np.count_nonzero(count) == 1
    index = calibration_bin(np.array([p]))[0]
    assert 0 <= index < N_BINS
    assert abs(p - index / 10) <= 0.05 + 1e-9


def test_wilson_interval_known_value():
    low, high = wilson_interval(np.array([0.5]), np.array([10.0]))
    assert low[0] == pytest.approx(0.2366, abs=1e-4)
    assert high[0] == pytest.approx(0.7634, abs=1e-4)
    low, high = wilson_interval(np.array([0.0]), np.array([0.0]))
    assert np.isnan(low[0]) and np.isnan(high[0])


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_murphy_identity_is_exact_when_each_bin_holds_one_value(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    p = rng.integers(0, 11, n) / 10  # one distinct value per bin
    y = (rng.random(n) < rng.random()).astype(float)
    w = rng.uniform(0.01, 1.0, n)
    calibration = calibration_from_bin_sums(*bin_sums(p, y, w))
    mse = np.sum(w * (p - y) ** 2) / np.sum(w)
    murphy = calibration.reliability - calibration.resolution + calibration.uncertainty
    assert mse == pytest.approx(murphy, rel=1e-9, abs=1e-12)


def test_calibration_sums_add_across_questions():
    rng = np.random.default_rng(1)
    p, y, w = rng.random(40), rng.random(40) < 0.5, rng.random(40)
    key = rng.integers(0, 4, 40)
    per_key = bin_sums(p, y, w, key=key, n_keys=4)
    together = bin_sums(p, y, w)
    for mine, whole in zip(per_key, together, strict=True):
        assert np.allclose(mine.sum(axis=0), whole)
    stacked = calibration_from_bin_sums(*per_key)
    assert stacked.n.shape == (4, N_BINS) and stacked.reliability.shape == (4,)
    single = calibration_from_bin_sums(per_key[0][2], per_key[1][2], per_key[2][2])
    assert np.allclose(single.reliability, stacked.reliability[2])


def test_empty_calibration_is_nan_not_a_warning():
    calibration = calibration_from_bin_sums(np.zeros(N_BINS), np.zeros(N_BINS), np.zeros(N_BINS))
    assert np.isnan(calibration.f).all() and np.isnan(calibration.reliability)


def test_aggregates_skip_nan():
    assert mean_over_questions(np.array([0.2, np.nan, 0.4])) == (pytest.approx(0.3), 2)
    mean, count = mean_over_questions(np.array([np.nan]))
    assert np.isnan(mean) and count == 0
    keys, means, counts = group_mean(np.array([7, 3, 7, 3]), np.array([0.1, np.nan, 0.3, np.nan]))
    assert list(keys) == [3, 7] and np.isnan(means[0]) and means[1] == pytest.approx(0.2)
    assert list(counts) == [0, 2]
    keys, sums = group_sum(np.array([2, 1, 2]), np.arange(6.0).reshape(3, 2))
    assert list(keys) == [1, 2] and np.allclose(sums, [[2, 3], [4, 6]])
