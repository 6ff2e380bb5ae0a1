"""Online backup and restore of the SQLite database; on PostgreSQL, what to run instead.

Copying the live SQLite file with ``cp`` can catch it half-written (and misses the WAL file), which
gives a corrupt copy. SQLite's online backup API copies a consistent snapshot while the web server
and the scheduler keep writing: under WAL the copy is one read transaction, which blocks no writer.
Restore goes the other way through the same API, so the live file is replaced page by page inside
one write transaction and every process sees either the old database or the restored one.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from .db import SQLITE_BUSY_TIMEOUT_MS, is_sqlite, normalise_url

PG_BACKUP_HELP = """\
On PostgreSQL use its own tools (they take a consistent snapshot while the tracker keeps running):

  backup:   pg_dump --format=custom --file=tracker.dump "$TRACKER_DATABASE_URL"
  restore:  pg_restore --clean --if-exists --no-owner --single-transaction \\
                --dbname="$TRACKER_DATABASE_URL" tracker.dump

Stop the web server and the scheduler before a restore. See README.md, "Backups"."""


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite URL; BackupError for PostgreSQL (with the pg_dump recipe) or memory."""
    url = normalise_url(database_url)
    if not is_sqlite(url):
        raise BackupError(PG_BACKUP_HELP)
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)


def check_file(path: Path) -> str:
    """Check that ``path`` is an intact tracker database; return its schema revision."""
    try:
        with _connect(path) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                raise BackupError(f"{path} fails SQLite's integrity check: {result}")
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a tracker database: {exc}") from exc
    if revision is None:
        raise BackupError(f"{path} has no schema revision: not a tracker database")
    return str(revision[0])


def backup(database_url: str, target: Path) -> str:
    """Copy the live database into ``target`` (which must not exist) with the online backup API;
    check the copy and return its schema revision."""
    source_path = sqlite_path(database_url)
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file name")
    if not source_path.exists():
        raise BackupError(f"the database {source_path} does not exist")
    source, copy = _connect(source_path), _connect(target)
    try:
        source.backup(copy)  # one step (pages=-1): one consistent snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    finally:
        copy.close()
        source.close()
    return check_file(target)


def restore(database_url: str, backup_file: Path) -> str:
    """Replace the live database's content with ``backup_file`` (checked first); return the
    restored schema revision."""
    target_path = sqlite_path(database_url)
    revision = check_file(backup_file)
    source, live = _connect(backup_file), _connect(target_path)
    try:
        live.execute("PRAGMA journal_mode=WAL")
        source.backup(live)
    finally:
        live.close()
        source.close()
    check_file(target_path)
    return revision
