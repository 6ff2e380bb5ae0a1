"""`tracker db revision -m MESSAGE` autogenerates the next migration against the models."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tests.conftest import Runner
from tracker.config import Settings
from tracker.db import make_engine
from tracker.migrate import migrations_dir, upgrade


def _runner(url: str, clock) -> Runner:
    return Runner(Settings(env="test", database_url=url, secret_key="k"), clock)


def test_revision_needs_a_database_at_head(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = _runner(url, clock).invoke(["db", "revision", "-m", "anything"])
    assert result.exit_code != 0 and "not at head" in result.output


def test_no_change_writes_nothing(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'head.sqlite3'}"
    upgrade(url)
    before = set(Path(migrations_dir(), "versions").glob("*.py"))
    result = _runner(url, clock).invoke(["db", "revision", "-m", "nothing new"])
    assert result.exit_code == 0, result.output
    assert "No schema changes detected" in result.output
    assert set(Path(migrations_dir(), "versions").glob("*.py")) == before


def test_a_difference_becomes_the_next_numbered_revision(tmp_path, clock):
    """A table the models do not have shows up as a drop in the new revision, numbered after head."""
    url = f"sqlite:///{tmp_path / 'drift.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch_notes (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    versions = Path(migrations_dir(), "versions")
    before = set(versions.glob("*.py"))
    result = _runner(url, clock).invoke(["db", "revision", "-m", "drop scratch notes"])
    created = set(versions.glob("*.py")) - before
    try:
        assert result.exit_code == 0, result.output
        assert len(created) == 1, result.output
        path = created.pop()
        heads = sorted(p.name.split("_", 1)[0] for p in before if p.name[:4].isdigit())
        assert path.name == f"{int(heads[-1]) + 1:04d}_drop_scratch_notes.py"
        body = path.read_text()
        assert "drop_table('scratch_notes')" in body or 'drop_table("scratch_notes")' in body
        assert f"wrote {path}" in result.output
    finally:
        for leftover in created | (set(versions.glob("*.py")) - before):
            leftover.unlink()
