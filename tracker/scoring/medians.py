"""Medians of the standing forecasts in every segment, without a loop over segments or people.

Each kept forecast is an interval of segments ``[start, end]`` carrying a value, and the median on
a segment is over the intervals covering it. Listing every (segment, forecaster) pair would cost
segments × forecasters per question, so instead each group (question) ranks its values once and
keeps, per segment, a bitset of the ranks alive there. Bitsets are built from toggles (an interval
switches its rank bit on at its start and off after its end) and a running XOR along the
segments; the k-th set bit of a bitset is found with byte popcounts, one cumulative sum over the
whole batch and a select table. Cost: one row-wise sort of the values plus, per segment, a
handful of vector operations over (group size / 8) bytes.

Groups are processed in classes of similar size (bitsets padded to a power of two), and each
class in chunks of bounded memory: the only Python loops run over these few classes and chunks.
"""

from __future__ import annotations

import numpy as np

#: Word-slots (32 bits each) of bitset per chunk; bounds a chunk's memory to some tens of MB.
CHUNK_WORDS = 1 << 20

_POPCOUNT = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.uint8)
# _SELECT[byte, k] is the position of the k-th set bit of byte (0-based, lowest first).
_SELECT = np.zeros((256, 8), dtype=np.int64)
for _byte in range(256):
    _bits = [bit for bit in range(8) if _byte >> bit & 1]
    _SELECT[_byte, : len(_bits)] = _bits


def interval_middles(
    start: np.ndarray,
    end: np.ndarray,
    value: np.ndarray,
    segment_group: np.ndarray,
    by_start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two middle values of the intervals covering each segment.

    ``start``/``end`` (E,) are inclusive segment indices of each interval and ``value`` (E,) its
    value. ``segment_group`` (S,) gives each segment's group; a group's segments are contiguous,
    groups are in increasing order, and no interval leaves its group. ``by_start`` may pass a
    stable argsort of ``start`` the caller already has.

    Returns ``(low, high, count)`` of shape (S,): with n covering values sorted, ``low`` is the
    value at (n-1)//2 and ``high`` at n//2 (equal when n is odd), so the ``numpy.median`` is
    ``(low + high) / 2``. Segments nothing covers get NaN and 0.
    """
    n_segments = len(segment_group)
    low = np.full(n_segments, np.nan)
    high = np.full(n_segments, np.nan)
    count = np.zeros(n_segments, dtype=np.int64)
    if len(value) == 0 or n_segments == 0:
        return low, high, count
    if by_start is None:
        by_start = np.argsort(start, kind="stable")
    # In start order the intervals are also in group order, as groups own contiguous segments.
    start, end, value = start[by_start], end[by_start], np.asarray(value, np.float64)[by_start]
    n_groups = int(segment_group[-1]) + 1
    item_group = segment_group[start]
    group_size = np.bincount(item_group, minlength=n_groups)
    group_segments = np.bincount(segment_group, minlength=n_groups)
    first_segment = np.concatenate(([0], np.cumsum(group_segments)[:-1]))

    # Bitset width in 32-bit words, rounded up to a power of two: that is the group's class.
    words = np.maximum((group_size + 31) // 32, 1)
    width_class = np.ceil(np.log2(words)).astype(np.int64)
    width_class[group_size == 0] = -1
    group_order = np.argsort(width_class, kind="stable")
    group_order = group_order[width_class[group_order] >= 0]
    item_order = np.argsort(width_class[item_group], kind="stable")  # class-major, group order kept

    # Contiguous runs of groups (and of their items) per chunk.
    sorted_class = width_class[group_order]
    cost = (group_segments[group_order] + 1) << sorted_class
    class_start = np.concatenate(([True], sorted_class[1:] != sorted_class[:-1]))
    chunk_id = np.cumsum(class_start) * (1 << 40) + _running_chunk(cost, class_start)
    boundaries = np.flatnonzero(np.concatenate(([True], chunk_id[1:] != chunk_id[:-1], [True])))
    item_bounds = np.concatenate(([0], np.cumsum(group_size[group_order])))
    for first, last in zip(boundaries[:-1], boundaries[1:]):  # loop over classes and chunks
        groups = group_order[first:last]
        items = item_order[item_bounds[first] : item_bounds[last]]
        lo, hi, n, segments = _chunk_middles(
            groups,
            int(1 << sorted_class[first]),
            item_group[items],
            start[items],
            end[items],
            value[items],
            group_segments,
            first_segment,
        )
        low[segments], high[segments], count[segments] = lo, hi, n
    return low, high, count


def _running_chunk(cost: np.ndarray, class_start: np.ndarray) -> np.ndarray:
    """Chunk number within each class so that a chunk's summed cost stays near CHUNK_WORDS."""
    running = np.cumsum(cost)
    class_base = np.maximum.accumulate(np.where(class_start, running - cost, 0))
    return (running - class_base - 1) // CHUNK_WORDS


def _chunk_middles(
    groups: np.ndarray,
    n_words: int,
    item_group: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    value: np.ndarray,
    group_segments: np.ndarray,
    first_segment: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Middle values for every segment of ``groups`` (one chunk, one bitset width)."""
    n_local = len(groups)
    local = np.empty(int(groups.max()) + 1, dtype=np.int64)
    local[groups] = np.arange(n_local)
    item_local = local[item_group]
    sizes = np.bincount(item_local, minlength=n_local)
    item_offset = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    position = np.arange(len(item_local)) - item_offset[item_local]

    # Rank the values within each group by sorting the rows of a padded matrix.
    n_bits = 32 * n_words
    padded = np.full((n_local, n_bits), np.inf)
    padded[item_local, position] = value
    order = np.argsort(padded, axis=1)
    sorted_values = np.take_along_axis(padded, order, axis=1)
    rank_of = np.empty_like(order)
    np.put_along_axis(rank_of, order, np.arange(n_bits)[None, :], axis=1)
    rank = rank_of[item_local, position]

    # Rows: each group's segments plus one terminal row that absorbs the final switch-offs, so
    # every group's toggles cancel before the next group's rows begin.
    rows_per_group = group_segments[groups] + 1
    row_offset = np.concatenate(([0], np.cumsum(rows_per_group)[:-1]))
    n_rows = int(rows_per_group.sum())
    segment_base = first_segment[groups]
    on_row = row_offset[item_local] + start - segment_base[item_local]
    off_row = row_offset[item_local] + end + 1 - segment_base[item_local]
    toggle_rows = np.concatenate((on_row, off_row))
    toggle_rank = np.concatenate((rank, rank))
    # Each (row, rank) is toggled at most once, so summing distinct powers of two is exact.
    slot = (toggle_rank >> 5) * n_rows + toggle_rows
    toggles = np.bincount(slot, weights=np.ldexp(1.0, toggle_rank & 31), minlength=n_words * n_rows)
    bitsets = np.bitwise_xor.accumulate(toggles.astype(np.uint32).reshape(n_words, n_rows), axis=1)
    # Word w of every row holds ranks 32w..32w+31; rows run along the long axis, so the running
    # count over a row's words is a few long vector additions.
    count_type = np.int16 if n_bits < 1 << 15 else np.int32
    below = np.cumsum(_popcount32(bitsets), axis=0, dtype=count_type)  # alive ranks < 32(w+1)
    n_all = below[-1]

    lo_all = np.full(n_rows, np.nan)
    hi_all = np.full(n_rows, np.nan)
    columns = np.arange(n_rows)
    row_group = np.repeat(np.arange(n_local), rows_per_group)
    for k, out in (((n_all - 1) // 2, lo_all), (n_all // 2, hi_all)):  # the two middle ranks
        word = np.sum(below <= k, axis=0, dtype=np.int64)
        word = np.minimum(word, n_words - 1)  # rows with nothing alive; discarded below
        k_in_word = k - np.where(word > 0, below[np.maximum(word - 1, 0), columns], 0)
        rank = word * 32 + _select32(bitsets[word, columns], k_in_word)
        out[:] = sorted_values[row_group, rank]

    # Keep segment rows (not terminal rows) where something is alive.
    is_terminal = np.zeros(n_rows, dtype=bool)
    is_terminal[row_offset + rows_per_group - 1] = True
    rows = np.flatnonzero(~is_terminal)
    n = n_all[rows].astype(np.int64)
    segments = segment_base[row_group[rows]] + rows - row_offset[row_group[rows]]
    has = n > 0
    lo = np.where(has, lo_all[rows], np.nan)
    hi = np.where(has, hi_all[rows], np.nan)
    return lo, hi, n, segments


def _popcount32(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint32 as uint8."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(words)
    as_bytes = words.astype("<u4").view(np.uint8).reshape(words.shape + (4,))
    return _POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)


def _select32(word: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Position of the k-th (0-based) set bit of each uint32 word; k must be < its popcount."""
    word = word.astype(np.int64)
    byte_counts = [_POPCOUNT[(word >> shift) & 0xFF].astype(np.int64) for shift in (0, 8, 16)]
    upto_1 = byte_counts[0]
    upto_2 = upto_1 + byte_counts[1]
    upto_3 = upto_2 + byte_counts[2]
    byte = (upto_1 <= k).astype(np.int64) + (upto_2 <= k) + (upto_3 <= k)
    skipped = np.choose(byte, [np.zeros_like(k), upto_1, upto_2, upto_3])
    byte_value = (word >> (8 * byte)) & 0xFF
    return 8 * byte + _SELECT[byte_value, np.clip(k - skipped, 0, 7)]


def interval_medians(
    start: np.ndarray,
    end: np.ndarray,
    value: np.ndarray,
    segment_group: np.ndarray,
    by_start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``numpy.median`` of the values covering each segment, and their count (see
    ``interval_middles`` for the inputs). Segments nothing covers get NaN and 0."""
    low, high, count = interval_middles(start, end, value, segment_group, by_start)
    return (low + high) / 2.0, count


def layered_interval_middles(
    start: np.ndarray,
    end: np.ndarray,
    values: np.ndarray,
    valid: np.ndarray,
    segment_group: np.ndarray,
    by_start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``interval_middles`` for several value columns at once, as one batched computation.

    ``values`` and ``valid`` are (E, m); column c of every segment uses the covering intervals
    whose ``valid[:, c]`` is set. Returns ``(low, high)``, each (S, m), NaN where none.
    Columns become "layers": copies of the segment index space, one after another.
    """
    n_items, n_layers = values.shape
    n_segments = len(segment_group)
    if n_segments == 0:
        empty = np.full((0, n_layers), np.nan)
        return empty, empty.copy()
    n_groups = int(segment_group[-1]) + 1
    if by_start is None:
        by_start = np.argsort(start, kind="stable")
    # Walking the items in start order within each layer keeps the flattened list sorted by
    # (layer, start), which is the order interval_middles would otherwise sort into.
    item = np.tile(by_start, n_layers)
    layer = np.repeat(np.arange(n_layers), n_items)
    keep = valid[item, layer]
    item, layer = item[keep], layer[keep]
    low, high, _ = interval_middles(
        start[item] + layer * n_segments,
        end[item] + layer * n_segments,
        values[item, layer],
        np.tile(segment_group, n_layers) + np.repeat(np.arange(n_layers) * n_groups, n_segments),
        np.arange(len(item)),
    )
    return low.reshape(n_layers, n_segments).T, high.reshape(n_layers, n_segments).T
