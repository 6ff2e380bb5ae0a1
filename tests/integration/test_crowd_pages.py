"""The crowd on pages: privacy of open questions (13.10), the effective close of an early
resolution (13.2), paging (13.15) and the maintained crowd rows agreeing with the scoring engine."""
from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest

from tests.factories import NOW, PASSWORD, add_forecast, make_question, make_user
from tracker.domain.crowd import CrowdPolicy, crowd_history, crowd_visible
from tracker.domain.crowd_upkeep import rebuild_crowd
from tracker.domain.forecasts import submit_forecast
from tracker.domain.questions import EVERYONE_PAGE_SIZE, LIST_PAGE_SIZE
from tracker.domain.resolution import resolve
from tracker.models import CrowdDay, QuestionCrowd, StandingForecast

DAY = timedelta(days=1)


def test_crowd_visible_is_the_one_rule(db_session):
    q = make_question(db_session, "rule-q", NOW - DAY, NOW + DAY)
    policy = CrowdPolicy(min_forecasters=3, after_own_forecast=True)
    assert not crowd_visible(q, "open", 2, True, policy)  # too few forecasters
    assert not crowd_visible(q, "open", 3, False, policy)  # the viewer has not forecast yet
    assert crowd_visible(q, "open", 3, True, policy)
    assert crowd_visible(q, "open", 3, False, CrowdPolicy(3, after_own_forecast=False))
    assert crowd_visible(q, "closed", 0, False, policy)  # once forecasting ends, always shown


def test_open_crowd_hidden_until_enough_forecasters_and_own_forecast(client, auth, db_session):
    q = make_question(db_session, "secret-q", NOW - 10 * DAY, NOW + 10 * DAY, title="Secret crowd?")
    users = [make_user(db_session, name) for name in ("ann", "bob", "cy")]
    viewer = make_user(db_session, "viewer")
    for user, p in zip(users[:2], (0.37, 0.41), strict=True):
        add_forecast(db_session, q, user, p, NOW - 2 * DAY)
    db_session.commit()
    page = client.get("/q/secret-q").get_data(as_text=True)
    assert "39%" not in page and "at least 3 forecasters" in page and "<svg" not in page
    add_forecast(db_session, q, users[2], 0.43, NOW - DAY)
    db_session.commit()
    auth.login("viewer", PASSWORD)
    page = client.get("/q/secret-q").get_data(as_text=True)
    assert "41%" not in page and "Make your own forecast to see the crowd" in page
    listing = client.get("/").get_data(as_text=True)
    row = listing[listing.index("Secret crowd?"):]
    assert "41%" not in row[: row.index("</tr>")] and "hidden until you forecast" in row[: row.index("</tr>")]
    add_forecast(db_session, q, viewer, 0.5, NOW - DAY)
    db_session.commit()
    page = client.get("/q/secret-q").get_data(as_text=True)
    assert "42%" in page and "<svg" in page  # median of 0.37, 0.41, 0.43, 0.5


def test_early_resolution_page_uses_the_effective_close(client, auth, db_session, clock):
    q = make_question(db_session, "early-q", NOW - 20 * DAY, NOW + 20 * DAY)
    ann, bob, late = (make_user(db_session, n) for n in ("ann", "bob", "late"))
    add_forecast(db_session, q, ann, 0.2, NOW - 10 * DAY)
    add_forecast(db_session, q, bob, 0.4, NOW - 9 * DAY)
    add_forecast(db_session, q, late, 0.95, NOW - 2 * DAY, rationale="after the event")
    add_forecast(db_session, q, ann, 0.9, NOW - 2 * DAY)
    db_session.commit()
    resolve(db_session, clock, q, "yes", None, "admin", occurred_at=NOW - 5 * DAY)
    db_session.commit()
    history = crowd_history(db_session, q, NOW - 5 * DAY)
    assert history.latest().probabilities["yes"] == pytest.approx(0.3)  # 0.95 and 0.9 came after
    assert history.latest().forecasters == 2
    db_session.commit()  # crowd_history cached the crowd at the close
    auth.login("late", PASSWORD)
    page = client.get("/q/early-q").get_data(as_text=True)
    assert "30%" in page and "95.0%" in page  # the crowd at the effective close; the late forecast listed...
    assert "after the effective close: not counted" in page  # ...as not counted
    assert 'id="no-score-reason"' in page and "every forecast you made came after that" in page


def test_everyone_pages_by_keyset(client, db_session):
    q = make_question(db_session, "busy-q", NOW - 20 * DAY, NOW - DAY, status="closed")
    users = [make_user(db_session, f"u{i}") for i in range(3)]
    total = EVERYONE_PAGE_SIZE + 7
    for i in range(total):
        add_forecast(db_session, q, users[i % 3], 0.5, NOW - 19 * DAY + i * timedelta(minutes=5), rationale=f"r{i}#")
    db_session.commit()
    first = client.get("/q/busy-q").get_data(as_text=True)
    assert first.count("#</td>") == EVERYONE_PAGE_SIZE and "r0#" in first and f"r{total - 1}#" not in first
    link = first[first.index('rel="next" href="') + len('rel="next" href="'):]
    second = client.get(link[: link.index('"')].replace("&amp;", "&")).get_data(as_text=True)
    assert second.count("#</td>") == 7 and f"r{total - 1}#" in second and 'rel="next"' not in second
    assert client.get("/q/busy-q?after=999999").status_code == 404
    assert client.get("/q/busy-q?after=abc").status_code == 400


def test_question_list_pages(client, db_session):
    for i in range(LIST_PAGE_SIZE + 3):
        make_question(db_session, f"p{i:03d}", NOW - DAY, NOW + (i + 1) * DAY, title=f"Paged {i:03d}?")
    db_session.commit()
    first = client.get("/").get_data(as_text=True)
    second = client.get("/?page=2").get_data(as_text=True)
    assert "Paged 000?" in first and f"Paged {LIST_PAGE_SIZE:03d}?" not in first and 'rel="next"' in first
    assert f"Paged {LIST_PAGE_SIZE + 2:03d}?" in second and "Paged 000?" not in second


def test_my_forecasts_filter_applies_before_paging(client, db_session, auth):
    """Issue 13's "not yet forecast by me" filter with issue 14's pages: a full first page of
    questions the reader has not forecast, not a page of 50 thinned out afterwards."""
    reader = make_user(db_session, "pager")
    for i in range(LIST_PAGE_SIZE + 3):
        q = make_question(db_session, f"m{i:03d}", NOW - DAY, NOW + (i + 1) * DAY, title=f"Mine {i:03d}?")
        if i % 2 == 0:
            add_forecast(db_session, q, reader, 0.5, NOW - DAY / 2)
    db_session.commit()
    auth.login("pager")

    def titles(url: str) -> tuple[set[str], str]:
        page = client.get(url).get_data(as_text=True)
        return set(re.findall(r"Mine \d{3}\?", page)), page

    unforecast, page = titles("/?mine=unforecast")
    assert unforecast == {f"Mine {i:03d}?" for i in range(1, LIST_PAGE_SIZE + 3, 2)}
    assert 'rel="next"' not in page
    everything, page = titles("/")
    assert len(everything) == LIST_PAGE_SIZE and 'rel="next"' in page


def test_submitted_forecasts_keep_the_crowd_rows_equal_to_a_rebuild(db_session, clock):
    q = make_question(db_session, "live-q", NOW - 10 * DAY, NOW + 10 * DAY)
    users = [make_user(db_session, f"s{i}") for i in range(5)]
    rng = np.random.default_rng(3)
    for step in range(12):
        clock.set(NOW + step * timedelta(hours=7))
        p = float(np.round(rng.uniform(0.05, 0.95), 2))
        submit_forecast(db_session, clock, q, users[step % 5], {"yes": p, "no": 1 - p})
    db_session.commit()

    def snapshot():
        days = [(d.day, d.probabilities, d.forecasters) for d in db_session.query(CrowdDay).order_by(CrowdDay.day)]
        standing = sorted((s.user_id, s.forecast_id) for s in db_session.query(StandingForecast))
        row = db_session.get(QuestionCrowd, q.id)
        return days, standing, row.probabilities, row.forecasters, row.last_forecast_id

    incremental = snapshot()
    rebuild_crowd(db_session, q)
    rebuilt = snapshot()
    assert incremental[1:] == rebuilt[1:] and len(incremental[0]) == len(rebuilt[0])
    for (day_a, probs_a, n_a), (day_b, probs_b, n_b) in zip(incremental[0], rebuilt[0], strict=True):
        assert day_a == day_b and n_a == n_b and probs_a == pytest.approx(probs_b, abs=1e-12)


def test_question_page_cost_does_not_grow_with_forecasts(crowd_public, app, client, db_session):
    """The page reads the maintained crowd rows and one page of forecasts: the same statements and
    no more rows whether the question has 30 forecasts or 600 (it used to recompute the crowd at
    every forecast moment and load every forecast)."""
    from sqlalchemy import event

    engine = app.extensions["tracker"].engine
    q = make_question(db_session, "grow-q", NOW - 30 * DAY, NOW - DAY, status="closed")
    users = [make_user(db_session, f"g{i}") for i in range(30)]
    fetched: list[int] = []

    def count(_conn, cursor, *_args):
        fetched.append(1)

    def grow(n, start):
        for i in range(start, start + n):
            add_forecast(db_session, q, users[i % 30], 0.3 + (i % 5) / 10, NOW - 29 * DAY + i * timedelta(minutes=50))
        db_session.commit()
        client.get("/q/grow-q")  # the first reader folds forecasts added behind the app's back in

    grow(30, 0)
    event.listen(engine, "after_cursor_execute", count)
    client.get("/q/grow-q")
    few = len(fetched)
    event.remove(engine, "after_cursor_execute", count)
    grow(570, 30)
    fetched.clear()
    event.listen(engine, "after_cursor_execute", count)
    page = client.get("/q/grow-q").get_data(as_text=True)
    event.remove(engine, "after_cursor_execute", count)
    assert len(fetched) == few
    assert page.count('class="nowrap"') <= EVERYONE_PAGE_SIZE + 1


def test_plot_rendered_once_per_change(crowd_public, client, db_session, monkeypatch):
    import tracker.web.questions as views

    calls: list[int] = []
    real = views.forecast_history_plot
    monkeypatch.setattr(views, "forecast_history_plot", lambda *a, **k: calls.append(1) or real(*a, **k))
    q = make_question(db_session, "plot-q", NOW - 10 * DAY, NOW + 10 * DAY)
    add_forecast(db_session, q, make_user(db_session, "pa"), 0.4, NOW - DAY)
    db_session.commit()
    for _ in range(3):
        assert "<svg" in client.get("/q/plot-q").get_data(as_text=True)
    assert len(calls) == 2  # once per change in each size (the page holds a full and a compact plot)
    add_forecast(db_session, q, make_user(db_session, "pb"), 0.6, NOW - DAY)
    db_session.commit()
    client.get("/q/plot-q")
    assert len(calls) == 4  # a new forecast is a change: drawn again


def test_concurrent_submissions_on_one_question_keep_the_crowd_exact(sessions, db_session, clock):
    """Two forecasters submit on one question at once (real PostgreSQL, two transactions): the
    second waits for the question's lock inside its first statement, whose snapshot predates the
    first's commit; the crowd rows must still count both forecasts (equal to a rebuild)."""
    import threading
    import time

    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers before the transaction begins")
    q = make_question(db_session, "race-q", NOW - 10 * DAY, NOW + 10 * DAY)
    users = [make_user(db_session, f"r{i}") for i in range(5)]
    for user, p in zip(users[:3], (0.2, 0.3, 0.4), strict=True):
        submit_forecast(db_session, clock, q, user, {"yes": p, "no": 1 - p})
    db_session.commit()

    first, second = sessions(), sessions()
    q1, q2 = (s.get(type(q), q.id) for s in (first, second))
    submit_forecast(first, clock, q1, first.get(type(users[3]), users[3].id), {"yes": 0.9, "no": 0.1})
    errors: list[BaseException] = []

    def late() -> None:
        try:
            submit_forecast(second, clock, q2, second.get(type(users[4]), users[4].id), {"yes": 0.8, "no": 0.2})
            second.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    waiter = threading.Thread(target=late)
    waiter.start()
    time.sleep(1.0)  # the second submission is now waiting for the lock the first holds
    assert waiter.is_alive()
    first.commit()
    waiter.join(timeout=30)
    first.close()
    second.close()
    assert not errors, errors
    db_session.expire_all()
    row = db_session.get(QuestionCrowd, q.id)
    assert row.forecasters == 5 and row.probabilities[0] == pytest.approx(0.4)  # median of .2 .3 .4 .8 .9
    incremental = (row.last_forecast_id, row.forecasts, list(row.probabilities))
    rebuilt = rebuild_crowd(db_session, q)
    assert incremental == (rebuilt.last_forecast_id, rebuilt.forecasts, pytest.approx(list(rebuilt.probabilities)))


def test_an_import_that_commits_after_a_web_forecast_is_still_in_the_crowd(sessions, db_session, clock):
    """PostgreSQL: an import draws its forecast ids when it stages the file; a web forecast on the
    same question that commits before the import does gets a higher id and brought the crowd's
    ``last_forecast_id`` up to ``max(forecasts.id)``, so the imported forecasts never reached the
    crowd. The import now marks its questions' crowds stale under their locks before it commits."""
    import threading
    import time

    from tracker.domain.csv_import import check_forecasts, write_forecasts

    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite imports commit in batches whose ids follow any web forecast's")
    q = make_question(db_session, "import-race-q", NOW - 10 * DAY, NOW + 10 * DAY)
    web_users = [make_user(db_session, f"w{i}") for i in range(3)]
    for user, p in zip(web_users[:2], (0.2, 0.3), strict=True):
        submit_forecast(db_session, clock, q, user, {"yes": p, "no": 1 - p})
    db_session.commit()
    lines = ["question,forecaster,forecast_at,option,probability\n"] + [
        f"import-race-q,imp{i},{(NOW - 5 * DAY + i * timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')},yes,0.9\n"
        for i in range(3)]

    importer = sessions()
    checked = check_forecasts(importer, clock, lines)
    write_forecasts(importer, clock, checked)  # staged and moved, not committed
    errors: list[BaseException] = []

    def web() -> None:
        with sessions() as s:
            try:
                submit_forecast(s, clock, s.get(type(q), q.id), s.get(type(web_users[2]), web_users[2].id),
                                {"yes": 0.4, "no": 0.6})
                s.commit()
            except BaseException as exc:  # reported below
                errors.append(exc)

    submitter = threading.Thread(target=web)
    submitter.start()
    time.sleep(1.0)  # the web forecast waits for the question's lock the import holds
    importer.commit()
    importer.close()
    submitter.join(timeout=30)
    assert not errors, errors
    db_session.expire_all()
    from tracker.domain.crowd_upkeep import refresh_stale

    row = refresh_stale(db_session, [q])[q.id]
    assert row.forecasters == 6 and row.forecasts == 6  # 3 web forecasters + 3 imported
    assert row.probabilities[0] == pytest.approx(0.65)  # median of .2 .3 .4 .9 .9 .9
    rebuilt = rebuild_crowd(db_session, q)
    assert (row.last_forecast_id, row.forecasts) == (rebuilt.last_forecast_id, rebuilt.forecasts)
