"""``tracker backup`` and ``tracker restore`` (issue 15, item 10): a backup taken while another
process writes is intact and consistent, and restores with equal counts; on PostgreSQL the commands
explain pg_dump and pg_restore."""
from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factories import make_question, make_user
from tests.processes import tracker, tracker_env
from tracker.db import make_engine, make_session_factory
from tracker.domain.csv_import import NewForecast, insert_forecasts
from tracker.migrate import upgrade

COUNTED = ("users", "questions", "forecasts", "forecast_probabilities")


def counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.mark.slow
def test_backup_during_writes_then_restore(tmp_path):
    live = tmp_path / "live.sqlite3"
    url = f"sqlite:///{live}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    start = datetime(2017, 2, 6, tzinfo=UTC)
    with sessions() as session:
        question = make_question(session, "q", start, start + timedelta(days=300), status="closed")
        users = [make_user(session, f"u{i}", password=None).id for i in range(20)]
        options = [o.id for o in question.options]
        session.commit()
    stop, written = threading.Event(), [0]

    def write_load() -> None:  # transactions of 50 forecasts (100 probability rows) until stopped
        n = 0
        while not stop.is_set():
            batch = [NewForecast(question.id, users[i % 20], start + timedelta(seconds=n + i),
                                 {options[0]: 0.3, options[1]: 0.7}) for i in range(50)]
            n += 50
            with sessions() as session:
                insert_forecasts(session, batch)
                session.commit()
            written[0] = n

    writer = threading.Thread(target=write_load)
    writer.start()
    try:
        while written[0] < 2000:
            stop.wait(0.05)
        env = tracker_env(url, tmp_path)
        backups = [tmp_path / f"backup{i}.sqlite3" for i in range(3)]
        for path in backups:  # several, all while the writer runs
            proc = tracker(["backup", str(path)], env)
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert "integrity check ok" in out
    finally:
        stop.set()
        writer.join()
        engine.dispose()
    for path in backups:
        assert integrity(path) == "ok"
        taken = counts(path)
        assert taken["forecasts"] % 50 == 0 and taken["forecast_probabilities"] == 2 * taken["forecasts"]
        assert taken["forecasts"] >= 2000
    # Restore the last one into a fresh database and compare.
    restored = tmp_path / "restored.sqlite3"
    upgrade(f"sqlite:///{restored}")
    proc = tracker(["restore", "--yes", str(backups[-1])], tracker_env(f"sqlite:///{restored}", tmp_path))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert counts(restored) == counts(backups[-1])
    assert integrity(restored) == "ok"


def test_restore_refuses_a_file_that_is_not_a_tracker_database(runner, tmp_path, db_dialect):
    bogus = tmp_path / "bogus.sqlite3"
    bogus.write_bytes(b"not a database at all" * 100)
    result = runner.invoke(["restore", "--yes", str(bogus)])
    assert result.exit_code == 1
    if db_dialect == "postgresql":
        assert "pg_restore" in result.output
    else:
        assert "is not a tracker database" in result.output


def test_backup_on_postgresql_explains_pg_dump(runner, fresh_pg_url, tmp_path):
    runner.settings.database_url = fresh_pg_url
    result = runner.invoke(["backup", str(tmp_path / "x.dump")])
    assert result.exit_code == 1
    assert "pg_dump --format=custom" in result.output and "pg_restore" in result.output
