"""prompt numbers and backlog summaries: each question's prompts numbered 1, 2, 3 ... as recorded
(``number``), and one summary prompt (``kind`` 'summary', no question) standing for many questions
that were already long closed when the scheduler first saw them (their ``kind`` 'backlog' rows).

Existing prompts are numbered in step order, and the old "(reminder N)" suffix, which counted
schedule steps rather than prompts sent, is dropped from their text.

Revision ID: 0009
Revises: 0005
Create Date: 2026-11-29 19:30:00
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_SUFFIX = re.compile(r" \(reminder \d+\)(?=\.$)")


def upgrade() -> None:
    with op.batch_alter_table("prompts") as b:
        b.add_column(sa.Column("number", sa.Integer(), nullable=True))
        b.add_column(sa.Column("kind", sa.String(length=16), server_default="question", nullable=False))
        b.add_column(sa.Column("summary_id", sa.Integer(), nullable=True))
    bind = op.get_bind()
    # The count of the question's prompts up to this one: 1, 2, 3 ... in step order.
    bind.execute(sa.text(
        "UPDATE prompts SET number = (SELECT count(*) FROM prompts AS p2 "
        "WHERE p2.question_id = prompts.question_id AND p2.step <= prompts.step)"))
    rows = bind.execute(sa.text("SELECT id, message FROM prompts WHERE message LIKE '%(reminder %'")).all()
    for prompt_id, message in rows:
        bind.execute(sa.text("UPDATE prompts SET message = :m WHERE id = :id"),
                     {"m": OLD_SUFFIX.sub("", message), "id": prompt_id})
    with op.batch_alter_table("prompts") as b:
        b.alter_column("question_id", existing_type=sa.Integer(), nullable=True)
        b.create_foreign_key(op.f("fk_prompts_summary_id_prompts"), "prompts", ["summary_id"], ["id"],
                             ondelete="CASCADE")
        b.create_index(op.f("ix_prompts_summary_id"), ["summary_id"], unique=False)
        b.create_unique_constraint(op.f("uq_prompts_question_id_number"), ["question_id", "number"])
        b.create_check_constraint("kind", "kind IN ('question', 'backlog', 'summary')")
        b.create_check_constraint("summary_has_no_question", "(kind = 'summary') = (question_id IS NULL)")
        b.create_check_constraint("numbered", "kind = 'summary' OR (number IS NOT NULL AND number >= 1)")


def downgrade() -> None:
    # Summaries concern no question and cannot survive a NOT NULL question_id; their backlog rows
    # go with them (ON DELETE CASCADE is not relied on: SQLite may run without foreign keys).
    op.execute("DELETE FROM prompts WHERE kind = 'backlog'")
    op.execute("DELETE FROM prompts WHERE kind = 'summary'")
    with op.batch_alter_table("prompts") as b:
        b.drop_constraint(op.f("ck_prompts_numbered"), type_="check")
        b.drop_constraint(op.f("ck_prompts_summary_has_no_question"), type_="check")
        b.drop_constraint(op.f("ck_prompts_kind"), type_="check")
        b.drop_constraint(op.f("uq_prompts_question_id_number"), type_="unique")
        b.drop_index(op.f("ix_prompts_summary_id"))
        b.drop_constraint(op.f("fk_prompts_summary_id_prompts"), type_="foreignkey")
        b.alter_column("question_id", existing_type=sa.Integer(), nullable=False)
        b.drop_column("summary_id")
        b.drop_column("kind")
        b.drop_column("number")
