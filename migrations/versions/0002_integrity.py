"""Data integrity: unique forecasts, case-insensitive usernames, append-only triggers, ids never
reused on SQLite, and the prompt email outbox.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Tables whose rows are never updated or deleted (forecasts are append-only; resolution is a list
# of events). The triggers enforce it in the database, whatever code or person connects. On SQLite a
# later batch migration that copies one of these tables drops its triggers with the old table: such
# a revision must create them again.
APPEND_ONLY = ("forecasts", "forecast_probabilities", "resolution_events")
PG_FUNCTION = "tracker_refuse_change"
FORECAST_KEY = ["question_id", "user_id", "created_at"]


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _drop_duplicate_forecasts() -> None:
    """Before the unique key: keep the first of identical (question, forecaster, time) forecasts,
    which only a concurrent import (the bug this revision fixes) could have stored twice."""
    later = ("SELECT f.id FROM forecasts f JOIN forecasts g ON g.question_id = f.question_id "
             "AND g.user_id = f.user_id AND g.created_at = f.created_at AND g.id < f.id")
    op.execute(f"DELETE FROM forecast_probabilities WHERE forecast_id IN ({later})")
    op.execute(f"DELETE FROM forecasts WHERE id IN ({later})")


def _rename_case_duplicate_usernames() -> None:
    """Before the lower(username) index: accounts whose names differ only in case (stored by the
    registration race this revision closes) are kept, with their forecasts, under a free name.

    Login looks names up case-insensitively, so only the oldest of such a group could ever sign
    in; the others become ``<name>-<id>`` (reachable again, and nothing of theirs is lost) and are
    listed in the migration's output for the admin to tell their owners."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, username FROM users ORDER BY id")).all()
    taken = {name.lower() for _id, name in rows}
    seen: set[str] = set()
    for user_id, name in rows:
        if name.lower() not in seen:
            seen.add(name.lower())
            continue
        suffix = f"-{user_id}"
        new = f"{name[:64 - len(suffix)]}{suffix}"
        while new.lower() in taken:
            suffix += "x"
            new = f"{name[:64 - len(suffix)]}{suffix}"
        taken.add(new.lower())
        bind.execute(sa.text("UPDATE users SET username = :new WHERE id = :id"), {"new": new, "id": user_id})
        print(f"0002: username {name!r} (user {user_id}) differs only in case from an older account; "
              f"renamed to {new!r}")


def _create_triggers() -> None:
    if _sqlite():
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} are append-only: {action} refused'); END"
                )
        return
    op.execute(f"""
        CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% are append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END $$""")
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()")


def _drop_triggers() -> None:
    if _sqlite():
        for table in APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        return
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")


def upgrade() -> None:
    sqlite = _sqlite()
    # On SQLite the two tables are copied into new ones declared AUTOINCREMENT, so an id is never
    # handed out twice (env.py turns foreign keys off around the copy and checks them after).
    recreate = "always" if sqlite else "auto"
    _drop_duplicate_forecasts()
    with op.batch_alter_table("forecasts", recreate=recreate, table_kwargs={"sqlite_autoincrement": True}) as b:
        b.drop_index("ix_forecasts_question_user_time")
        b.create_unique_constraint("uq_forecasts_question_id_user_id_created_at", FORECAST_KEY)
    with op.batch_alter_table("users", recreate=recreate, table_kwargs={"sqlite_autoincrement": True}):
        pass  # the copy itself is the change on SQLite
    _rename_case_duplicate_usernames()
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    with op.batch_alter_table("prompts") as b:
        b.add_column(sa.Column("mail_state", sa.String(length=16), server_default="pending", nullable=False))
        b.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        b.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("claim_token", sa.String(length=64), nullable=True))
        b.create_check_constraint(
            "mail_state", "mail_state IN ('pending', 'sending', 'sent', 'failed', 'skipped')")
        b.create_index("ix_prompts_mail_state_next_attempt_at", ["mail_state", "next_attempt_at"])
    # Existing prompts: sent stays sent; a failure before the outbox existed is retried.
    op.execute("UPDATE prompts SET mail_state = 'sent' WHERE emailed_at IS NOT NULL")
    op.execute("UPDATE prompts SET mail_state = 'skipped' "
               "WHERE emailed_at IS NULL AND (delivery LIKE 'logged%' OR delivery LIKE 'not emailed%')")
    _create_triggers()


def downgrade() -> None:
    sqlite = _sqlite()
    _drop_triggers()
    with op.batch_alter_table("prompts") as b:
        b.drop_index("ix_prompts_mail_state_next_attempt_at")
        b.drop_constraint(op.f("ck_prompts_mail_state"), type_="check")
        for column in ("claim_token", "claimed_at", "next_attempt_at", "attempts", "mail_state"):
            b.drop_column(column)
    recreate = "always" if sqlite else "auto"
    op.drop_index("uq_users_username_lower", table_name="users")
    with op.batch_alter_table("users", recreate=recreate):
        pass  # a plain copy: no AUTOINCREMENT
    with op.batch_alter_table("forecasts", recreate=recreate) as b:
        b.drop_constraint("uq_forecasts_question_id_user_id_created_at", type_="unique")
        b.create_index("ix_forecasts_question_user_time", FORECAST_KEY, unique=False)
