"""Shared helpers of the benchmark scripts: sizes, databases, BENCH lines, percentiles."""
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


def _server(url: str):
    """An AUTOCOMMIT engine on the ``postgres`` database of ``url``'s server (CREATE/DROP DATABASE)."""
    from sqlalchemy import create_engine

    base = url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")


def create_database(url: str, fresh: bool = False) -> None:
    """Create ``url``'s PostgreSQL database if it is missing (``fresh``: drop it first)."""
    from sqlalchemy import text

    if not url.startswith("postgresql"):
        return
    name = url.rsplit("/", 1)[1]
    engine = _server(url)
    with engine.connect() as conn:
        if fresh:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def drop_database(url: str) -> None:
    """Drop ``url``'s PostgreSQL database if it exists."""
    from sqlalchemy import text

    if not url.startswith("postgresql"):
        return
    engine = _server(url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def scratch_url(url: str) -> str:
    """An empty PostgreSQL database ``<name>_import`` beside ``url``, created afresh."""
    scratch = url + "_import"
    create_database(scratch, fresh=True)
    return scratch


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
