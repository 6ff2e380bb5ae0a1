"""A built wheel (not the editable checkout) carries the templates, static files and migrations."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

CHECK = r"""
import sys, tracker
from pathlib import Path
assert Path(tracker.__file__).is_relative_to(Path(sys.argv[1])), tracker.__file__
from tracker import create_app
from tracker.config import Settings
from tracker.migrate import upgrade
url = "sqlite:///" + sys.argv[2]
upgrade(url)
app = create_app({"SETTINGS": Settings(database_url=url, secret_key="k")})
client = app.test_client()
page = client.get("/no-such-page")
assert page.status_code == 404 and b"<!doctype html>" in page.data, page.data[:200]
css = client.get("/static/tracker.css")
assert css.status_code == 200
for rule in app.url_map.iter_rules():
    if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static":
        r = client.get(rule.rule)
        assert r.status_code < 500, (rule.rule, r.status_code)
print("wheel ok")
"""


@pytest.mark.slow
def test_non_editable_wheel_serves_pages(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True, cwd=tmp_path,
    )
    wheel = next(dist.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "tracker/templates/base.html" in names
    assert "tracker/migrations/env.py" in names
    assert any(n.startswith("tracker/migrations/versions/0001") for n in names)
    assert "tracker/static/tracker.css" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["PYTHONPATH"] = str(target)
    env["TRACKER_INSTANCE"] = str(tmp_path / "instance")
    out = subprocess.run([sys.executable, "-c", CHECK, str(target), str(tmp_path / "w.sqlite3")],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "wheel ok" in out.stdout
