"""``tracker scheduler``: the periodic jobs (open/close questions, resolution prompts, rescoring)."""
from __future__ import annotations

import json

import click

from ..config import ConfigError
from ..logs import configure_logging
from .context import CliContext, pass_cli


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run every job once (whatever is due now) and exit; for cron and tests.")
@pass_cli
def scheduler_command(cli: CliContext, once: bool) -> None:
    """Run the scheduler in this process until stopped (SIGTERM or Ctrl-C).

    Jobs: lifecycle (open/close questions), prompts (remind admins to resolve), rescore. Each runs
    at start-up and then every TRACKER_SCHEDULER_INTERVAL seconds (rescore at most every 5 s).
    Safe to run twice against one database: a second process duplicates nothing.
    """
    from .. import scheduler

    if "state" not in cli.__dict__:
        # TRACKER_FAKE_NOW (tests only) replaces the clock before anything is built.
        try:
            fake = scheduler.clock_from_env(cli.settings)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        if fake is not None:
            cli.clock_override = fake
    if once:
        report = scheduler.run_once(cli.state)
        for job_id, result in report.items():
            click.echo(f"{job_id}: {json.dumps(result, sort_keys=True)}")
        if any("error" in result for result in report.values()):
            raise click.ClickException("some jobs failed (see above)")
        return
    # A no-op when the settings came from the environment (that already configured it).
    configure_logging(cli.settings.log_level)
    scheduler.run_forever(cli.state)


def register(group: click.Group) -> None:
    group.add_command(scheduler_command)
