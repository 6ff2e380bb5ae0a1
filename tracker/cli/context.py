"""What every command gets: settings, a session factory and a clock, built on first use."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

import click
from sqlalchemy.orm import Session

from ..app_state import AppState, build_state
from ..clock import Clock
from ..config import ConfigError, Settings
from ..db import transaction
from ..logs import configure_logging


class CliContext:
    """Lazily built so that ``tracker --help`` needs no database and no configuration."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None) -> None:
        # Tests pass settings and a controlled clock; the real command reads the environment.
        if settings is not None:
            self.__dict__["settings"] = settings
        self.clock_override = clock

    @cached_property
    def settings(self) -> Settings:
        """Settings from the environment; reading them is where a ``tracker`` process configures
        its logging (``TRACKER_LOG_LEVEL``), so ``--help`` and injected settings (tests) never do."""
        try:
            settings = Settings.from_env()
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        configure_logging(settings.log_level)
        return settings

    @cached_property
    def state(self) -> AppState:
        return build_state(self.settings, self.clock_override)

    @property
    def clock(self) -> Clock:
        return self.state.clock

    @contextmanager
    def transaction(self, read_only: bool = False) -> Iterator[Session]:
        """One transaction for the whole command; ``read_only`` ones hold no write lock on SQLite."""
        with transaction(self.state.read_sessions if read_only else self.state.sessions) as session:
            yield session


pass_cli = click.make_pass_decorator(CliContext, ensure=True)
