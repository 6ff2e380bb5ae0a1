"""Cell formatting for CSV files: exact numbers, neutralised formulas and their undoing."""
from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.domain.csv_export import csv_line, format_number, neutralise, quote, restore


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
    (1.5e-07, "0.00000015"), (1e16, "10000000000000000"), (123.0, "123"), (float("inf"), "inf"),
])
def test_format_number(value, text):
    assert format_number(value) == text


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_numbers_round_trip_exactly(value):
    text = format_number(value)
    assert "e" not in text.lower()  # plain decimals, never scientific notation
    assert float(text) == value or (value == 0 and float(text) == 0)
    assert not math.isnan(float(text))


@pytest.mark.parametrize("cell, written", [
    ("plain", "plain"),
    ("a,b", '"a,b"'),
    ('say "hi"', '"say ""hi"""'),
    ("two\nlines", '"two\nlines"'),
    ("crlf\r\nend", '"crlf\r\nend"'),
    ("lone\rcr", '"lone\rcr"'),  # once written bare, and then read back as a line end
    ("tab\tinside", "tab\tinside"),
    (" spaced ", " spaced "),
    ("", ""),
])
def test_quote(cell, written):
    assert quote(cell) == written


@given(st.lists(st.text(), min_size=2, max_size=6))
def test_lines_read_back_as_written(cells):
    # Python's reader (the import's) gives back every cell of a line exactly, lone CRs included.
    line = csv_line(cells)
    assert line.endswith("\n")
    assert list(csv.reader(io.StringIO(line, newline=""))) == [cells]


@settings(max_examples=3000)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_fast_number_format_matches_numpy(value):
    # format_number takes repr's digits when it can; they must be numpy's shortest digits exactly.
    expected = "0" if value == 0 else np.format_float_positional(value, unique=True, trim="-")
    assert format_number(value) == expected
