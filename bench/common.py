"""Shared helpers of the benchmark scripts: sizes, database sessions, BENCH lines, percentiles."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The issue's full dataset; --scale 0.1 is `make bench-quick`.
FULL = {"questions": 1000, "forecasters": 10000, "forecasts": 1_000_000, "big": 100_000, "resolved": 500}
BENCH_PASSWORD = "bench-password-123"


@dataclass
class Sizes:
    questions: int
    forecasters: int
    forecasts: int
    big: int
    resolved: int


def sizes(scale: float) -> Sizes:
    """The dataset's sizes at ``scale`` (1.0: the issue's; the 10-forecast question stays at 10)."""
    return Sizes(**{k: max(int(v * scale), 20 if k == "questions" else 10) for k, v in FULL.items()})


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL",
                                                        "postgresql://127.0.0.1:5432/bench_issue14"),
                        help="database to seed or read (PostgreSQL or SQLite URL)")
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1.0")),
                        help="fraction of the full dataset (0.1 for a quick run)")


def bench_line(name: str, value: float, unit: str) -> str:
    """One result in the form the Makefile collects: ``BENCH <name> <value> <unit>``."""
    line = f"BENCH {name} {value:.6g} {unit}"
    print(line, flush=True)
    return line


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]
