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
  as -2.4999999999999998e+22), so such a value, an integer, is computed exactly and rounded to the
  fewest significant digits that read back as it (no score or probability is that large; the
  branch keeps the guarantee anyway, and costs nothing on other rows). Zero is ``0``, never ``-0``;
  NaN is empty; infinities are ``inf``/``-inf`` as numpy writes them.

The statement is compiled from the same SQLAlchemy select as the Python writer (same joins,
filter and ORDER BY), so the two cannot drift apart; tests compare their bytes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Float, Numeric, Select, Text, case, cast, func, literal, literal_column, or_, select
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
_EXACT_FROM = 2.0**53  # from here on doubles are integers, and float8out may not be shortest
# A huge double's shortest digits: its exact integer value e (the top bits as a bigint, times a
# power of two) rounded to p = 1, 2, ... significant digits, with the p-digit neighbours either side
# (next to a power of two the interval that reads back as {x} is lopsided, and the shortest may be
# the farther one); the fewest digits that read back as {x}, then the closest to e, as Python picks.
_HUGE_NUMBER = (
    "(SELECT c.r::text FROM"
    " (SELECT y.e, length(abs(y.e)::text) AS n FROM"
    "  (SELECT round(trunc({x} / 2::float8 ^ z.s)::bigint::numeric * 2::numeric ^ z.s, 0) AS e"
    "   FROM (SELECT greatest(floor(ln(abs({x})) / ln(2))::int - 60, 0) AS s) AS z) AS y) AS w,"
    " LATERAL (SELECT round(round(w.e, p - w.n) + d * 10::numeric ^ (w.n - p), 0) AS r, p"
    "  FROM generate_series(1, least(17, w.n)) AS p, generate_series(-1, 1) AS d) AS c"
    " WHERE CASE WHEN abs(c.r) <= '1.7976931348623157e308'::numeric THEN c.r::float8 END = {x}"  # no overflow
    " ORDER BY c.p, abs(c.r - w.e) LIMIT 1)"
)


def _float(name: str) -> Any:
    return literal_column(f"'{name}'::float8", Float)


def _sql(column: Any) -> str:
    return str(column.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def sql_cell(kind: str, column: Any) -> Any:
    """``column`` formatted in SQL as the Python writer formats a cell of ``kind``."""
    if kind == TEXT:
        first = func.substr(func.ltrim(column, "'"), 1, 1)
        return case((first.in_(_TRIGGERS), literal("'", Text) + column), else_=func.nullif(column, ""))
    if kind == COUNT:
        return column
    if kind == TIME:
        stamped = func.to_char(func.timezone("UTC", column), _ISO_FORMAT)
        return func.replace(stamped, ".000000Z", "Z")
    if kind == NUMBER:
        return case(
            (column == _float("NaN"), None),
            (column == _float("Infinity"), "inf"),
            (column == _float("-Infinity"), "-inf"),
            (column == 0, "0"),
            (func.abs(column) >= _EXACT_FROM, literal_column(_HUGE_NUMBER.format(x=_sql(column)), Text)),
            # Margins around float8out's exponent range; numeric writes any value exactly anyway.
            (or_(func.abs(column) < 1e-3, func.abs(column) >= 1e14), cast(cast(cast(column, Text), Numeric), Text)),
            else_=cast(column, Text),
        )
    raise ValueError(f"unknown cell kind {kind!r}")


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
    with raw.cursor() as cursor:
        # Shortest exact float output whatever the server's configuration; undone at the rollback.
        cursor.execute("SET LOCAL extra_float_digits = 1")
        with cursor.copy(copy_statement(cells, finish)) as copy:
            buffer = bytearray()
            for data in copy:
                buffer += data
                if len(buffer) >= chunk_bytes:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)
