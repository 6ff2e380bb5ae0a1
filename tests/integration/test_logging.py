"""Logging: TRACKER_LOG_LEVEL, one dictConfig per process from its entry point, never on import."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker import logs
from tracker.cli.context import CliContext
from tracker.config import ConfigError, Settings


def test_log_level_setting(tmp_path):
    base = {"TRACKER_SECRET_KEY": "k", "TRACKER_INSTANCE": str(tmp_path)}
    assert Settings.from_env(base).log_level == "INFO"
    assert Settings().log_level == "INFO"
    assert Settings.from_env({**base, "TRACKER_LOG_LEVEL": " debug "}).log_level == "DEBUG"
    with pytest.raises(ConfigError, match="TRACKER_LOG_LEVEL must be one of DEBUG, INFO, WARNING"):
        Settings.from_env({**base, "TRACKER_LOG_LEVEL": "verbose"})


def test_logging_config_keeps_other_loggers_and_quietens_apscheduler():
    config = logs.logging_config("INFO")
    assert config["version"] == 1 and config["disable_existing_loggers"] is False
    assert config["root"] == {"level": "INFO", "handlers": ["stderr"]}
    assert config["loggers"]["apscheduler"]["level"] == "WARNING"
    assert logs.logging_config("debug")["loggers"]["apscheduler"]["level"] == "DEBUG"
    assert logs.logging_config("ERROR")["loggers"]["apscheduler"]["level"] == "ERROR"
    with pytest.raises(ValueError, match="unknown log level"):
        logs.logging_config("LOUD")


@pytest.fixture
def restore_logging(monkeypatch) -> Iterator[None]:
    """Undo what configure_logging does to this (the test) process."""
    root, aps = logging.getLogger(), logging.getLogger("apscheduler")
    saved = (root.level, list(root.handlers), aps.level)
    monkeypatch.setattr(logs, "_configured", False)
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in saved[1]:
                root.removeHandler(handler)
                handler.close()
        for handler in saved[1]:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved[0])
        aps.setLevel(saved[2])


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_once(capsys):
    assert logs.configure_logging("WARNING") is True
    assert logging.getLogger().level == logging.WARNING
    logging.getLogger("tracker.test").warning("hello %s", "there")
    logging.getLogger("tracker.test").info("not shown")
    err = capsys.readouterr().err
    assert "tracker.test WARNING hello there" in err and "not shown" not in err
    # Later calls change nothing unless forced.
    assert logs.configure_logging("DEBUG") is False
    assert logging.getLogger().level == logging.WARNING
    assert logs.configure_logging("DEBUG", force=True) is True
    assert logging.getLogger().level == logging.DEBUG


def test_cli_configures_logging_when_it_reads_the_environment(monkeypatch, tmp_path):
    calls: list[str] = []
    monkeypatch.setattr("tracker.cli.context.configure_logging", calls.append)
    monkeypatch.setenv("TRACKER_INSTANCE", str(tmp_path))
    monkeypatch.setenv("TRACKER_LOG_LEVEL", "error")
    assert CliContext().settings.log_level == "ERROR"
    assert calls == ["ERROR"]
    # Settings handed in (as the test suite does) leave logging alone.
    assert CliContext(settings=Settings(secret_key="k")).settings.log_level == "INFO"
    assert calls == ["ERROR"]


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    clean.update({"TRACKER_INSTANCE": str(tmp_path), "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                  **env})
    return subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)


def test_nothing_configures_logging_on_import_or_in_create_app(tmp_path):
    code = (
        "import logging\n"
        "import tracker, tracker.cli, tracker.scheduler, tracker.logs, tracker.web.health\n"
        "from tracker import create_app\n"
        "create_app({'TESTING': True})\n"
        "root = logging.getLogger()\n"
        "print(root.level, len(root.handlers))\n"
    )
    result = run_python(code, tmp_path, TRACKER_LOG_LEVEL="DEBUG")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(logging.WARNING), "0"]


def test_the_wsgi_entry_point_configures_logging(tmp_path):
    code = (
        "import logging\n"
        "import tracker.wsgi\n"
        "root = logging.getLogger()\n"
        "print(root.level, len(root.handlers), logging.getLogger('apscheduler').level)\n"
        "logging.getLogger('tracker.probe').error('probe message')\n"
    )
    result = run_python(code, tmp_path, TRACKER_LOG_LEVEL="error")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(logging.ERROR), "1", str(logging.ERROR)]
    assert "tracker.probe ERROR probe message" in result.stderr


def test_a_bad_log_level_stops_the_command_line(tmp_path):
    result = run_python("from tracker.cli import main; main(['scheduler', '--once'])", tmp_path,
                        TRACKER_LOG_LEVEL="chatty")
    assert result.returncode == 1
    assert "TRACKER_LOG_LEVEL must be one of" in result.stderr
