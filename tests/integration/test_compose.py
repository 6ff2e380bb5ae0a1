"""docker-compose.yml only calls commands that exist (no Docker engine runs here, so check by reading)."""
from __future__ import annotations

import shlex

import yaml
from click.testing import CliRunner

from tests.conftest import ROOT
from tracker.cli import main as cli_main


def _commands() -> list[list[str]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found = []
    for service in compose["services"].values():
        command = service.get("command")
        if not command:
            continue
        if command[:2] == ["sh", "-c"]:
            found.extend(shlex.split(part) for part in command[2].split("&&"))
        else:
            found.append(command)
    return found


def test_compose_has_the_services_and_a_volume():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"postgres", "migrate", "web", "scheduler"} <= set(compose["services"])
    assert compose["services"]["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "pgdata" in compose["volumes"]


def test_every_tracker_command_in_compose_exists():
    commands = [c for c in _commands() if c[0] == "tracker"]
    assert {tuple(c[:2]) for c in commands} >= {("tracker", "scheduler"), ("tracker", "db")}
    runner = CliRunner()
    for command in commands:
        words = [w for w in command[1:] if not w.startswith("-")]
        # `--help` on the full path proves every subcommand in it is real.
        path = words[: 2 if words[0] in ("db", "questions") else 1]
        result = runner.invoke(cli_main, [*path, "--help"])
        assert result.exit_code == 0, (command, result.output)


def test_web_runs_gunicorn_on_the_wsgi_app():
    web = [c for c in _commands() if c[0] == "gunicorn"]
    assert web and web[0][-1] == "tracker.wsgi:app"
    import importlib.util

    assert importlib.util.find_spec("tracker.wsgi") is not None
