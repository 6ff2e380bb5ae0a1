"""Medians of the standing forecasts in every segment, without a loop over segments or people.

Each kept forecast is an interval of segments ``[start, end]`` carrying a value, and the median on
a segment is over the intervals covering it. Listing every (segment, forecaster) pair would cost
segments × forecasters per question, so instead each group (question) ranks its values once and
keeps, per segment, a bitset of the ranks alive there. Bitsets are built from toggles (an interval
switches its rank bit on at its start and off after its end, summed by one bincount) and a running
XOR along the segments. The k-th set bit of a segment's bitset is found with 32-bit word
popcounts, one running count over the chunk (non-decreasing, so one ``searchsorted`` finds the
word) and a select within the word (two halvings, then a byte table); the upper middle rank is
usually in the same word. Cost: one row-wise sort of the values plus, per segment, a few vector
operations over (group size / 32) words.

Bitsets are row-major (a segment's words are adjacent), so a group's toggles land in a small
block of memory. Groups are processed in classes of equal bitset width (words rounded up to one
of four steps per doubling), and each class in chunks of bounded memory (CHUNK_WORDS): the only
Python loops run over these few classes and chunks. Small chunks keep the working set in cache
and let the allocator reuse memory instead of mapping fresh pages.
"""

from __future__ import annotations

import numpy as np

#: Word-slots (32 bits each) of bitset per chunk; bounds a chunk's memory to a few MB.
CHUNK_WORDS = 1 << 17

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
    stable argsort of ``start`` the caller already has (any order sorted by ``start`` will do).

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
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    value = np.asarray(value, dtype=np.float64)
    segment_group = np.asarray(segment_group, dtype=np.int64)
    n_groups = int(segment_group[-1]) + 1
    item_group = segment_group.take(start.take(by_start))
    group_size = np.bincount(item_group, minlength=n_groups)
    group_segments = np.bincount(segment_group, minlength=n_groups)
    first_segment = np.zeros(n_groups, dtype=np.int64)
    np.cumsum(group_segments[:-1], out=first_segment[1:])

    # A group's bitset is one row of ``width`` 32-bit words per segment; groups are processed in
    # classes of equal width (the word count rounded up to one of four steps per doubling).
    width = _class_width(np.maximum((group_size + 31) >> 5, 1))
    width[group_size == 0] = 0
    if int(width.max()) < 1 << 16:
        key = width.astype(np.uint16)
        group_order = np.argsort(key, kind="stable")
        item_order = np.argsort(key.take(item_group), kind="stable")  # radix sorts
    else:
        group_order = np.argsort(width, kind="stable")
        item_order = np.argsort(width.take(item_group), kind="stable")
    skip = int(np.count_nonzero(width == 0))
    group_order = group_order[skip:]

    # Contiguous runs of groups (and of their items) per chunk.
    sorted_width = width.take(group_order)
    cost = (group_segments.take(group_order) + 1) * sorted_width
    class_start = np.ones(len(group_order), dtype=bool)
    class_start[1:] = sorted_width[1:] != sorted_width[:-1]
    chunk_id = np.cumsum(class_start) * (1 << 40) + _running_chunk(cost, class_start)
    boundaries = np.flatnonzero(np.concatenate(([True], chunk_id[1:] != chunk_id[:-1], [True])))
    item_bounds = np.zeros(len(group_order) + 1, dtype=np.int64)
    np.cumsum(group_size.take(group_order), out=item_bounds[1:])
    # Items in chunk order, as indices into the caller's arrays.
    item_order = np.asarray(by_start).take(item_order)
    for first, last in zip(boundaries[:-1].tolist(), boundaries[1:].tolist(), strict=True):
        # loop over classes and chunks
        items = item_order[item_bounds[first] : item_bounds[last]]
        groups = group_order[first:last]
        lo, hi, n, segments = _chunk_middles(
            int(sorted_width[first]),
            group_size.take(groups),
            group_segments.take(groups),
            first_segment.take(groups),
            start.take(items),
            end.take(items),
            value.take(items),
        )
        low[segments], high[segments], count[segments] = lo, hi, n
    return low, high, count


def _class_width(words: np.ndarray) -> np.ndarray:
    """Words rounded up to 1..8, then four steps per doubling (10, 12, 14, 16, 20, ...)."""
    words = np.asarray(words, dtype=np.int64)
    step = np.ones_like(words)
    big = words > 8
    if big.any():
        magnitude = np.floor(np.log2(words[big])).astype(np.int64)
        step[big] = 1 << np.maximum(magnitude - 2, 0)
    return (words + step - 1) // step * step


def _running_chunk(cost: np.ndarray, class_start: np.ndarray) -> np.ndarray:
    """Chunk number within each class so that a chunk's summed cost stays near CHUNK_WORDS."""
    running = np.cumsum(cost)
    class_base = np.maximum.accumulate(np.where(class_start, running - cost, 0))
    return (running - class_base - 1) // CHUNK_WORDS


def _chunk_middles(
    n_words: int,
    sizes: np.ndarray,
    group_segments: np.ndarray,
    first_segment: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    value: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Middle values for every covered segment of some groups of one bitset width.

    ``sizes``, ``group_segments`` and ``first_segment`` are per group (G,); the items (``start``,
    ``end``, ``value``) are ordered by group, ``sizes[i]`` of them for group i.
    """
    n_local = len(sizes)
    n_bits = 32 * n_words
    n_items = len(value)
    item_offset = np.zeros(n_local, dtype=np.int64)
    np.cumsum(sizes[:-1], out=item_offset[1:])
    item_local = np.repeat(np.arange(n_local), sizes)
    position = np.arange(n_items) - item_offset.take(item_local)

    # Rank the values within each group by sorting the rows of a padded matrix; padding (inf)
    # sorts last, so a row's first sizes[i] sorted entries are its items.
    padded = np.full(n_local * n_bits, np.inf)
    row_base = item_local * n_bits
    padded[row_base + position] = value
    order = np.argsort(padded.reshape(n_local, n_bits), axis=1).ravel()
    # Walk the items in rank order: the item at rank j of group i, and its value.
    ranked = order.take(row_base + position) + item_offset.take(item_local)
    sorted_values = value.take(ranked)
    rank = position

    # Rows: each group's segments plus one terminal row that absorbs the final switch-offs, so
    # every group's toggles cancel before the next group's rows begin. Row-major words.
    rows_per_group = group_segments + 1
    row_offset = np.zeros(n_local, dtype=np.int64)
    np.cumsum(rows_per_group[:-1], out=row_offset[1:])
    n_rows = int(row_offset[-1] + rows_per_group[-1])
    shift = (row_offset - first_segment).take(item_local)
    word = rank >> 5
    on_slot = (start.take(ranked) + shift) * n_words + word
    off_slot = (end.take(ranked) + shift + 1) * n_words + word
    bit = np.ldexp(1.0, (rank & 31).astype(np.int32))
    # Each (row, rank) is toggled at most once, so summing distinct powers of two is exact.
    toggles = np.bincount(
        np.concatenate((on_slot, off_slot)),
        weights=np.concatenate((bit, bit)),
        minlength=n_rows * n_words,
    )
    bitsets = toggles.astype(np.uint32).reshape(n_rows, n_words)
    np.bitwise_xor.accumulate(bitsets, axis=0, out=bitsets)

    # A running count of set bits over the chunk's 32-bit words (row-major, lowest ranks first)
    # is non-decreasing, so the word holding a row's k-th alive rank is found by one searchsorted.
    words = bitsets.reshape(-1)
    ones = _popcount32(words)
    # int32 counts: a chunk holds far fewer than 2**31 bits (see CHUNK_WORDS).
    count_type = np.int32 if len(words) * 32 < 1 << 31 else np.int64
    running = np.cumsum(ones, dtype=count_type)
    at_row_end = running[n_words - 1 :: n_words]
    before_row = np.zeros(n_rows, dtype=count_type)
    before_row[1:] = at_row_end[:-1]
    n_all = np.subtract(at_row_end, before_row)
    rows = np.flatnonzero(n_all)  # terminal rows are always empty
    n = n_all.take(rows)
    row_group = np.repeat(np.arange(n_local), rows_per_group).take(rows)
    row_start = before_row.take(rows)
    first_rank = item_offset.take(row_group) - rows * n_bits
    # The lower middle rank k = (n-1)//2: the word whose running count first passes it.
    target = row_start + ((n - 1) >> 1)
    at = np.searchsorted(running, target + 1)
    k_in_word = (target - (running.take(at) - ones.take(at))).astype(np.int64)
    word_value = words.take(at)
    low_rank = first_rank + at * 32 + _select32(word_value, k_in_word)
    # The upper one is the same rank when n is odd, else the next alive rank: in the same word,
    # or the lowest set bit of the next non-empty word.
    k_in_word += (n & 1) ^ 1
    later = np.flatnonzero(k_in_word >= ones.take(at))
    if len(later):
        at[later] = np.searchsorted(running, target.take(later) + 2)
        k_in_word[later] = 0
        word_value[later] = words.take(at.take(later))
    high_rank = first_rank + at * 32 + _select32(word_value, k_in_word)
    out = [sorted_values.take(low_rank), sorted_values.take(high_rank)]
    segments = first_segment.take(row_group) + rows - row_offset.take(row_group)
    return out[0], out[1], n, segments


def _popcount32(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint32 as uint8."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(words)
    as_bytes = words.astype("<u4").view(np.uint8).reshape(words.shape + (4,))
    return _POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)


def _select32(word: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Position of the k-th (0-based) set bit of each uint32 word; k must be < its popcount.

    Narrow integer types throughout: these arrays have one entry per segment.
    """
    word = word.astype(np.uint32, copy=False)
    k = k.astype(np.int32)
    low = word & 0xFFFF
    below = _popcount(low)
    upper = k >= below
    half = np.where(upper, word >> 16, low)
    k -= np.where(upper, below, 0)
    low = half & 0xFF
    below = _popcount(low)
    upper_byte = k >= below
    byte = np.where(upper_byte, half >> 8, low)
    k -= np.where(upper_byte, below, 0)
    offset = upper.astype(np.int64) << 4
    offset |= upper_byte.astype(np.int64) << 3
    return offset + _SELECT.take(byte * 8 + k)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each unsigned value below 2**16, as uint8."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(values)
    return _POPCOUNT.take(values & 0xFF) + _POPCOUNT.take(values >> 8)


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
