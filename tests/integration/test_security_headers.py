"""Issue 10, items 5, 6 and 7: security headers and no inline script or style, trusted hosts and the
proxy, and input that used to be accepted (non-ASCII digits, unnormalised totals, huge echoes)."""
from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import NOW, PASSWORD, add_forecast, make_question, make_user
from tracker import create_app
from tracker.config import Settings
from tracker.models import Forecast
from tracker.web.svg_csp import presentation_attributes

PAGES = ["/", "/q/open-mc", "/q/open-bin", "/scoreboard", "/forecasters/alice", "/auth/login", "/auth/register",
         "/auth/reset/", "/help/scoring", "/auth/account", "/admin/", "/admin/inbox", "/healthz", "/nope"]


@pytest.fixture
def scene(db_session):
    alice = make_user(db_session, "alice", role="admin")
    bob = make_user(db_session, "bob")
    mc = make_question(db_session, "open-mc", NOW - timedelta(days=5), NOW + timedelta(days=5),
                       kind="multiple_choice", options=["a", "b", "c"])
    binary = make_question(db_session, "open-bin", NOW - timedelta(days=5), NOW + timedelta(days=5))
    add_forecast(db_session, mc, bob, [0.2, 0.3, 0.5], NOW - timedelta(days=3))
    add_forecast(db_session, mc, alice, [0.4, 0.3, 0.3], NOW - timedelta(days=2))
    add_forecast(db_session, binary, bob, 0.7, NOW - timedelta(days=1))
    db_session.commit()
    return mc


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"<[a-z][^>]*\sstyle=", re.I), "style attribute"),
    (re.compile(r"<[a-z][^>]*\son[a-z]+=", re.I), "event-handler attribute"),
    (re.compile(r"(?:src|href)=[\"']?(?:https?:)?//", re.I), "third-party origin"),
]


def assert_no_inline_code(page: str, where: str) -> None:
    for pattern, what in INLINE:
        match = pattern.search(page)
        assert match is None, f"{where}: {what}: {page[max(0, match.start() - 80):match.end() + 80]!r}"


@pytest.mark.parametrize("as_admin", [False, True])
def test_every_page_has_the_headers_and_no_inline_code(client, auth, scene, as_admin):
    if as_admin:
        auth.login("alice")
    for path in PAGES:
        response = client.get(path)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "default-src 'self'" in csp and "object-src 'none'" in csp, path
        assert response.headers.get("X-Frame-Options") == "DENY", path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy") == "same-origin", path
        assert "Strict-Transport-Security" not in response.headers, "HSTS only in production"
        if response.mimetype == "text/html":
            assert_no_inline_code(response.get_data(as_text=True), path)


def test_hsts_in_production(settings, clock):
    settings.env = "production"
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    app.extensions["tracker"].engine.dispose()


def test_matplotlib_svg_keeps_its_look_without_inline_style():
    svg = ('<svg xmlns="x"><defs><style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}</style>'
           '</defs><path style="fill: #1f77b4; stroke-width: 1.5"/><text style="font-size: 10px; '
           "font-family: 'DejaVu Sans', sans-serif\">a style=&quot;x&quot; &lt;b&gt;</text></svg>")
    out = presentation_attributes(svg)
    assert out == ('<svg xmlns="x" stroke-linejoin="round" stroke-linecap="butt"><defs></defs>'
                   '<path fill="#1f77b4" stroke-width="1.5"/><text font-size="10px" '
                   "font-family=\"'DejaVu Sans', sans-serif\">a style=&quot;x&quot; &lt;b&gt;</text></svg>")


# --- item 6: trusted hosts and the proxy ----------------------------------------------------

@pytest.mark.parametrize("path", ["/admin", "/auth/account", "/"])
def test_a_forged_host_is_refused_not_redirected_to(client, path):
    response = client.get(path, headers={"Host": "evil.com"})
    assert response.status_code == 400
    assert "evil.com" not in (response.headers.get("Location") or "")


def test_accepted_hosts_come_from_the_base_url_and_the_setting(settings, clock):
    settings.base_url = "https://forecasts.example.org"
    settings.trusted_hosts = ("tracker.internal",)
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True})
    client = app.test_client()
    for host in ("forecasts.example.org", "tracker.internal", "127.0.0.1:8000", "localhost"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    for host in ("evil.com", "forecasts.example.org.evil.com", "evil.com:80"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 400, host
    app.extensions["tracker"].engine.dispose()
    env = {"TRACKER_SECRET_KEY": "k", "TRACKER_BASE_URL": "https://f.example.org", "TRACKER_TRUSTED_HOSTS": "a.b, c.d"}
    assert Settings.from_env(env).accepted_hosts()[:3] == ["f.example.org", "a.b", "c.d"]


def test_behind_a_proxy_the_forwarded_scheme_and_address_are_used(settings, clock):
    settings.proxy_hops = 1
    settings.base_url = "https://forecasts.example.org"
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True})
    response = app.test_client().get("/admin", headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "forecasts.example.org", "X-Forwarded-For": "203.0.113.9"})
    assert response.location.startswith("https://forecasts.example.org/admin/")
    forged = app.test_client().get("/admin", headers={"X-Forwarded-Host": "evil.com"})
    assert forged.status_code == 400
    app.extensions["tracker"].engine.dispose()
    assert Settings.from_env({"TRACKER_SECRET_KEY": "k", "TRACKER_PROXY_HOPS": "2"}).proxy_hops == 2


# --- item 7: input accepted that should not be -----------------------------------------------

@pytest.mark.parametrize("value", ["７０", "1_0", "٧٠", "70.5.1", "0x10", "1e1", "inf", "70%%", "²"])
def test_only_ascii_decimals_are_numbers(client, auth, scene, sessions, value):
    auth.login("bob")
    response = client.post("/q/open-bin", data={"p0": value})
    assert response.status_code == 400 and "is not a number" in response.get_data(as_text=True)
    with sessions() as s:
        assert len(s.scalars(select(Forecast)).all()) == 3


@pytest.mark.parametrize(("value", "stored"), [("70", 0.7), ("70,5", 0.705), ("70.5 %", 0.705), (" 12% ", 0.12)])
def test_ascii_decimals_with_point_comma_and_percent_are_read(client, auth, scene, sessions, value, stored):
    auth.login("bob")
    assert client.post("/q/open-bin", data={"p0": value}).status_code == 303
    with sessions() as s:
        latest = s.scalars(select(Forecast).order_by(Forecast.id.desc())).first()
        assert math.isclose(latest.probabilities[0].probability, stored)


def test_a_total_within_the_tolerance_is_stored_as_exactly_one(client, auth, scene, sessions, clock):
    auth.login("bob")
    response = client.post("/q/open-mc", data={"p0": "33.333350", "p1": "33.333350", "p2": "33.333350"})
    assert response.status_code == 303
    with sessions() as s:
        latest = s.scalars(select(Forecast).order_by(Forecast.id.desc())).first()
        values = [p.probability for p in latest.probabilities]
        assert math.fsum(values) == 1.0 and sum(values) == 1.0
    clock.advance(seconds=1)  # one forecaster's forecasts on a question are unique by time
    assert client.post("/q/open-mc", data={"p0": "20.00005", "p1": "30", "p2": "50"}).status_code == 303


@pytest.mark.parametrize("size", [400_000, 10_000_000])
def test_a_huge_field_is_never_echoed(client, auth, scene, size):
    auth.login("bob")
    junk = "9" * size
    response = client.post("/q/open-mc", data={"p0": junk, "p1": "30", "p2": "x" * size, "rationale": "r"})
    assert response.status_code in (400, 413)
    assert len(response.get_data()) < 60_000
    if response.status_code == 400:
        assert "is not a number" in response.get_data(as_text=True)


def test_login_with_factory_password_still_works(client, db_session):
    make_user(db_session, "carol")
    db_session.commit()
    assert client.post("/auth/login", data={"username": "carol", "password": PASSWORD}).status_code == 302
