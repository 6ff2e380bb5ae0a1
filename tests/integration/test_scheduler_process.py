"""Real ``tracker scheduler`` processes: two at once on PostgreSQL duplicate nothing; a restart after
a long stop catches up once. The processes get a fake "now" through TRACKER_FAKE_NOW (tests only)
and a one-second interval; a local SMTP server receives the prompts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.factories import add_forecast, make_question, make_user
from tracker.clock import iso
from tracker.db import make_engine, make_session_factory
from tracker.models import Prompt, Question, QuestionScore, ResolutionEvent, Score, StatusChange

ROOT = Path(__file__).resolve().parents[2]
FAKE_NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
WAIT_SECONDS = 40

pytestmark = pytest.mark.slow


def days(n: float) -> timedelta:
    return timedelta(days=n)


class SchedulerProcess:
    """``python -m tracker scheduler`` in a subprocess, its output in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - owned by the object, closed in stop()
        self._terminated = False
        self.proc = subprocess.Popen([sys.executable, "-m", "tracker", "scheduler"], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        """Send SIGTERM once (a second one during interpreter shutdown would kill the process)."""
        if not self._terminated and self.proc.poll() is None:
            self._terminated = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        self.terminate()
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - only when shutdown hangs
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code


def scheduler_env(database_url: str, fake_now: datetime, tmp_path: Path, smtp_port: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({
        "TRACKER_ENV": "test", "TRACKER_SECRET_KEY": "test-secret", "TRACKER_INSTANCE": str(tmp_path),
        "TRACKER_DATABASE_URL": database_url, "TRACKER_FAKE_NOW": iso(fake_now),
        "TRACKER_SCHEDULER_INTERVAL": "1", "TRACKER_PROMPT_EVERY_DAYS": "7",
        "TRACKER_BASE_URL": "http://tracker.test",
    })
    if smtp_port is not None:
        env["TRACKER_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    return env


def wait_for(condition: Callable[[], bool], procs: list[SchedulerProcess], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        for p in procs:
            if p.proc.poll() is not None:
                pytest.fail(f"scheduler exited early ({p.proc.returncode}) waiting for {what}:\n{p.output()}")
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}:\n" + "\n---\n".join(p.output() for p in procs))


def arrange(sessions) -> None:
    """Admins (two with email), forecasters, and questions in every state the jobs act on."""
    with sessions.begin() as s:
        for name, email in (("alice", "alice@example.org"), ("bea", "bea@example.org"), ("carl", None)):
            make_user(s, name, role="admin").email = email
        ann, bob = make_user(s, "ann"), make_user(s, "bob")
        # Closed 30 days ago, resolve_by 20 days ago: the current step is 1 + 20 // 7 = 3.
        make_question(s, "long-closed", opens_at=FAKE_NOW - days(60), closes_at=FAKE_NOW - days(30),
                      resolve_by=FAKE_NOW - days(20), status="closed")
        # Still marked open although its close has passed: the lifecycle job closes it (step 0).
        make_question(s, "just-closed", opens_at=FAKE_NOW - days(10), closes_at=FAKE_NOW - timedelta(hours=1),
                      status="open")
        make_question(s, "opening", opens_at=FAKE_NOW - days(1), closes_at=FAKE_NOW + days(10), status="draft")
        # Resolved by some other path (an import) and not scored yet: the rescore job scores it.
        q = make_question(s, "unscored", opens_at=FAKE_NOW - days(40), closes_at=FAKE_NOW - days(5), status="resolved")
        add_forecast(s, q, ann, 0.8, FAKE_NOW - days(39))
        add_forecast(s, q, bob, 0.4, FAKE_NOW - days(20))
        s.add(ResolutionEvent(question_id=q.id, action="resolve", outcome_option_id=q.option_by_key("yes").id,
                              note="", actor_name="import", created_at=FAKE_NOW - days(2)))


def snapshot(sessions) -> dict:
    with sessions() as s:
        slug = dict(s.execute(select(Question.id, Question.slug)).all())
        return {
            "prompts": sorted((slug[p.question_id], p.step) for p in s.scalars(select(Prompt))),
            "pending": s.scalar(select(func.count()).select_from(Prompt).where(Prompt.delivery == "pending")),
            "deliveries": sorted(s.scalars(select(Prompt.delivery))),
            "scores": sorted((slug[sc.question_id], sc.user_id) for sc in s.scalars(select(Score))),
            "question_scores": s.scalar(select(func.count()).select_from(QuestionScore)),
            "changes": sorted((slug[c.question_id], c.from_status, c.to_status, c.actor_name)
                              for c in s.scalars(select(StatusChange))),
            "status": {slug[q.id]: q.status for q in s.scalars(select(Question))},
        }


def run_migrations(database_url: str, tmp_path: Path) -> None:
    env = scheduler_env(database_url, FAKE_NOW, tmp_path, None)
    done = subprocess.run([sys.executable, "-m", "tracker", "db", "upgrade"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_two_schedulers_on_postgresql_duplicate_nothing(fresh_pg_url, tmp_path, smtp_sink):
    sink, port = smtp_sink
    run_migrations(fresh_pg_url, tmp_path)
    engine = make_engine(fresh_pg_url)
    sessions = make_session_factory(engine)
    try:
        arrange(sessions)
        env = scheduler_env(fresh_pg_url, FAKE_NOW, tmp_path, port)
        procs = [SchedulerProcess(env, tmp_path / f"scheduler-{i}.log") for i in (1, 2)]
        try:
            def settled() -> bool:
                snap = snapshot(sessions)
                return len(snap["prompts"]) >= 2 and snap["pending"] == 0 and len(snap["scores"]) >= 2 \
                    and snap["status"]["just-closed"] == "closed" and snap["status"]["opening"] == "open"

            wait_for(settled, procs, "prompts, emails, scores and status changes")
            time.sleep(2.5)  # more one-second intervals in both processes
        finally:
            for p in procs:
                p.terminate()
            codes = [p.stop() for p in procs]
        logs = "\n".join(p.output() for p in procs)
        assert codes == [0, 0], logs
        assert "Traceback" not in logs and "failed" not in logs, logs

        snap = snapshot(sessions)
        assert snap["prompts"] == [("just-closed", 0), ("long-closed", 3)]  # one per step
        assert snap["deliveries"] == ["emailed to 2 admins", "emailed to 2 admins"]
        sent = Counter((m["Subject"], m["To"]) for _f, _r, m in sink.messages)
        prompts = {k: n for k, n in sent.items() if "digest" not in k[0]}
        assert len(prompts) == 4 and set(sent.values()) == {1}, sent  # one email per prompt per admin
        assert sorted(to for _s, to in prompts) == ["alice@example.org"] * 2 + ["bea@example.org"] * 2
        # The week's digest (the closed questions are news): once per account, by one of the two.
        assert sorted(to for s, to in sent if "digest" in s) == ["alice@example.org", "bea@example.org"]
        assert len(snap["scores"]) == 2 and len(set(snap["scores"])) == 2  # one row per (question, forecaster)
        assert snap["question_scores"] == 1
        assert snap["changes"] == [
            ("just-closed", "open", "closed", "scheduler"),
            ("opening", "draft", "open", "scheduler"),
        ]
    finally:
        engine.dispose()


def test_restart_after_a_long_stop_catches_up_once(settings, tmp_path, smtp_sink):
    """Stop the scheduler, let a month pass, start it again: each missed change happens once, and
    only the current prompt step is recorded (no burst of stale reminders)."""
    sink, port = smtp_sink
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    try:
        with sessions.begin() as s:
            make_user(s, "alice", role="admin").email = "alice@example.org"
            make_question(s, "closed-before", opens_at=FAKE_NOW - days(9), closes_at=FAKE_NOW - timedelta(hours=1),
                          resolve_by=FAKE_NOW + days(14), status="closed")
            make_question(s, "closes-during-stop", opens_at=FAKE_NOW - days(9), closes_at=FAKE_NOW + days(2),
                          resolve_by=FAKE_NOW + days(5), status="open")
            make_question(s, "opens-during-stop", opens_at=FAKE_NOW + days(1), closes_at=FAKE_NOW + days(60),
                          status="draft")

        first = SchedulerProcess(scheduler_env(settings.database_url, FAKE_NOW, tmp_path, port), tmp_path / "a.log")
        try:
            wait_for(lambda: snapshot(sessions)["deliveries"] == ["emailed to 1 admin"], [first], "the first prompt")
            time.sleep(1.5)
        finally:
            assert first.stop() == 0, first.output()
        before = snapshot(sessions)
        assert before["prompts"] == [("closed-before", 0)]
        assert before["changes"] == []

        # A month later (thousands of missed one-second intervals, several missed prompt steps).
        later = FAKE_NOW + days(30)
        second = SchedulerProcess(scheduler_env(settings.database_url, later, tmp_path, port), tmp_path / "b.log")
        try:
            wait_for(lambda: snapshot(sessions)["pending"] == 0 and len(snapshot(sessions)["prompts"]) == 3,
                     [second], "the catch-up run")
            time.sleep(2.5)
        finally:
            assert second.stop() == 0, second.output()
        assert "Traceback" not in second.output(), second.output()
        after = snapshot(sessions)
        # closes-during-stop: resolve_by was 25 days before the restart, so step 1 + 25 // 7 = 4 only.
        # closed-before: resolve_by 16 days before: step 1 + 16 // 7 = 3 only.
        assert after["prompts"] == [("closed-before", 0), ("closed-before", 3), ("closes-during-stop", 4)]
        assert after["changes"] == [
            ("closes-during-stop", "open", "closed", "scheduler"),
            ("opens-during-stop", "draft", "open", "scheduler"),
        ]
        prompts = [m for _f, _r, m in sink.messages if "digest" not in m["Subject"]]
        assert len(prompts) == 3  # one email per prompt to the one admin with an address
    finally:
        engine.dispose()
