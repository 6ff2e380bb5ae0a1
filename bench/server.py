"""A real gunicorn process over the tracker (or the bare insert app) for the benchmarks, and a
small HTTP client that logs in through the real login form."""
from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from common import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """``gunicorn APP`` on a free port with the benchmark's environment; a context manager."""

    def __init__(self, url: str, app: str = "tracker.wsgi:app", workers: int = 4, log: Path | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log or Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-gunicorn-{self.port}.log"
        env = dict(os.environ, TRACKER_DATABASE_URL=url, TRACKER_SECRET_KEY="bench-secret-key-not-for-production",
                   TRACKER_RATELIMIT_ENABLED="0", TRACKER_LOG_LEVEL="WARNING",
                   BENCH_DATABASE_URL=url, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'bench'}")
        self.command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers",
                        str(workers), "--timeout", "120", app]
        self.env = env
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        self.logfile = open(self.log, "w")  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self.logfile, stderr=subprocess.STDOUT,
                                        cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited: see {self.log}") from None
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start within 60 s")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def worker_peak_rss_mb(self) -> float:
        """The largest peak resident set (VmHWM) among the live workers."""
        peak = 0.0
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            found = re.search(r"VmHWM:\s+(\d+) kB", status)
            if found:
                peak = max(peak, int(found.group(1)) / 1024)
        return peak

    def crashes(self) -> int:
        """Workers that died abnormally, from gunicorn's own log."""
        text = self.log.read_text() if self.log.exists() else ""
        return len(re.findall(r"was sent SIG|exited with code|Worker \(pid:\d+\) was sent|WORKER TIMEOUT", text))

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.logfile.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None  # the redirect is the answer (a saved forecast); do not fetch the next page


class Client:
    """Cookie-keeping HTTP client; ``login`` goes through the real form with its CSRF token."""

    def __init__(self, base: str, follow_redirects: bool = True) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers: list = [urllib.request.HTTPCookieProcessor(self.jar)]
        if not follow_redirects:
            handlers.append(_NoRedirect())
        self.opener = urllib.request.build_opener(*handlers)
        self.token = ""

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, bytes]:
        data = urllib.parse.urlencode(fields).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def csrf(self, path: str) -> str:
        _status, body = self.get(path)
        found = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body) or re.search(
            rb'value="([^"]+)"[^>]*name="csrf_token"', body)
        return found.group(1).decode() if found else ""

    def login(self, username: str, password: str) -> None:
        status, body = self.post("/auth/login", {"csrf_token": self.csrf("/auth/login"), "username": username,
                                                 "password": password})
        if status >= 400 or not any(c.name == "session" for c in self.jar):
            raise RuntimeError(f"login as {username} failed ({status})")
