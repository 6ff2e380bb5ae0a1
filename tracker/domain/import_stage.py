"""Checked forecasts waiting for the import's write transaction, held compactly.

An import is checked first in a read-only transaction (on SQLite a deferred one: a WAL snapshot that
blocks no writer, however long a large file takes to read), then written in one short write
transaction: this keeps a million-row import from holding the lock the web server needs, and keeps
it all or nothing. Between the two the forecasts wait here, in typed arrays (about 60 bytes per
forecast) rather than as Python objects, which is what kept a large import's memory small.
"""
from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from sqlalchemy.engine import Connection

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_micros(at: datetime) -> int:
    return (at - EPOCH) // _MICRO


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


class Stage:
    """Forecasts (question, forecaster, time, probabilities, rationale, line) in column arrays."""

    def __init__(self) -> None:
        self.spellings: list[str] = []  # per forecaster index, as first written in the file
        self.index: dict[str, int] = {}  # lower-case name -> forecaster index
        self.question, self.user, self.line = array("i"), array("i"), array("i")
        self.at = array("q")  # microseconds since 1970 (UTC)
        self.offset, self.option, self.prob = array("i"), array("i"), array("d")
        self.rationales: dict[int, str] = {}  # only the non-empty ones
        self.skip = bytearray()  # 1: an exact repeat of an earlier row of the file

    def __len__(self) -> int:
        return len(self.question)

    def user_index(self, name: str, lower: str) -> int:
        """The forecaster index of ``name`` (``lower`` is ``name.lower()``), new or not."""
        found = self.index.get(lower)
        if found is None:
            found = self.index[lower] = len(self.spellings)
            self.spellings.append(name)
        return found

    def add(self, question_id: int, user: int, micros: int, option_ids: list[int], probabilities: list[float],
            rationale: str, line: int) -> None:
        if rationale:
            self.rationales[len(self.question)] = rationale
        self.question.append(question_id)
        self.user.append(user)
        self.at.append(micros)
        self.line.append(line)
        self.offset.append(len(self.option))
        self.option.extend(option_ids)
        self.prob.extend(probabilities)
        self.skip.append(0)

    def add_many(self, question_id: int, users: np.ndarray, micros: np.ndarray, option_ids: list[int],
                 probabilities: np.ndarray) -> None:
        """Stage forecasts on one question at once (``bench/seed.py``): forecaster indexes ``users``,
        times ``micros``, a row of ``probabilities`` per forecast (one column per option of
        ``option_ids``); no rationale, line 0."""
        n, k = probabilities.shape
        self.offset.frombytes((len(self.option) + k * np.arange(n, dtype=np.int32)).astype(np.int32).tobytes())
        self.question.frombytes(np.full(n, question_id, dtype=np.int32).tobytes())
        self.user.frombytes(np.asarray(users, dtype=np.int32).tobytes())
        self.at.frombytes(np.asarray(micros, dtype=np.int64).tobytes())
        self.line.frombytes(bytes(4 * n))
        self.option.frombytes(np.tile(np.asarray(option_ids, dtype=np.int32), n).tobytes())
        self.prob.frombytes(np.ascontiguousarray(probabilities, dtype=np.float64).tobytes())
        self.skip.extend(bytes(n))

    def rationale(self, i: int) -> str:
        return self.rationales.get(i, "")

    def probs(self, i: int) -> dict[int, float]:
        end = self.offset[i + 1] if i + 1 < len(self.offset) else len(self.option)
        return {self.option[k]: self.prob[k] for k in range(self.offset[i], end)}

    def repeats(self) -> Iterator[tuple[int, int]]:
        """Pairs (earlier, later) of staged forecasts with the same question, forecaster and time,
        found by sorting (a few bytes per forecast, where a dict of keys took a hundred). One column
        is gathered at a time: at a million forecasts the sort's temporaries were the import's
        peak memory."""
        n = len(self)
        if n < 2:
            return
        question = np.frombuffer(self.question, dtype=np.int32)
        user = np.frombuffer(self.user, dtype=np.int32)
        at = np.frombuffer(self.at, dtype=np.int64)
        order = np.lexsort((at, user, question))  # stable: file order within a key
        repeat = np.ones(n - 1, dtype=bool)
        for column in (question, user, at):
            gathered = column[order]
            repeat &= gathered[1:] == gathered[:-1]
            del gathered
        later = np.flatnonzero(repeat) + 1  # positions in ``order`` equal to the one before
        if not len(later):
            return
        # Each repeat's run of equal keys starts at the last position that is not a repeat.
        is_repeat = np.zeros(n, dtype=bool)
        is_repeat[later] = True
        run_start = np.maximum.accumulate(np.where(is_repeat, 0, np.arange(n)))
        for k in later:
            yield int(order[run_start[k]]), int(order[k])


def same(a: dict[int, float], b: dict[int, float]) -> bool:
    """Two forecasts' probabilities agree (to 1e-12)."""
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=0.0, abs_tol=1e-12) for k in a)


# SQLAlchemy's storage format for a DATETIME on SQLite (naive UTC; see models.base.UTCDateTime).
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_SQLITE_FORECASTS = ("INSERT INTO forecasts (question_id, user_id, created_at, rationale) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (question_id, user_id, created_at) DO NOTHING")
_SQLITE_NEW = "SELECT id, question_id, user_id, created_at FROM forecasts WHERE id > ?"
_SQLITE_PROBS = "INSERT INTO forecast_probabilities (forecast_id, option_id, probability) VALUES (?, ?, ?)"


def prepare_sqlite(stage: Stage, user_ids: array, start: int, end: int) -> tuple[list[tuple], dict[tuple, int]]:
    """The rows of staged forecasts ``start:end`` for :func:`write_sqlite`, built before its write
    transaction begins (Python work done here is time the web server does not wait)."""
    rows, where = [], {}
    for i in range(start, end):
        if stage.skip[i]:
            continue
        stamp = from_micros(stage.at[i]).strftime(SQLITE_TIME)
        uid = user_ids[stage.user[i]]
        rows.append((stage.question[i], uid, stamp, stage.rationale(i)))
        where[(stage.question[i], uid, stamp)] = i
    return rows, where


def write_sqlite(conn: Connection, stage: Stage, rows: list[tuple], where: dict[tuple, int]) -> int:
    """Insert one batch from :func:`prepare_sqlite` through the driver's executemany (SQLite only)
    and return how many forecasts were new. The write transaction must be IMMEDIATE: it alone
    inserts, and ids only grow (AUTOINCREMENT), so the new rows are exactly those above the largest
    id before."""
    before = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM forecasts").scalar()
    conn.exec_driver_sql(_SQLITE_FORECASTS, rows)
    new = conn.exec_driver_sql(_SQLITE_NEW, (before,)).all()
    probs: list[tuple[int, int, float]] = []
    for forecast_id, question_id, user_id, stamp in new:
        i = where[(question_id, user_id, stamp)]
        end_k = stage.offset[i + 1] if i + 1 < len(stage.offset) else len(stage.option)
        probs.extend((forecast_id, stage.option[k], stage.prob[k]) for k in range(stage.offset[i], end_k))
    if probs:
        conn.exec_driver_sql(_SQLITE_PROBS, probs)
    return len(new)


# The staged path (write_postgres_staged, when a concurrent writer stored some forecasts since the
# check): a temporary table, one line per forecast, its probabilities as arrays. Each row draws its
# forecast id from the forecasts' own sequence as it is copied in, so the probabilities can be
# inserted straight from the stage (no join back on the key to learn the new ids).
_PG_STAGE = ("CREATE TEMPORARY TABLE import_stage (id integer NOT NULL DEFAULT nextval({sequence}), "
             "question_id integer NOT NULL, user_id integer NOT NULL, at bigint NOT NULL, rationale text NOT NULL, "
             "option_ids integer[] NOT NULL, probabilities float8[] NOT NULL) ON COMMIT DROP")
_PG_COPY = "COPY import_stage (question_id, user_id, at, rationale, option_ids, probabilities) FROM STDIN"
# The move runs in this transaction alone: JIT compiling buys nothing for an insert whose time goes
# to index and foreign-key checks, and the key-order sort of a million rows fits in memory.
_PG_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")
# The forecasts go in key order, so two imports of overlapping files wait for each other's rows in
# the same order and never deadlock; a row another import stored first is skipped (ON CONFLICT).
_PG_FORECASTS = """
INSERT INTO forecasts (id, question_id, user_id, created_at, rationale)
SELECT id, question_id, user_id, timestamptz '1970-01-01 00:00:00+00' + at * interval '1 microsecond', rationale
FROM import_stage ORDER BY question_id, user_id, at
ON CONFLICT (question_id, user_id, created_at) DO NOTHING
"""
# Every staged forecast was inserted: all the probabilities go in, in forecast id order.
_PG_PROBABILITIES = """
INSERT INTO forecast_probabilities (forecast_id, option_id, probability)
SELECT s.id, p.option_id, p.probability
FROM import_stage s CROSS JOIN LATERAL unnest(s.option_ids, s.probabilities) AS p(option_id, probability)
"""
# Some were skipped (a concurrent import stored them first): only those whose staged id is now a
# forecast get probabilities. The ids came from the sequence in this transaction, so no other
# writer can have used them: a forecast with one of them is one inserted just now.
_PG_SOME_PROBABILITIES = _PG_PROBABILITIES + "WHERE EXISTS (SELECT 1 FROM forecasts f WHERE f.id = s.id)"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_CHUNK = 1 << 20  # characters sent to COPY at a time


#: SQLite: forecasts per executemany batch of :func:`store_stage`.
INSERT_BATCH = 10_000


def store_stage(conn: Connection, stage: Stage, user_ids: array,
                on_batch: Callable[[int], None] | None = None) -> int:
    """Store the stage in the caller's transaction, the import's way on either database (COPY on
    PostgreSQL, batched executemany on SQLite), skipping forecasts already stored; return how many
    were new. ``user_ids`` maps each forecaster index of the stage to its user id; ``on_batch`` is
    told how many forecasts each batch held (a progress bar)."""
    if conn.dialect.name == "postgresql":
        return write_postgres(conn, stage, user_ids, on_batch)
    added = 0
    for start in range(0, len(stage), INSERT_BATCH):
        end = min(start + INSERT_BATCH, len(stage))
        rows, where = prepare_sqlite(stage, user_ids, start, end)
        added += write_sqlite(conn, stage, rows, where)
        if on_batch is not None:
            on_batch(end - start)
    return added


def write_postgres(conn: Connection, stage: Stage, user_ids: array,
                   on_batch: Callable[[int], None] | None = None) -> int:
    """Write the stage into forecasts and forecast_probabilities (PostgreSQL only); return how many
    forecasts were new.

    The fast path COPYs both tables directly, in binary, in key order, under a savepoint: the
    check already set aside every forecast stored when it ran, so a conflict means a concurrent
    import or submission stored one of them since, and COPY (which has no ON CONFLICT) fails on it.
    Then the savepoint is rolled back and :func:`write_postgres_staged` skips what is stored."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        for setting in _PG_SETTINGS:
            cursor.execute(setting)
        cursor.execute("SAVEPOINT import_copy")
        try:
            added = copy_postgres(cursor, stage, user_ids, on_batch)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT import_copy")
            return write_postgres_staged(cursor, stage, user_ids)
        cursor.execute("RELEASE SAVEPOINT import_copy")
    return added


_PG_COPY_FORECASTS = "COPY forecasts (id, question_id, user_id, created_at, rationale) FROM STDIN (FORMAT BINARY)"
_PG_COPY_PROBABILITIES = "COPY forecast_probabilities (forecast_id, option_id, probability) FROM STDIN (FORMAT BINARY)"
# The sequence is named once (pg_get_serial_sequence in the select list ran once per row).
_PG_SEQUENCE = "SELECT pg_get_serial_sequence('forecasts', 'id')::regclass::oid"
_PG_IDS = "SELECT array_agg(nextval(%s::oid)) FROM generate_series(1, %s)"
#: Forecasts per pair of COPY statements: bounds the binary buffers (about 40 bytes a forecast and
#: 30 a probability) while the round trips stay few.
COPY_BATCH = 50_000
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
_BINARY_TRAILER = b"\xff\xff"
_PG_EPOCH_MICROS = 946_684_800_000_000  # PostgreSQL's timestamps count from 2000-01-01 UTC
# A row of each table in PostgreSQL's binary COPY format: a field count, then each field's length
# and value, big-endian. The forecast's rationale (text) is the last field: its length varies.
_FORECAST_ROW = np.dtype([("n", ">i2"), ("l_id", ">i4"), ("id", ">i4"), ("l_q", ">i4"), ("q", ">i4"),
                          ("l_u", ">i4"), ("u", ">i4"), ("l_at", ">i4"), ("at", ">i8"), ("l_r", ">i4")])
_PROBABILITY_ROW = np.dtype([("n", ">i2"), ("l_id", ">i4"), ("id", ">i4"), ("l_o", ">i4"), ("o", ">i4"),
                             ("l_p", ">i4"), ("p", ">f8")])


def key_order(stage: Stage, user_ids: array) -> np.ndarray:
    """The positions of the stage's forecasts to store (repeats left out), in key order: question,
    forecaster's user id, time. Two imports that write in this order wait for each other's rows
    in the same order, and so never deadlock.

    Sorted one question at a time, as 32-bit positions: a sort of the whole stage at once held
    about 18 MB of temporaries, the peak of a million-forecast import. A file in the export's
    order holds each question's forecasts in one run; one whose questions alternate every few rows
    is sorted whole."""
    n = len(stage)
    if not n:
        return np.empty(0, dtype=np.int32)
    question = np.frombuffer(stage.question, dtype=np.int32)
    at = np.frombuffer(stage.at, dtype=np.int64)
    user = np.frombuffer(stage.user, dtype=np.int32)
    uids = np.frombuffer(user_ids, dtype=np.int64)
    keep = np.frombuffer(stage.skip, dtype=np.uint8) == 0
    starts = np.concatenate(([0], np.flatnonzero(question[1:] != question[:-1]) + 1))
    if len(starts) > n // 16 + 1:
        order = np.lexsort((at, uids[user], question))
        return order[keep[order]].astype(np.int32)
    ends = np.append(starts[1:], n)
    runs = np.argsort(question[starts], kind="stable")  # the runs, a question's together
    run_questions = question[starts[runs]]
    groups = np.split(runs, np.flatnonzero(run_questions[1:] != run_questions[:-1]) + 1)
    order = np.empty(n, dtype=np.int32)
    filled = 0
    for group in groups:
        positions = np.concatenate([np.arange(starts[r], ends[r], dtype=np.int32) for r in group.tolist()])
        positions = positions[keep[positions]]
        positions = positions[np.lexsort((at[positions], uids[user[positions]]))]
        order[filled:filled + len(positions)] = positions
        filled += len(positions)
    return order[:filled]


def copy_postgres(cursor: psycopg.Cursor, stage: Stage, user_ids: array,
                  on_batch: Callable[[int], None] | None = None) -> int:
    """COPY the stage straight into both tables, a batch of forecasts at a time, in key order
    (see :func:`key_order`), with ids drawn from the forecasts' sequence in that order: the
    probabilities then go in in forecast id order too. Return how many forecasts were written."""
    order = key_order(stage, user_ids)
    uids = np.frombuffer(user_ids, dtype=np.int64)
    offsets = np.append(np.frombuffer(stage.offset, dtype=np.int32), np.int32(len(stage.option)))
    cursor.execute(_PG_SEQUENCE)
    sequence = cursor.fetchone()[0]  # type: ignore[index]
    for start in range(0, len(order), COPY_BATCH):
        chunk = order[start:start + COPY_BATCH]
        cursor.execute(_PG_IDS, (sequence, len(chunk)))
        ids = np.sort(np.asarray(cursor.fetchone()[0], dtype=np.int64))  # type: ignore[index]
        with cursor.copy(_PG_COPY_FORECASTS) as copy:
            for part in forecast_rows(stage, chunk, ids, uids):
                copy.write(part)
        with cursor.copy(_PG_COPY_PROBABILITIES) as copy:
            for part in probability_rows(stage, chunk, ids, offsets):
                copy.write(part)
        if on_batch is not None:
            on_batch(len(chunk))
    return len(order)


def forecast_rows(stage: Stage, chunk: np.ndarray, ids: np.ndarray, uids: np.ndarray) -> list[bytes | memoryview]:
    """Binary COPY data of the forecasts at stage positions ``chunk`` (with ids ``ids``), in parts
    (the rows' memory itself, not a copy of it)."""
    rows = np.empty(len(chunk), dtype=_FORECAST_ROW)
    rows["n"] = 5
    rows["l_id"] = rows["l_q"] = rows["l_u"] = 4
    rows["l_at"] = 8
    rows["id"] = ids
    rows["q"] = np.frombuffer(stage.question, dtype=np.int32)[chunk]
    rows["u"] = uids[np.frombuffer(stage.user, dtype=np.int32)[chunk]]
    rows["at"] = np.frombuffer(stage.at, dtype=np.int64)[chunk] - _PG_EPOCH_MICROS
    rows["l_r"] = 0
    if not stage.rationales:
        return [_BINARY_HEADER, _bytes_of(rows), _BINARY_TRAILER]
    # Rows with a rationale carry its bytes after the fixed part: the rows between two of them
    # go out as one block of the fixed layout.
    parts: list[bytes | memoryview] = [_BINARY_HEADER]
    done = 0
    for k in np.flatnonzero(np.isin(chunk, np.fromiter(stage.rationales, dtype=np.int64))).tolist():
        text = stage.rationales[int(chunk[k])].encode()
        rows["l_r"][k] = len(text)
        parts += [_bytes_of(rows[done:k + 1]), text]
        done = k + 1
    parts += [_bytes_of(rows[done:]), _BINARY_TRAILER]
    return parts


def _bytes_of(rows: np.ndarray) -> memoryview:
    """The rows' memory as bytes (psycopg measures and splits what it sends by len())."""
    return rows.view(np.uint8).data


def probability_rows(stage: Stage, chunk: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> list[bytes | memoryview]:
    """Binary COPY data of the probabilities of the forecasts at ``chunk`` (with ids ``ids``)."""
    starts, counts = offsets[chunk], offsets[chunk + 1] - offsets[chunk]
    # The position of each probability in the stage's arrays: its forecast's start plus its rank.
    firsts = np.cumsum(counts) - counts
    positions = np.repeat(starts - firsts, counts) + np.arange(int(counts.sum()))
    rows = np.empty(len(positions), dtype=_PROBABILITY_ROW)
    rows["n"] = 3
    rows["l_id"] = rows["l_o"] = 4
    rows["l_p"] = 8
    rows["id"] = np.repeat(ids, counts)
    rows["o"] = np.frombuffer(stage.option, dtype=np.int32)[positions]
    rows["p"] = np.frombuffer(stage.prob, dtype=np.float64)[positions]
    return [_BINARY_HEADER, _bytes_of(rows), _BINARY_TRAILER]


def write_postgres_staged(cursor: psycopg.Cursor, stage: Stage, user_ids: array) -> int:
    """The path that skips forecasts stored meanwhile: COPY the stage into a temporary table, then
    an INSERT ... SELECT ... ON CONFLICT DO NOTHING into forecasts and one into
    forecast_probabilities. The COPY text is formatted here, a line per forecast, with the
    probabilities as arrays: no statement per row."""
    cursor.execute("SELECT quote_literal(pg_get_serial_sequence('forecasts', 'id'))")
    cursor.execute(_PG_STAGE.format(sequence=cursor.fetchone()[0]))  # type: ignore[index]
    with cursor.copy(_PG_COPY) as copy:
        for text in copy_text(stage, user_ids):
            copy.write(text)
    cursor.execute(_PG_FORECASTS)
    added = cursor.rowcount
    staged = len(stage) - stage.skip.count(1)
    if added:
        cursor.execute(_PG_PROBABILITIES if added == staged else _PG_SOME_PROBABILITIES)
    return added


def copy_text(stage: Stage, user_ids: array) -> Iterator[str]:
    """The stage as COPY text (tab-separated, a line per forecast), about a megabyte at a time."""
    lines: list[str] = []
    size = 0
    offset, option, prob, n_options = stage.offset, stage.option, stage.prob, len(stage.option)
    question, user, at, skip, rationales = stage.question, stage.user, stage.at, stage.skip, stage.rationales
    for i in range(len(stage)):
        if skip[i]:
            continue
        start, end = offset[i], offset[i + 1] if i + 1 < len(offset) else n_options
        rationale = rationales.get(i, "")
        if rationale:
            rationale = rationale.translate(_COPY_ESCAPES)
        line = (f"{question[i]}\t{user_ids[user[i]]}\t{at[i]}\t{rationale}\t"
                f"{{{','.join(map(str, option[start:end]))}}}\t{{{','.join(map(repr, prob[start:end]))}}}\n")
        lines.append(line)
        size += len(line)
        if size >= _COPY_CHUNK:
            yield "".join(lines)
            lines, size = [], 0
    if lines:
        yield "".join(lines)
