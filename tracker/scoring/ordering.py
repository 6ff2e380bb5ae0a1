"""Stable multi-key orderings built from 16-bit radix sorts (numpy radix-sorts 16-bit keys)."""

from __future__ import annotations

import numpy as np


def lex_order(*keys: np.ndarray) -> np.ndarray:
    """Stable order of rows by integer keys, most significant key first (like reversed lexsort).

    Each key is split into 16-bit digits and sorted least significant digit first; numpy's
    stable argsort on uint16 is a linear-time radix sort, so this beats a comparison sort.
    """
    n = len(keys[0]) if keys else 0
    order = None
    if n < 2:
        return np.arange(n)
    for key in reversed(keys):
        key = np.asarray(key, dtype=np.int64)
        low = int(key.min())
        span = int(key.max()) - low
        for shift in range(0, max(span.bit_length(), 1), 16):
            in_order = key if order is None else key.take(order)
            if low:
                in_order = in_order - low
            if shift:
                in_order = in_order >> shift
            digit = in_order.astype(np.uint16)  # wraps modulo 2**16: the low 16 bits
            step = np.argsort(digit, kind="stable")
            order = step if order is None else order.take(step)
    return order if order is not None else np.arange(n)
