"""A real server process and a real Chromium for the browser tests.

The live server always uses its own temporary SQLite file, even when the rest of the suite runs on
PostgreSQL: the other tests empty the suite's tables between tests, which would pull the data from
under a server running beside them.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import free_port
from tests.factories import add_forecast, make_question, make_user
from tracker.db import make_engine, make_session_factory, transaction
from tracker.models import QuestionScore, ResolutionEvent, Score

ROOT = Path(__file__).resolve().parents[2]


def register(page: Page, base: str, prefix: str = "br") -> str:
    """Register a fresh forecaster through the real form and return the username."""
    username = f"{prefix}{uuid.uuid4().hex[:8]}"
    page.goto(base + "/auth/register")
    page.fill("#username", username)
    page.fill("#password", "correct horse battery")
    page.fill("#confirm", "correct horse battery")
    page.click("form button[type=submit]")
    expect(page.locator("header.site")).to_contain_text(username)
    return username
CHROMIUM = os.environ.get("TRACKER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass
class LiveServer:
    url: str
    database_url: str


@contextmanager
def serve_process(env: dict[str, str], folder: Path, wait_path: str = "/") -> Iterator[str]:
    """Run ``tracker serve`` (no scheduler, one worker) as a real process; yield its base URL."""
    port = free_port()
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker", "serve", "--no-scheduler", "--port", str(port), "--workers", "1"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + wait_path, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def seed(database_url: str) -> None:
    """Questions around the real current time (the server runs on the wall clock)."""
    now = datetime.now(UTC).replace(microsecond=0)
    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as session:
        others = [make_user(session, name) for name in ("ana", "ben", "chloe")]
        binary = make_question(session, "browser-binary", now - timedelta(days=20), now + timedelta(days=40),
                               tags=["test", "diplomacy"],
                               title="Will the two presidents meet in person before the end of next year?")
        binary.background = "Summits are **rare**; the last one took months of preparation."
        binary.source_quote = "Most agree that the Kremlin seems determined to disrupt European unity"
        binary.source_passage = "paragraph 12"
        for user, days, p in ((others[0], 18, 0.3), (others[1], 12, 0.45), (others[2], 5, 0.6), (others[0], 2, 0.4)):
            add_forecast(session, binary, user, p, now - timedelta(days=days))
        mc = make_question(session, "browser-mc", now - timedelta(days=10), now + timedelta(days=5),
                           kind="multiple_choice", options=["rn", "centre", "left"], tags=["test", "elections"],
                           title="Which camp will win the next presidential election?")
        for option, label in zip(mc.options, ("Rassemblement National", "Macron's camp", "The left"), strict=True):
            option.label = label
        add_forecast(session, mc, others[1], [0.5, 0.3, 0.2], now - timedelta(days=8))
        add_forecast(session, mc, others[2], [0.4, 0.4, 0.2], now - timedelta(days=3))
        # A resolved question with stored scores (fixed numbers: this is display data, not scoring).
        done = make_question(session, "browser-resolved", now - timedelta(days=60), now - timedelta(days=10),
                             status="resolved", tags=["test"], title="Did the summit happen last month?")
        add_forecast(session, done, others[0], 0.8, now - timedelta(days=50), rationale="Announced already.")
        add_forecast(session, done, others[1], 0.4, now - timedelta(days=40))
        event = ResolutionEvent(question_id=done.id, action="resolve", outcome_option_id=done.options[0].id,
                                note="Reported by Reuters.", actor_name="admin", created_at=now - timedelta(days=9))
        session.add(event)
        session.flush()
        session.add(QuestionScore(question_id=done.id, resolution_event_id=event.id, window_days=51, forecasters=2,
                                  crowd_brier=0.18, crowd_log_score=-0.36, computed_at=now))
        session.add(Score(question_id=done.id, user_id=others[0].id, resolution_event_id=event.id, forecasts=1,
                          first_forecast_at=now - timedelta(days=50), last_forecast_at=now - timedelta(days=50),
                          active_days=41, brier=0.08, relative_brier=-0.1, log_score=-0.22, baseline=68.0,
                          coverage=0.8, computed_at=now))  # bin sums NULL: not yet eligible
    engine.dispose()


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer at {url} within {timeout} s")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """``tracker serve`` (gunicorn, no scheduler) on a free port over a seeded SQLite file."""
    folder = tmp_path_factory.mktemp("live")
    database_url = f"sqlite:///{folder / 'live.sqlite3'}"
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_SECRET_KEY": "browser-test-secret",
        "TRACKER_INSTANCE": str(folder),
        "TRACKER_ENV": "test",
        # These tests are about layout, the CSP and accessibility, so every crowd is shown (issue 14's
        # privacy rule is tested in tests/integration/test_crowd_pages.py).
        "TRACKER_CROWD_MIN_FORECASTERS": "0",
        "TRACKER_CROWD_AFTER_OWN_FORECAST": "0",
    }
    subprocess.run([sys.executable, "-m", "tracker", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    seed(database_url)
    with serve_process(env, folder) as url:
        yield LiveServer(url=url, database_url=database_url)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def is_csp_violation(text: str) -> bool:
    """Chromium's console message for anything the Content-Security-Policy blocked."""
    return "Content Security Policy" in text or "Refused to" in text


@pytest.fixture
def page(browser):
    """A page that fails the test on any CSP violation reported in the console (issue 10: the
    browser tests run with the CSP on)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if is_csp_violation(message.text) else None)
    page.csp_violations = violations  # type: ignore[attr-defined]
    yield page
    context.close()
    assert not violations, f"Content-Security-Policy violations: {violations}"
