"""Server-side plots as inline SVG (matplotlib, no CDN, no JavaScript), shared by every page.

Figures are built with matplotlib's object API (:class:`~matplotlib.figure.Figure`), never
``pyplot``: pyplot keeps global state and is not safe under gunicorn's threads. Nothing here changes
matplotlib's global ``rcParams``; every style choice is made on the figure itself.
"""
from __future__ import annotations

import io
import re
import warnings

from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .svg_csp import presentation_attributes

FONT_SIZE = 10
_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)


def configure_matplotlib() -> None:
    """Called once by the app factory, before any request thread draws: keep SVG text as
    ``<text>`` (smaller pages, selectable labels) instead of one path per glyph. This is the only
    rcParam the app sets, and it never changes afterwards, so concurrent drawing is safe."""
    import matplotlib

    matplotlib.rcParams["svg.fonttype"] = "none"
    # Labels are typed by people: a character the font lacks is drawn as a box, not worth a
    # warning on every request (nor, under the test suite's "error" filter, a failed page).
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)


def literal(text: str) -> str:
    """``text`` drawn as written: a ``$`` never starts mathtext (so ``$\\undefinedcmd{x}$`` in an
    option label is shown, not parsed, and cannot make a page fail)."""
    # Control and format characters (tabs, escapes, bidi overrides) are shown as spaces.
    text = "".join(ch if ch.isprintable() else " " for ch in text)
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
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(title)}" ', 1)
    return Markup(presentation_attributes(svg))  # no inline style: the page's CSP allows none
