"""The scheduler's jobs driven by a FrozenClock: weeks of schedule in a second, in-process."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.app_state import build_state
from tracker.config import ConfigError, Settings
from tracker.domain.resolution import audit_log, resolve
from tracker.models import Prompt, Question, ResolutionEvent, Score, StatusChange, User
from tracker.scheduler import JOB_IDS, OffsetClock, build_scheduler, clock_from_env, job_intervals, run_once


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def state(settings, clock):
    st = build_state(settings, clock)
    yield st
    st.engine.dispose()


def count(sessions, model, *where) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_a_question_through_its_whole_life(state, clock, runner):
    """Draft, open, closed, prompted on schedule, resolved, corrected, annulled; scores follow."""
    with state.sessions.begin() as s:
        make_user(s, "root", role="admin")
        ann, bob = make_user(s, "ann"), make_user(s, "bob")
        q = make_question(s, "life", opens_at=NOW + days(1), closes_at=NOW + days(11), resolve_by=NOW + days(14),
                          status="draft")
        qid = q.id

    def status() -> str:
        with state.sessions() as s:
            return s.get(Question, qid).status

    def steps() -> list[int]:
        with state.sessions() as s:
            return list(s.scalars(select(Prompt.step).where(Prompt.question_id == qid).order_by(Prompt.step)))

    # Run every job every 6 hours for 4 weeks, resolving after the second reminder.
    resolved_at = None
    for tick in range(4 * 28 + 1):
        clock.set(NOW + timedelta(hours=6 * tick))
        report = run_once(state)
        assert not any("error" in r for r in report.values()), report
        if clock.now() == NOW + days(2):
            with state.sessions.begin() as s:
                q = s.get(Question, qid)
                add_forecast(s, q, s.get(User, ann.id), 0.7, clock.now())
                add_forecast(s, q, s.get(User, bob.id), 0.2, clock.now())
        if clock.now() == NOW + days(1):
            assert status() == "open"
        if clock.now() == NOW + days(11):
            assert status() == "closed" and steps() == [0]
        if clock.now() == NOW + days(14):
            assert steps() == [0, 1]
        if clock.now() == NOW + days(21):
            assert steps() == [0, 1, 2]
            result = runner.invoke(["resolve", "life", "yes", "--as", "root", "--note", "official"])
            assert result.exit_code == 0, result.output
            resolved_at = clock.now()
    assert status() == "resolved"
    assert steps() == [0, 1, 2]  # no reminders after the resolution
    with state.sessions() as s:
        rows = {sc.user_id: sc for sc in s.scalars(select(Score).where(Score.question_id == qid))}
        assert set(rows) == {ann.id, bob.id}
        assert rows[ann.id].brier == pytest.approx(2 * 0.3 ** 2)

    clock.advance(hours=1)
    assert runner.invoke(["resolve", "life", "no", "--as", "root"]).exit_code == 0
    with state.sessions() as s:
        assert s.scalar(select(Score.brier).where(Score.question_id == qid, Score.user_id == ann.id)) == \
            pytest.approx(2 * 0.7 ** 2)
    clock.advance(hours=1)
    assert runner.invoke(["annul", "life", "--reason", "criteria were ambiguous"]).exit_code == 0
    assert count(state.sessions, Score, Score.question_id == qid) == 0
    assert run_once(state) == {"lifecycle": {"opened": 0, "closed": 0}, "prompts": {"prompts": 0, "emailed": 0},
                               "rescore": {"rescored": 0}, "notifications": {"notifications": 0, "emailed": 0}}

    with state.sessions() as s:
        log = audit_log(s, s.get(Question, qid))
    assert [(e.kind, e.actor_name) for e in log] == [
        ("status", "scheduler"), ("status", "scheduler"), ("resolve", "root"), ("status", "root"),
        ("correction", "root"), ("annul", log[-1].actor_name), ("status", log[-1].actor_name),
    ]
    assert log[2].at == resolved_at and log[2].note == "official" and log[-1].actor_name.startswith("cli:")


def test_rescore_job_scores_events_recorded_elsewhere_once(state, clock):
    with state.sessions.begin() as s:
        q = make_question(s, "imported", opens_at=NOW - days(20), closes_at=NOW - days(2), status="resolved")
        add_forecast(s, q, make_user(s, "ann"), 0.9, NOW - days(19))
        s.add(ResolutionEvent(question_id=q.id, action="resolve", outcome_option_id=q.option_by_key("yes").id,
                              note="", actor_name="import", created_at=NOW - days(1)))
    assert run_once(state)["rescore"] == {"rescored": 1}
    assert run_once(state)["rescore"] == {"rescored": 0}
    assert count(state.sessions, Score) == 1


def test_an_early_resolution_is_rescored_when_its_scheduled_close_passes(state, clock):
    with state.sessions.begin() as s:
        admin = make_user(s, "root", role="admin")
        q = make_question(s, "early", opens_at=NOW - days(10), closes_at=NOW + days(5))
        add_forecast(s, q, make_user(s, "ann"), 0.8, NOW - days(9))
        resolve(s, clock, q, "yes", admin, "root", occurred_at=NOW - days(1))
    with state.sessions() as s:
        assert s.scalar(select(Score.count_0)) is None  # the calibration bin sums wait for closes_at
    clock.advance(days=4)
    assert run_once(state)["rescore"] == {"rescored": 0}
    clock.advance(days=2)
    assert run_once(state)["rescore"] == {"rescored": 1}
    with state.sessions() as s:
        assert s.scalar(select(Score.count_0)) is not None
    assert run_once(state)["rescore"] == {"rescored": 0}


def test_scheduler_jobs_have_fixed_ids_and_coalesce(state):
    state.settings = replace(state.settings, scheduler_interval_seconds=60)
    scheduler = build_scheduler(state)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert tuple(jobs) == JOB_IDS
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time >= 3600
        assert job.next_run_time is not None  # due at once: every job runs at start-up
    assert jobs["lifecycle"].trigger.interval == timedelta(seconds=60)
    assert jobs["rescore"].trigger.interval == timedelta(seconds=5)
    assert job_intervals(replace(state.settings, scheduler_interval_seconds=2)) == \
        {"lifecycle": 2, "prompts": 2, "rescore": 2, "notifications": 2}


def test_scheduler_once_command(runner, sessions, clock):
    with sessions.begin() as s:
        make_question(s, "due", opens_at=NOW - days(3), closes_at=NOW - days(1), status="open")
    result = runner.invoke(["scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert 'lifecycle: {"closed": 1, "opened": 0}' in result.output
    assert 'prompts: {"emailed": 0, "prompts": 1}' in result.output
    assert 'rescore: {"rescored": 0}' in result.output
    again = runner.invoke(["scheduler", "--once"])
    assert 'lifecycle: {"closed": 0, "opened": 0}' in again.output and '"prompts": 0' in again.output
    assert count(sessions, StatusChange) == 1 and count(sessions, Prompt) == 1


def test_scheduler_once_honours_a_fake_now(runner, sessions):
    with sessions.begin() as s:
        make_question(s, "future", opens_at=NOW + days(30), closes_at=NOW + days(40), status="draft")
    result = runner.invoke(["scheduler", "--once"], env={"TRACKER_FAKE_NOW": "2027-01-10T00:00:00Z"})
    assert result.exit_code == 0, result.output
    assert '"opened": 1' in result.output and '"closed": 1' in result.output


def test_fake_now_is_for_tests_only():
    assert clock_from_env(Settings(env="test", secret_key="x"), {}) is None
    clock = clock_from_env(Settings(env="test", secret_key="x"), {"TRACKER_FAKE_NOW": "2030-01-01T00:00Z"})
    assert isinstance(clock, OffsetClock) and clock.now() >= datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="production"):
        clock_from_env(Settings(env="production", secret_key="x"), {"TRACKER_FAKE_NOW": "2030-01-01T00:00Z"})
    with pytest.raises(ConfigError, match="ISO"):
        clock_from_env(Settings(env="test", secret_key="x"), {"TRACKER_FAKE_NOW": "next tuesday"})


def test_a_failing_job_does_not_stop_the_others(state, monkeypatch):
    import tracker.scheduler as sched

    def boom(_state):
        raise RuntimeError("database on fire")

    monkeypatch.setitem(sched.JOBS, "lifecycle", boom)
    report = run_once(state)
    assert report["lifecycle"] == {"error": "RuntimeError: database on fire"}
    assert "error" not in report["prompts"] and "error" not in report["rescore"]


def test_a_job_skips_its_turn_while_another_scheduler_holds_its_lock(state, clock, db_dialect):
    if db_dialect != "postgresql":
        pytest.skip("advisory locks are a PostgreSQL feature; SQLite serialises writers with BEGIN IMMEDIATE")
    from sqlalchemy import text

    from tracker.scheduler import ADVISORY_KEYS

    with state.sessions.begin() as s:
        make_question(s, "due", opens_at=NOW - days(3), closes_at=NOW - days(1), status="open")
    other = state.engine.connect()
    try:
        with other.begin():
            other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_KEYS["lifecycle"]})
            report = run_once(state)
            assert report["lifecycle"] == {"skipped": "another scheduler holds the lock"}
            assert report["prompts"] == {"prompts": 1, "emailed": 0}  # other jobs have their own locks
    finally:
        other.close()
    assert run_once(state)["lifecycle"] == {"opened": 0, "closed": 1}
