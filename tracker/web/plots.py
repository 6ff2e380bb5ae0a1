"""Plot builders for the question pages (server-side SVG; the page carries the text alternative)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import matplotlib.dates as mdates
from markupsafe import Markup
from matplotlib.ticker import PercentFormatter

from ..models import Question
from ..scoring.crowd import CrowdTimeline
from .svg import new_figure, render_svg

CROWD_COLOUR = "#2457c5"
MINE_COLOUR = "#d9480f"
# Colour-blind friendly (Okabe–Ito), for one line per option.
OPTION_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


def _short(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _as_datetimes(seconds) -> list[datetime]:
    return [datetime.fromtimestamp(float(s), tz=timezone.utc) for s in seconds]


def _steps(times: list[datetime], values: list[float], end: datetime) -> tuple[list[datetime], list[float]]:
    """Extend a step series to ``end`` so the last forecast is drawn as still standing."""
    if times and end > times[-1]:
        return [*times, end], [*values, values[-1]]
    return times, values


def forecast_history_plot(
    question: Question,
    crowd: CrowdTimeline,
    mine: Sequence[tuple[datetime, dict[str, float]]],
    start: datetime,
    end: datetime,
) -> Markup | None:
    """The crowd forecast over time and the reader's own forecasts, in one plot; None if empty.

    Binary: p(yes) of the crowd and of the reader as two step lines. Multiple choice: one crowd
    line per option, the reader's forecasts as dots in the option's colour.
    """
    if len(crowd.at) == 0 and not mine:
        return None
    crowd_times = _as_datetimes(crowd.at)
    first = min([start, *crowd_times, *(t for t, _ in mine)])
    last = max([end, *crowd_times, *(t for t, _ in mine)])
    binary = question.kind == "binary"
    fig, ax = new_figure(10.4, 3.4 if binary else 3.8)
    if binary:
        yes = question.options[0]
        if len(crowd_times):
            x, y = _steps(crowd_times, [float(v) for v in crowd.probs[:, 0]], last)
            ax.step(x, y, where="post", color=CROWD_COLOUR, linewidth=2, label="Crowd (median)")
        if mine:
            x, y = _steps([t for t, _ in mine], [p[yes.key] for _, p in mine], last)
            ax.step(x, y, where="post", color=MINE_COLOUR, linewidth=1.6, linestyle="--", label="You")
            ax.plot([t for t, _ in mine], [p[yes.key] for _, p in mine], "o", color=MINE_COLOUR, markersize=5)
        ax.set_ylabel(f"Probability of “{_short(yes.label, 12)}”")
    else:
        for index, option in enumerate(question.options):
            colour = OPTION_COLOURS[index % len(OPTION_COLOURS)]
            label = _short(option.label)
            if len(crowd_times):
                x, y = _steps(crowd_times, [float(v) for v in crowd.probs[:, index]], last)
                ax.step(x, y, where="post", color=colour, linewidth=2, label=label)
            if mine:
                ax.plot([t for t, _ in mine], [p[option.key] for _, p in mine], "o", color=colour,
                        markeredgecolor="black", markersize=6,
                        label=None if len(crowd_times) else label)
        if mine:
            ax.plot([], [], "o", color="white", markeredgecolor="black", label="Your forecasts")
        ax.set_ylabel("Probability")
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", color="#e4e8ef")
    if last <= first:
        last = first + timedelta(hours=1)
    # A little room on the right so a forecast made just now is not drawn on the frame.
    ax.set_xlim(first, last + (last - first) * 0.02)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if binary:
        ax.legend(loc="upper left", frameon=False, ncols=2)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8.5)
    return render_svg(fig, "Crowd forecast and your forecasts over time")
