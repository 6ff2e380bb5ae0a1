"""The vectorised engine equals the slow loop-over-days reference on random questions."""

import math
from unittest.mock import patch

import numpy as np
import pytest
import scoring_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_cases import random_batch, to_reference

from tracker.scoring import Forecasts, Questions, medians, score_questions

PAIR_FIELDS = ["brier", "log_score", "relative_brier", "baseline", "coverage", "active_days",
               "n_forecasts"]
BIN_FIELDS = ["calibration_count", "calibration_sum_forecast", "calibration_sum_outcome"]


def assert_matches_reference(questions: Questions, forecasts: Forecasts) -> None:
    scores = score_questions(questions, forecasts)
    expected_pairs, expected_questions = scoring_reference.score(*to_reference(questions, forecasts))
    pairs = scores.pairs
    keys = list(zip(pairs.question.tolist(), pairs.forecaster.tolist(), strict=True))
    assert keys == sorted(expected_pairs)
    for row, key in enumerate(keys):
        expected = expected_pairs[key]
        for name in PAIR_FIELDS:
            assert getattr(pairs, name)[row] == pytest.approx(getattr(expected, name), rel=1e-9, abs=1e-12), name
        bins = np.array(expected.bins)
        for column, name in enumerate(BIN_FIELDS):
            assert np.allclose(getattr(pairs, name)[row], bins[:, column], rtol=1e-9, atol=1e-12), name
    for index in range(len(questions)):
        assert scores.questions.scored[index] == (index in expected_questions)
        if index not in expected_questions:
            assert math.isnan(scores.questions.crowd_brier[index])
            continue
        expected = expected_questions[index]
        assert scores.questions.window_days[index] == expected.window_days
        for name in ("crowd_brier", "crowd_log_score"):
            got, want = getattr(scores.questions, name)[index], getattr(expected, name)
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-9, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_batches_match_reference(seed):
    assert_matches_reference(*random_batch(np.random.default_rng(seed)))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_crowded_questions_match_reference(seed):
    # Many forecasters and updates on few questions: long segments, ties, several per day.
    rng = np.random.default_rng(seed)
    assert_matches_reference(*random_batch(rng, n_questions=2, max_window=30, max_forecasts=80,
                                           forecaster_pool=12))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_tiny_memory_chunks_match_reference(seed):
    # Forces the median code through its class/chunk loop with one group per chunk.
    with patch.object(medians, "CHUNK_WORDS", 1):
        assert_matches_reference(*random_batch(np.random.default_rng(seed)))


def test_input_order_does_not_matter():
    questions, forecasts = random_batch(np.random.default_rng(7), n_questions=3, max_forecasts=30)
    order = np.lexsort((forecasts.time, forecasts.forecaster, forecasts.question))
    ordered = Forecasts(forecasts.question[order], forecasts.forecaster[order],
                        forecasts.time[order], forecasts.probs[order])
    a, b = score_questions(questions, forecasts), score_questions(questions, ordered)
    for name in PAIR_FIELDS + BIN_FIELDS:
        assert np.allclose(getattr(a.pairs, name), getattr(b.pairs, name), rtol=1e-12, atol=0)


def test_edge_cases_by_hand():
    day = 86400.0
    t0 = 19723 * day
    questions = Questions(
        n_options=[2, 4, 3, 2],
        outcome=[1, 2, 0, 0],
        ordered=[False, True, False, False],
        opens_at=[t0, t0 + 0.5 * day, t0, t0],
        closes_at=[t0 + 4 * day, t0 + 6 * day, t0 + 3 * day, t0 + 2 * day],
        occurred_at=[t0 + 2.5 * day, np.nan, np.nan, np.nan],
        closes_at_passed=[True, True, False, True],
        annulled=[False, False, False, True],
    )
    rows = [
        # question 0: an update on the same day, a forecast after occurred_at, a lone late joiner
        (0, 1, 0.1, [0.3, 0.7]), (0, 1, 0.2, [0.6, 0.4]), (0, 2, 1.5, [0.5, 0.5]),
        (0, 3, 2.6, [0.9, 0.1]), (0, 1, 2.4, [0.2, 0.8]),
        # question 1: ordered, a forecast before opening, ties in the median
        (1, 1, -1.0, [0.25, 0.25, 0.3, 0.2]), (1, 2, 1.0, [0.1, 0.2, 0.3, 0.4]),
        (1, 3, 1.0, [0.1, 0.2, 0.3, 0.4]), (1, 4, 3.2, [0.0, 0.0, 1.0, 0.0]),
        # question 2: multiple choice, crowd renormalised
        (2, 1, 0.0, [1.0, 0.0, 0.0]), (2, 2, 0.0, [0.0, 1.0, 0.0]), (2, 3, 1.0, [0.0, 0.0, 1.0]),
        # question 3: annulled
        (3, 1, 0.5, [0.5, 0.5]),
    ]
    probs = np.zeros((len(rows), 4))
    for i, row in enumerate(rows):
        probs[i, : len(row[3])] = row[3]
    forecasts = Forecasts(
        question=[r[0] for r in rows], forecaster=[r[1] for r in rows],
        time=[t0 + r[2] * day for r in rows], probs=probs,
    )
    assert_matches_reference(questions, forecasts)
