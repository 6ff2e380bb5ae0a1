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
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.engine import Connection

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_USER_BITS, _TIME_BITS = 32, 53  # an exact packing: user index < 2**32, microseconds < 2**53


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

    def user_index(self, name: str) -> int:
        lower = name.lower()
        if lower not in self.index:
            self.index[lower] = len(self.spellings)
            self.spellings.append(name)
        return self.index[lower]

    def add(self, question_id: int, user: int, micros: int, probs: dict[int, float], rationale: str,
            line: int) -> None:
        if rationale:
            self.rationales[len(self.question)] = rationale
        self.question.append(question_id)
        self.user.append(user)
        self.at.append(micros)
        self.line.append(line)
        self.offset.append(len(self.option))
        for option_id, p in probs.items():
            self.option.append(option_id)
            self.prob.append(p)
        self.skip.append(0)

    def rationale(self, i: int) -> str:
        return self.rationales.get(i, "")

    def probs(self, i: int) -> dict[int, float]:
        end = self.offset[i + 1] if i + 1 < len(self.offset) else len(self.option)
        return {self.option[k]: self.prob[k] for k in range(self.offset[i], end)}

    def repeats(self) -> Iterator[tuple[int, int]]:
        """Pairs (earlier, later) of staged forecasts with the same question, forecaster and time,
        found by sorting (a few bytes per forecast, where a dict of keys took a hundred)."""
        if len(self) < 2:
            return
        question = np.frombuffer(self.question, dtype=np.int32)
        user = np.frombuffer(self.user, dtype=np.int32)
        at = np.frombuffer(self.at, dtype=np.int64)
        order = np.lexsort((np.arange(len(self)), at, user, question))  # file order within a key
        q, u, t = question[order], user[order], at[order]
        repeat = np.concatenate(([False], (q[1:] == q[:-1]) & (u[1:] == u[:-1]) & (t[1:] == t[:-1])))
        # Each position's run of equal keys starts at the last position that is not a repeat.
        run_start = np.maximum.accumulate(np.where(repeat, 0, np.arange(len(self))))
        for k in np.flatnonzero(repeat):
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


_PG_STAGE = ("CREATE TEMPORARY TABLE import_stage (question_id integer, user_id integer, at bigint, "
             "rationale text, option_ids integer[], probabilities float8[]) ON COMMIT DROP")
# One statement moves the stage into both tables. The forecasts go in key order, so two imports
# of overlapping files wait for each other's rows in the same order and never deadlock; a row
# another import stored first is skipped (ON CONFLICT), and only the inserted ones get probabilities.
_PG_MOVE = """
WITH staged AS (
    SELECT question_id, user_id, rationale, option_ids, probabilities,
           timestamptz '1970-01-01 00:00:00+00' + at * interval '1 microsecond' AS created_at
    FROM import_stage
), inserted AS (
    INSERT INTO forecasts (question_id, user_id, created_at, rationale)
    SELECT question_id, user_id, created_at, rationale FROM staged ORDER BY question_id, user_id, created_at
    ON CONFLICT (question_id, user_id, created_at) DO NOTHING
    RETURNING id, question_id, user_id, created_at
), probabilities AS (
    INSERT INTO forecast_probabilities (forecast_id, option_id, probability)
    SELECT inserted.id, p.option_id, p.probability
    FROM inserted
    JOIN staged USING (question_id, user_id, created_at)
    CROSS JOIN LATERAL unnest(staged.option_ids, staged.probabilities) AS p(option_id, probability)
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM probabilities)
"""
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_CHUNK = 1 << 20  # characters sent to COPY at a time


def write_postgres(conn: Connection, stage: Stage, user_ids: array) -> int:
    """COPY the stage into a temporary table, then one INSERT ... SELECT into forecasts and
    forecast_probabilities (PostgreSQL only); return how many forecasts were new. The COPY text is
    formatted here, a line per forecast, with the probabilities as arrays: no statement per row."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(_PG_STAGE)
        with cursor.copy("COPY import_stage FROM STDIN") as copy:
            lines: list[str] = []
            size = 0
            offset, option, prob, n_options = stage.offset, stage.option, stage.prob, len(stage.option)
            for i in range(len(stage)):
                if stage.skip[i]:
                    continue
                start, end = offset[i], offset[i + 1] if i + 1 < len(offset) else n_options
                rationale = stage.rationale(i).translate(_COPY_ESCAPES)
                line = (f"{stage.question[i]}\t{user_ids[stage.user[i]]}\t{stage.at[i]}\t{rationale}\t"
                        f"{{{','.join(map(str, option[start:end]))}}}\t{{{','.join(map(repr, prob[start:end]))}}}\n")
                lines.append(line)
                size += len(line)
                if size >= _COPY_CHUNK:
                    copy.write("".join(lines))
                    lines, size = [], 0
            if lines:
                copy.write("".join(lines))
        cursor.execute(_PG_MOVE)
        row = cursor.fetchone()
    return int(row[0]) if row else 0
