"""The scheduler process: periodic sweeps over database state (``tracker scheduler``).

Four jobs with fixed ids, each one domain call in one transaction:

- ``lifecycle``: open drafts whose opens_at passed, close open questions whose closes_at passed;
- ``prompts``: record the resolution prompt due now for each closed, unresolved question (one
  backlog summary for many that had long closed when first seen), then (after that commit) email
  what the outbox holds;
- ``rescore``: rescore questions whose latest resolution event is not yet scored;
- ``notifications``: record the forecasters' due notifications (resolved with their stored score,
  closing soon with a stale forecast, the weekly digest), then email them through the same outbox.

Every job is driven by database state, so running it twice, or in two processes at once, changes
nothing the second time: unique keys stop duplicate rows, and on PostgreSQL each job first takes a
transaction-level advisory lock (``pg_try_advisory_xact_lock``) and skips its turn when another
scheduler holds it. On SQLite ``BEGIN IMMEDIATE`` already serialises writers.

APScheduler runs the jobs in memory (nothing is stored between runs): every job runs once at
start-up, which catches up on anything missed while the scheduler was down, exactly once, because
the sweeps look at what is due now (a missed prompt step is not replayed; see domain/prompts.py).
``coalesce=True`` and a generous ``misfire_grace_time`` make runs missed while the process was
suspended collapse into one.

For tests only, ``TRACKER_FAKE_NOW`` (an ISO timestamp) starts the scheduler's clock at that moment;
it then runs forward in real time. It is refused when ``TRACKER_ENV=production``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .app_state import AppState
from .clock import Clock, parse_iso
from .config import ConfigError, Settings
from .db import transaction

log = logging.getLogger("tracker.scheduler")

JOB_IDS = ("lifecycle", "prompts", "rescore", "notifications")
# Advisory lock keys, one per job ("trk" + a number), fixed so every scheduler process agrees.
ADVISORY_KEYS = {"lifecycle": 0x74726B01, "prompts": 0x74726B02, "rescore": 0x74726B03,
                 "notifications": 0x74726B04}
RESCORE_MAX_INTERVAL_SECONDS = 5  # rescoring follows a resolution within seconds
MISFIRE_GRACE_SECONDS = 24 * 3600


class OffsetClock:
    """A clock that starts at a given moment and then runs forward in real time (tests only)."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


def clock_from_env(settings: Settings, environ: dict[str, str] | None = None) -> Clock | None:
    """The fake clock asked for by ``TRACKER_FAKE_NOW``, or None for the real one."""
    value = (os.environ if environ is None else environ).get("TRACKER_FAKE_NOW", "").strip()
    if not value:
        return None
    if settings.env == "production":
        raise ConfigError("TRACKER_FAKE_NOW is for tests only and is refused when TRACKER_ENV=production")
    try:
        return OffsetClock(parse_iso(value))
    except ValueError as exc:
        raise ConfigError(f"TRACKER_FAKE_NOW is not an ISO timestamp: {value!r}") from exc


def _job_lock(session: Session, job_id: str) -> bool:
    """Take this job's advisory lock for the transaction (PostgreSQL); False if another holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_KEYS[job_id]}))


def run_lifecycle(state: AppState) -> dict:
    """Open and close questions whose times have passed."""
    from .domain.lifecycle import open_and_close_due

    with transaction(state.sessions) as session:
        if not _job_lock(session, "lifecycle"):
            return {"skipped": "another scheduler holds the lock"}
        done = open_and_close_due(session, state.clock)
    for t in done:
        log.info("%s: %s -> %s", t.slug, t.from_status, t.to_status)
    return {"opened": sum(t.to_status == "open" for t in done), "closed": sum(t.to_status == "closed" for t in done)}


def run_prompts(state: AppState) -> dict:
    """Record due prompts (one transaction), then email what the prompts' outbox holds."""
    from .domain import prompts
    from .models import Prompt

    with transaction(state.sessions) as session:
        if not _job_lock(session, "prompts"):
            return {"skipped": "another scheduler holds the lock"}
        ids = prompts.create_due_prompts(session, state.clock, state.settings.prompt_every_days)
    results = _send_outbox(state, Prompt, prompts.prepare_mail, "admin")
    return {"prompts": len(ids), "emailed": sum(1 for ok, _ in results.values() if ok)}


def run_notifications(state: AppState) -> dict:
    """Record the forecasters' due notifications (one transaction), then email what their outbox holds."""
    from .domain import notification_mail, notifications
    from .models import Notification

    with transaction(state.sessions) as session:
        if not _job_lock(session, "notifications"):
            return {"skipped": "another scheduler holds the lock"}
        ids = notifications.create_due_notifications(session, state.clock)
    results = _send_outbox(state, Notification, notification_mail.prepare_mail, "forecaster")
    return {"notifications": len(ids), "emailed": sum(1 for ok, _ in results.values() if ok)}


def _send_outbox(state: AppState, model, prepare: Callable, noun: str) -> dict[int, tuple[bool, str]]:
    """Email what the outbox table ``model`` holds: claim (a short transaction), send with no
    transaction open, store the outcomes (a third transaction). Returns the outcomes."""
    from .domain import outbox

    with transaction(state.sessions) as session:
        claim = outbox.claim_due(session, state.clock, model)
        mails = prepare(session, state.settings, claim.ids)
    # Committed: the claim is visible to any other scheduler. No transaction is open while talking
    # to the SMTP server, so a slow server never holds a database lock.
    results = outbox.send_outbox_mail(state.settings, mails, noun)
    if results:
        with transaction(state.sessions) as session:
            outbox.complete(session, state.clock, claim, results)
    for entry_id, (_emailed, delivery) in sorted(results.items()):
        log.info("%s %s: %s", model.__tablename__, entry_id, delivery)
    return results


def run_rescore(state: AppState) -> dict:
    """Rescore every question whose latest resolution event has not been scored yet."""
    from .domain import scoring_runs
    from .models import Question

    with transaction(state.sessions) as session:
        if not _job_lock(session, "rescore"):
            return {"skipped": "another scheduler holds the lock"}
        now = state.clock.now()
        stale = scoring_runs.stale_question_ids(session, now)
        if not stale:
            return {"rescored": 0}
        # Lock the rows, then ask again: a resolution that committed meanwhile rescored them itself.
        session.execute(select(Question.id).where(Question.id.in_(stale)).with_for_update()).all()
        stale = scoring_runs.stale_question_ids(session, now)
        if stale:
            scoring_runs.rescore_questions(session, state.clock, stale)
    if stale:
        log.info("rescored %d question(s): %s", len(stale), stale)
    return {"rescored": len(stale)}


JOBS: dict[str, Callable[[AppState], dict]] = {
    "lifecycle": run_lifecycle, "prompts": run_prompts, "rescore": run_rescore,
    "notifications": run_notifications,
}


def run_once(state: AppState) -> dict[str, dict]:
    """Run every job once, in order (``tracker scheduler --once``); a failing job does not stop
    the others, and its error is reported under its id."""
    report: dict[str, dict] = {}
    for job_id in JOB_IDS:
        report[job_id] = _run_logged(state, job_id)
    return report


def _run_logged(state: AppState, job_id: str) -> dict:
    try:
        return JOBS[job_id](state)
    except Exception as exc:  # a job failure is logged and retried at the next interval
        log.exception("job %s failed", job_id)
        return {"error": f"{type(exc).__name__}: {exc}"}


def job_intervals(settings: Settings) -> dict[str, int]:
    """Seconds between runs of each job."""
    every = max(1, settings.scheduler_interval_seconds)
    return {"lifecycle": every, "prompts": every, "rescore": min(every, RESCORE_MAX_INTERVAL_SECONDS),
            "notifications": every}


def build_scheduler(state: AppState):
    """A BlockingScheduler with the jobs, each due immediately and then every interval."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    # One worker: the jobs of one process run one after another (the order above at start-up),
    # so they never wait on each other's SQLite write lock.
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        timezone=UTC,
    )
    start = datetime.now(UTC)
    for job_id, seconds in job_intervals(state.settings).items():
        scheduler.add_job(
            _run_logged, "interval", args=[state, job_id], id=job_id, name=job_id, seconds=seconds,
            next_run_time=start, replace_existing=True,
            # Explicit (not only job_defaults) so the job carries them before the scheduler starts.
            coalesce=True, max_instances=1, misfire_grace_time=MISFIRE_GRACE_SECONDS,
        )
    return scheduler


def run_forever(state: AppState) -> None:
    """Run the scheduler until SIGTERM or Ctrl-C."""
    from apscheduler.schedulers import SchedulerNotRunningError

    scheduler = build_scheduler(state)
    stopping: list[int] = []

    def _stop(signum, _frame) -> None:
        # Once: a second signal (a process group's SIGTERM and then the supervisor's) changes nothing.
        if stopping:
            return
        stopping.append(signum)
        log.info("signal %s: stopping the scheduler", signum)
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    log.info("scheduler started: jobs %s, intervals %s", ", ".join(JOB_IDS), job_intervals(state.settings))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
    log.info("scheduler stopped")
