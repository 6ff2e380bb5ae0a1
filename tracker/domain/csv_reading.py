"""Reading CSV records so that a malformed file gets a line-and-column error, never a traceback.

The stdlib reader refuses a field longer than ``csv.field_size_limit()`` and (before Python 3.13) a
NUL byte with a bare ``csv.Error`` that names neither the line nor the column; here the raw text of
the record is kept so both can be named.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from . import DomainError


class CsvFormatError(DomainError):
    """The file is not readable CSV at ``line``/``column`` (1-based; column may be a name)."""

    def __init__(self, line: int, column: str, problem: str) -> None:
        super().__init__(f"line {line}, column {column}: {problem}")
        self.line, self.column = line, column


def _recording(lines: Iterable[str], current: list[str], state: list[int]) -> Iterator[str]:
    """Pass lines through, keeping those of the record being read in ``current`` (for locating an
    error) and counting them in ``state[0]``; ``state[1]`` becomes 1 once a line holds a NUL byte.
    A generator, not an iterator class: this runs once per line of files with millions."""
    for physical, line in enumerate(lines, 1):
        state[0] = physical
        current.append(line)
        if "\0" in line:
            state[1] = 1
        yield line


def _cells_before(text: str) -> list[str]:
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # read the record whole, just to locate the problem
    try:
        return next(csv.reader([text.replace("\0", "").replace("\r", " ").replace("\n", " ")]), [])
    finally:
        csv.field_size_limit(limit)


def _locate(exc: csv.Error, raw: str) -> tuple[int, str]:
    """The 1-based column of the problem in the record's raw text, and a sentence about it."""
    if "\0" in raw:
        cells = _cells_before(raw[:raw.index("\0")] + "x")
        return max(1, len(cells)), "contains a NUL byte (is this a binary file?)"
    limit = csv.field_size_limit()
    cells = _cells_before(raw)
    column = next((i + 1 for i, cell in enumerate(cells) if len(cell) >= limit), max(1, len(cells)))
    if "field larger than field limit" in str(exc):
        return column, f"a field longer than {limit} characters (is a quote left open?)"
    return column, f"not valid CSV ({exc})"


def csv_records(lines: Iterable[str], names: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number of the record's end, cells)``; raise :class:`CsvFormatError` naming
    the line and column (by its header name once ``names`` is filled) of unreadable CSV."""
    current: list[str] = []
    state = [0, 0]  # physical lines read; whether a NUL byte was seen
    reader = csv.reader(_recording(lines, current, state))
    clear = current.clear
    while True:
        clear()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            column, problem = _locate(exc, "".join(current))
            name = names[column - 1] if 0 < column <= len(names) else str(column)
            raise CsvFormatError(state[0], name, problem) from None
        if state[1]:  # the reader may accept NUL, but no forecast file holds one
            nul = next((i for i, cell in enumerate(cells) if "\0" in cell), None)
            if nul is not None:
                name = names[nul] if nul < len(names) else str(nul + 1)
                raise CsvFormatError(reader.line_num, name, "contains a NUL byte (is this a binary file?)")
        yield reader.line_num, cells
