"""``tracker scores``: the stored score cache."""
from __future__ import annotations

import click

from ..domain.scoring_runs import rebuild_all
from .context import CliContext, pass_cli


@click.group("scores")
def scores_group() -> None:
    """Stored scores (a cache of the scoring engine's output)."""


@scores_group.command("rebuild")
@pass_cli
def rebuild(cli: CliContext) -> None:
    """Recompute every stored score from forecasts and resolutions, in one transaction."""
    with cli.transaction() as session:
        report = rebuild_all(session, cli.clock)
    click.echo(
        f"rescored {report.questions} question(s): {report.scored} scored, {report.annulled} annulled, "
        f"{report.score_rows} score row(s)"
    )


def register(group: click.Group) -> None:
    group.add_command(scores_group)
