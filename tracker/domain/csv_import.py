"""CSV import of raw forecasts in the export's format (see docs/csv.md), all or nothing.

Every problem is reported with its line and column; nothing is written unless the whole file is
valid. The file is checked in one transaction (read-only) and written in another
(:func:`check_forecasts`, :func:`write_forecasts`); the bulk writes are in :mod:`.bulk_insert`.
"""
from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import Clock
from ..models import Question, User
from .bulk_insert import NewForecast, ensure_users, insert_forecasts
from .csv_reading import CsvFormatError, csv_records
from .import_checks import (
    REQUIRED_IMPORT_COLUMNS,
    CsvImportError,
    ImportChecker,
    ImportReport,
    read_groups,
)
from .import_stage import from_micros, write_sqlite

__all__ = ["CsvImportError", "ImportReport", "NewForecast", "check_forecasts", "import_forecasts",
           "insert_forecasts", "write_forecasts"]

INSERT_BATCH = 10_000


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
    """Write what :func:`check_forecasts` accepted, in the caller's (write) transaction: create the
    new forecasters, insert the forecasts (each stored once, whatever a concurrent import does),
    rescore the resolved questions they touch."""
    report, stage = checked.report, checked.stage
    new_names = [name for name in stage.spellings if name.lower() not in checked.users]
    made = ensure_users(session, clock, new_names)
    if not checked.allow_existing_users and made:
        # Registered through the web while the file was being checked: now a real account.
        real = session.scalars(select(User.username).where(
            User.id.in_([uid for uid, created in made.values() if not created]), User.password_hash.is_not(None)))
        taken = sorted(real)
        if taken:
            raise CsvImportError([f"line -, column forecaster: {name!r} registered while the file was being "
                                  "checked; adding forecasts to it needs --allow-existing-users" for name in taken])
    ids = array("q", (checked.users.get(name.lower()) or made[name.lower()][0] for name in stage.spellings))
    report.users_created.extend(name for name in new_names if made[name.lower()][1])
    conn = session.connection()
    for start in range(0, len(stage), INSERT_BATCH):
        end = min(start + INSERT_BATCH, len(stage))
        if conn.dialect.name == "sqlite":
            added = write_sqlite(conn, stage, ids, start, end)
            report.added += added
            report.duplicates += end - start - stage.skip[start:end].count(1) - added
            continue
        batch = [NewForecast(stage.question[i], ids[stage.user[i]], from_micros(stage.at[i]), stage.probs(i),
                             stage.rationale(i)) for i in range(start, end) if not stage.skip[i]]
        added = insert_forecasts(session, batch)
        report.added += added
        report.duplicates += len(batch) - added  # stored meanwhile by a concurrent import
    session.flush()
    resolved = session.scalars(
        select(Question.id).where(Question.id.in_(checked.touched), Question.status == "resolved")
    ).all()
    if resolved:
        from .scoring_runs import rescore_questions  # lazy: scoring_runs imports the scoring engine

        rescore_questions(session, clock, sorted(resolved))
        report.rescored = sorted(resolved)
    return report


