"""The order the PostgreSQL import writes in (tracker.domain.import_stage.key_order): every
forecast to store once, by question, forecaster's user id and time, whatever the file's order."""
from __future__ import annotations

from array import array

import numpy as np
import pytest

from tracker.domain.import_stage import Stage, key_order


def staged(keys: list[tuple[int, int, int]]) -> Stage:
    stage = Stage()
    for question, user, at in keys:
        stage.add(question, user, at, [question * 10, question * 10 + 1], [0.5, 0.5], "", 0)
    return stage


@pytest.mark.parametrize("layout", ["runs", "interleaved"])
def test_key_order_sorts_by_question_user_id_and_time_and_leaves_repeats_out(layout):
    rng = np.random.default_rng(3)
    n = 400
    questions = np.repeat([7, 3, 9, 3, 1], n // 5) if layout == "runs" else rng.integers(1, 6, n)
    keys = [(int(q), int(u), int(t)) for q, u, t in
            zip(questions, rng.integers(0, 6, n), rng.permutation(n), strict=True)]
    stage = staged(keys)
    stage.skip[5] = stage.skip[123] = 1
    user_ids = array("q", [50, 10, 40, 20, 60, 30])  # forecaster index -> user id, not in index order
    order = key_order(stage, user_ids)
    expected = sorted((i for i in range(n) if i not in (5, 123)),
                      key=lambda i: (keys[i][0], user_ids[keys[i][1]], keys[i][2]))
    assert order.tolist() == expected


def test_key_order_of_an_empty_stage():
    assert key_order(Stage(), array("q")).tolist() == []
