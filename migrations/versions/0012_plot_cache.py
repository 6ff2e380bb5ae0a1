"""plot_cache: rendered plots (SVG) shared by every web worker, keyed by a digest of what they draw,
so a plot is rendered once per change of its data instead of once per change in each worker.

Revision ID: 0012
Revises: 0014
Create Date: 2026-11-29 22:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plot_cache",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("svg", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plot_cache")),
        sa.UniqueConstraint("digest", name=op.f("uq_plot_cache_digest")),
    )


def downgrade() -> None:
    op.drop_table("plot_cache")
