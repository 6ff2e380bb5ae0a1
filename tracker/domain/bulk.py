"""Bulk writes of forecasts: COPY on PostgreSQL, batched executemany elsewhere.

:func:`copy_forecasts` takes any iterable (a generator streaming a file, say) and holds one batch
in memory at a time. The import (tracker.domain.csv_import) and ``bench/seed.py`` use it; the crowd
rows of the questions it touched are brought up to date afterwards by the first reader, or at once
with :func:`tracker.domain.crowd_upkeep.refresh_stale`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC
from itertools import islice

from sqlalchemy import text
from sqlalchemy.orm import Session

from .csv_import import NewForecast, insert_forecasts

#: Forecasts per batch: bounds memory (a batch is a few MB) while keeping round trips few.
COPY_BATCH = 50_000


def _batches(items: Iterable[NewForecast], size: int) -> Iterator[list[NewForecast]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def copy_forecasts(session: Session, forecasts: Iterable[NewForecast], batch: int = COPY_BATCH) -> int:
    """Append ``forecasts`` (ids assigned by the database) and return how many were written."""
    written = 0
    postgres = session.get_bind().dialect.name == "postgresql"
    session.flush()
    for chunk in _batches(forecasts, batch):
        if postgres:
            _copy_batch(session, chunk)
        else:
            insert_forecasts(session, chunk)
        written += len(chunk)
    return written


def _copy_batch(session: Session, chunk: list[NewForecast]) -> None:
    """Reserve ids from the forecasts' sequence, then COPY both tables (psycopg's binary-free
    text COPY: no SQL statement per row)."""
    ids = list(session.scalars(
        text("SELECT nextval(pg_get_serial_sequence('forecasts', 'id')) FROM generate_series(1, :n)"),
        {"n": len(chunk)},
    ))
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy("COPY forecasts (id, question_id, user_id, created_at, rationale) FROM STDIN") as copy:
            for forecast_id, f in zip(ids, chunk, strict=True):
                copy.write_row((forecast_id, f.question_id, f.user_id, f.created_at.astimezone(UTC), f.rationale))
        with cursor.copy("COPY forecast_probabilities (forecast_id, option_id, probability) FROM STDIN") as copy:
            for forecast_id, f in zip(ids, chunk, strict=True):
                for option_id, p in f.probabilities.items():
                    copy.write_row((forecast_id, option_id, p))
