"""Run the whole benchmark suite and end with every ``BENCH`` line (``make bench``, ``make bench-quick``).

Usage: python bench/run.py [--url URL] [--scale 1.0] [--keep]

Creates the PostgreSQL database in ``--url`` when missing, seeds it (bench/seed.py), then runs
bench/pages.py, bench/submit.py, bench/bulk.py and bench/import_run.py as their own processes, and drops the database
at the end unless ``--keep``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common import ROOT, add_common, create_database, drop_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(parser)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    args = parser.parse_args()
    quick = args.scale < 0.5
    common = ["--url", args.url, "--scale", str(args.scale)]
    steps = [
        ["seed.py", *common, "--fresh"],
        # Full size: the 8 concurrent clients run for 10 minutes (the "no crash over 10 minutes").
        ["pages.py", *common, "--requests", "20" if quick else "40", "--seconds", "20" if quick else "600"],
        ["submit.py", *common, "--rounds", "4" if quick else "6", "--round-seconds", "4" if quick else "8"],
        ["bulk.py", *common],
        ["import_run.py", "--url", args.url, "--forecasts", str(int(1_000_000 * args.scale)),
         "--questions", str(max(int(1000 * args.scale), 20)), "--forecasters", str(max(int(10_000 * args.scale), 10))],
    ]
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'bench'}")
    lines: list[str] = []
    started = time.perf_counter()
    create_database(args.url)
    try:
        for step in steps:
            print(f"== {step[0]}", flush=True)
            process = subprocess.Popen([sys.executable, f"bench/{step[0]}", *step[1:]], cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, text=True)
            assert process.stdout is not None
            for line in process.stdout:
                print(line, end="", flush=True)
                if line.startswith("BENCH "):
                    lines.append(line.rstrip())
            if process.wait() != 0:
                raise SystemExit(f"{step[0]} failed with exit code {process.returncode}")
    finally:
        if not args.keep:
            drop_database(args.url)
    print(f"== done in {time.perf_counter() - started:.0f} s (scale {args.scale})")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
