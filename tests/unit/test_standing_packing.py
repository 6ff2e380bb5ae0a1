"""Standing rows store their probabilities packed (float64, big-endian): what a submission's
median reads back from the concatenated rows of a question."""
from __future__ import annotations

import numpy as np

from tracker.domain.crowd_upkeep import pack_probabilities, unpack_standing


def test_rows_round_trip_exactly_in_option_order():
    rows = [[0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.99, 0.01]]
    packed = b"".join(pack_probabilities(r) for r in rows)
    assert len(packed) == 8 * 9
    back = unpack_standing(packed, 3)
    assert back is not None and back.dtype == np.float64 and back.tolist() == rows
    assert packed[:8] == bytes.fromhex("3fb999999999999a")  # 0.1, as PostgreSQL's float8send writes it


def test_no_rows_and_rows_of_another_width():
    empty = unpack_standing(b"", 2)
    assert empty is not None and empty.shape == (0, 2)
    # A row written for three options among two-option rows: not whole rows, so the caller rebuilds.
    assert unpack_standing(pack_probabilities([0.5, 0.5]) + pack_probabilities([0.2, 0.3, 0.5]), 2) is None
    assert unpack_standing(pack_probabilities([0.5, 0.5]), 0) is None
