"""Every revision runs on SQLite and PostgreSQL, both ways, and the models match head."""
from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

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


def test_head_keeps_case_insensitive_usernames_and_ids_never_reused(empty_url):
    """Later revisions must not lose what 0002 added: a revision that copies ``users`` on SQLite
    (a batch) silently dropped the lower(username) index and AUTOINCREMENT."""
    upgrade(empty_url, "head")
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                index_sql = conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE type='index' AND name='uq_users_username_lower'").scalar()
                table_sql = dict(conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type='table' AND name IN ('users', 'forecasts')").all())
                assert all("AUTOINCREMENT" in sql for sql in table_sql.values()), table_sql
            else:
                index_sql = conn.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE indexname='uq_users_username_lower'").scalar()
        assert index_sql is not None and "lower" in index_sql.lower() and "unique" in index_sql.lower()
    finally:
        engine.dispose()


def test_case_duplicate_usernames_are_renamed_not_lost(empty_url, capsys):
    """A database from before 0002 may hold "racecaseuser", "RACECASEUSER" ... (the registration
    race): the upgrade keeps every account and its forecasts, the oldest under its name."""
    upgrade(empty_url, "0001")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            for user_id, name in ((1, "RaceCaseUser"), (2, "racecaseuser"), (3, "bob"), (4, "RACECASEUSER"),
                                  (5, "racecaseuser-2")):
                conn.exec_driver_sql(
                    "INSERT INTO users (id, username, role, is_demo, created_at) "
                    f"VALUES ({user_id}, '{name}', 'forecaster', false, '2026-01-01 00:00:00+00')")
        upgrade(empty_url, "head")
        with engine.connect() as conn:
            names = dict(conn.exec_driver_sql("SELECT id, username FROM users ORDER BY id").all())
    finally:
        engine.dispose()
    assert names[1] == "RaceCaseUser" and names[3] == "bob" and names[5] == "racecaseuser-2"
    assert names[2] == "racecaseuser-2x" and names[4] == "RACECASEUSER-4", names
    assert len({name.lower() for name in names.values()}) == 5
    assert "renamed to 'RACECASEUSER-4'" in capsys.readouterr().out


def test_0011_moves_the_calibration_json_into_columns_and_back(empty_url):
    """Stored scores keep their calibration bin sums across 0011, both ways (NULL stays NULL)."""
    calibration = {"count": [0.5 * k for k in range(11)], "sum_forecast": [0.25 * k for k in range(11)],
                   "sum_outcome": [0.125 * k for k in range(11)]}
    upgrade(empty_url, "0005")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, username, role, is_demo, created_at) "
                              "VALUES (1, 'ann', 'forecaster', false, '2026-01-01 00:00:00')"))
            conn.execute(text(
                "INSERT INTO questions (id, slug, title, kind, ordered, background, resolution_criteria, "
                "fine_print, source_quote, source_passage, opens_at, closes_at, resolve_by, status, is_demo, "
                "created_at, updated_at) VALUES (1, 'q', 'Q?', 'binary', false, '', '', '', '', '', "
                "'2026-01-01 00:00:00', '2026-02-01 00:00:00', '2026-03-01 00:00:00', 'resolved', false, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
            conn.execute(text("INSERT INTO resolution_events (id, question_id, action, note, actor_name, created_at) "
                              "VALUES (1, 1, 'annul', '', 'test', '2026-02-02 00:00:00')"))
            for user_id, stored in ((1, json.dumps(calibration)), (2, None)):
                if user_id == 2:
                    conn.execute(text("INSERT INTO users (id, username, role, is_demo, created_at) "
                                      "VALUES (2, 'bob', 'forecaster', false, '2026-01-01 00:00:00')"))
                conn.execute(text(
                    "INSERT INTO scores (question_id, user_id, resolution_event_id, forecasts, active_days, "
                    "calibration, computed_at) VALUES (1, :u, 1, 1, 3, :c, '2026-02-02 00:00:00')"),
                    {"u": user_id, "c": stored})
        upgrade(empty_url, "0011")
        with engine.connect() as conn:
            rows = dict(conn.execute(text(
                "SELECT user_id, count_3 FROM scores")).all())
            ann = conn.execute(text("SELECT * FROM scores WHERE user_id = 1")).mappings().one()
        assert rows == {1: 1.5, 2: None}
        assert [ann[f"{kind}_{k}"] for kind in calibration for k in range(11)] == [
            v for values in calibration.values() for v in values]
        downgrade(empty_url, "0005")
        with engine.connect() as conn:
            back = dict(conn.execute(text("SELECT user_id, calibration FROM scores")).all())
        back = {u: json.loads(v) if isinstance(v, str) else v for u, v in back.items()}
        assert back == {1: calibration, 2: None}
    finally:
        engine.dispose()


def test_0014_packs_the_standing_probabilities_and_back(empty_url):
    """Standing rows keep their probabilities across 0014, both ways: JSON lists become float64
    bytes (big-endian, option order) that the submission's median reads, and back."""
    import numpy as np

    upgrade(empty_url, "0011")
    engine = make_engine(empty_url)
    stored = {1: [0.25, 0.75], 2: [0.1, 0.2, 0.7]}
    try:
        with engine.begin() as conn:
            for user_id in stored:
                conn.execute(text("INSERT INTO users (id, username, role, is_demo, created_at) "
                                  "VALUES (:u, :n, 'forecaster', false, '2026-01-01 00:00:00')"),
                             {"u": user_id, "n": f"user{user_id}"})
            conn.execute(text(
                "INSERT INTO questions (id, slug, title, kind, ordered, background, resolution_criteria, "
                "fine_print, source_quote, source_passage, opens_at, closes_at, resolve_by, status, is_demo, "
                "created_at, updated_at) VALUES (1, 'q', 'Q?', 'binary', false, '', '', '', '', '', "
                "'2026-01-01 00:00:00', '2026-02-01 00:00:00', '2026-03-01 00:00:00', 'open', false, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
            for user_id, probabilities in stored.items():
                conn.execute(text("INSERT INTO standing_forecasts (question_id, user_id, forecast_id, created_at, "
                                  "probabilities) VALUES (1, :u, :u, '2026-01-02 00:00:00', :p)"),
                             {"u": user_id, "p": json.dumps(probabilities)})
        upgrade(empty_url, "0014")
        with engine.connect() as conn:
            packed = dict(conn.execute(text("SELECT user_id, packed_probabilities FROM standing_forecasts")).all())
        assert {u: np.frombuffer(bytes(b), dtype=">f8").tolist() for u, b in packed.items()} == stored
        downgrade(empty_url, "0011")
        with engine.connect() as conn:
            back = dict(conn.execute(text("SELECT user_id, probabilities FROM standing_forecasts")).all())
        assert {u: json.loads(v) if isinstance(v, str) else v for u, v in back.items()} == stored
    finally:
        engine.dispose()
