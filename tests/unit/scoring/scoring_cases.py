"""Random questions and forecasts for the scoring tests and benchmark, plus dict conversion."""

from __future__ import annotations

import math

import numpy as np

from tracker.scoring import Forecasts, Questions

DAY = 86400.0
EPOCH_2024 = 19723  # 2024-01-01 as a UTC day number


def _probabilities(rng: np.random.Generator, n: int, k: int, coarse: bool) -> np.ndarray:
    """Rows summing to 1; coarse rows come from small integer weights, so medians see ties."""
    if coarse:
        weights = rng.integers(0, 4, size=(n, k)).astype(float)
        weights[weights.sum(axis=1) == 0, 0] = 1.0
    else:
        weights = rng.dirichlet(np.full(k, 0.7), size=n)
    return weights / weights.sum(axis=1, keepdims=True)


def random_batch(
    rng: np.random.Generator,
    n_questions: int = 4,
    max_window: int = 12,
    max_forecasts: int = 20,
    forecaster_pool: int = 5,
) -> tuple[Questions, Forecasts]:
    """A small batch covering the spec's edge cases: same-day and same-moment updates,
    forecasts before opening and after the effective close, early occurrences, annulled and
    unresolved questions, ordered and unordered options, ties in medians."""
    n_options = rng.integers(2, 6, n_questions)
    ordered = rng.random(n_questions) < 0.4
    outcome = rng.integers(0, 100, n_questions) % n_options
    outcome[rng.random(n_questions) < 0.1] = -1
    annulled = rng.random(n_questions) < 0.1
    opens = (EPOCH_2024 + rng.integers(0, 50, n_questions)) * DAY + rng.integers(0, 86400, n_questions)
    windows = rng.integers(0, max_window, n_questions)
    closes = opens + windows * DAY + rng.integers(0, 86400, n_questions)
    occurred = np.where(
        rng.random(n_questions) < 0.35, opens + rng.random(n_questions) * (closes - opens) * 1.1 - 3600, np.nan
    )
    passed = rng.random(n_questions) < 0.8
    pool = rng.choice(1000, size=forecaster_pool, replace=False)

    k_max = int(n_options.max())
    rows_q, rows_f, rows_t, rows_p = [], [], [], []
    for qi in range(n_questions):
        count = int(rng.integers(0, max_forecasts + 1))
        start, stop = opens[qi] - 2 * DAY, closes[qi] + 2 * DAY
        times = rng.uniform(start, stop, count)
        same_day = rng.random(count) < 0.25
        times[1:][same_day[1:]] = np.floor(times[:-1][same_day[1:]] / DAY) * DAY + rng.uniform(0, DAY)
        same_moment = rng.random(count) < 0.1
        times[1:][same_moment[1:]] = times[:-1][same_moment[1:]]
        probs = np.zeros((count, k_max))
        probs[:, : n_options[qi]] = _probabilities(rng, count, int(n_options[qi]), rng.random() < 0.5)
        rows_q.append(np.full(count, qi))
        rows_f.append(rng.choice(pool, size=count))
        rows_t.append(times)
        rows_p.append(probs)
    question = np.concatenate(rows_q) if rows_q else np.zeros(0, int)
    shuffle = rng.permutation(len(question))
    questions = Questions(
        n_options=n_options,
        outcome=outcome,
        opens_at=opens,
        closes_at=closes,
        closes_at_passed=passed,
        ordered=ordered,
        occurred_at=occurred,
        annulled=annulled,
    )
    forecasts = Forecasts(
        question=question[shuffle],
        forecaster=np.concatenate(rows_f)[shuffle],
        time=np.concatenate(rows_t)[shuffle],
        probs=np.concatenate(rows_p)[shuffle],
    )
    return questions, forecasts


def to_reference(questions: Questions, forecasts: Forecasts) -> tuple[list[dict], list[dict]]:
    """The same batch as the plain dicts scoring_reference.score reads."""
    plain_questions = [
        {
            "n_options": int(questions.n_options[i]),
            "outcome": int(questions.outcome[i]),
            "opens_at": float(questions.opens_at[i]),
            "closes_at": float(questions.closes_at[i]),
            "occurred_at": None if math.isnan(questions.occurred_at[i]) else float(questions.occurred_at[i]),
            "ordered": bool(questions.ordered[i]),
            "annulled": bool(questions.annulled[i]),
            "closes_at_passed": bool(questions.closes_at_passed[i]),
        }
        for i in range(len(questions))
    ]
    plain_forecasts = [
        {
            "question": int(forecasts.question[j]),
            "forecaster": int(forecasts.forecaster[j]),
            "time": float(forecasts.time[j]),
            "probs": [float(x) for x in forecasts.probs[j, : questions.n_options[forecasts.question[j]]]],
        }
        for j in range(len(forecasts))
    ]
    return plain_questions, plain_forecasts
