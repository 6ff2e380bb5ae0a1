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


# The stage on PostgreSQL: one line per forecast, its probabilities as arrays. Each row draws its
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
    """COPY the stage into a temporary table, then an INSERT ... SELECT into forecasts and one
    into forecast_probabilities (PostgreSQL only); return how many forecasts were new. The COPY
    text is formatted here, a line per forecast, with the probabilities as arrays: no statement
    per row. ``on_batch`` hears of the whole stage at once: it is one move."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        for setting in _PG_SETTINGS:
            cursor.execute(setting)
        cursor.execute("SELECT quote_literal(pg_get_serial_sequence('forecasts', 'id'))")
        cursor.execute(_PG_STAGE.format(sequence=cursor.fetchone()[0]))
        with cursor.copy(_PG_COPY) as copy:
            for text in copy_text(stage, user_ids):
                copy.write(text)
        cursor.execute(_PG_FORECASTS)
        added = cursor.rowcount
        staged = len(stage) - stage.skip.count(1)
        if added:
            cursor.execute(_PG_PROBABILITIES if added == staged else _PG_SOME_PROBABILITIES)
    if on_batch is not None:
        on_batch(len(stage))
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
