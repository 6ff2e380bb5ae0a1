"""The ``tracker`` command line. Each feature keeps its commands in its own module here.

One error path: a :class:`~tracker.domain.DomainError` raised by any command becomes a click error
(its message on standard error, exit status 1), so commands do not catch it themselves.
"""
from __future__ import annotations

from typing import Any

import click

from ..domain import DomainError
from . import (
    backup_cmds,
    csv_cmds,
    db_cmds,
    demo_cmds,
    lifecycle_cmds,
    questions_cmds,
    scheduler_cmds,
    scores_cmds,
    serve_cmds,
    tokens_cmds,
    users_cmds,
)
from .context import CliContext


class TrackerGroup(click.Group):
    """The top-level group: turns a refused operation into a clean error message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=TrackerGroup)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Forecast tracker: questions, forecasts, resolutions and scores.

    Configuration comes from TRACKER_* environment variables (see README).
    """
    ctx.ensure_object(CliContext)


for _module in (db_cmds, questions_cmds, users_cmds, serve_cmds, lifecycle_cmds, scheduler_cmds,
                scores_cmds, csv_cmds, demo_cmds, tokens_cmds, backup_cmds):
    _module.register(main)
