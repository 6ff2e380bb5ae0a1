"""The plot cache shared by every web process: rendered SVG under a digest of what it draws.

A digest names the latest change of everything drawn, so a stored plot is never stale, only
unused; the table is bounded to :data:`PLOT_CACHE_ROWS` rows, the oldest inserted evicted first
(a plot still in use is then rendered once more). Works alike on SQLite and PostgreSQL.
"""
from __future__ import annotations

from sqlalchemy import delete, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..db import SQLITE_BUSY_TIMEOUT_MS
from ..models import PlotCache
from .unique_insert import insert_once

#: Rows kept (a plot is a few to some tens of KB: at most a few tens of MB in all).
PLOT_CACHE_ROWS = 2000


def stored_plot(session: Session, digest: str) -> tuple[bool, str | None]:
    """``(True, svg)`` when a plot is stored under ``digest`` (``svg`` None: nothing to draw),
    ``(False, None)`` when none is: one primary-key-sized index read."""
    row = session.execute(select(PlotCache.svg).where(PlotCache.digest == digest)).first()
    return (True, row.svg) if row is not None else (False, None)


def store_plot(session: Session, digest: str, svg: str | None, keep: int | None = None) -> None:
    """Store ``svg`` under ``digest`` unless another process stored it first, then evict the oldest
    rows beyond ``keep`` (default :data:`PLOT_CACHE_ROWS`). Runs once per change of a plot, so
    the eviction's index read of ``keep`` ids is not on the path of a cache hit."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    try:
        with session.begin_nested():
            if sqlite:
                # A page read is no writer: never queue behind one (an import holds the lock for
                # seconds). Busy now: the plot stays in this worker's memory, and is stored later.
                session.execute(text("PRAGMA busy_timeout = 0"))
            new_id = insert_once(session, PlotCache, {"digest": digest, "svg": svg}, ["digest"])
            if new_id is not None:
                keep = PLOT_CACHE_ROWS if keep is None else keep
                cutoff = session.scalar(select(PlotCache.id).order_by(PlotCache.id.desc()).offset(keep).limit(1))
                if cutoff is not None:
                    session.execute(delete(PlotCache).where(PlotCache.id <= cutoff))
    except OperationalError as exc:
        if not sqlite or "locked" not in str(exc):
            raise
    finally:
        if sqlite:
            session.execute(text(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))
