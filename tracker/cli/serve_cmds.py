"""``tracker serve``: the web server and the scheduler together, for the local default.

This process supervises both children and is the only one that stops them, once:

- each child runs in a session of its own, so a signal sent to ``tracker serve``'s process group
  (Ctrl-C, ``kill -TERM -PGID``) reaches the children only through this process, once;
- on Linux each child asks the kernel for SIGTERM when this process dies (``PR_SET_PDEATHSIG``),
  so even ``kill -9`` of ``tracker serve`` leaves no orphan holding the port;
- gunicorn's control socket is off: two instances on one machine never share
  ``~/.gunicorn/gunicorn.ctl``.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import click

from .context import CliContext, pass_cli

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGTERM when its parent dies (Linux), or None
    where the kernel has no such request."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    parent = os.getpid()

    def _preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return _preexec


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, start_new_session=True, preexec_fn=die_with_parent())  # noqa: PLW1509


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
        procs.append(_start([sys.executable, "-m", "tracker", "scheduler"]))
    procs.append(_start([
        sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
        "--threads", "4", "--access-logfile", "-", "--log-level", log_level.lower(),
        "--no-control-socket", "tracker.wsgi:app",
    ]))
    click.echo(f"Forecast tracker on http://{host}:{port} (Ctrl-C to stop)")
    stopping: list[int] = []

    def _stop(*_args) -> None:
        if stopping:
            return  # one shutdown, however many signals arrive
        stopping.append(1)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    try:
        # If either process dies, stop the other too: a web server without its scheduler would
        # silently never close questions.
        while all(proc.poll() is None for proc in procs) and not stopping:
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[0].wait(timeout=1)
    except KeyboardInterrupt:
        pass
    finally:
        _stop()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    codes = [proc.returncode for proc in procs]
    if any(code not in (0, -signal.SIGTERM, None) for code in codes):
        sys.exit(1)


def register(group: click.Group) -> None:
    group.add_command(serve)
