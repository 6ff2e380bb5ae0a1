"""The worked examples of docs/scoring.md and the window rules of §2, on hand-made questions."""

import math

import numpy as np
import pytest

from tracker.scoring import (
    Forecasts,
    Questions,
    baseline_scores,
    binary_probs,
    brier_scores,
    crowd_forecast_over_time,
    log_scores,
    score_questions,
)

DAY = 86400.0
T0 = 19723 * DAY  # 2024-01-01 00:00 UTC


def one_question(**overrides):
    fields = {
        "n_options": [2], "outcome": [0], "opens_at": [T0 + 3600], "closes_at": [T0 + 6 * DAY + 7200],
        "closes_at_passed": [True],
    }
    fields.update(overrides)
    return Questions(**fields)


def forecasts(rows, k=2):
    """rows: (forecaster, seconds after T0, probs or p_yes)."""
    probs = [binary_probs([p])[0] if np.isscalar(p) else p for _, _, p in rows]
    return Forecasts(
        question=np.zeros(len(rows), dtype=int),
        forecaster=[f for f, _, _ in rows],
        time=[T0 + t for _, t, _ in rows],
        probs=np.array(probs, dtype=float).reshape(len(rows), k),
    )


def test_binary_brier_example():
    assert brier_scores(binary_probs([0.7]), 2, 0)[0] == pytest.approx(0.18)


def test_multiple_choice_brier_example():
    assert brier_scores(np.array([[0.6, 0.1, 0.3]]), 3, 0)[0] == pytest.approx(0.26)


def test_ordered_brier_example():
    probs = np.array([[0.25, 0.25, 0.30, 0.20]])
    assert brier_scores(probs, 4, 1, ordered=True)[0] == pytest.approx(0.235)


def test_ordered_with_two_options_is_plain_brier():
    probs = binary_probs([0.1, 0.7, 0.95])
    for outcome in (0, 1):
        plain = brier_scores(probs, 2, outcome, ordered=False)
        assert np.allclose(brier_scores(probs, 2, outcome, ordered=True), plain)


def test_ordered_rewards_mass_near_the_true_bin():
    near = np.array([[0.0, 0.5, 0.5, 0.0]])
    far = np.array([[0.0, 0.5, 0.0, 0.5]])
    assert brier_scores(near, 4, 1, True)[0] < brier_scores(far, 4, 1, True)[0]


def test_padded_columns_do_not_change_scores():
    padded = np.array([[0.6, 0.1, 0.3, 0.0, 0.0]])
    assert brier_scores(padded, 3, 0)[0] == pytest.approx(0.26)
    assert log_scores(padded, 0)[0] == pytest.approx(math.log(0.6))


def test_log_and_baseline_scores():
    assert log_scores(binary_probs([0.8]), 0)[0] == pytest.approx(math.log(0.8))
    assert log_scores(binary_probs([1.0]), 1)[0] == pytest.approx(math.log(0.001))  # clipped
    assert baseline_scores(binary_probs([0.8]), 2, 0)[0] == pytest.approx(100 * math.log2(1.6))
    three = np.array([[0.5, 0.25, 0.25]])
    assert baseline_scores(three, 3, 0)[0] == pytest.approx(100 * math.log(1.5) / math.log(3))
    assert baseline_scores(binary_probs([0.5]), 2, 0)[0] == pytest.approx(0.0)


def test_time_averaged_brier_example():
    # 90% yes held 3 days (days 0-2), then 95% for 4 days (days 3-6), resolved yes.
    scores = score_questions(one_question(), forecasts([(1, 4000, 0.9), (1, 3 * DAY + 5, 0.95)]))
    pairs = scores.pairs
    assert pairs.brier[0] == pytest.approx((3 * 0.02 + 4 * 0.005) / 7)
    assert round(pairs.brier[0], 5) == 0.01143
    assert pairs.active_days[0] == 7 and pairs.coverage[0] == 1.0
    assert pairs.relative_brier[0] == pytest.approx(0.0, abs=1e-15)  # lone: scores the median
    assert scores.questions.window_days[0] == 7
    assert scores.questions.crowd_brier[0] == pytest.approx(pairs.brier[0])


def test_relative_brier_treats_days_before_joining_as_the_median():
    # A: 0.9 from day 0. B: 0.5 from day 5 of 7. Resolved yes.
    scores = score_questions(one_question(), forecasts([(1, 4000, 0.9), (2, 5 * DAY, 0.5)]))
    a, b = 0.02, 0.5
    median = (a + b) / 2
    assert scores.pairs.relative_brier[0] == pytest.approx(2 * (a - median) / 7)
    assert scores.pairs.relative_brier[1] == pytest.approx(2 * (b - median) / 7)
    assert scores.pairs.coverage[1] == pytest.approx(2 / 7)
    # Baseline counts 0 on days before joining.
    assert scores.pairs.baseline[1] == pytest.approx(2 * 100 * math.log2(1.0) / 7)
    assert scores.pairs.baseline[0] == pytest.approx(100 * math.log2(1.8))


def test_last_forecast_of_a_day_counts_and_later_days_carry_it():
    rows = [(1, 4000, 0.2), (1, 5000, 0.6), (1, 5000, 0.8)]  # equal times: later row wins
    pairs = score_questions(one_question(), forecasts(rows)).pairs
    assert pairs.brier[0] == pytest.approx(2 * 0.2**2)
    assert pairs.n_forecasts[0] == 3 and pairs.active_days[0] == 7


def test_forecasts_after_the_effective_close_are_ignored():
    occurred = T0 + 2 * DAY + 100  # occurred on day 2: window is days 0..2
    rows = [(1, 4000, 0.9), (1, 2 * DAY + 50, 0.6), (1, 2 * DAY + 200, 0.1), (2, 4 * DAY, 0.5)]
    scores = score_questions(one_question(occurred_at=[occurred]), forecasts(rows))
    assert list(scores.pairs.forecaster) == [1]  # forecaster 2 only forecast after the close
    assert scores.questions.window_days[0] == 3
    assert scores.pairs.brier[0] == pytest.approx((2 * 0.02 + 2 * 0.16) / 3)
    assert scores.pairs.n_forecasts[0] == 2


def test_forecasts_before_opening_count_from_the_first_day():
    rows = [(1, -3 * DAY, 0.5), (1, -DAY, 0.9)]
    pairs = score_questions(one_question(), forecasts(rows)).pairs
    assert pairs.active_days[0] == 7 and pairs.brier[0] == pytest.approx(0.02)


def test_annulled_and_unresolved_questions_have_no_scores():
    questions = Questions(
        n_options=[2, 2, 2], outcome=[0, -1, 1], opens_at=[T0] * 3, closes_at=[T0 + DAY] * 3,
        closes_at_passed=[True] * 3, annulled=[True, False, False],
    )
    batch = Forecasts(question=[0, 1, 2], forecaster=[1, 1, 1], time=[T0 + 10] * 3,
                      probs=binary_probs([0.5, 0.5, 0.5]))
    scores = score_questions(questions, batch)
    assert list(scores.pairs.question) == [2]
    assert list(scores.questions.scored) == [False, False, True]
    assert np.isnan(scores.questions.crowd_brier[:2]).all()


def test_calibration_samples_only_after_scheduled_close():
    rows = [(1, 4000, 0.9)]
    passed = score_questions(one_question(), forecasts(rows)).pairs
    early = score_questions(one_question(closes_at_passed=[False]), forecasts(rows)).pairs
    assert passed.calibration_count[0].sum() == pytest.approx(1.0)  # one question, weight 1
    assert passed.calibration_count[0, 9] == pytest.approx(1.0)
    assert passed.calibration_sum_outcome[0, 9] == pytest.approx(1.0)
    assert early.calibration_count.sum() == 0.0
    assert early.brier[0] == passed.brier[0]


def test_crowd_is_renormalised_median_per_option():
    questions = one_question(n_options=[3], outcome=[2])
    rows = [(1, 4000, [0.6, 0.2, 0.2]), (2, 4000, [0.2, 0.6, 0.2]), (3, 4000, [0.2, 0.2, 0.6])]
    scores = score_questions(questions, forecasts(rows, k=3))
    crowd = np.array([[0.2, 0.2, 0.2]]) / 0.6
    assert scores.questions.crowd_brier[0] == pytest.approx(brier_scores(crowd, 3, 2)[0])
    assert scores.questions.crowd_log_score[0] == pytest.approx(math.log(1 / 3))


def test_crowd_over_time_for_an_open_question():
    rows_f = [1, 2, 1, 3]
    times = [T0, T0 + 10, T0 + 20, T0 + 30]
    probs = binary_probs([0.2, 0.6, 0.4, 0.9])
    timeline = crowd_forecast_over_time(rows_f, times, probs, 2)
    assert list(timeline.at) == times
    assert np.allclose(timeline.probs[:, 0], [0.2, 0.4, 0.5, 0.6])
    assert np.allclose(timeline.probs.sum(axis=1), 1.0)
    assert list(timeline.n_forecasters) == [1, 2, 2, 3]
    daily = crowd_forecast_over_time(rows_f, times, probs, 2, by_day=True)
    assert list(daily.at) == [19723] and np.allclose(daily.probs[0], [0.6, 0.4])
    cut = crowd_forecast_over_time(rows_f, times, probs, 2, until=T0 + 15)
    assert np.allclose(cut.probs[:, 0], [0.2, 0.4])


def test_datetime64_times_are_accepted():
    stamps = np.array(["2024-01-01T01:00", "2024-01-04T00:00"], dtype="datetime64[us]")
    questions = Questions(
        n_options=[2], outcome=[0], opens_at=np.array(["2024-01-01T00:30"], dtype="datetime64[us]"),
        closes_at=np.array(["2024-01-07T12:00"], dtype="datetime64[us]"), closes_at_passed=[True],
    )
    batch = Forecasts(question=[0, 0], forecaster=[1, 1], time=stamps, probs=binary_probs([0.9, 0.95]))
    assert score_questions(questions, batch).pairs.brier[0] == pytest.approx(0.08 / 7)
