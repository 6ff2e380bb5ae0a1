"""Notifications in a real Chromium: a forecaster sets an address and turns the digest email off on
the account page, the scheduler's sweep records the week's digest (in the app only, as chosen), and
the notifications page shows it with the unread count in the header until it is marked read."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import register
from tracker.app_state import build_state
from tracker.config import Settings
from tracker.scheduler import run_notifications

pytestmark = pytest.mark.browser


def test_preferences_on_the_account_page_and_a_notification_on_its_page(live_server, page):
    base = live_server.url
    username = register(page, base, "nt")
    page.goto(base + "/auth/account")
    page.fill("#email", f"{username}@example.org")
    page.get_by_role("button", name="Save email").click()
    expect(page.locator(".flash")).to_contain_text("email address was saved")
    digest = page.get_by_label("The weekly digest: questions closing soon, resolved and new")
    expect(digest).to_be_checked()
    digest.uncheck()
    page.get_by_role("button", name="Save notification emails").click()
    expect(page.locator(".flash")).to_contain_text("notification emails were saved")
    expect(page.get_by_label("The weekly digest: questions closing soon, resolved and new")).not_to_be_checked()
    expect(page.get_by_label("A question I forecast is resolved (with my score)")).to_be_checked()

    # The scheduler's job, on the server's database and the wall clock (the server's clock too):
    # the seeded multiple-choice question closes within a week, so this week's digest is due.
    state = build_state(Settings(env="test", database_url=live_server.database_url, secret_key="browser-test-secret"))
    try:
        run_notifications(state)
    finally:
        state.engine.dispose()

    page.goto(base + "/auth/account")
    link = page.locator("header.site a.nav-notifications")
    expect(link).to_contain_text("1")
    link.click()
    item = page.locator("ul.notifications li").first
    expect(item).to_contain_text("Your weekly digest")
    expect(item).to_contain_text("Which camp will win the next presidential election?")
    expect(item).to_contain_text("email for this kind is turned off")  # the choice made above
    item.get_by_role("button", name="Mark as read").click()
    expect(page.locator("header.site a.nav-notifications .badge")).to_have_count(0)
    expect(page.locator("ul.notifications li").first).not_to_contain_text("Mark as read")
