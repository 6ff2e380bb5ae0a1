"""notifications: forecasters' notifications (in-app, emailed through the outbox) and email opt-outs

Revision ID: 0007
Revises: 0008
Create Date: 2026-11-29 19:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0008"
branch_labels = None
depends_on = None

MAIL_STATES = "mail_state IN ('pending', 'sending', 'sent', 'failed', 'skipped')"
KINDS = "kind IN ('resolved', 'closing', 'digest')"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery", sa.String(length=200), nullable=False),
        sa.Column("mail_state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=64), nullable=True),
        sa.CheckConstraint(KINDS, name=op.f("ck_notifications_kind")),
        sa.CheckConstraint(MAIL_STATES, name=op.f("ck_notifications_mail_state")),
        sa.ForeignKeyConstraint(["question_id"], ["questions.id"],
                                name=op.f("fk_notifications_question_id_questions"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("user_id", "kind", "ref", name=op.f("uq_notifications_user_id_kind_ref")),
    )
    op.create_index("ix_notifications_mail_state_next_attempt_at", "notifications", ["mail_state", "next_attempt_at"])
    op.create_index("ix_notifications_user_id_read_at", "notifications", ["user_id", "read_at"])
    op.create_table(
        "notification_opt_outs",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(KINDS, name=op.f("ck_notification_opt_outs_kind")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notification_opt_outs_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notification_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("notification_opt_outs")
    op.drop_index("ix_notifications_user_id_read_at", table_name="notifications")
    op.drop_index("ix_notifications_mail_state_next_attempt_at", table_name="notifications")
    op.drop_table("notifications")
