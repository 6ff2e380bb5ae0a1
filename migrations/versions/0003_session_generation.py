"""users.session_generation: logging out, a password change or "sign out everywhere" ends sessions

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: a batch (copy-and-move) of ``users`` on SQLite would drop
    # the expression index on lower(username) and the AUTOINCREMENT that revision 0002 added.
    op.add_column('users', sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column('users', 'session_generation')
        return
    # SQLite drops a column by copying the table: keep AUTOINCREMENT, and put back the index on
    # lower(username), which reflection cannot carry over.
    op.drop_index("uq_users_username_lower", table_name="users")
    with op.batch_alter_table('users', recreate="always", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column('session_generation')
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
