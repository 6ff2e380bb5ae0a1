"""The app factory and configuration."""
from __future__ import annotations

import pytest

from tracker import create_app
from tracker.config import ConfigError, Settings


def test_config_from_env_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_INSTANCE", str(tmp_path))
    settings = Settings.from_env({"TRACKER_INSTANCE": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'tracker.sqlite3'}"
    # The local secret is generated once and then reused.
    again = Settings.from_env({"TRACKER_INSTANCE": str(tmp_path)})
    assert settings.secret_key == again.secret_key and len(settings.secret_key) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_requires_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_INSTANCE", str(tmp_path))
    with pytest.raises(ConfigError, match="TRACKER_SECRET_KEY is required"):
        Settings.from_env({"TRACKER_ENV": "production"})
    assert not (tmp_path / "secret_key").exists()
    ok = Settings.from_env({"TRACKER_ENV": "production", "TRACKER_SECRET_KEY": "x" * 40})
    assert ok.secret_key == "x" * 40


def test_bad_numbers_are_refused():
    with pytest.raises(ConfigError, match="TRACKER_FORECAST_MIN"):
        Settings.from_env({"TRACKER_SECRET_KEY": "k", "TRACKER_FORECAST_MIN": "0.9", "TRACKER_FORECAST_MAX": "0.1"})


def test_create_app_does_not_touch_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    create_app({"SETTINGS": Settings(database_url=url, secret_key="k")})
    # No tables were created: migrations are their own step.
    assert not (tmp_path / "empty.sqlite3").exists() or (tmp_path / "empty.sqlite3").stat().st_size == 0


def test_unknown_page_is_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"404" in response.data
