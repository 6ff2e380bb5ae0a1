"""Rendered output shared by every web process (a cache: any row may be deleted at any time)."""
from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class PlotCache(Base):
    """One rendered plot (inline SVG), under the digest of everything it draws: a key that names
    the latest change of the plotted data, so a row is never stale, only unused. ``id`` orders the
    rows by insertion, which is what the size bound evicts by."""

    __tablename__ = "plot_cache"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    svg: Mapped[str | None] = mapped_column(Text)  # NULL: nothing to draw (cached all the same)
