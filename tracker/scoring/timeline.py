"""Standing forecasts as piecewise-constant segments (docs/scoring.md §2).

A forecaster's standing forecast only changes on days they forecast, so instead of materialising
every calendar day we keep, per (group, forecaster), the last forecast of each forecast day and the
number of days it stands ("length"). Days are integer "ticks": UTC days for scoring, or ranks of
distinct forecast times when the crowd is plotted moment by moment.

"Segments" are the stretches between a group's change ticks (ticks on which any forecaster in the
group forecast). Every forecaster's standing forecast is constant inside a segment, so daily medians
only need computing once per segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ordering import lex_order

DAY_SECONDS = 86400.0


def epoch_seconds(times: np.ndarray) -> np.ndarray:
    """Seconds since 1970-01-01 UTC as float64; accepts numbers or numpy datetime64 values."""
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64):
        micros = times.astype("datetime64[us]").astype(np.int64)
        return np.where(np.isnat(times), np.nan, micros / 1e6)
    return times.astype(np.float64)


def utc_day(seconds: np.ndarray) -> np.ndarray:
    """UTC calendar day (days since 1970-01-01) of each time in seconds since the epoch."""
    return np.floor(np.asarray(seconds, dtype=np.float64) / DAY_SECONDS).astype(np.int64)


@dataclass(frozen=True)
class Standing:
    """Kept forecasts (one per group, forecaster and tick), their pairs and the group segments.

    Kept-forecast arrays (length E) are sorted by (group, forecaster, tick).
    Pair arrays (length P) are sorted by (group, forecaster). Segment arrays (length S) are sorted
    by (group, tick); a group's segments are contiguous.
    """

    row: np.ndarray  # (E,) index into the caller's forecast arrays
    pair: np.ndarray  # (E,) pair index
    start: np.ndarray  # (E,) first tick the forecast stands
    length: np.ndarray  # (E,) number of ticks it stands, >= 1
    segment: np.ndarray  # (E,) segment in which it starts
    end_segment: np.ndarray  # (E,) last segment in which it stands
    by_segment: np.ndarray  # (E,) kept indices ordered by segment
    pair_group: np.ndarray  # (P,)
    pair_forecaster: np.ndarray  # (P,)
    pair_first: np.ndarray  # (P,) index of the pair's first kept forecast
    pair_raw_count: np.ndarray  # (P,) forecasts before removing same-tick duplicates
    segment_group: np.ndarray  # (S,)
    segment_start: np.ndarray  # (S,) first tick
    segment_length: np.ndarray  # (S,) ticks, >= 1


def _pair_time_order(
    group: np.ndarray, forecaster: np.ndarray, time: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Row order by (group, forecaster, time, input position), and whether the input rows are
    already in (group, time) order.

    Rows from a query ordered by time, or by (question, time), need only a radix sort by
    (group, forecaster); other orders pay for a sort by time first. Ties keep input order.
    """
    if len(group) < 2:
        return np.arange(len(group)), True
    later = time[1:] >= time[:-1]
    same_group = group[1:] == group[:-1]
    group_up = group[1:] > group[:-1]
    group_time_ordered = bool(np.all(group_up | (same_group & later)))
    same_pair = same_group & (forecaster[1:] == forecaster[:-1])
    rising = group_up | (same_group & (forecaster[1:] > forecaster[:-1]))
    if np.all(rising | (same_pair & later)):
        return np.arange(len(group)), group_time_ordered
    if group_time_ordered or bool(np.all(later)):
        return lex_order(group, forecaster), group_time_ordered
    by_time = np.argsort(time, kind="stable")
    return by_time.take(lex_order(group.take(by_time), forecaster.take(by_time))), False


def standing_forecasts(
    group: np.ndarray,
    forecaster: np.ndarray,
    time: np.ndarray,
    tick: np.ndarray,
    last_tick: np.ndarray,
) -> Standing:
    """Collapse forecasts into standing-forecast segments.

    ``group``, ``forecaster``, ``time`` and ``tick`` are per forecast (n,); ``tick`` must be
    non-decreasing in ``time`` within a group and already clipped to the group's window.
    ``last_tick`` (n_groups,) is each group's last tick (inclusive). Within a (group, forecaster,
    tick) the forecast with the latest time wins, and on equal times the later input row.
    """
    group = np.asarray(group, dtype=np.int64)
    forecaster = np.asarray(forecaster, dtype=np.int64)
    tick = np.asarray(tick, dtype=np.int64)
    last_tick = np.asarray(last_tick, dtype=np.int64)
    order, group_time_ordered = _pair_time_order(group, forecaster, np.asarray(time))
    g, f, t = group.take(order), forecaster.take(order), tick.take(order)
    n = len(order)

    pair_change = np.ones(n, dtype=bool)
    pair_change[1:] = (g[1:] != g[:-1]) | (f[1:] != f[:-1])
    raw_pair = np.cumsum(pair_change) - 1
    is_kept = np.ones(n, dtype=bool)
    is_kept[:-1] = pair_change[1:] | (t[1:] != t[:-1])
    kept = np.flatnonzero(is_kept)

    pair = raw_pair.take(kept)
    kg, start = g.take(kept), t.take(kept)
    has_next = np.zeros(len(kept), dtype=bool)
    has_next[:-1] = pair[1:] == pair[:-1]
    end = last_tick.take(kg)
    np.copyto(end[:-1], start[1:] - 1, where=has_next[:-1])
    pair_first = np.flatnonzero(np.concatenate(([True], ~has_next[:-1]))) if len(kept) else kept
    kept_row = order.take(kept)

    # Segments: distinct (group, start tick). Rows that arrived in (group, time) order list the
    # kept forecasts in that order already; otherwise sort.
    if group_time_ordered:
        kept_at_row = np.full(n, -1, dtype=np.int64)
        kept_at_row[kept_row] = np.arange(len(kept))
        by_segment = kept_at_row[kept_at_row >= 0]
    else:
        by_segment = lex_order(kg, start)
    sorted_group, sorted_start = kg.take(by_segment), start.take(by_segment)
    new_segment = np.ones(len(kept), dtype=bool)
    new_segment[1:] = (sorted_group[1:] != sorted_group[:-1]) | (
        sorted_start[1:] != sorted_start[:-1]
    )
    segment = np.empty(len(kept), dtype=np.int64)
    segment_of_sorted = np.cumsum(new_segment)
    segment_of_sorted -= 1
    segment[by_segment] = segment_of_sorted
    del segment_of_sorted
    segment_first = np.flatnonzero(new_segment)
    segment_group = sorted_group.take(segment_first)
    segment_start = sorted_start.take(segment_first)
    segment_end = last_tick.take(segment_group)
    same_group_next = segment_group[1:] == segment_group[:-1]
    np.copyto(segment_end[:-1], segment_start[1:] - 1, where=same_group_next)

    # A forecast stands until the segment before its successor starts, else to the group's end.
    group_last_segment = np.zeros(len(last_tick), dtype=np.int64)
    is_last = np.ones(len(segment_group), dtype=bool)
    is_last[:-1] = ~same_group_next
    group_last_segment[segment_group[is_last]] = np.flatnonzero(is_last)
    end_segment = group_last_segment.take(kg)
    np.copyto(end_segment[:-1], segment[1:] - 1, where=has_next[:-1])

    return Standing(
        row=kept_row,
        pair=pair,
        start=start,
        length=end - start + 1,
        segment=segment,
        end_segment=end_segment,
        by_segment=by_segment,
        pair_group=kg.take(pair_first),
        pair_forecaster=f.take(kept.take(pair_first)),
        pair_first=pair_first,
        pair_raw_count=np.bincount(raw_pair, minlength=len(pair_first)),
        segment_group=segment_group,
        segment_start=segment_start,
        segment_length=segment_end - segment_start + 1,
    )
