"""Issue 13 item 5 in a real browser over a real fresh install (``make run``'s steps as processes):
the bank's history is one backlog summary in the inbox, and the queue and the inbox show the same
reminder number for the same prompt."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, serve_process

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
SLUG = "french-presidential-winner-2017"  # a bank question that closed in 2017


def tracker(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tracker", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_inbox_and_queue_show_the_same_number(tmp_path, page):
    env = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
           "TRACKER_SECRET_KEY": "browser-test-secret", "TRACKER_INSTANCE": str(tmp_path), "TRACKER_ENV": "test"}
    env.pop("TRACKER_FAKE_NOW", None)
    tracker(env, "db", "upgrade")
    tracker(env, "questions", "load", str(ROOT / "questions"))
    tracker(env, "users", "create-admin", "boss", "--password", PASSWORD)
    tracker(env, "scheduler", "--once")  # the fresh install's first sweep: the backlog summary
    later = (datetime.now(UTC) + timedelta(days=8)).isoformat()
    tracker({**env, "TRACKER_FAKE_NOW": later}, "scheduler", "--once")  # a week on: reminder 2 each

    with serve_process(env, tmp_path) as url:
        page.goto(url + "/auth/login")
        page.fill("#username", "boss")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(url + "/admin/inbox")
        summaries = page.locator("li.prompt", has_text="backlog summary")
        expect(summaries).to_have_count(1)
        expect(summaries.first).to_contain_text("tracker demo")
        mine = page.locator("li.prompt", has=page.locator(f'a[href="/admin/questions/{SLUG}/resolve"]')).filter(
            has_not_text="backlog summary")
        expect(mine).to_have_count(1)
        inbox_label = mine.locator(".prompt-label").inner_text()
        page.goto(url + "/admin/")
        row = page.locator("tr", has=page.locator(f"code:text-is('{SLUG}')"))
        queue_label = row.locator(".prompt-label").inner_text()
        assert inbox_label == queue_label == "reminder 2"
