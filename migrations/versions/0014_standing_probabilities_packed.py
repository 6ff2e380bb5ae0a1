"""Standing forecasts: the probabilities as packed float64s (``packed_probabilities``, 8 bytes per
option in option order, big-endian as PostgreSQL's ``float8send`` writes them) instead of JSON;
data migrated.

Every forecast submission reads the standing rows of every other forecaster on its question to
take the median (about 860 rows on an open question of the full-size benchmark). As JSON text
that cost about 0.6 ms of Python parsing per submission; packed rows are concatenated by the
database and read with one ``numpy.frombuffer``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 22:00:00
"""
from __future__ import annotations

import json
import struct

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BATCH = 10_000


def _pack(values: list[float]) -> bytes:
    return struct.pack(f">{len(values)}d", *values)


def _unpack(blob: bytes) -> list[float]:
    return list(struct.unpack(f">{len(blob) // 8}d", blob))


def _convert_in_python(source: str, target: str, convert) -> None:
    """Rewrite ``target`` from ``source`` a batch of rows at a time."""
    bind = op.get_bind()
    table = sa.table("standing_forecasts", sa.column("question_id"), sa.column("user_id"),
                     sa.column(source), sa.column(target))
    after = (-1, -1)
    while True:
        rows = bind.execute(sa.select(table.c.question_id, table.c.user_id, table.c[source])
                            .where(sa.tuple_(table.c.question_id, table.c.user_id) > sa.tuple_(*after))
                            .order_by(table.c.question_id, table.c.user_id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(table.update().where(table.c.question_id == sa.bindparam("q"), table.c.user_id == sa.bindparam("u"))
                     .values({target: sa.bindparam("v")}),
                     [{"q": q, "u": u, "v": convert(value)} for q, u, value in rows])
        after = (rows[-1][0], rows[-1][1])


def upgrade() -> None:
    with op.batch_alter_table("standing_forecasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("packed_probabilities", sa.LargeBinary(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            UPDATE standing_forecasts AS s SET packed_probabilities = (
                SELECT string_agg(float8send(e.value::float8), ''::bytea ORDER BY e.position)
                FROM json_array_elements_text(s.probabilities) WITH ORDINALITY AS e (value, position))
        """)
    else:
        _convert_in_python("probabilities", "packed_probabilities",
                           lambda value: _pack(json.loads(value) if isinstance(value, str) else value))
    with op.batch_alter_table("standing_forecasts", schema=None) as batch_op:
        batch_op.alter_column("packed_probabilities", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("probabilities")


def downgrade() -> None:
    with op.batch_alter_table("standing_forecasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probabilities", sa.JSON(), nullable=True))
    # Rare enough to do in Python on both databases (SQL has no bytea-to-float8).
    _convert_in_python("packed_probabilities", "probabilities", lambda blob: json.dumps(_unpack(bytes(blob))))
    with op.batch_alter_table("standing_forecasts", schema=None) as batch_op:
        batch_op.alter_column("probabilities", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("packed_probabilities")
