"""The plot cache shared by every web process (issue 14, item 5): a plot is rendered once per
change of what it draws for all the workers, a forecast or a resolution is a change, and the table
stays bounded."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from tests.factories import NOW, add_forecast, make_question, make_user
from tests.integration.scoreboard_history import build_history
from tracker import create_app
from tracker.domain import plot_cache
from tracker.domain.resolution import resolve
from tracker.models import PlotCache
from tracker.web.plots import clear_plot_cache

DAY = timedelta(days=1)


def _count_renders(monkeypatch) -> list[int]:
    import tracker.web.questions as views

    calls: list[int] = []
    real = views.forecast_history_plot
    monkeypatch.setattr(views, "forecast_history_plot", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_two_app_instances_render_a_plot_once(crowd_public, app, clock, db_session, monkeypatch):
    """A second app instance (another gunicorn worker: its own memory, the same database) finds
    the plots the first one rendered instead of running matplotlib again."""
    calls = _count_renders(monkeypatch)
    q = make_question(db_session, "shared-q", NOW - 10 * DAY, NOW + 10 * DAY)
    add_forecast(db_session, q, make_user(db_session, "pa"), 0.4, NOW - DAY)
    db_session.commit()
    first = app.test_client().get("/q/shared-q").get_data(as_text=True)
    assert len(calls) == 2  # the full and the compact plot
    other = create_app({"SETTINGS": app.extensions["tracker"].settings, "CLOCK": clock, "TESTING": True})
    try:
        clear_plot_cache()  # the other worker's memory holds nothing
        second = other.test_client().get("/q/shared-q").get_data(as_text=True)
    finally:
        other.extensions["tracker"].engine.dispose()
    assert len(calls) == 2
    assert second == first and "<svg" in second


def test_a_forecast_and_a_resolution_are_changes_for_every_worker(crowd_public, client, clock, db_session,
                                                                  monkeypatch):
    calls = _count_renders(monkeypatch)
    q = make_question(db_session, "change-q", NOW - 10 * DAY, NOW + 10 * DAY)
    add_forecast(db_session, q, make_user(db_session, "pa"), 0.4, NOW - DAY)
    db_session.commit()
    client.get("/q/change-q")
    assert len(calls) == 2
    add_forecast(db_session, q, make_user(db_session, "pb"), 0.6, NOW - DAY)
    db_session.commit()
    clear_plot_cache()
    client.get("/q/change-q")
    assert len(calls) == 4  # a new forecast: drawn again, not read from the table
    resolve(db_session, clock, q, "yes", None, "admin", occurred_at=NOW - DAY / 2)
    db_session.commit()
    clear_plot_cache()
    page = client.get("/q/change-q").get_data(as_text=True)
    assert len(calls) == 6 and "Outcome" in page  # a resolution: drawn again, with the outcome
    clear_plot_cache()
    client.get("/q/change-q")
    assert len(calls) == 6


def test_the_profile_plots_are_shared_too(client, sessions, clock, monkeypatch):
    import tracker.web.scoreboards as views

    calls: list[int] = []
    real = views.calibration_plot
    monkeypatch.setattr(views, "calibration_plot", lambda *a, **k: calls.append(1) or real(*a, **k))
    with sessions() as session:
        build_history(session, clock)
        session.commit()
    for _ in range(2):
        clear_plot_cache()
        assert client.get("/forecasters/alice").get_data(as_text=True).count('<svg role="img"') == 2
    assert len(calls) == 1


def test_the_table_is_bounded_oldest_first(db_session, monkeypatch):
    monkeypatch.setattr(plot_cache, "PLOT_CACHE_ROWS", 3)
    for i in range(5):
        plot_cache.store_plot(db_session, f"d{i}", f"<svg>{i}</svg>")
    plot_cache.store_plot(db_session, "d4", "<svg>again</svg>")  # stored already: nothing changes
    db_session.commit()
    kept = db_session.scalars(select(PlotCache.digest).order_by(PlotCache.id)).all()
    assert kept == ["d2", "d3", "d4"]
    assert plot_cache.stored_plot(db_session, "d4") == (True, "<svg>4</svg>")
    assert plot_cache.stored_plot(db_session, "d0") == (False, None)
    assert db_session.scalar(select(func.count()).select_from(PlotCache)) == 3


def test_a_page_never_waits_for_another_writer_to_store_its_plot(crowd_public, client, db_session, database_url,
                                                                 monkeypatch):
    """SQLite: while another process holds the write lock (an import), a question page is served at
    once with its plot, which is stored by a later visit instead of failing the page."""
    import sqlite3

    if not database_url.startswith("sqlite"):
        pytest.skip("a database-wide write lock is SQLite's alone (row locks elsewhere)")
    q = make_question(db_session, "locked-q", NOW - 10 * DAY, NOW + 10 * DAY)
    add_forecast(db_session, q, make_user(db_session, "pa"), 0.4, NOW - DAY)
    db_session.commit()
    client.get("/q/locked-q")  # the crowd rows are brought up to date (a write) before the lock is taken
    db_session.execute(delete(PlotCache))
    db_session.commit()
    clear_plot_cache()
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        response = client.get("/q/locked-q")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert response.status_code == 200 and "<svg" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(PlotCache)) == 0
    db_session.rollback()  # a fresh snapshot
    clear_plot_cache()
    client.get("/q/locked-q")
    assert db_session.scalar(select(func.count()).select_from(PlotCache)) == 2
