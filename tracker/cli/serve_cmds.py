"""``tracker serve``: the web server and the scheduler together, for the local default."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys

import click

from .context import CliContext, pass_cli


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--no-scheduler", is_flag=True, help="Run only the web server.")
@pass_cli
def serve(cli: CliContext, host: str, port: int, workers: int, no_scheduler: bool) -> None:
    """Run gunicorn on HOST:PORT and, beside it, the scheduler process; Ctrl-C stops both."""
    # Reading the settings fails fast on a bad configuration and configures this process's logging;
    # each child configures its own (tracker.wsgi, `tracker scheduler`) at the same level.
    log_level = cli.settings.log_level
    procs: list[subprocess.Popen] = []
    if not no_scheduler:
        procs.append(subprocess.Popen([sys.executable, "-m", "tracker", "scheduler"]))
    procs.append(
        subprocess.Popen([
            sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
            "--threads", "4", "--access-logfile", "-", "--log-level", log_level.lower(), "tracker.wsgi:app",
        ])
    )
    click.echo(f"Forecast tracker on http://{host}:{port} (Ctrl-C to stop)")

    def _stop(*_args) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, _stop)
    try:
        # If either process dies, stop the other too: a web server without its scheduler would
        # silently never close questions.
        while all(proc.poll() is None for proc in procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[0].wait(timeout=1)
    except KeyboardInterrupt:
        pass
    finally:
        _stop()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    codes = [proc.returncode for proc in procs]
    if any(code not in (0, -signal.SIGTERM, None) for code in codes):
        sys.exit(1)


def register(group: click.Group) -> None:
    group.add_command(serve)
