"""CSV import of raw forecasts in the export's format (see docs/csv.md), all or nothing.

Every problem is reported with its line and column; nothing is written unless the whole file is
valid. The file is checked in one transaction (read-only) and written in another
(:func:`check_forecasts`, :func:`write_forecasts`); the bulk writes are in :mod:`.bulk_insert`.
"""
from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..clock import Clock
from ..db import transaction
from ..models import Question, User
from .bulk_insert import NewForecast, ensure_users, insert_forecasts
from .crowd_upkeep import mark_crowds_stale
from .csv_reading import CsvFormatError, csv_records
from .import_checks import (
    REQUIRED_IMPORT_COLUMNS,
    CsvImportError,
    ImportChecker,
    ImportReport,
    read_groups,
)
from .import_stage import prepare_sqlite, store_stage, write_sqlite

__all__ = ["CsvImportError", "ImportReport", "NewForecast", "check_forecasts", "import_forecasts",
           "insert_forecasts", "write_forecasts", "write_forecasts_in_steps"]

#: SQLite, :func:`write_forecasts_in_steps`: each write transaction aims at this many seconds, the
#: first holds FIRST_STEP forecasts, and the web server's writers get this pause between two. A
#: writer waiting in another process polls the lock every millisecond (db._begin_immediate), so a
#: short gap lets the waiting ones in; the pause used to be 0.3 s and never less than the last
#: write, from when such a writer slept up to 100 ms between tries.
STEP_SECONDS, STEP_PAUSE = 0.1, 0.05
FIRST_STEP, MIN_STEP = 2000, 200


def import_forecasts(
    session: Session,
    clock: Clock,
    lines: Iterable[str],
    on_row: Callable[[], None] | None = None,
    allow_existing_users: bool = False,
) -> ImportReport:
    """Check and write in one transaction: :func:`check_forecasts` then :func:`write_forecasts`."""
    return write_forecasts(session, clock, check_forecasts(session, clock, lines, on_row, allow_existing_users))


def check_forecasts(
    session: Session,
    clock: Clock,
    lines: Iterable[str],
    on_row: Callable[[], None] | None = None,
    allow_existing_users: bool = False,
) -> ImportChecker:
    """Read and check a file in the export's format; write nothing (a read-only transaction will do).

    Rows of one forecast (same question, forecaster and forecast_at) must be consecutive, as the
    export writes them. Exact duplicates of stored forecasts are skipped, so importing the same file
    twice changes nothing. A forecast must fall inside its question's window (opens_at to before
    closes_at), not in the future, not on an annulled question; forecasts under an account that has
    a password need ``allow_existing_users``. Raises :class:`CsvImportError` naming the line and
    column of every problem. The result goes to :func:`write_forecasts`.
    """
    importer = ImportChecker(session, clock, allow_existing_users)
    names: list[str] = []
    records = csv_records(lines, names)
    try:
        _line, header = next(records)
    except StopIteration:
        raise CsvImportError(["line 1, column -: the file is empty (expected a header row)"]) from None
    except CsvFormatError as exc:
        raise CsvImportError([str(exc)]) from None
    names.extend(h.strip().lstrip("\ufeff").lower() for h in header)
    for column in REQUIRED_IMPORT_COLUMNS:
        if column not in names:
            importer.error(1, column, "is missing from the header row "
                                      f"(expected {','.join(REQUIRED_IMPORT_COLUMNS)}[,rationale])")
    if importer.error_count:
        raise CsvImportError(importer.errors, importer.error_count)
    index = {name: i for i, name in reversed(list(enumerate(names)))}
    try:
        group = read_groups(importer, records, names, index, on_row)
    except CsvFormatError as exc:
        importer.error(exc.line, exc.column, str(exc).split(": ", 1)[1])
        raise CsvImportError(importer.errors, importer.error_count) from None
    if group is not None:
        importer.finish(group)
    importer.check_repeats()
    if importer.error_count:
        raise CsvImportError(importer.errors, importer.error_count)
    return importer


def write_forecasts(session: Session, clock: Clock, checked: ImportChecker) -> ImportReport:
    """Write what :func:`check_forecasts` accepted, all in the caller's (write) transaction: create
    the new forecasters, insert the forecasts (each stored once, whatever a concurrent import does;
    COPY on PostgreSQL), rescore the resolved questions they touch."""
    report, stage = checked.report, checked.stage
    ids = create_forecasters(session, clock, checked)
    conn = session.connection()
    added = store_stage(conn, stage, ids)
    _count(report, added, len(stage) - stage.skip.count(1))
    if added and conn.dialect.name == "postgresql":
        # The ids were drawn before web forecasts that may commit first: see there.
        mark_crowds_stale(session, [int(q) for q in set(stage.question)])
    rescore_touched(session, clock, checked)
    return report


def write_forecasts_in_steps(sessions: sessionmaker[Session], clock: Clock, checked: ImportChecker,
                             seconds: float = STEP_SECONDS, pause: float = STEP_PAUSE) -> ImportReport:
    """Write what :func:`check_forecasts` accepted in short write transactions (SQLite, where a
    writer locks the whole database): the forecasters in one, then batches of forecasts sized so
    each holds the lock about ``seconds``, with a ``pause`` between them in which the web server's
    waiting writers get their turn, and the rescoring last.

    A file whose check failed writes nothing. An import stopped half-way through its batches has
    stored some of its forecasts; running it again stores the rest (stored ones are skipped) and
    rescores (see docs/csv.md)."""
    report, stage = checked.report, checked.stage
    with transaction(sessions) as session:
        ids = create_forecasters(session, clock, checked)
    size, start = FIRST_STEP, 0
    while start < len(stage):
        end = min(start + size, len(stage))
        rows, where = prepare_sqlite(stage, ids, start, end)  # before the lock: Python work
        began = time.perf_counter()
        with transaction(sessions) as session:
            added = write_sqlite(session.connection(), stage, rows, where)
        took = time.perf_counter() - began
        report.longest_write = max(report.longest_write, took)
        report.writes += 1
        _count(report, added, len(rows))
        start = end
        # Aim the next batch at the time budget (within a factor of two of this one's size).
        size = max(MIN_STEP, min(2 * size, int(size * seconds / max(took, 1e-3))))
        if start < len(stage):
            time.sleep(pause)
    with transaction(sessions) as session:
        rescore_touched(session, clock, checked)
    return report


def _count(report: ImportReport, added: int, attempted: int) -> None:
    report.added += added
    report.duplicates += attempted - added  # stored meanwhile by a concurrent import


def create_forecasters(session: Session, clock: Clock, checked: ImportChecker) -> array:
    """Create the file's new forecasters (batched) and return the user id of each forecaster index
    of the stage; refuse a name that became a real account while the file was being checked."""
    report, stage = checked.report, checked.stage
    new_names = [name for name in stage.spellings if name.lower() not in checked.users]
    made = ensure_users(session, clock, new_names)
    if not checked.allow_existing_users and made:
        # Registered through the web while the file was being checked: now a real account.
        taken: list[str] = []
        uids = [uid for uid, created in made.values() if not created]
        for start in range(0, len(uids), 1000):
            taken.extend(session.scalars(select(User.username).where(
                User.id.in_(uids[start:start + 1000]), User.password_hash.is_not(None))))
        if taken:
            raise CsvImportError([f"line -, column forecaster: {name!r} registered while the file was being "
                                  "checked; adding forecasts to it needs --allow-existing-users"
                                  for name in sorted(taken)])
    report.users_created.extend(name for name in new_names if made[name.lower()][1])
    return array("q", (checked.users.get(name.lower()) or made[name.lower()][0] for name in stage.spellings))


def rescore_touched(session: Session, clock: Clock, checked: ImportChecker) -> None:
    """Rescore the resolved questions that gained forecasts."""
    if not checked.touched:
        return
    resolved = session.scalars(
        select(Question.id).where(Question.id.in_(checked.touched), Question.status == "resolved")
    ).all()
    if resolved:
        from .scoring_runs import rescore_questions  # lazy: scoring_runs imports the scoring engine

        rescore_questions(session, clock, sorted(resolved))
        checked.report.rescored = sorted(resolved)
