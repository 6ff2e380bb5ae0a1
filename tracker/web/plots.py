"""Plot builders for the question and profile pages (server-side SVG; each page carries the text
alternative). User text (option labels, usernames) goes through :func:`~.svg.literal`."""
from __future__ import annotations

import hashlib
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.dates as mdates
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from sqlalchemy.orm import Session

from ..domain.crowd import CrowdHistory
from ..domain.plot_cache import store_plot, stored_plot
from ..domain.profiles import Profile
from ..models import Question
from . import svg, svg_csp
from .svg import literal, new_figure, render_svg

CROWD_COLOUR = "#2457c5"
MINE_COLOUR = "#d9480f"
# Colour-blind friendly (Okabe–Ito), for one line per option.
OPTION_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


#: Plots kept in each worker's memory in front of the shared table, newest use last (a few KB each).
PLOT_CACHE_SIZE = 512
_cache: OrderedDict[str, Markup | None] = OrderedDict()
_cache_lock = threading.Lock()


def _drawing_code() -> str:
    """What decides how a plot looks besides its data: the drawing modules' source and
    matplotlib's version. Part of every digest, so a deploy that draws differently never serves
    plots a previous version stored in the shared table."""
    digest = hashlib.sha256(matplotlib.__version__.encode())
    for module in (sys.modules[__name__], svg, svg_csp):
        digest.update(Path(str(module.__file__)).read_bytes())  # source or, if shipped alone, bytecode
    return digest.hexdigest()


_DRAWING_CODE = _drawing_code()


def plot_digest(key: Hashable) -> str:
    """The shared cache's name for ``key``: its repr (deterministic for the tuples of strings,
    numbers and datetimes that keys are made of, in every process) with the drawing code."""
    return hashlib.sha256(f"{_DRAWING_CODE}\n{key!r}".encode()).hexdigest()


def cached_plot(session: Session, key: Hashable, build: Callable[[], Markup | None]) -> Markup | None:
    """The plot for ``key``, rendered by ``build`` once per change: the key names the latest change
    of everything drawn (the question's crowd version, the reader's latest forecast, the time span),
    so a GET that changes nothing reuses the SVG instead of running matplotlib again.

    Looked up in this process's memory, then in the table every worker shares
    (:mod:`tracker.domain.plot_cache`), and only then rendered and stored there, in the request's
    transaction: one render per change for all the workers, not one in each."""
    digest = plot_digest(key)
    with _cache_lock:
        if digest in _cache:
            _cache.move_to_end(digest)
            return _cache[digest]
    found, stored = stored_plot(session, digest)
    if found:
        drawn = None if stored is None else Markup(stored)
    else:
        drawn = build()  # outside the lock: two threads or workers may both render a new key, harmlessly
        store_plot(session, digest, None if drawn is None else str(drawn))
    with _cache_lock:
        _cache[digest] = drawn
        while len(_cache) > PLOT_CACHE_SIZE:
            _cache.popitem(last=False)
    return drawn


def clear_plot_cache() -> None:
    """Forget the plots cached in this process's memory (tests; the shared table is kept)."""
    with _cache_lock:
        _cache.clear()


def _short(label: str, limit: int = 30) -> str:
    return literal(label if len(label) <= limit else label[: limit - 1].rstrip() + "…")


def _x(times: Sequence[datetime]) -> Any:
    """Times as matplotlib's date numbers (the axis formats them as dates)."""
    return mdates.date2num(list(times))


def _steps(times: list[datetime], values: list[float], end: datetime) -> tuple[Any, list[float]]:
    """Extend a step series to ``end`` so the last forecast is drawn as still standing."""
    if times and end > times[-1]:
        return _x([*times, end]), [*values, values[-1]]
    return _x(times), values


def forecast_history_plot(
    question: Question,
    crowd: CrowdHistory,
    mine: Sequence[tuple[datetime, dict[str, float]]],
    start: datetime,
    end: datetime,
    outcome: str | None = None,
    compact: bool = False,
) -> Markup | None:
    """The crowd forecast over time and the reader's own forecasts, in one plot; None if empty.
    See :func:`forecast_history_figure` for what is drawn; ``compact`` is the phone-sized drawing
    (a narrow figure whose text stays readable when scaled to a 390 px screen)."""
    drawn = forecast_history_figure(question, crowd, mine, start, end, outcome, compact=compact)
    if drawn is None:
        return None
    return render_svg(drawn[0], "Crowd forecast and your forecasts over time")


def _time_window(times: Sequence[datetime], start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The time axis: from a little before the first forecast (not the question's opening, which
    would squeeze a new forecast into a sliver at the right) to ``end``, with a margin each side."""
    first = max(start, min(times)) if times else start
    last = max([end, *times])
    span = max(last - first, timedelta(hours=1))
    return first - span * 0.04, last + span * 0.03


def forecast_history_figure(
    question: Question,
    crowd: CrowdHistory,
    mine: Sequence[tuple[datetime, dict[str, float]]],
    start: datetime,
    end: datetime,
    outcome: str | None = None,
    compact: bool = False,
) -> tuple[Figure, Axes] | None:
    """Binary: p(yes) of the crowd and of the reader as two step lines. Multiple choice: one crowd
    line per option, the reader's forecasts as dots in the option's colour. The time axis is zoomed
    to the forecasts; ``end`` (the close, once passed) is marked, and ``outcome`` (an option key)
    with it once the question is resolved."""
    if len(crowd) == 0 and not mine:
        return None
    times = [*crowd.at, *(t for t, _ in mine)]
    left, right = _time_window(times, start, end)
    last = max([end, *times])
    binary = question.kind == "binary"
    if compact:
        fig, ax = new_figure(5.0, 3.6 if binary else 4.4)
    else:
        fig, ax = new_figure(10.4, 3.4 if binary else 3.8)
    if binary:
        yes = question.options[0]
        if len(crowd):
            x, y = _steps(crowd.at, crowd.series(0), last)
            ax.step(x, y, where="post", color=CROWD_COLOUR, linewidth=2, label="Crowd (median)")
        if mine:
            x, y = _steps([t for t, _ in mine], [p[yes.key] for _, p in mine], last)
            ax.step(x, y, where="post", color=MINE_COLOUR, linewidth=1.6, linestyle="--", label="You")
            ax.plot(_x([t for t, _ in mine]), [p[yes.key] for _, p in mine], "o", color=MINE_COLOUR, markersize=5)
        ax.set_ylabel(f"Probability of “{_short(yes.label, 12)}”")
    else:
        for index, option in enumerate(question.options):
            colour = OPTION_COLOURS[index % len(OPTION_COLOURS)]
            label = _short(option.label)
            if len(crowd):
                x, y = _steps(crowd.at, crowd.series(index), last)
                ax.step(x, y, where="post", color=colour, linewidth=2, label=label)
            if mine:
                ax.plot(_x([t for t, _ in mine]), [p[option.key] for _, p in mine], "o", color=colour,
                        markeredgecolor="black", markersize=6,
                        label=None if len(crowd) else label)
        if mine:
            ax.plot([], [], "o", color="white", markeredgecolor="black", label="Your forecasts")
        ax.set_ylabel("Probability")
    _mark_close(question, ax, end, outcome, closed=end >= question.closes_at or outcome is not None)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", color="#e4e8ef")
    ax.set_xlim(_x([left, right]).tolist())
    # (2, 5) and (3, 8) find an interval for every span from minutes to years; (3, 5) does not.
    locator = mdates.AutoDateLocator(minticks=2 if compact else 3, maxticks=5 if compact else 8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if compact:  # below the plot, where a narrow figure has room
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.22), frameon=False, fontsize=8.5, ncols=2)
    elif binary:
        ax.legend(loc="upper left", frameon=False, ncols=3)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8.5)
    return fig, ax


def _mark_close(question: Question, ax: Axes, end: datetime, outcome: str | None, closed: bool) -> None:
    """A dotted line at the (effective) close once it has passed, and the outcome beside it: for a
    yes/no question a star at 100% or 0%, otherwise the winning option's name."""
    if not closed:
        return
    x = float(_x([end])[0])
    ax.axvline(x, color="#5b6475", linestyle=":", linewidth=1.2, label="Close")
    option = question.option_by_key(outcome) if outcome else None
    if option is None:
        return
    if question.kind == "binary":
        y = 1.0 if option.position == 0 else 0.0
        ax.plot([x], [y], marker="*", markersize=13, color="#177245", clip_on=False, linestyle="none",
                label=f"Outcome: {_short(option.label, 16)}")
    else:
        ax.annotate(f"Outcome: {_short(option.label, 24)}", (x, 1.0), xytext=(-4, -4), textcoords="offset points",
                    ha="right", va="top", fontsize=8.5, color="#177245")


def calibration_plot(profile: Profile) -> Markup:
    """The calibration figure (see :func:`calibration_figure`) as inline SVG."""
    return render_svg(calibration_figure(profile),
                      f"Calibration plot of {profile.user.username}: observed frequency against forecast")


def calibration_figure(profile: Profile) -> Figure:
    """Observed frequency against mean forecast per bin, with Wilson 95% error bars and the diagonal.
    Bin counts go in one row above the plot at the bins' centres (10% apart, so they never collide
    with each other, with the points or with the axis labels)."""
    fig, ax = new_figure(5.0, 4.9)
    ax.plot([0, 1], [0, 1], linestyle="--", color="#8a94a6", linewidth=1, label="Perfect calibration")
    bins = [b for b in profile.bins if b.n > 0]
    if bins:
        f, o = [b.f for b in bins], [b.o for b in bins]
        # Rounding can leave o a hair outside its own interval; error bars cannot be negative.
        err = [[max(b.o - b.low, 0.0) for b in bins], [max(b.high - b.o, 0.0) for b in bins]]
        ax.errorbar(f, o, yerr=err, fmt="o", color="#2457c5", ecolor="#7d99d6", capsize=3, markersize=6,
                    label="Observed (95% Wilson interval)")
        above = ax.get_xaxis_transform()  # x in data units, y in axes units
        for b in bins:
            ax.text(b.centre, 1.015, f"{b.n:.2g}", transform=above, ha="center", va="bottom", fontsize=7.5,
                    color="#5b6475")
        ax.set_title("Weighted count per bin", fontsize=8, color="#5b6475", pad=14)
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("Forecast probability (bin mean)")
    ax.set_ylabel("Observed frequency")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def history_plot(profile: Profile) -> Markup:
    """Relative Brier per question by close date (below zero: better than the crowd)."""
    fig, ax = new_figure(7.0, 3.0)
    when = [q.close for q in profile.questions]
    values = [q.relative_brier for q in profile.questions]
    colours = ["#177245" if v <= 0 else "#b42318" for v in values]
    ax.axhline(0, color="#8a94a6", linewidth=1)
    ax.scatter(_x(when), values, c=colours, s=28, zorder=3)
    ax.xaxis_date()
    ax.set_ylabel("Relative Brier")
    ax.set_xlabel("Question close date")
    fig.autofmt_xdate()
    return render_svg(fig, f"Relative Brier of {profile.user.username} per question by close date")
