"""Real processes for integrity tests: ``tracker`` commands, gunicorn and ``tracker serve`` with a
test environment, and waiting for a port."""
from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def tracker_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment of a tracker process on ``database_url`` (no TRACKER_* leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"TRACKER_ENV": "test", "TRACKER_SECRET_KEY": "test-secret", "TRACKER_INSTANCE": str(instance),
                "TRACKER_DATABASE_URL": database_url, "TRACKER_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


def tracker(args: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
    """Start ``python -m tracker ARGS``; output is captured."""
    return subprocess.Popen([sys.executable, "-m", "tracker", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def gunicorn(env: dict[str, str], port: int, workers: int = 2, threads: int = 8, log=None) -> subprocess.Popen:
    """gunicorn serving the app on 127.0.0.1:``port`` (its control socket disabled)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--threads", str(threads), "--no-control-socket", "--timeout", "120", "tracker.wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class WebClient:
    """A browser-like client of a real server over http.client: keeps cookies, sends the form's
    CSRF token, never follows redirects."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode({"csrf_token": self.token, **form})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        found = CSRF_RE.search(text)
        if found:
            self.token = found.group(1)
        return response.status, text

    def get(self, path: str) -> tuple[int, str]:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        return self.request("POST", path, form)

    def login(self, username: str, password: str) -> None:
        self.get("/auth/login")
        status, text = self.post("/auth/login", {"username": username, "password": password})
        assert status == 302, f"login as {username} failed: {status}"

    def close(self) -> None:
        self.conn.close()

