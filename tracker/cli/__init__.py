"""The ``tracker`` command line. Each feature keeps its commands in its own module here."""
from __future__ import annotations

import click

from . import admin_cmds, csv_cmds, db_cmds, demo_cmds, lifecycle_cmds, questions_cmds, scheduler_cmds, scores_cmds, serve_cmds, users_cmds
from .context import CliContext


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Forecast tracker: questions, forecasts, resolutions and scores.

    Configuration comes from TRACKER_* environment variables (see README).
    """
    ctx.ensure_object(CliContext)


for _module in (db_cmds, questions_cmds, users_cmds, serve_cmds, lifecycle_cmds, scheduler_cmds,
                scores_cmds, csv_cmds, demo_cmds, admin_cmds):
    _module.register(main)
