"""Writes under load against a real gunicorn (issue 15, item 3): 50 clients × 20 forecasts while an
anonymous client downloads ``/forecasts.csv`` at 1 KB/s, and while a large import runs. Every
forecast is stored exactly once and nothing answers 5xx. Reads begin deferred on SQLite (a WAL
snapshot blocks no writer), so a slow download no longer stalls writers. A 500,000-row import
checks its file without the write lock and then writes in short transactions (about 0.2 s each,
with a pause between them), so the submissions that run while it writes keep a p99 under the
issue's 2 s. Numbers: ``pytest -s`` (BENCH lines)."""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import free_port
from tests.factories import NOW, PASSWORD, make_question, make_user
from tests.processes import WebClient, gunicorn, stop, tracker, tracker_env, wait_for_port
from tracker.domain.csv_import import NewForecast, insert_forecasts
from tracker.models import Forecast, Question

pytestmark = pytest.mark.slow

CLIENTS, FORECASTS_EACH = 50, 20
EXPORT_FORECASTS = 30_000  # ~4 MB of /forecasts.csv: far more than socket buffers hold
IMPORT_ROWS = 500_000
# Before the fixes, writers stalled behind a reader or an import until SQLite's busy timeout and
# failed with 500 "database is locked"; then, during a large import, the p99 was about 3 s (its one
# write transaction held the lock for seconds). With the slow download the p99 is 0.4-1.7 s on the
# shared 2-core machine, so that case keeps the looser bound; the import is held to the 2 s.
# Issue 15, item 3 (SQLite): p99 under 2 s in both cases. On PostgreSQL the import is one
# transaction whose rows become visible only at its commit, so the load there starts after it and
# meets the server just after a 500,000-row commit (a checkpoint and autovacuum of the new rows
# share the two cores: p99 1.6-2.2 s measured); nothing of the import holds a lock the web server
# needs, and that case is bounded more loosely.
P99_LIMIT = {"slow_download": 2.0, "import": 2.0}
PG_IMPORT_P99_LIMIT = 5.0


@pytest.fixture
def scene(sessions, clock):
    with sessions() as session:
        live = make_question(session, "live", NOW - timedelta(days=5), NOW + timedelta(days=30))
        big = make_question(session, "big", NOW - timedelta(days=400), NOW - timedelta(days=40), status="closed")
        users = [make_user(session, f"client{i}") for i in range(CLIENTS)]
        yes, no = (o.id for o in big.options)
        insert_forecasts(session, [
            NewForecast(big.id, users[i % CLIENTS].id, big.opens_at + timedelta(minutes=i), {yes: 0.25, no: 0.75})
            for i in range(EXPORT_FORECASTS)])
        make_question(session, "target", NOW - timedelta(days=900), NOW - timedelta(days=500), status="closed")
        session.commit()
        return {"live": live.id}


class SlowReader(threading.Thread):
    """GET /forecasts.csv, then read 1 KB a second until told to stop."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.stop_event, self.received = port, threading.Event(), 0

    def run(self) -> None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(b"GET /forecasts.csv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            while not self.stop_event.is_set():
                chunk = sock.recv(1024)
                if not chunk:
                    return
                self.received += len(chunk)
                self.stop_event.wait(1.0)


def client_run(port: int, n: int, ready: threading.Barrier) -> list[tuple[int, float]]:
    web = WebClient(port)
    try:
        web.login(f"client{n}", PASSWORD)
        web.get("/q/live")
        ready.wait(timeout=300)  # every client logged in: the submissions start together
        web.conn.close()  # the server closed the idle keep-alive connection meanwhile; reopen
        results = []
        for k in range(FORECASTS_EACH):
            start = time.monotonic()
            status, _ = web.post("/q/live", {"p0": str(10 + (n + k) % 80)})
            results.append((status, time.monotonic() - start))
        return results
    finally:
        web.close()


def write_import_file(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("question,forecaster,forecast_at,option,probability\n")
        for i in range(rows):
            minute = i // 60
            stamp = f"2024-07-{1 + minute // 1440 % 28:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:{i % 60:02d}Z"
            fh.write(f"target,importer{i % 97},{stamp},yes,0.{1 + i % 9}\n")
    return path


def wait_for_writes(sessions, importer, timeout: float = 600) -> None:
    """Until the import's first forecasts are stored (its check of the file is over)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert importer.poll() is None, importer.communicate()
        with sessions() as session:
            if session.scalar(select(Forecast.id).join(Question).where(Question.slug == "target").limit(1)):
                return
        time.sleep(0.2)
    raise TimeoutError("the import wrote nothing")


def run_load(port: int) -> tuple[list[int], list[float]]:
    ready = threading.Barrier(CLIENTS)
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        runs = list(pool.map(lambda n: client_run(port, n, ready), range(CLIENTS)))
    statuses = [s for run in runs for s, _ in run]
    latencies = sorted(t for run in runs for _, t in run)
    return statuses, latencies


def p99(latencies: list[float]) -> float:
    return latencies[max(0, int(len(latencies) * 0.99) - 1)]


@pytest.mark.parametrize("background", ["slow_download", "import"])
def test_fifty_clients_keep_writing(settings, sessions, scene, tmp_path, background):
    port = free_port()
    env = tracker_env(settings.database_url, tmp_path, TRACKER_RATELIMIT_ENABLED="0")
    log = (tmp_path / "gunicorn.log").open("w")
    server = gunicorn(env, port, workers=2, threads=16, log=log)
    importer = None
    reader = SlowReader(port)
    try:
        wait_for_port(port, server)
        if background == "slow_download":
            reader.start()
            time.sleep(2)  # the download has begun and is blocked on the slow client
        else:
            target_window = write_import_file(tmp_path / "big.csv", IMPORT_ROWS)
            importer = tracker(["import", "forecasts", str(target_window)], env)
            wait_for_writes(sessions, importer)  # the check takes no lock: load the writing part
        started = time.monotonic()
        statuses, latencies = run_load(port)
        elapsed = time.monotonic() - started
        import_running = importer is not None and importer.poll() is None  # still writing at the end
        if importer is not None:
            out, err = importer.communicate(timeout=600)
            assert importer.returncode == 0, err
        print(f"\nBENCH write_load background={background} requests={len(statuses)} "
              f"elapsed={elapsed:.1f}s p50={latencies[len(latencies) // 2]:.3f}s p99={p99(latencies):.3f}s "
              f"max={latencies[-1]:.3f}s slow_bytes={reader.received} import_outlasted_load={import_running}")
    finally:
        reader.stop_event.set()
        if importer is not None and importer.poll() is None:
            importer.kill()
        stop(server)
        log.close()
    errors = (tmp_path / "gunicorn.log").read_text()
    assert "Traceback" not in errors, errors[-3000:]
    assert [s for s in statuses if s >= 500] == []
    assert set(statuses) == {303}
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(Forecast).where(Forecast.question_id == scene["live"]))
        assert stored == CLIENTS * FORECASTS_EACH
        if background == "import":
            target = session.scalar(select(Question.id).where(Question.slug == "target"))
            assert session.scalar(select(func.count()).select_from(Forecast)
                                  .where(Forecast.question_id == target)) == IMPORT_ROWS
    on_pg = settings.database_url.startswith("postgresql")
    assert p99(latencies) < (PG_IMPORT_P99_LIMIT if on_pg and background == "import" else P99_LIMIT[background])
