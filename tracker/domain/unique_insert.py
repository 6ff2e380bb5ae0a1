"""Insert a row once: ``INSERT ... ON CONFLICT DO NOTHING`` on a unique key, so a re-run or a second
process (two schedulers) records nothing the second time."""
from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


def insert_once(session: Session, model: Any, values: dict[str, Any], key: list[str] | None) -> int | None:
    """Insert ``values`` into ``model``'s table unless a row with the same ``key`` columns exists
    (``key=None``: unless it would break any unique key of the table);
    return the new row's id (its first primary-key column), or None when the row already existed
    (inserted by another process)."""
    pk = inspect(model).primary_key[0]
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=key).returning(pk)
        return session.execute(stmt).scalar_one_or_none()
    # Other databases: a savepoint keeps the outer transaction usable after a duplicate.
    try:
        with session.begin_nested():
            row = model(**values)
            session.add(row)
        return getattr(row, pk.key)
    except IntegrityError:
        return None


def insert_many_once(session: Session, model: Any, rows: list[dict[str, Any]], key: list[str]) -> list[int]:
    """:func:`insert_once` for many rows in batched statements (SQLAlchemy's "insertmanyvalues"):
    return the ids of the rows that were new."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        return [i for i in (insert_once(session, model, row, key) for row in rows) if i is not None]
    table, pk = model.__table__, inspect(model).primary_key[0]
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=key).returning(table.c[pk.name])
    return list(session.connection().execute(stmt, rows).scalars())
