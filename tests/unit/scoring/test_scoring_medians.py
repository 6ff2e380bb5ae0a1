"""Segment medians (bitset order statistics) against numpy.median by brute force."""

from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.scoring import medians
from tracker.scoring.medians import interval_medians, layered_interval_middles
from tracker.scoring.ordering import lex_order


def random_intervals(rng, max_items):
    n_groups = int(rng.integers(1, 5))
    segments_per_group = rng.integers(1, 7, n_groups)
    segment_group = np.repeat(np.arange(n_groups), segments_per_group)
    offsets = np.concatenate(([0], np.cumsum(segments_per_group)))
    n = int(rng.integers(0, max_items))
    group = rng.integers(0, n_groups, n)
    a = offsets[group] + rng.integers(0, segments_per_group[group])
    b = offsets[group] + rng.integers(0, segments_per_group[group])
    values = rng.integers(0, 4, n) / 3 if rng.random() < 0.5 else rng.random(n)
    return np.minimum(a, b), np.maximum(a, b), values, segment_group


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 3, 1 << 20]), st.sampled_from([12, 300]))
def test_interval_medians_match_brute_force(seed, chunk_words, max_items):
    start, end, values, segment_group = random_intervals(np.random.default_rng(seed), max_items)
    with patch.object(medians, "CHUNK_WORDS", chunk_words):
        median, count = interval_medians(start, end, values, segment_group)
    for segment in range(len(segment_group)):
        covering = values[(start <= segment) & (end >= segment)]
        assert count[segment] == len(covering)
        if len(covering):
            assert median[segment] == np.median(covering)
        else:
            assert np.isnan(median[segment])


def test_layers_are_independent():
    rng = np.random.default_rng(5)
    start, end, values, segment_group = random_intervals(rng, 40)
    columns = np.stack([values, 1 - values], axis=1)
    valid = rng.random(columns.shape) < 0.7
    low, high = layered_interval_middles(start, end, columns, valid, segment_group)
    for layer in range(2):
        keep = valid[:, layer]
        median, _ = interval_medians(start[keep], end[keep], columns[keep, layer], segment_group)
        assert np.allclose((low[:, layer] + high[:, layer]) / 2, median, equal_nan=True)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 70000), st.integers(0, 3)), max_size=60))
def test_lex_order_is_a_stable_sort(rows):
    a = np.array([r[1] for r in rows], dtype=np.int64)
    b = np.array([r[0] for r in rows], dtype=np.int64)
    order = lex_order(a, b)
    assert list(order) == list(np.lexsort((b, a)))
