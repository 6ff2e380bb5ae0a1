"""Whole columns in and out of a table without a Python object per value: PostgreSQL's binary COPY,
built and parsed with numpy; plain executemany and fetches elsewhere (SQLite).

Columns are numpy arrays: integers, floats (NaN is NULL), timestamps as int64 microseconds since
1970-01-01 UTC (:data:`NULL_TIME` is NULL) and, for writes only, strings. Used for the score rows and
the forecaster aggregates, which a rebuild writes by the hundred thousand.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Delete,
    Float,
    Integer,
    Select,
    String,
    Table,
    delete,
    func,
    insert,
    literal_column,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningDelete

#: A NULL timestamp in a column of int64 microseconds.
NULL_TIME = np.iinfo(np.int64).min
#: PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, no header extension
_TRAILER = b"\xff\xff"
#: Rows per COPY chunk: bounds the buffer (a score row is about 500 bytes) whatever the table size.
CHUNK_ROWS = 20_000
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _kind(table: Table, name: str) -> str:
    column_type = table.c[name].type
    if isinstance(column_type, BigInteger):
        return "i8"
    if isinstance(column_type, Integer):
        return "i4"
    if isinstance(column_type, Float):
        return "f8"
    if isinstance(column_type, DateTime) or isinstance(getattr(column_type, "impl", None), DateTime):
        return "ts"
    if isinstance(column_type, String):
        return "text"
    raise TypeError(f"no column copy for {table.name}.{name} ({column_type!r})")


def micros_to_datetime(value: int) -> datetime | None:
    """A timestamp column value as an aware UTC datetime (None for :data:`NULL_TIME`)."""
    return None if value == NULL_TIME else _UNIX_EPOCH + timedelta(microseconds=int(value))


def write_columns(session: Session, table: Table, columns: Mapping[str, Sequence | np.ndarray]) -> int:
    """Insert one row per position of ``columns`` (name -> values, all the same length) into
    ``table``; returns the number of rows. The caller's transaction; no ORM objects."""
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    if n == 0:
        return 0
    kinds = [_kind(table, name) for name in names]
    if session.get_bind().dialect.name == "postgresql":
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                f"COPY {table.name} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_SIGNATURE)
            for start in range(0, n, CHUNK_ROWS):
                part = {name: columns[name][start:start + CHUNK_ROWS] for name in names}
                copy.write(_binary_rows([part[name] for name in names], kinds))
            copy.write(_TRAILER)
        return n
    session.execute(insert(table), _python_rows(names, kinds, columns, n))
    return n


def replace_rows(session: Session, table: Table, columns: Mapping[str, Sequence | np.ndarray],
                 scope: ColumnElement[bool]) -> int:
    """Make the rows of ``table`` matching ``scope`` exactly the given rows: one DELETE, then
    :func:`write_columns`."""
    session.execute(delete(table).where(scope))
    return write_columns(session, table, columns)


def _python_rows(names: list[str], kinds: list[str], columns: Mapping, n: int) -> list[dict]:
    converted = []
    for name, kind in zip(names, kinds, strict=True):
        values = columns[name]
        if kind == "f8":
            values = [None if v != v else v for v in np.asarray(values, dtype=np.float64).tolist()]
        elif kind == "ts":
            values = [micros_to_datetime(v) for v in np.asarray(values, dtype=np.int64).tolist()]
        elif kind in ("i4", "i8"):
            values = np.asarray(values, dtype=np.int64).tolist()
        converted.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*converted, strict=True)]


def _binary_rows(parts: list, kinds: list[str]) -> bytes:
    """The COPY BINARY tuples of one chunk. Rows are grouped by layout (which fields are NULL, how
    long each string is) so each group is one fixed-width numpy record array."""
    n = len(parts[0])
    values: list[np.ndarray] = []
    null: list[np.ndarray | None] = []
    width: list[np.ndarray | int] = []
    for part, kind in zip(parts, kinds, strict=True):
        if kind == "text":
            encoded = np.asarray([s.encode() for s in part], dtype=object)
            values.append(encoded)
            null.append(None)
            width.append(np.fromiter((len(b) for b in encoded), dtype=np.int64, count=n))
        elif kind == "f8":
            array = np.asarray(part, dtype=np.float64)
            values.append(array)
            null.append(np.isnan(array))
            width.append(8)
        elif kind == "ts":
            array = np.asarray(part, dtype=np.int64)
            values.append(array - _PG_EPOCH_US)
            null.append(array == NULL_TIME)
            width.append(8)
        else:
            values.append(np.asarray(part, dtype=np.int64))
            null.append(None)
            width.append(4 if kind == "i4" else 8)
    # One layout key per row: the NULL flags and the string lengths.
    key_columns = [m for m in null if m is not None] + [w for w in width if isinstance(w, np.ndarray)]
    inverse = np.zeros(n, dtype=np.int64)
    for key in key_columns:  # one dense code per distinct combination, column by column
        _, code = np.unique(np.asarray(key, dtype=np.int64), return_inverse=True)
        _, inverse = np.unique(inverse * (int(code.max()) + 1) + code.ravel(), return_inverse=True)
        inverse = inverse.ravel()
    groups = int(inverse.max()) + 1
    out = []
    for g in range(groups):
        rows = np.flatnonzero(inverse == g)
        first = rows[0]
        fields: list[tuple[str, str]] = [("n", ">i2")]
        for i, kind in enumerate(kinds):
            fields.append((f"l{i}", ">i4"))
            if null[i] is not None and null[i][first]:  # type: ignore[index]
                continue
            size = int(width[i][first]) if isinstance(width[i], np.ndarray) else width[i]  # type: ignore[index]
            fields.append((f"v{i}", f"S{size}" if kind == "text" else f">{'f' if kind == 'f8' else 'i'}{size}"))
        record = np.empty(len(rows), dtype=np.dtype(fields))
        record["n"] = len(kinds)
        names = record.dtype.names or ()
        for i, kind in enumerate(kinds):
            if f"v{i}" not in names:
                record[f"l{i}"] = -1
                continue
            record[f"l{i}"] = record.dtype[f"v{i}"].itemsize
            record[f"v{i}"] = values[i][rows].tolist() if kind == "text" else values[i][rows]
        out.append(record.tobytes())
    return b"".join(out)


def float_or_nan(session: Session, column):
    """``column`` for :func:`read_select`: on PostgreSQL a NULL float comes back as NaN (a binary
    COPY of fixed-width rows has no room for NULL); elsewhere NULL becomes NaN on the way in."""
    if session.get_bind().dialect.name == "postgresql":
        return func.coalesce(column, literal_column("'NaN'::float8"))
    return column


def read_select(session: Session, stmt: Select | Delete | ReturningDelete, kinds: Sequence[str]) -> list[np.ndarray]:
    """:func:`read_columns` of a Core select, or of a DELETE ... RETURNING (its parameters
    rendered inline: ids and tags only)."""
    sql = str(stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    return read_columns(session, sql, kinds, returning=isinstance(stmt, Delete))


def read_columns(session: Session, sql: str, kinds: Sequence[str], returning: bool = False) -> list[np.ndarray]:
    """Run ``sql`` (a SELECT of non-NULL int4 'i4', int8 'i8', float8 'f8' or timestamp 'ts'
    columns, in ``kinds`` order; on PostgreSQL floats may be NULL only if the query coalesces
    them) and return one array per column, timestamps as int64 microseconds since 1970 UTC.
    PostgreSQL sends each column as one binary array (``array_agg``): a COPY of the rows
    themselves costs a driver round per row, and a timestamp travels as its own 8 bytes (no
    numeric ``extract`` per row)."""
    if session.get_bind().dialect.name != "postgresql":
        rows = session.connection().exec_driver_sql(sql).all()
        if not rows:
            return [np.zeros(0, dtype=np.float64 if k == "f8" else np.int64) for k in kinds]
        # None (NULL) becomes NaN in a float column.
        return [_sqlite_times(col) if k == "ts" else np.asarray(col, dtype=np.float64 if k == "f8" else np.int64)
                for col, k in zip(zip(*rows, strict=True), kinds, strict=True)]
    names = [f"c{i}" for i in range(len(kinds))]
    aggregates = ", ".join(f"array_agg(q.{name})" for name in names)
    if returning:  # a data-modifying statement may only stand in a top-level WITH
        wrapped = f"WITH q({', '.join(names)}) AS ({sql}) SELECT {aggregates} FROM q"
    else:
        wrapped = f"SELECT {aggregates} FROM ({sql}) AS q({', '.join(names)})"
    raw = session.connection().connection.driver_connection
    chunks = []
    with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
            f"COPY ({wrapped}) TO STDOUT (FORMAT BINARY)") as copy:
        for block in copy:
            chunks.append(bytes(block))
    data = b"".join(chunks)
    # Header, one tuple (field count, then per field its length and a one-dimensional array:
    # ndim, has-nulls, element type, size, lower bound, then (length, value) per element).
    offset = len(_SIGNATURE) + int.from_bytes(data[15:19], "big") + 2
    result = []
    for kind in kinds:
        length = int.from_bytes(data[offset:offset + 4], "big", signed=True)
        offset += 4
        item = "f8" if kind == "f8" else ("i8" if kind in ("i8", "ts") else "i4")
        if length < 0:  # array_agg over no rows is NULL
            result.append(np.zeros(0, dtype=np.float64 if kind == "f8" else np.int64))
            continue
        if int.from_bytes(data[offset + 4:offset + 8], "big") != 0:
            raise ValueError("a NULL in a column read by read_columns: coalesce it in the query")
        size = int.from_bytes(data[offset + 12:offset + 16], "big")
        width = 8 if item != "i4" else 4
        record = np.frombuffer(data, dtype=np.dtype([("l", ">i4"), ("v", f">{item[0]}{width}")]),
                               count=size, offset=offset + 20)
        if size and np.any(record["l"] != width):
            raise ValueError(f"a column read as {kind} is not {kind}")
        column = record["v"].astype(np.float64 if kind == "f8" else np.int64)
        result.append(column + _PG_EPOCH_US if kind == "ts" else column)
        offset += length
    return result


def _sqlite_times(values: Sequence) -> np.ndarray:
    """SQLite's timestamps (naive UTC text) as int64 microseconds since 1970."""
    def micros(text) -> int:
        value = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return (value - _UNIX_EPOCH) // timedelta(microseconds=1)
    return np.fromiter((micros(v) for v in values), dtype=np.int64, count=len(values))
