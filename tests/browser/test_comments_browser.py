"""Issue 13, item 13 in a real Chromium against a real server: a forecaster posts a comment and sees
it rendered (Markdown, script removed); an admin hides it with a reason."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import register
from tests.factories import make_user
from tracker.db import make_engine, make_session_factory, transaction

pytestmark = pytest.mark.browser


def test_post_a_comment_then_an_admin_hides_it(live_server, page: Page, browser, artifacts_dir):
    base = live_server.url
    admin = f"adm{uuid.uuid4().hex[:8]}"
    engine = make_engine(live_server.database_url)
    with transaction(make_session_factory(engine)) as session:
        make_user(session, admin, role="admin")
    engine.dispose()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    author = register(page, base, "cm")
    page.goto(base + "/q/browser-binary")
    marker = uuid.uuid4().hex[:8]
    page.fill("#body", f"Summit talk {marker} is **serious** now. <script>alert('x')</script>"
                       f"<img src=x onerror=\"alert('y')\">")
    page.click("#comment-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Comment posted.")
    comment = page.locator("li.comment", has_text=marker)
    expect(comment).to_have_count(1)
    expect(comment.locator(".comment-body strong")).to_have_text("serious")
    expect(comment.locator(".comment-meta")).to_contain_text(author)
    expect(comment.locator("script, img")).to_have_count(0)
    assert dialogs == []  # nothing the comment held ran
    expect(comment.locator("form.hide-comment-form")).to_have_count(0)  # forecasters cannot hide
    page.screenshot(path=str(artifacts_dir / "web-comment-posted.png"), full_page=True)

    # An admin, in a browser of their own, hides it with a reason.
    admin_page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    try:
        admin_page.goto(base + "/auth/login")
        admin_page.fill("#username", admin)
        admin_page.fill("#password", "password123")
        admin_page.click("form button[type=submit]")
        expect(admin_page.locator("header.site")).to_contain_text(admin)
        admin_page.goto(base + "/q/browser-binary")
        target = admin_page.locator("li.comment", has_text=marker)
        hide = target.locator("form.hide-comment-form")
        # The reason is required: the browser does not send the form without one.
        hide.locator("button[type=submit]").click()
        expect(target.locator(".comment-body strong")).to_have_text("serious")
        hide.locator("input[name=reason]").fill("Off topic for this question.")
        hide.locator("button[type=submit]").click()
        expect(admin_page.locator(".flash-success")).to_contain_text("is hidden")
        hidden = admin_page.locator("li.comment.comment-hidden", has_text="Off topic for this question.")
        expect(hidden.locator(".comment-hidden-note")).to_have_text("Hidden by an admin: Off topic for this question.")
        expect(hidden.locator("details.comment-hidden-text")).to_contain_text(marker)  # admins can still read it
        admin_page.screenshot(path=str(artifacts_dir / "web-comment-hidden-admin.png"), full_page=True)
    finally:
        admin_page.context.close()

    # Everyone else sees the reason, not the text.
    page.reload()
    expect(page.locator(".comment-hidden-note", has_text="Off topic for this question.")).to_have_count(1)
    expect(page.locator("#comments")).not_to_contain_text(marker)
