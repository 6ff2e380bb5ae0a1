"""Cell formatting for CSV files: exact numbers, neutralised formulas and their undoing."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.csv_export import format_number, neutralise, restore


@pytest.mark.parametrize("text, safe", [
    ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
    ("+33 1 23", "'+33 1 23"),
    ("-2+3", "'-2+3"),
    ("@cmd", "'@cmd"),
    ("\tindented", "'\tindented"),
    ("\rcarriage", "'\rcarriage"),
    ("'=already", "''=already"),
    ("plain", "plain"),
    ("'quoted", "'quoted"),
    ("a=b", "a=b"),
    ("", ""),
])
def test_neutralise(text, safe):
    assert neutralise(text) == safe
    assert restore(safe) == text


@given(st.text())
def test_restore_inverts_neutralise(text):
    assert restore(neutralise(text)) == text
    assert neutralise(text)[:1] not in ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("value, text", [
    (0.1, "0.1"), (-0.12, "-0.12"), (1.0, "1"), (0.0, "0"), (-0.0, "0"), (1e-05, "0.00001"),
    (1 - 0.8, "0.19999999999999996"), (None, ""), (float("nan"), ""), (3, "3"),
])
def test_format_number(value, text):
    assert format_number(value) == text


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_numbers_round_trip_exactly(value):
    text = format_number(value)
    assert "e" not in text.lower()  # plain decimals, never scientific notation
    assert float(text) == value or (value == 0 and float(text) == 0)
    assert not math.isnan(float(text))
