"""Every revision runs on SQLite and PostgreSQL, both ways, and the models match head."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from tracker.db import make_engine
from tracker.migrate import alembic_config, current_heads, downgrade, upgrade
from tracker.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
    return request.getfixturevalue("fresh_pg_url")


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_single_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_upgrade_downgrade_round_trip(empty_url):
    script = ScriptDirectory.from_config(alembic_config(empty_url))
    upgrade(empty_url, "head")
    assert current_heads(empty_url) == set(script.get_heads())
    assert _tables(empty_url) == set(Base.metadata.tables)
    downgrade(empty_url, "base")
    assert current_heads(empty_url) == set()
    assert _tables(empty_url) == set()
    # And each revision one step at a time, up then down.
    revisions = list(reversed(list(script.walk_revisions())))
    for rev in revisions:
        upgrade(empty_url, rev.revision)
    for rev in reversed(revisions):
        downgrade(empty_url, rev.down_revision or "base")
    assert _tables(empty_url) == set()


def test_autogenerate_finds_no_difference(empty_url):
    upgrade(empty_url, "head")
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff
