"""Server-side plots as inline SVG (matplotlib, no CDN, no JavaScript), shared by every page."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot's import

import matplotlib.pyplot as plt  # noqa: E402
from markupsafe import Markup  # noqa: E402

plt.rcParams.update({
    "svg.fonttype": "none",  # keep text as text: smaller files, selectable labels
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
})


def new_figure(width: float = 7.0, height: float = 3.2):
    """A figure and one axes, sized in inches."""
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return fig, ax


def render_svg(fig, title: str) -> Markup:
    """Serialise ``fig`` to an inline ``<svg>`` with an accessible title, and free it."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prologue and doctype: invalid inside HTML
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(title)}" ', 1)
    return Markup(svg)
