"""Page latency against a real gunicorn on a seeded database (bench/seed.py first).

Usage: python bench/pages.py [--url URL] [--requests 30] [--seconds 60] [--clients 8]

Sequential: each page ``--requests`` times after a warm-up, p95 per page; the worst is
``page_p95_ms``. Concurrent: ``--clients`` threads cycle through the pages for ``--seconds``;
``page_p95_concurrent_ms``. Then the largest worker peak RSS and any worker crash.
"""
from __future__ import annotations

import argparse
import threading
import time

from common import BENCH_PASSWORD, add_common, bench_line, percentile
from server import Client, Gunicorn
from sqlalchemy import create_engine, func, select
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


def run(url: str, requests: int, seconds: float, clients: int) -> None:
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

        samples: list[float] = []
        errors: list[str] = []
        stop = time.monotonic() + seconds

        def loop(index: int) -> None:
            own = Client(server.base)
            own.login(viewer, BENCH_PASSWORD)
            k = index
            while time.monotonic() < stop:
                try:
                    samples.append(_timed(own, pages[k % len(pages)]))
                except Exception as exc:  # noqa: BLE001 (counted and reported, not hidden)
                    errors.append(str(exc))
                k += 1

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"  concurrent: {len(samples)} requests by {clients} clients in {seconds:.0f} s, "
              f"{len(errors)} errors, {server.crashes()} worker crashes", flush=True)
        bench_line("page_p95_concurrent_ms", percentile(samples, 95), "ms")
        bench_line("worker_rss_mb", server.worker_peak_rss_mb(), "MB")
        bench_line("page_errors", len(errors) + server.crashes(), "count")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(parser)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    run(args.url, args.requests, args.seconds, args.clients)


if __name__ == "__main__":
    main()
