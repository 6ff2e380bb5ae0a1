"""Server-side plots as inline SVG (matplotlib, no CDN, no JavaScript), shared by every page.

Figures are built with matplotlib's object API (:class:`~matplotlib.figure.Figure`), never
``pyplot``: pyplot keeps global state and is not safe under gunicorn's threads. Nothing here changes
matplotlib's global ``rcParams``; every style choice is made on the figure itself.
"""
from __future__ import annotations

import io
import re

from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure

FONT_SIZE = 10
_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>\s*", re.S)
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')


def configure_matplotlib() -> None:
    """Called once by the app factory, before any request thread draws: keep SVG text as
    ``<text>`` (smaller pages, selectable labels) instead of one path per glyph. This is the only
    rcParam the app sets, and it never changes afterwards, so concurrent drawing is safe."""
    import matplotlib

    matplotlib.rcParams["svg.fonttype"] = "none"


def literal(text: str) -> str:
    """``text`` drawn as written: a ``$`` never starts mathtext (so ``$\\undefinedcmd{x}$`` in an
    option label is shown, not parsed, and cannot make a page fail)."""
    return text.replace("$", r"\$")


def new_figure(width: float = 7.0, height: float = 3.2) -> tuple[Figure, Axes]:
    """A figure and one axes, sized in inches, with the house style (no top or right frame)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=FONT_SIZE)
    return fig, ax


def render_svg(fig: Figure, title: str) -> Markup:
    """Serialise ``fig`` to an inline ``<svg>`` with an accessible title."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    svg = _XML_PROLOGUE.sub("", buffer.getvalue(), count=1)  # the prologue is invalid inside HTML
    svg = without_inline_css(svg)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(title)}" ', 1)
    return Markup(svg)


def without_inline_css(svg: str) -> str:
    """matplotlib's SVG styled with presentation attributes instead of inline CSS, so it draws the
    same under a Content-Security-Policy that forbids inline styles: each ``style="k: v; ..."``
    becomes ``k="v" ...``, and the one ``<style>`` rule (round joins, butt caps for everything)
    becomes inherited attributes on the root element."""
    svg = _STYLE_ELEMENT.sub("", svg)
    svg = svg.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)

    def attributes(match: re.Match[str]) -> str:
        pairs = (part.split(":", 1) for part in match.group(1).split(";") if ":" in part)
        return "".join(f' {name.strip()}="{value.strip()}"' for name, value in pairs)

    return _STYLE_ATTRIBUTE.sub(attributes, svg)
