"""Benchmark the notifications sweep: how long recording a busy week's notifications takes, and how
long the idempotent re-run (nothing new) takes, for ``--users`` forecasters.

Usage: python bench/notifications.py --url postgresql://127.0.0.1:5432/bench_notif [--users 5000]

The database is emptied and migrated first. Every forecaster has a stale forecast on a question
closing within 3 days and a scored forecast on a question resolved today, so the sweep records
three notifications per forecaster (resolved, closing, digest).
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import bench_line  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from tests.factories import NOW, add_forecast, make_question, make_user  # noqa: E402
from tracker.clock import FrozenClock  # noqa: E402
from tracker.db import make_engine, make_session_factory, normalise_url, transaction  # noqa: E402
from tracker.domain.notifications import create_due_notifications  # noqa: E402
from tracker.domain.resolution import resolve  # noqa: E402
from tracker.migrate import upgrade  # noqa: E402
from tracker.models import Notification  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", type=int, default=5000)
    args = parser.parse_args()
    url = normalise_url(args.url)
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(url)
    sessions, clock = make_session_factory(engine), FrozenClock(NOW)
    with transaction(sessions) as s:
        admin = make_user(s, "root", role="admin")
        closing = make_question(s, "closing", NOW - timedelta(days=90), NOW + timedelta(days=2))
        done = make_question(s, "done", NOW - timedelta(days=90), NOW - timedelta(days=1), status="closed")
        for i in range(args.users):
            user = make_user(s, f"f{i}")
            user.email = f"f{i}@example.org"
            add_forecast(s, closing, user, 0.5, NOW - timedelta(days=40))
            add_forecast(s, done, user, 0.3 + (i % 5) / 10, NOW - timedelta(days=40))
        resolve(s, clock, done, "yes", admin, "root")
    started = time.perf_counter()
    with transaction(sessions) as s:
        first = len(create_due_notifications(s, clock))
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    with transaction(sessions) as s:
        again = len(create_due_notifications(s, clock))
    again_s = time.perf_counter() - started
    with sessions() as s:
        stored = s.scalar(select(func.count()).select_from(Notification))
    engine.dispose()
    assert again == 0 and first == stored, (first, again, stored)
    print(f"{args.users} forecasters, {engine.dialect.name}: {first} notifications recorded")
    bench_line("notifications_sweep_first", first_s, "s")
    bench_line("notifications_recorded_per_second", first / first_s, "rows/s")
    bench_line("notifications_sweep_again", again_s, "s")


if __name__ == "__main__":
    main()
