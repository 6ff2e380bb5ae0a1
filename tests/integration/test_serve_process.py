"""``tracker serve`` as a real process tree (issue 15, item 9): SIGTERM to its process group shuts
everything down once and cleanly; SIGKILL of ``tracker serve`` leaves no orphan holding the port;
gunicorn's control socket is not shared through the home folder."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.processes import ROOT, tracker_env, wait_for_port

pytestmark = pytest.mark.slow


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_serve(settings, tmp_path: Path) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = tracker_env(settings.database_url, tmp_path, HOME=str(home), TRACKER_LOG_LEVEL="INFO",
                      TRACKER_SCHEDULER_INTERVAL="1")
    log = tmp_path / "serve.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "tracker", "serve", "--port", str(port), "--workers", "1"],
                                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for_port(port, proc)
    deadline = time.monotonic() + 20
    while len(children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(children(proc.pid)) == 2, "expected the scheduler and gunicorn"
    deadline = time.monotonic() + 60
    while "scheduler started" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)  # the scheduler has installed its signal handlers
    assert "scheduler started" in log.read_text(), log.read_text()
    return proc, port, log


def wait_gone(pids: list[int], timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_to_the_process_group_stops_everything_once(settings, tmp_path):
    proc, port, log = start_serve(settings, tmp_path)
    kids = children(proc.pid)
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()
    assert wait_gone(kids) == []
    output = log.read_text()
    assert "Traceback" not in output and "SchedulerNotRunningError" not in output, output
    assert output.count("stopping the scheduler") == 1, output
    assert port_free(port)
    assert not (tmp_path / "home" / ".gunicorn").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux's")
def test_sigkill_of_serve_leaves_no_orphans(settings, tmp_path):
    proc, port, log = start_serve(settings, tmp_path)
    kids = children(proc.pid)
    grandchildren = [g for k in kids for g in children(k)]  # gunicorn's workers
    proc.kill()
    proc.wait(timeout=10)
    left = wait_gone(kids + grandchildren)
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert left == [], log.read_text()
    assert port_free(port)
