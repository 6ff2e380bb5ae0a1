"""Bulk paths against PostgreSQL: the import's forecast writer (COPY), ``tracker scores rebuild``, the
rescore of the 100,000-forecast question, and the CSV exports through a real gunicorn.

Usage: python bench/bulk.py [--url URL] [--scale 1.0] [--steps import,rebuild,rescore,exports]

The bulk-copy figure is the import's own writer (``import_stage.store_stage``, which
``tracker import forecasts`` calls once the file is checked) fed by bench/seed.py --forecasts-only
into a scratch database ``<name>_import``: the seconds are the write alone (no CSV to check; the
whole import is bench/import_run.py), the peak that process's maximum RSS. The rebuild runs the
real CLI as its own process, so its peak is that process's maximum RSS.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, add_common, bench_line, drop_database, scratch_url
from server import Client, Gunicorn
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, selectinload

from tracker.clock import SystemClock
from tracker.domain.resolution import resolve
from tracker.models import Question


def _timed_process(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``command`` under /usr/bin/time: (seconds, peak RSS in MB, output)."""
    done = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", *command], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    found = re.findall(r"TIME ([\d.]+) (\d+)", done.stderr)[-1]
    return float(found[0]), int(found[1]) / 1024, done.stdout



def bench_import(url: str, scale: float, env: dict[str, str]) -> None:
    scratch = scratch_url(url)
    try:
        seconds, peak, out = _timed_process(
            [sys.executable, "bench/seed.py", "--url", scratch, "--scale", str(scale), "--forecasts-only"], env)
        count, copy_seconds = re.search(r"COPIED (\d+) forecasts in ([\d.]+) s", out).groups()  # type: ignore[union-attr]
        print(f"  import writer: {int(count):,} forecasts in {float(copy_seconds):.1f} s (process {seconds:.1f} s)")
        bench_line("bulk_copy_forecasts_per_s", int(count) / float(copy_seconds), "forecasts/s")
        bench_line("bulk_copy_peak_mb", peak, "MB")
    finally:
        drop_database(scratch)


def bench_rebuild(url: str, env: dict[str, str]) -> None:
    seconds, peak, out = _timed_process([str(Path(sys.executable).parent / "tracker"), "scores", "rebuild"],
                                        dict(env, TRACKER_DATABASE_URL=url))
    print(f"  rebuild: {out.strip().splitlines()[-1] if out.strip() else ''}")
    bench_line("rebuild_s", seconds, "s")
    bench_line("rebuild_peak_mb", peak, "MB")


def bench_rescore(url: str) -> None:
    """A correction of the big question, three times (each a full rescore of that question)."""
    engine = create_engine(url)
    worst = 0.0
    with Session(engine) as session:
        big = session.scalar(select(Question).where(Question.slug == "big").options(selectinload(Question.options)))
        assert big is not None, "seed the database first"
        for key in ("no", "yes", "no", "yes"):
            started = time.perf_counter()
            resolve(session, SystemClock(), big, key, None, "bench", note="bench correction")
            session.commit()
            worst = max(worst, time.perf_counter() - started)
    engine.dispose()
    bench_line("rescore_100k_s", worst, "s")


def bench_exports(url: str, rounds: int = 2) -> None:
    """Each CSV download ``rounds`` times through gunicorn, after a warm-up of the workers; the best
    round of each (the machine is shared: a slower round measures the neighbours)."""
    with Gunicorn(url) as server:
        client = Client(server.base)
        for _ in range(8):  # every worker's first request pays for lazy imports and a connection
            assert client.get("/scoreboard.csv?question=small")[0] == 200
        rates = []
        for path in ("/forecasts.csv", "/scores.csv"):
            best = 0.0
            for _ in range(rounds):
                started = time.perf_counter()
                status, body = client.get(path)
                elapsed = time.perf_counter() - started
                rows = body.count(b"\n") - 1
                assert status == 200, (path, status)
                print(f"  {path}: {rows:,} rows in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s), "
                      f"{len(body) / 1e6:.1f} MB")
                best = max(best, rows / elapsed)
                del body
            rates.append(best)
        print(f"  worker peak RSS after the exports: {server.worker_peak_rss_mb():.0f} MB; "
              f"load average {os.getloadavg()[0]:.1f}")
    bench_line("export_rows_per_s", min(rates), "rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(parser)
    parser.add_argument("--steps", default="import,rebuild,rescore,exports",
                        help="comma-separated steps to run (default: all four)")
    args = parser.parse_args()
    steps = set(args.steps.split(","))
    env = dict(os.environ, TRACKER_SECRET_KEY="bench-secret-key-not-for-production", TRACKER_LOG_LEVEL="WARNING",
               PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'bench'}")
    if "import" in steps:
        bench_import(args.url, args.scale, env)
    if "rebuild" in steps:
        bench_rebuild(args.url, env)
    if "rescore" in steps:
        bench_rescore(args.url)
    if "exports" in steps:
        bench_exports(args.url)


if __name__ == "__main__":
    main()
