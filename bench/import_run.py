"""``tracker import forecasts`` of a large file, as its own process: rate and peak memory (issue 14).

Usage: python bench/import_run.py [--url URL] [--forecasts 1000000] [--questions 1000] [--forecasters 10000]

Creates a scratch database next to ``--url`` (``<name>_import`` on PostgreSQL, a temporary file for
a SQLite URL) holding only the questions (all closed, a tenth multiple choice), writes a CSV file
of ``--forecasts`` forecasts in the export's format (one row per forecast and option, as
``tracker export forecasts`` writes them: about 2.2 rows per forecast), then runs the real
``tracker import forecasts`` under /usr/bin/time. The forecasters are new: the import creates them.
Prints ``BENCH import_forecasts_per_s``, ``import_rows_per_s`` and ``import_peak_mb`` (the
process's maximum RSS; the target is under 200 MB for 1,000,000 forecasts: a run of at most
that many that goes over it fails).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from common import ROOT, bench_line, drop_database, scratch_url
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tracker import migrate
from tracker.models import Question, QuestionOption

DAY = timedelta(days=1)
PEAK_MB_LIMIT = 200  # issue 14: the import of 1,000,000 forecasts stays under this (max RSS)


def scratch_for(url: str, workdir: Path) -> str:
    """An empty database for the import: on PostgreSQL ``<name>_import`` beside ``url``."""
    if not url.startswith("postgresql"):
        return f"sqlite:///{workdir / 'import.sqlite3'}"
    return scratch_url(url)


def make_questions(url: str, n: int, now: datetime) -> list[tuple[str, list[str], datetime, datetime]]:
    """Closed questions, each open for 60-365 days ending 2-60 days ago: (slug, keys, opens, closes)."""
    migrate.upgrade(url, "head")
    rng = np.random.default_rng(15)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    made = []
    with Session(engine) as session:
        for i in range(n):
            closes = now - int(rng.integers(2, 60)) * DAY
            opens = closes - int(rng.integers(60, 365)) * DAY
            keys = ["a", "b", "c", "d"] if i % 10 == 9 else ["yes", "no"]
            q = Question(slug=f"q{i}", title=f"Import question {i}?", kind="multiple_choice" if len(keys) > 2
                         else "binary", background="Bench.", resolution_criteria="Bench.", opens_at=opens,
                         closes_at=closes, resolve_by=closes + 30 * DAY, status="closed", is_demo=False,
                         created_at=opens, updated_at=opens)
            q.options = [QuestionOption(key=k, label=k.title(), position=p) for p, k in enumerate(keys)]
            session.add(q)
            made.append((q.slug, keys, opens, closes))
        session.commit()
    engine.dispose()
    return made


def write_file(path: Path, questions, forecasts: int, forecasters: int) -> int:
    """The export's format, question by question in time order; returns the number of rows."""
    rng = np.random.default_rng(14)
    each = forecasts // len(questions)
    extra = forecasts - each * len(questions)
    rows = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("question,forecaster,forecast_at,option,probability,rationale\n")
        for i, (slug, keys, opens, closes) in enumerate(questions):
            n = each + (1 if i < extra else 0)
            span = int((closes - opens).total_seconds()) - 1
            seconds = np.sort(rng.choice(span, size=n, replace=False))  # distinct times: no repeats
            who = rng.integers(0, forecasters, size=n)
            probs = np.round(rng.dirichlet(np.ones(len(keys)) * 2, size=n), 3)
            probs[:, -1] = np.round(1 - probs[:, :-1].sum(axis=1), 3)
            base = opens.timestamp()
            lines = []
            for s, u, p in zip(seconds.tolist(), who.tolist(), probs.tolist(), strict=True):
                stamp = datetime.fromtimestamp(base + s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                for key, value in zip(keys, p, strict=True):
                    lines.append(f"{slug},imp{u},{stamp},{key},{abs(value):g},\n")
            rows += len(lines)
            fh.writelines(lines)
    return rows


def run_import(scratch: str, path: Path, workdir: Path) -> tuple[float, float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(TRACKER_DATABASE_URL=scratch, TRACKER_SECRET_KEY="bench-secret-key-not-for-production",
               TRACKER_LOG_LEVEL="WARNING", TRACKER_INSTANCE=str(workdir))
    done = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-m", "tracker", "import",
                           "forecasts", str(path)], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"import failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    found = re.findall(r"TIME ([\d.]+) (\d+)", done.stderr)[-1]
    notes = [line for line in done.stderr.splitlines() if not line.startswith("TIME ")]
    return float(found[0]), int(found[1]) / 1024, "\n  ".join([done.stdout.strip(), *notes])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL",
                                                        "postgresql://127.0.0.1:5432/bench_issue14"))
    parser.add_argument("--forecasts", type=int, default=1_000_000)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--forecasters", type=int, default=10_000)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        workdir = Path(tmp)
        scratch = scratch_for(args.url, workdir)
        try:
            questions = make_questions(scratch, args.questions, now)
            started = time.perf_counter()
            path = workdir / "forecasts.csv"
            rows = write_file(path, questions, args.forecasts, args.forecasters)
            print(f"  file: {rows:,} rows, {args.forecasts:,} forecasts, {path.stat().st_size / 1e6:.0f} MB "
                  f"(written in {time.perf_counter() - started:.1f} s)", flush=True)
            load = os.getloadavg()[0]
            seconds, peak, out = run_import(scratch, path, workdir)
            print(f"  {out}\n  import: {seconds:.1f} s, peak RSS {peak:.0f} MB, "
                  f"load average {load:.1f} before / {os.getloadavg()[0]:.1f} after", flush=True)
            added = int(re.search(r"(\d+) forecasts added", out).group(1))  # type: ignore[union-attr]
            assert added == args.forecasts, (added, args.forecasts)
            bench_line("import_forecasts_per_s", args.forecasts / seconds, "forecasts/s")
            bench_line("import_rows_per_s", rows / seconds, "rows/s")
            bench_line("import_peak_mb", peak, "MB")
            if args.forecasts <= 1_000_000 and peak >= PEAK_MB_LIMIT:  # the memory target
                raise SystemExit(f"peak RSS {peak:.0f} MB is over the {PEAK_MB_LIMIT} MB target "
                                 f"for {args.forecasts:,} forecasts")
        finally:
            drop_database(scratch)


if __name__ == "__main__":
    main()
