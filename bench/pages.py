"""Page latency against a real gunicorn on a seeded database (bench/seed.py first).

Usage: python bench/pages.py [--url URL] [--requests 30] [--seconds 60] [--clients 8] [--interval 60]

Sequential: each page ``--requests`` times after a warm-up, p95 per page; the worst is
``page_p95_ms``. Concurrent: ``--clients`` threads cycle through the pages for ``--seconds``;
``page_p95_concurrent_ms``, with p50/p95 per ``--interval`` seconds (and PostgreSQL's autovacuum
workers and checkpoints seen meanwhile) so drift over a long run is visible, and the CPU time the
workers and their PostgreSQL backends spent per request: on a shared machine the latencies include
queueing behind other processes, the CPU per request does not. Then the largest worker peak RSS
and any worker crash.
"""
from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from common import BENCH_PASSWORD, add_common, bench_line, percentile
from server import Client, Gunicorn
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from tracker.models import ForecasterStat, Question, StandingForecast, User


def _pages(url: str) -> tuple[list[str], str]:
    """The pages to time, and a forecaster with a forecast on ``small`` to view them as."""
    engine = create_engine(url)
    with Session(engine) as session:
        top = session.scalar(select(User.username).join(ForecasterStat, ForecasterStat.user_id == User.id)
                             .where(ForecasterStat.tag == "").order_by(ForecasterStat.questions.desc()).limit(1))
        small = session.scalar(select(Question.id).where(Question.slug == "small"))
        viewer = session.scalar(select(User.username).join(StandingForecast, StandingForecast.user_id == User.id)
                                .where(StandingForecast.question_id == small).limit(1))
        assert session.scalar(select(func.count()).select_from(Question)), "seed the database first"
    engine.dispose()
    return ["/", "/q/big", "/q/small", "/scoreboard", f"/forecasters/{top}"], viewer or "f0"


def _timed(client: Client, path: str) -> float:
    started = time.perf_counter()
    status, _body = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"GET {path}: {status}")
    return elapsed


def run(url: str, requests: int, seconds: float, clients: int, interval: float = 60) -> None:
    pages, viewer = _pages(url)
    with Gunicorn(url) as server:
        client = Client(server.base)
        client.login(viewer, BENCH_PASSWORD)
        worst = 0.0
        for path in pages:
            for _ in range(3):
                _timed(client, path)  # warm-up: both workers, caches, connections
            times = [_timed(client, path) for _ in range(requests)]
            p95 = percentile(times, 95)
            print(f"  {path:<28} p50 {percentile(times, 50):7.1f} ms  p95 {p95:7.1f} ms", flush=True)
            worst = max(worst, p95)
        bench_line("page_p95_ms", worst, "ms")

        samples: list[tuple[float, float]] = []  # (seconds since the start, latency ms)
        errors: list[str] = []
        started = time.monotonic()
        stop = started + seconds
        maintenance = _Maintenance(url, interval)

        def loop(index: int) -> None:
            own = Client(server.base)
            own.login(viewer, BENCH_PASSWORD)
            k = index
            while time.monotonic() < stop:
                try:
                    samples.append((time.monotonic() - started, _timed(own, pages[k % len(pages)])))
                except Exception as exc:  # noqa: BLE001 (counted and reported, not hidden)
                    errors.append(str(exc))
                k += 1

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
        maintenance.start()
        cpu_before = _cpu_seconds(server.worker_pids() + _backend_pids(url))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu = _cpu_seconds(server.worker_pids() + _backend_pids(url)) - cpu_before
        maintenance.finish()
        _report_intervals(samples, interval, seconds, maintenance.seen)
        print(f"  concurrent: {len(samples)} requests by {clients} clients in {seconds:.0f} s, "
              f"{len(errors)} errors, {server.crashes()} worker crashes; CPU per request (workers and their "
              f"PostgreSQL backends) {cpu / max(len(samples), 1) * 1000:.1f} ms", flush=True)
        bench_line("page_p95_concurrent_ms", percentile([ms for _t, ms in samples], 95), "ms")
        bench_line("worker_rss_mb", server.worker_peak_rss_mb(), "MB")
        bench_line("page_errors", len(errors) + server.crashes(), "count")


class _Maintenance:
    """What PostgreSQL's background maintenance did during the concurrent run, sampled once a second:
    autovacuum workers on this database (pg_stat_activity, with their table) and checkpoints
    (pg_stat_bgwriter), so a slow interval can be told apart from a slow page. Nothing is sampled
    on SQLite."""

    def __init__(self, url: str, interval: float) -> None:
        self.url, self.interval = url, interval
        self.seen: dict[int, set[str]] = {}  # interval index -> what ran in it
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        if self.url.startswith("postgresql"):
            self._thread.start()

    def finish(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        engine = create_engine(self.url)
        started = time.monotonic()
        query = text("SELECT query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                     "AND datname = current_database()")
        checkpoints = text("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
        try:
            with engine.connect() as conn:
                done = conn.scalar(checkpoints)
                while not self._done.wait(1.0):
                    found = {q.removeprefix("autovacuum: ") for q in conn.execute(query).scalars() if q}
                    now_done = conn.scalar(checkpoints)
                    if now_done != done:
                        found.add("(checkpoint)")
                        done = now_done
                    conn.rollback()
                    if found:
                        self.seen.setdefault(int((time.monotonic() - started) // self.interval), set()).update(found)
        finally:
            engine.dispose()


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time used so far by the processes ``pids`` (those still alive)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends serving ``url``'s database (the workers' pooled connections), when
    the server runs on this machine; none on SQLite."""
    if not url.startswith("postgresql"):
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"))
                        .scalars())
    finally:
        engine.dispose()


def _report_intervals(samples: list[tuple[float, float]], interval: float, seconds: float,
                      maintenance: dict[int, set[str]]) -> None:
    """p50 and p95 per ``interval`` seconds of the concurrent run, so drift over a long run (and
    what the database's maintenance did meanwhile) is visible, not only the whole run's p95."""
    for index in range(max(1, int(-(-seconds // interval)))):
        window = [ms for t, ms in samples if index * interval <= t < (index + 1) * interval]
        if not window:
            continue
        ran = ", ".join(sorted(maintenance.get(index, ()))) or "-"
        print(f"    {index * interval:5.0f}-{min((index + 1) * interval, seconds):4.0f} s: {len(window):5d} requests "
              f"p50 {percentile(window, 50):6.1f} ms  p95 {percentile(window, 95):6.1f} ms  maintenance: {ran}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(parser)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--interval", type=float, default=60,
                        help="seconds per line of the concurrent run's p50/p95 over time")
    args = parser.parse_args()
    run(args.url, args.requests, args.seconds, args.clients, args.interval)


if __name__ == "__main__":
    main()
