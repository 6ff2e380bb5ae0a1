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


class _Recorder:
    """Passes lines to the csv reader and remembers those of the record being read."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.current: list[str] = []
        self.physical = 0

    def __iter__(self) -> _Recorder:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.physical += 1
        self.current.append(line)
        return line


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
    recorder = _Recorder(lines)
    reader = csv.reader(recorder)
    while True:
        recorder.current = []
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            column, problem = _locate(exc, "".join(recorder.current))
            name = names[column - 1] if 0 < column <= len(names) else str(column)
            raise CsvFormatError(recorder.physical, name, problem) from None
        nul = next((i for i, cell in enumerate(cells) if "\0" in cell), None)
        if nul is not None:  # the reader may accept NUL, but no forecast file holds one
            name = names[nul] if nul < len(names) else str(nul + 1)
            raise CsvFormatError(reader.line_num, name, "contains a NUL byte (is this a binary file?)")
        yield reader.line_num, cells
