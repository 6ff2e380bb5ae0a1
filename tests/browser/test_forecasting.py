"""A forecaster's path through the site in a real Chromium against a real server process."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import register

pytestmark = pytest.mark.browser


def test_binary_forecast_and_update(live_server, page: Page, artifacts_dir):
    base = live_server.url
    page.goto(base + "/")
    expect(page.locator("table.question-list")).to_contain_text("Will the two presidents meet")
    page.screenshot(path=str(artifacts_dir / "web-question-list.png"), full_page=True)

    register(page, base, "fc")
    page.goto(base + "/q/browser-binary")
    expect(page.locator(".criteria")).to_contain_text("Resolves yes")
    # The slider and the number stay in sync (JavaScript comfort on top of a plain form).
    slider = page.locator("input.pct-slider")
    expect(slider).to_be_visible()
    page.fill("#p0", "70")
    page.locator("#p0").dispatch_event("input")
    expect(slider).to_have_value("70")
    page.fill("#rationale", "Both sides have signalled interest.")
    page.click("#forecast-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Forecast saved: 70% yes")

    # Update through the slider this time.
    slider.fill("55")
    expect(page.locator("#p0")).to_have_value("55")
    page.click("#forecast-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Forecast saved: 55% yes")

    rows = page.locator("#my-forecasts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("55.0%")  # newest first
    expect(rows.nth(1)).to_contain_text("70.0%")
    expect(rows.nth(1)).to_contain_text("Both sides have signalled interest.")
    plot = page.locator("#history figure.plot .plot-wide svg")
    expect(plot).to_have_count(1)
    expect(plot).to_have_attribute("aria-label", re.compile("Crowd forecast"))
    expect(page.locator("#history figcaption")).to_contain_text("Your 2 forecasts")
    # Others' individual forecasts stay hidden while the question is open.
    expect(page.locator("#all-forecasts")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "web-binary-question.png"), full_page=True)


def test_multiple_choice_total_must_be_100(live_server, page: Page, artifacts_dir):
    base = live_server.url
    register(page, base, "fc")
    page.goto(base + "/q/browser-mc")
    total = page.locator("#mc-total")
    page.fill("#p0", "50")
    page.fill("#p1", "30")
    page.fill("#p2", "10")
    expect(total).to_contain_text("Total: 90%")
    expect(total).to_contain_text("10% left to assign")
    expect(total).to_have_class(re.compile(r"\bbad\b"))
    page.screenshot(path=str(artifacts_dir / "web-mc-total-off.png"), full_page=True)

    # Submitted anyway: the server refuses with a message naming the total, and keeps the numbers.
    page.click("#forecast-form button[type=submit]")
    expect(page.locator("#total-error")).to_have_text("The percentages add up to 90%; they must add up to 100%.")
    expect(page.locator("#p0")).to_have_value("50")
    expect(page.locator("#my-forecasts")).to_have_count(0)

    # Normalise rescales to 100 and the total turns green.
    page.click("#normalise")
    expect(total).to_contain_text("Total: 100%")
    expect(total).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#p0")).to_have_value("55.6")
    page.fill("#p0", "60")
    page.fill("#p1", "30")
    page.fill("#p2", "10")
    expect(total).to_contain_text("Total: 100%")
    page.click("#forecast-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Forecast saved")
    expect(page.locator("#my-forecasts tbody tr")).to_have_count(1)
    expect(page.locator("#history figure.plot .plot-wide svg")).to_have_count(1)
    page.screenshot(path=str(artifacts_dir / "web-mc-question.png"), full_page=True)


def test_works_without_javascript(live_server, browser, artifacts_dir):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        register(page, live_server.url, "fc")
        page.goto(live_server.url + "/q/browser-binary")
        expect(page.locator("input.pct-slider")).to_be_hidden()
        page.fill("#p0", "150")
        page.click("#forecast-form button[type=submit]")
        expect(page.locator("#p0-error")).to_contain_text("outside the allowed range 1%–99%")
        page.fill("#p0", "35")
        page.click("#forecast-form button[type=submit]")
        expect(page.locator("#my-forecasts tbody tr")).to_have_count(1)
    finally:
        context.close()


def test_resolved_question_shows_outcome_scores_and_everyone(live_server, page: Page, artifacts_dir):
    base = live_server.url
    page.goto(base + "/auth/login")
    page.fill("#username", "ana")
    page.fill("#password", "password123")
    page.click("form button[type=submit]")
    page.goto(base + "/q/browser-resolved")
    expect(page.locator("#forecast-form")).to_have_count(0)
    expect(page.locator(".outcome")).to_contain_text("Resolved: Yes")
    expect(page.locator(".scores")).to_contain_text("0.080")
    expect(page.locator(".scores")).to_contain_text("0.180")
    expect(page.locator("#all-forecasts tbody tr")).to_have_count(2)
    page.screenshot(path=str(artifacts_dir / "web-resolved-question.png"), full_page=True)


def test_account_forms_show_errors_and_work_on_a_phone(live_server, browser, artifacts_dir):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        base = live_server.url
        page.goto(base + "/auth/register")
        page.fill("#username", "ana")  # taken by the seed data
        page.fill("#password", "short")
        page.fill("#confirm", "other")
        page.click("form button[type=submit]")
        expect(page.locator(".field-error").first).to_be_visible()
        expect(page.locator("main")).to_contain_text("Passwords need at least 10 characters.")
        expect(page.locator("main")).to_contain_text("The two passwords do not match.")
        page.screenshot(path=str(artifacts_dir / "web-register-errors-phone.png"), full_page=True)

        page.goto(base + "/auth/login?next=//evil.example/")
        page.fill("#username", "ana")
        page.fill("#password", "wrong password")
        page.click("form button[type=submit]")
        expect(page.locator("#password-error")).to_have_text("Wrong username or password.")
        page.fill("#password", "password123")
        page.click("form button[type=submit]")
        expect(page).to_have_url(base + "/")  # the off-site next was ignored
        page.goto(base + "/q/browser-binary")
        expect(page.locator("#forecast-form")).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "web-binary-question-phone.png"), full_page=True)
    finally:
        context.close()
