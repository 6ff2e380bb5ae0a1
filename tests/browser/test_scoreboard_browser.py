"""Scoreboard, profile and CSV download in a real Chromium against a real server over the demo."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ROOT, LiveServer, serve_process

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """``tracker demo`` into a fresh SQLite file, then ``tracker serve`` over it."""
    folder = tmp_path_factory.mktemp("demo-live")
    database_url = f"sqlite:///{folder / 'demo.sqlite3'}"
    env = {**os.environ, "TRACKER_DATABASE_URL": database_url, "TRACKER_SECRET_KEY": "browser-demo-secret",
           "TRACKER_INSTANCE": str(folder), "TRACKER_ENV": "test"}
    for args in (["db", "upgrade"], ["demo"]):
        subprocess.run([sys.executable, "-m", "tracker", *args], env=env, cwd=ROOT, check=True, capture_output=True)
    with serve_process(env, folder, wait_path="/scoreboard") as url:
        yield LiveServer(url=url, database_url=database_url), env


def test_scoreboard_page_and_csv_download_equals_cli(demo_server, page: Page, artifacts_dir, tmp_path):
    server, env = demo_server
    page.goto(server.url + "/scoreboard")
    table = page.locator("table.scoreboard")
    expect(table).to_be_visible()
    assert page.locator("table.scoreboard tbody tr").count() == 36
    expect(page.locator("dl.definitions")).to_contain_text("Relative Brier")
    page.screenshot(path=str(artifacts_dir / "scoreboard.png"), full_page=True)

    # Filter by a tag through the form, then download that board.
    page.select_option("#sb-tag", "europe")
    page.click("form.scoreboard-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"tag=europe"))
    with page.expect_download() as info:
        page.click("#scoreboard-csv")
    downloaded = tmp_path / "download.csv"
    info.value.save_as(downloaded)

    exported = tmp_path / "cli.csv"
    subprocess.run([sys.executable, "-m", "tracker", "export", "scoreboard", "--tag", "europe", "-o", str(exported)],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    assert downloaded.read_bytes() == exported.read_bytes()
    assert downloaded.read_bytes().startswith(b"rank,forecaster,questions,forecasts,mean_brier,")
    assert downloaded.read_bytes().count(b"\n") > 10


def test_profile_page_shows_plots_and_tables(demo_server, page: Page, artifacts_dir):
    server, _env = demo_server
    page.goto(server.url + "/scoreboard")
    first = page.locator("table.scoreboard tbody tr").first.locator("a").first
    name = first.inner_text()
    first.click()
    expect(page.locator("h1")).to_contain_text(name)
    calibration = page.locator("figure.calibration svg[role=img]")
    expect(calibration).to_be_visible()
    assert calibration.bounding_box()["width"] > 200
    expect(page.locator("figure.history svg[role=img]")).to_be_visible()
    expect(page.locator("#calibration-bins tbody tr")).to_have_count(11)
    expect(page.locator("dl.murphy")).to_contain_text("Reliability")
    assert page.locator("#profile-questions tbody tr").count() >= 5
    page.screenshot(path=str(artifacts_dir / "profile.png"), full_page=True)
