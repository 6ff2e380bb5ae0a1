"""Help pages: the scoring guide (docs/scoring.md, shipped with the package) rendered as a page."""
from __future__ import annotations

from functools import cache
from importlib import resources

import markdown as md
import nh3
from flask import Blueprint, render_template
from markupsafe import Markup

bp = Blueprint("help", __name__, url_prefix="/help")

_GUIDE_TAGS = {
    "p", "br", "em", "strong", "a", "ul", "ol", "li", "code", "pre", "blockquote",
    "h1", "h2", "h3", "h4", "h5", "table", "thead", "tbody", "tr", "th", "td", "hr",
}


@cache
def _guide(name: str) -> tuple[str, Markup]:
    """A guide's title and its HTML, read once from the packaged docs (headings get ids, so each
    score links to its own section)."""
    text = resources.files("tracker.docs").joinpath(f"{name}.md").read_text(encoding="utf-8")
    converter = md.Markdown(extensions=["tables", "sane_lists", "toc"])
    html = converter.convert(text)
    title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("# ")), name)
    attributes = {"a": {"href", "title"}, **{h: {"id"} for h in ("h1", "h2", "h3", "h4", "h5")}}
    return title, Markup(nh3.clean(html, tags=_GUIDE_TAGS, attributes=attributes))


@bp.route("/scoring")
def scoring() -> str:
    """How every score on the site is computed, with worked examples."""
    title, body = _guide("scoring")
    return render_template("help/guide.html", title=title, body=body)
