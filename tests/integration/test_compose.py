"""docker-compose.yml and the Dockerfile, checked by reading them (no Docker engine runs here): the
commands exist, the image layers and user, the healthcheck, no literal database password."""
from __future__ import annotations

import json
import re
import shlex

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy.engine import make_url

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


# The image and its healthcheck (file-level: no Docker engine here).

def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines
            if line and not line.startswith("#")]


def _image_healthcheck() -> list[str]:
    [args] = [args for instruction, args in _dockerfile() if instruction == "HEALTHCHECK"]
    return json.loads(args[args.index(" CMD ") + len(" CMD "):])


def test_the_image_installs_dependencies_before_the_code():
    steps = _dockerfile()
    copies = [(i, args) for i, (instruction, args) in enumerate(steps) if instruction == "COPY"]
    assert copies[0][1].split()[:-1] == ["pyproject.toml", "constraints.txt"]
    deps = next(i for i, (instruction, args) in enumerate(steps) if instruction == "RUN" and "-c constraints.txt" in args)
    code = next(i for i, args in copies if args.startswith("tracker "))
    project = next(i for i, (instruction, args) in enumerate(steps) if instruction == "RUN" and "--no-deps" in args)
    assert copies[0][0] < deps < code < project
    assert not any(".[" in args or " -e " in args for _, args in steps)


def test_the_image_runs_unbuffered_as_a_non_root_user():
    steps = _dockerfile()
    env = " ".join(args for instruction, args in steps if instruction == "ENV")
    assert "PYTHONUNBUFFERED=1" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    users = [args for instruction, args in steps if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert [i for i, _ in steps].index("USER") < [i for i, _ in steps].index("CMD")


def test_the_image_and_the_web_service_check_healthz():
    check = _image_healthcheck()
    assert check[:2] == ["python", "-c"] and "urllib.request" in check[2]
    assert "http://127.0.0.1:8000/healthz" in check[2]
    compose = _compose()
    web = compose["services"]["web"]
    assert web["healthcheck"]["test"] == ["CMD", *check]
    assert "0.0.0.0:8000" in web["command"]
    # The same image runs the migrations and the scheduler, which serve no HTTP.
    for name in ("migrate", "scheduler"):
        assert compose["services"][name]["healthcheck"] == {"disable": True}, name


def test_the_healthcheck_command_is_valid_python():
    compile(_image_healthcheck()[2], "<healthcheck>", "exec")


PASSWORD_REF = re.compile(r"^\$\{POSTGRES_PASSWORD(:\?[^}]+)?\}$")


def _interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:?message}`` and ``${VAR:-default}`` (enough for this file)."""
    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if environ.get(name):
            return environ[name]
        assert op != ":?", f"{name} is required: {arg}"
        return arg or ""
    return re.sub(r"\$\{(\w+)(?:(:\?|:-)([^}]*))?\}", one, value)


def test_the_postgres_password_comes_from_the_environment():
    compose = _compose()
    postgres = compose["services"]["postgres"]["environment"]
    assert PASSWORD_REF.match(postgres["POSTGRES_PASSWORD"]), postgres["POSTGRES_PASSWORD"]
    # No literal password anywhere: every *PASSWORD* variable is a reference.
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${"), (name, key)
    urls = {name: service["environment"]["TRACKER_DATABASE_URL"]
            for name, service in compose["services"].items()
            if "TRACKER_DATABASE_URL" in (service.get("environment") or {})}
    assert set(urls) == {"migrate", "web", "scheduler"}
    secret = "s3cret0123456789abcdef"
    for name, url in urls.items():
        password = re.fullmatch(r"postgresql://[^:@/]+:([^@]+)@.+", url)
        assert password and PASSWORD_REF.match(password.group(1)), (name, url)
        parsed = make_url(_interpolate(url, {"POSTGRES_PASSWORD": secret}))
        assert parsed.password == secret, name
        assert parsed.username == postgres["POSTGRES_USER"] and parsed.database == postgres["POSTGRES_DB"]
        assert parsed.host == "postgres" and parsed.host in compose["services"]
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD is required"):
        _interpolate(postgres["POSTGRES_PASSWORD"], {})
    assert "tracker:tracker@" not in (ROOT / "docker-compose.yml").read_text()
