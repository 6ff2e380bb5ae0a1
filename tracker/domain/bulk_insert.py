"""Bulk writes of forecasts and forecasters (the import and the demo): no ORM object per row, and
safe against a concurrent writer of the same rows (``ON CONFLICT DO NOTHING`` on the unique keys).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..clock import Clock
from ..models import Forecast, ForecastProbability, User

FORECAST_KEY = ["question_id", "user_id", "created_at"]


@dataclass
class NewForecast:
    question_id: int
    user_id: int
    created_at: datetime
    probabilities: dict[int, float]  # option id -> probability
    rationale: str = ""


def insert_forecasts(session: Session, forecasts: list[NewForecast]) -> int:
    """Insert many forecasts with two executemany statements (no ORM object per row); return how
    many were new. A forecast whose (question, forecaster, time) is already stored, by an earlier
    or a concurrent import, is skipped by the database itself (``ON CONFLICT DO NOTHING`` on the
    unique key), so two imports of one file store each row exactly once."""
    if not forecasts:
        return 0
    session.flush()
    values = [{"question_id": f.question_id, "user_id": f.user_id, "created_at": f.created_at,
               "rationale": f.rationale} for f in forecasts]
    # Core statements on the session's connection: the ORM's bulk path costs more than the insert.
    table, conn = cast(Table, Forecast.__table__), session.connection()
    columns = (table.c.id, table.c.question_id, table.c.user_id, table.c.created_at)
    if conn.dialect.name == "sqlite":
        # A plain executemany (several times faster than RETURNING row by row): this transaction
        # holds SQLite's write lock and ids only grow (AUTOINCREMENT), so the new rows are exactly
        # those above the largest id before the insert.
        before = conn.scalar(select(func.max(table.c.id))) or 0
        conn.execute(sqlite_insert(table).on_conflict_do_nothing(index_elements=FORECAST_KEY), values)
        rows = conn.execute(select(*columns).where(table.c.id > before)).all()
    else:
        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=FORECAST_KEY).returning(*columns)
        rows = conn.execute(stmt, values).all()
    by_key = {(f.question_id, f.user_id, f.created_at): f for f in forecasts}
    probabilities = [
        {"forecast_id": forecast_id, "option_id": option_id, "probability": p}
        for forecast_id, question_id, user_id, at in rows
        for option_id, p in by_key[(question_id, user_id, at)].probabilities.items()
    ]
    if probabilities:
        conn.execute(insert(cast(Table, ForecastProbability.__table__)), probabilities)
    return len(rows)


USER_BATCH = 1000  # bound parameters per statement stay far below SQLite's limit


def ensure_users(session: Session, clock: Clock, spellings: list[str]) -> dict[str, tuple[int, bool]]:
    """Create password-less accounts for ``spellings`` unless one exists in any case (a concurrent
    import may create the same one: the unique lower(username) index decides, nothing fails).
    Returns ``{lower: (id, created_here)}``. A few statements per thousand names, never one per name."""
    if not spellings:
        return {}
    dialect = session.get_bind().dialect.name
    now = clock.now()
    if dialect == "postgresql":
        return _ensure_users_postgres(session, now, spellings)
    created: set[str] = set()
    found: dict[str, int] = {}
    for start in range(0, len(spellings), USER_BATCH):
        chunk = spellings[start:start + USER_BATCH]
        stmt = (sqlite_insert(User).values([{"username": name, "role": "forecaster", "is_demo": False,
                                             "created_at": now} for name in chunk])
                .on_conflict_do_nothing().returning(User.username))
        created.update(name.lower() for name in session.scalars(stmt))
        lowers = [name.lower() for name in chunk]
        found.update(session.execute(select(func.lower(User.username), User.id)
                                     .where(func.lower(User.username).in_(lowers))).all())
    return {lower: (uid, lower in created) for lower, uid in found.items()}


# All the names in one array parameter: a VALUES list of thousands of rows cost more to compile
# in SQLAlchemy (1.8 s for 10,000 names) than the insert took. In the file's order, as before.
_PG_NEW_USERS = text("""
INSERT INTO users (username, role, is_demo, created_at, session_generation)
SELECT name, 'forecaster', false, :now, 0 FROM unnest(CAST(:names AS varchar[])) WITH ORDINALITY AS t(name, k)
ORDER BY k
ON CONFLICT DO NOTHING RETURNING lower(username)
""")
_PG_USER_IDS = text("SELECT lower(username), id FROM users WHERE lower(username) = ANY(CAST(:lowers AS text[]))")


def _ensure_users_postgres(session: Session, now: datetime, spellings: list[str]) -> dict[str, tuple[int, bool]]:
    created = set(session.scalars(_PG_NEW_USERS, {"now": now, "names": spellings}))
    found = session.execute(_PG_USER_IDS, {"lowers": [name.lower() for name in spellings]}).all()
    return {lower: (uid, lower in created) for lower, uid in found}
