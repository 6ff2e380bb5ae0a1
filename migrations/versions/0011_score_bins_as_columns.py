"""Scores: the calibration bin sums as 33 numeric columns (``count_k``, ``sum_forecast_k``,
``sum_outcome_k``, k = 0..10, as on forecaster_stats) instead of JSON text per row; data migrated.
All 33 stay NULL while the question's scheduled close has not passed, as the JSON was.

The two derived tables, scores and forecaster_stats, lose their foreign keys: each is a cache that
only the scoring runs write, from ids they have just read from the referenced tables in the same
transaction, and nothing deletes users, questions or resolution events. PostgreSQL checks a foreign
key with one query per inserted row: three per score row cost several times the write itself
(25 s of a 28 s insert of 440,000 rows), which alone put a rebuild and a big rescore out of reach.

Revision ID: 0011
Revises: 0007
Create Date: 2026-11-29 19:15:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None

KINDS = ("count", "sum_forecast", "sum_outcome")
# Spelled out here (not imported from the models): a later model change must not change a revision.
COLUMNS = [(kind, k, f"{kind}_{k}") for kind in KINDS for k in range(11)]


def _extract(dialect: str, kind: str, k: int) -> str:
    if dialect == "postgresql":
        return f"(calibration -> '{kind}' ->> {k})::double precision"
    return f"json_extract(calibration, '$.{kind}[{k}]')"


FOREIGN_KEYS = [
    ("scores", "fk_scores_question_id_questions", "questions", "question_id"),
    ("scores", "fk_scores_resolution_event_id_resolution_events", "resolution_events", "resolution_event_id"),
    ("scores", "fk_scores_user_id_users", "users", "user_id"),
    ("forecaster_stats", "fk_forecaster_stats_user_id_users", "users", "user_id"),
]


def upgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        for _kind, _k, name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
    dialect = op.get_bind().dialect.name
    sets = ", ".join(f"{name} = {_extract(dialect, kind, k)}" for kind, k, name in COLUMNS)
    op.execute(f"UPDATE scores SET {sets} WHERE calibration IS NOT NULL")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_column("calibration")
    for table, name, _referred, _column in FOREIGN_KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table, name, referred, column in FOREIGN_KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(name, referred, [column], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("calibration", sa.JSON(), nullable=True))
    dialect = op.get_bind().dialect.name
    build, array = ("json_build_object", "json_build_array") if dialect == "postgresql" else ("json_object", "json_array")
    parts = ", ".join(f"'{kind}', {array}({', '.join(f'{kind}_{k}' for k in range(11))})" for kind in KINDS)
    op.execute(f"UPDATE scores SET calibration = {build}({parts}) WHERE count_0 IS NOT NULL")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        for _kind, _k, name in reversed(COLUMNS):
            batch_op.drop_column(name)
