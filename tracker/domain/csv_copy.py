"""The CSV exports on PostgreSQL: cells formatted in SQL, streamed by ``COPY ... TO STDOUT``.

Each kind of cell is written in SQL exactly as csv_export.py writes it in Python (docs/csv.md):

- ``TEXT``: neutralised against formula injection (a leading quote before ``= + - @``, a tab or a
  carriage return, after any leading quotes); an empty text is NULL, which COPY writes as an empty
  cell (an empty string would come out as ``""``). COPY's CSV quoting (a cell holding a comma, a
  double quote, ``\\n`` or ``\\r`` in double quotes, inner ones doubled) is the file's.
- ``COUNT``: an integer as it is.
- ``TIME``: ``2024-03-04T18:00:00Z``, with ``.ffffff`` only when there is a fraction of a second.
- ``NUMBER``: float8's own output is the shortest exact decimal (PostgreSQL 12 and later, with
  ``extra_float_digits`` at its default 1, set here), the same digits as Python's; where it would
  use an exponent (below 1e-4, from 1e15) the text goes through ``numeric``, which writes the same
  digits out in full. From 2**53 on, float8's output is not always the shortest (-2.5e22 comes out
  as -2.4999999999999998e+22): :func:`copy_fits` finds such values (no score or probability is
  that large) and the caller then uses the Python writer. Zero is ``0``, never ``-0``; NaN is
  empty; infinities are ``inf``/``-inf`` as numpy writes them.

The statement is compiled from the same SQLAlchemy select as the Python writer (same joins,
filter and ORDER BY), so the two cannot drift apart; tests compare their bytes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Float, Numeric, Select, Text, and_, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

TEXT = "text"
COUNT = "count"
TIME = "time"
NUMBER = "number"

#: The cells of an export, in column order: (kind, column).
Cells = list[tuple[str, Any]]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ISO_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
EXACT_BELOW = 2.0**53  # float8out's digits match Python's below this (from here on doubles are integers)


#: For the export's transaction only (SET LOCAL, undone at its rollback).
_EXPORT_SETTINGS = (
    # The shortest exact float output, whatever the server's configuration.
    "extra_float_digits = 1",
    # No JIT: compiling these expressions costs more than it saves on a scan that streams.
    "jit = off",
    # Stream in the order of the indexes instead of sorting the table: questions by their slug
    # index, each question's rows through its index on forecasts (or scores), users, probabilities
    # and options by key. The planner's own choice is hash joins and one sort of every row (about
    # 100 MB at a million forecasts, spilled to disk); this plan sorts only within a question
    # (an incremental sort on the slug), so the server's memory follows the largest question, and
    # it costs about a fifth less CPU.
    "enable_hashjoin = off",
    "enable_mergejoin = off",
    "enable_sort = off",
    "max_parallel_workers_per_gather = 0",
    "work_mem = '64MB'",  # the largest question's rows (200,000 in the benchmark) sorted in memory
)


def _float(name: str) -> Any:
    return literal_column(f"'{name}'::float8", Float)


def sql_cell(kind: str, column: Any) -> Any:
    """``column`` formatted in SQL as the Python writer formats a cell of ``kind``."""
    if kind == TEXT:
        # ascii() reads the first character's code without copying the text: the exact test
        # (after any leading quotes) runs only on the rare cell that starts with a quote or trigger.
        triggers = [ord(c) for c in _TRIGGERS]
        suspect = func.ascii(column).in_([*triggers, ord("'")])
        trigger = func.ascii(func.ltrim(column, "'")).in_(triggers)
        return case((and_(suspect, trigger), literal("'", Text) + column), else_=func.nullif(column, ""))
    if kind == COUNT:
        return column
    if kind == TIME:
        stamped = func.to_char(func.timezone("UTC", column), _ISO_FORMAT)
        return func.replace(stamped, ".000000Z", "Z")
    if kind == NUMBER:
        magnitude = func.abs(column)
        return case(
            # The common case first. (NaN compares above every number, so it is not one of these.)
            # The bounds keep a margin inside float8out's plain-decimal range [1e-4, 1e15).
            (and_(magnitude >= 1e-3, magnitude < 1e14), cast(column, Text)),
            (column == _float("NaN"), None),
            (column == _float("Infinity"), "inf"),
            (column == _float("-Infinity"), "-inf"),
            (column == 0, "0"),
            else_=cast(cast(cast(column, Text), Numeric), Text),  # numeric writes the digits out in full
        )
    raise ValueError(f"unknown cell kind {kind!r}")


def copy_fits(session: Session, cells: Cells) -> bool:
    """Whether COPY writes these cells as Python would: no stored number of their columns is as
    large as :data:`EXACT_BELOW` (a quick look at each table, not at the export's rows)."""
    by_table: dict[Any, list[Any]] = {}
    for kind, column in cells:
        if kind == NUMBER:
            # NaN compares above every number in PostgreSQL; it and the infinities are written
            # exactly anyway.
            too_large = and_(func.abs(column) >= EXACT_BELOW, func.abs(column) < _float("Infinity"))
            by_table.setdefault(column.table, []).append(too_large)
    return not any(
        session.execute(select(literal(1)).select_from(table).where(or_(*checks)).limit(1)).first()
        for table, checks in by_table.items()
    )


def copy_statement(cells: Cells, finish: Callable[[Select], Select]) -> str:
    """The ``COPY (SELECT ...) TO STDOUT`` statement for ``cells`` (its constants inlined)."""
    stmt = finish(select(*(sql_cell(kind, column).label(f"c{i}") for i, (kind, column) in enumerate(cells))))
    sql = stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"


def copy_csv(session: Session, cells: Cells, finish: Callable[[Select], Select], chunk_bytes: int) -> Iterator[bytes]:
    """The rows, as CSV bytes from the server, gathered into chunks of about ``chunk_bytes``.

    The COPY runs in the session's transaction: one statement, so one snapshot however long the
    download. PostgreSQL sends a message per row; gathering them keeps the per-chunk costs (a
    write to the socket, an HTTP chunk) off the rows. If the consumer stops early (a client gone),
    psycopg cancels the COPY when the block is left, and the session is rolled back by its owner.
    """
    raw = session.connection().connection.driver_connection
    assert raw is not None  # a live connection: the session's transaction holds it
    with raw.cursor() as cursor:
        for setting in _EXPORT_SETTINGS:
            cursor.execute(f"SET LOCAL {setting}")
        with cursor.copy(copy_statement(cells, finish)) as copy:
            buffer = bytearray()
            for data in copy:
                buffer += data
                if len(buffer) >= chunk_bytes:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)
