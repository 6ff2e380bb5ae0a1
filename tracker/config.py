"""Settings from ``TRACKER_*`` environment variables.

The local default needs no configuration at all: a SQLite file and a secret key that is generated
once and kept in ``instance/``. Production (``TRACKER_ENV=production``) refuses to start without an
explicit secret rather than falling back to a constant.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(RuntimeError):
    """Raised when the configuration cannot be used; the message says what to set."""


def instance_dir() -> Path:
    """The folder for local state (SQLite file, generated secret): ``TRACKER_INSTANCE`` or ./instance."""
    return Path(os.environ.get("TRACKER_INSTANCE", "instance")).resolve()


def _default_database_url() -> str:
    return f"sqlite:///{instance_dir() / 'tracker.sqlite3'}"


def _local_secret_key() -> str:
    """Read the generated key from instance/, creating it on first use (mode 0600)."""
    path = instance_dir() / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Settings:
    """Everything the app, the CLI and the scheduler read from the environment."""

    env: str = "development"
    database_url: str = field(default_factory=_default_database_url)
    secret_key: str = ""
    smtp_url: str | None = None
    mail_from: str = "tracker@localhost"
    prompt_every_days: int = 7
    forecast_min: float = 0.01
    forecast_max: float = 0.99
    base_url: str = "http://127.0.0.1:5000"
    scheduler_interval_seconds: int = 30
    log_level: str = "INFO"
    #: Lifetime of the "keep me logged in" cookie.
    remember_days: int = 30
    #: Flask-Limiter on login, registration, password change and reset; off only for load tests.
    ratelimit_enabled: bool = True
    #: None keeps the counters in memory (one process); ``redis://host:port/db`` shares them.
    ratelimit_storage_url: str | None = None
    #: Host names accepted in the Host header besides TRACKER_BASE_URL's and loopback.
    trusted_hosts: tuple[str, ...] = ()
    #: Number of reverse proxies in front of the app whose X-Forwarded-* headers are believed.
    proxy_hops: int = 0
    #: How long a password-reset link works.
    reset_link_hours: int = 2
    #: Requests per API token (or per address without one) on /api/v1.
    api_rate_limit: str = "300 per minute"
    crowd_min_forecasters: int = 3
    crowd_after_own_forecast: bool = True

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``TRACKER_*`` variables, failing fast on unusable values."""
        env = dict(os.environ if environ is None else environ)
        tracker_env = env.get("TRACKER_ENV", "development")
        secret = env.get("TRACKER_SECRET_KEY", "")
        if not secret:
            if tracker_env == "production":
                raise ConfigError(
                    "TRACKER_SECRET_KEY is required when TRACKER_ENV=production "
                    "(generate one with: python -c 'import secrets; print(secrets.token_hex(32))')"
                )
            secret = _local_secret_key()
        try:
            prompt_every = int(env.get("TRACKER_PROMPT_EVERY_DAYS", "7"))
            fmin = float(env.get("TRACKER_FORECAST_MIN", "0.01"))
            fmax = float(env.get("TRACKER_FORECAST_MAX", "0.99"))
            interval = int(env.get("TRACKER_SCHEDULER_INTERVAL", "30"))
            remember_days = int(env.get("TRACKER_REMEMBER_DAYS") or "30")
            proxy_hops = int(env.get("TRACKER_PROXY_HOPS") or "0")
            reset_hours = int(env.get("TRACKER_RESET_LINK_HOURS") or "2")
            crowd_min = int(env.get("TRACKER_CROWD_MIN_FORECASTERS", "3"))
        except ValueError as exc:
            raise ConfigError(f"invalid number in TRACKER_* settings: {exc}") from exc
        if prompt_every < 1:
            raise ConfigError("TRACKER_PROMPT_EVERY_DAYS must be at least 1")
        if not (0.0 <= fmin < fmax <= 1.0):
            raise ConfigError("TRACKER_FORECAST_MIN and TRACKER_FORECAST_MAX must satisfy 0 <= min < max <= 1")
        if remember_days < 1 or proxy_hops < 0 or reset_hours < 1:
            raise ConfigError("TRACKER_REMEMBER_DAYS and TRACKER_RESET_LINK_HOURS must be at least 1, "
                              "TRACKER_PROXY_HOPS at least 0")
        ratelimit_enabled = _bool(env.get("TRACKER_RATELIMIT_ENABLED"), True)
        if not ratelimit_enabled and tracker_env == "production":
            raise ConfigError("TRACKER_RATELIMIT_ENABLED=0 is for load tests only and is refused when "
                              "TRACKER_ENV=production")
        log_level = (env.get("TRACKER_LOG_LEVEL") or "INFO").strip().upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"TRACKER_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
        api_limit = (env.get("TRACKER_API_RATE_LIMIT") or "300 per minute").strip()
        _check_rate_limit(api_limit)
        return cls(
            env=tracker_env,
            database_url=env.get("TRACKER_DATABASE_URL") or _default_database_url(),
            secret_key=secret,
            smtp_url=env.get("TRACKER_SMTP_URL") or None,
            mail_from=env.get("TRACKER_MAIL_FROM", "tracker@localhost"),
            prompt_every_days=prompt_every,
            forecast_min=fmin,
            forecast_max=fmax,
            base_url=env.get("TRACKER_BASE_URL", "http://127.0.0.1:5000"),
            scheduler_interval_seconds=interval,
            log_level=log_level,
            remember_days=remember_days,
            ratelimit_enabled=ratelimit_enabled,
            ratelimit_storage_url=env.get("TRACKER_RATELIMIT_STORAGE_URL") or None,
            trusted_hosts=tuple(h.strip() for h in env.get("TRACKER_TRUSTED_HOSTS", "").split(",") if h.strip()),
            proxy_hops=proxy_hops,
            reset_link_hours=reset_hours,
            api_rate_limit=api_limit,
            crowd_min_forecasters=crowd_min,
            crowd_after_own_forecast=_bool(env.get("TRACKER_CROWD_AFTER_OWN_FORECAST"), True),
        )

    def accepted_hosts(self) -> list[str]:
        """Flask's ``TRUSTED_HOSTS``: TRACKER_BASE_URL's host, TRACKER_TRUSTED_HOSTS and loopback
        (the container health check and the local server call the app by a loopback name)."""
        hosts = [urlsplit(self.base_url).hostname or "", *self.trusted_hosts, "localhost", "127.0.0.1", "::1"]
        return list(dict.fromkeys(h for h in hosts if h))


def _check_rate_limit(text: str) -> None:
    """Fail fast on a limit Flask-Limiter could not read (e.g. '300 per minute', '10/second')."""
    from limits import parse_many

    try:
        parse_many(text)
    except ValueError as exc:
        raise ConfigError(f"TRACKER_API_RATE_LIMIT {text!r} is not a rate limit such as '300 per minute'") from exc
