"""Jinja filters: sanitised Markdown, UTC dates, percentages, time left."""
from __future__ import annotations

from datetime import datetime

import markdown as md
import nh3
from flask import Flask, url_for
from markupsafe import Markup

from ..clock import ensure_utc

_ALLOWED_TAGS = {
    "p", "br", "em", "strong", "a", "ul", "ol", "li", "code", "pre", "blockquote",
    "h3", "h4", "h5", "table", "thead", "tbody", "tr", "th", "td", "hr",
}


def render_markdown(text: str | None) -> Markup:
    """Markdown to HTML, then sanitised by nh3 so question text can never inject script."""
    html = md.markdown(text or "", extensions=["tables", "sane_lists"])
    return Markup(nh3.clean(html, tags=_ALLOWED_TAGS, attributes={"a": {"href", "title"}}))


def format_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    if value is None:
        return "—"
    return ensure_utc(value).strftime(fmt)


def format_date(value: datetime | None) -> str:
    return format_dt(value, "%Y-%m-%d")


def percent(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def signed(value: float | None, digits: int = 3) -> str:
    """'+0.012' / '-0.034'; a value that rounds to zero shows as a plain '0.000' (no '-0.000')."""
    if value is None or value != value:
        return "—"
    if round(value, digits) == 0:
        return f"{0.0:.{digits}f}"
    return f"{value:+.{digits}f}"


def humanize_delta(seconds: float) -> str:
    """'3 days', '5 hours', '12 minutes'; negative values read as 'ago'."""
    ago = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            break
    else:
        text = "less than a minute"
    return f"{text} ago" if ago else text


def score_help(section: str = "") -> str:
    """The scoring guide's page, at ``section`` (a heading id of docs/scoring.md)."""
    return url_for("help.scoring") + (f"#{section}" if section else "")


def init_app(app: Flask) -> None:
    # Templates link only to pages that exist, so a feature's blueprint can be absent.
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions
    app.jinja_env.globals["score_help"] = score_help
    app.jinja_env.filters.update(
        markdown=render_markdown, dt=format_dt, date=format_date, percent=percent, delta=humanize_delta, signed=signed
    )
