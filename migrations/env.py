"""Alembic environment. The URL comes from the caller's Config (see tracker.migrate), never a file."""
from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from tracker.db import make_engine
from tracker.models import Base

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj, autogen_context):
    """Render the UTC column type as a plain timezone-aware DateTime, so revisions never import
    application code (a later change to the models must not change an old revision)."""
    from tracker.models.base import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode copies a table and drops the old one; with foreign keys on, dropping a parent
        # table fails (or cascades). SQLite ignores this pragma inside a transaction, so it is set
        # before the migration's transaction begins, and the keys are checked after it.
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        _configure_and_run(connection)
        if sqlite:
            problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            connection.commit()
            if problems:
                raise RuntimeError(f"foreign keys broken by the migration: {problems[:5]}")
    finally:
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _configure_and_run(connection) -> None:
    # render_as_batch: SQLite cannot ALTER constraints, so revisions use batch (copy-and-move) mode.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
