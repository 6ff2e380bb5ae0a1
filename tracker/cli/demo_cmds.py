"""``tracker demo``: replay the essay's 2017-2018 questions with synthetic forecasters."""
from __future__ import annotations

from pathlib import Path

import click

from ..domain import DomainError
from ..domain.demo import DEFAULT_FORECASTERS, DEFAULT_SEED, run_demo
from ..domain.question_bank import BankError
from .context import CliContext, pass_cli


@click.command("demo")
@click.option("--questions", "bank", type=click.Path(file_okay=False, path_type=Path), default="questions",
              show_default=True, help="The question bank directory.")
@click.option("--forecasters", type=click.IntRange(2, 500), default=DEFAULT_FORECASTERS, show_default=True,
              help="How many synthetic forecasters (demo-<kind>-NN accounts).")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Random seed (same seed, same history).")
@pass_cli
def demo(cli: CliContext, bank: Path, forecasters: int, seed: int) -> None:
    """Load the questions closing in 2017-2018, let synthetic forecasters forecast them at
    historical times, and resolve those whose outcome is a matter of public record.

    Demo accounts have no password and are marked as demo. Live questions are never touched.
    Running it again adds nothing that is already there.
    """
    try:
        with cli.transaction() as session:
            report = run_demo(session, cli.clock, bank=bank, forecasters=forecasters, seed=seed,
                              bounds=(cli.settings.forecast_min, cli.settings.forecast_max))
    except BankError as exc:
        for line in exc.errors:
            click.echo(f"error: {line}", err=True)
        raise click.ClickException("the question bank has problems; nothing was written") from exc
    except DomainError as exc:
        raise click.ClickException(f"{exc}; nothing was written") from exc
    if report.questions_loaded:
        click.echo(f"Loaded {len(report.questions_loaded)} essay-horizon questions from {bank}.")
    click.echo(f"{report.questions} demo questions, {report.forecasters} demo forecasters "
               f"({report.forecasters_created} created), {report.forecasts_added} forecasts added.")
    if report.resolved:
        click.echo(f"Resolved {len(report.resolved)} questions from the public record: {', '.join(report.resolved)}.")
    if report.unresolved:
        click.echo(f"Left unresolved (outcome not a matter of clear record): {', '.join(report.unresolved)}.")
    if not (report.questions_loaded or report.forecasters_created or report.forecasts_added or report.resolved):
        click.echo("The demo was already loaded: nothing changed.")
    click.echo("See the scoreboard at /scoreboard.")


def register(group: click.Group) -> None:
    group.add_command(demo)
