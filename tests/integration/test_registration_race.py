"""Twelve simultaneous registrations of one name in different cases against a real gunicorn
(issue 15, item 2): one account, every other request answered 409 "taken", none 500."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from tests.conftest import free_port
from tests.processes import WebClient, gunicorn, stop, tracker_env, wait_for_port
from tracker.models import User

pytestmark = pytest.mark.slow

SPELLINGS = ["RaceCaseUser", "racecaseuser", "RACECASEUSER", "Racecaseuser", "rACECASEUSER", "RaceCaseuser",
             "raceCaseUser", "RacecaseUser", "RACEcaseUSER", "racecaseUSER", "RaceCASEUser", "rAcEcAsEuSeR"]


def test_simultaneous_registrations_in_different_cases(settings, sessions, tmp_path):
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    server = gunicorn(tracker_env(settings.database_url, tmp_path), port, workers=2, threads=8, log=log)
    ready = threading.Barrier(len(SPELLINGS))

    def register(name: str) -> tuple[int, str]:
        web = WebClient(port)
        try:
            web.get("/auth/register")
            ready.wait(timeout=60)
            web.conn.close()  # a fresh connection for the race (keep-alive may have expired)
            return web.post("/auth/register", {"username": name, "password": "a long password",
                                               "confirm": "a long password"})
        finally:
            web.close()

    try:
        wait_for_port(port, server)
        with ThreadPoolExecutor(len(SPELLINGS)) as pool:
            answers = list(pool.map(register, SPELLINGS))
    finally:
        stop(server)
        log.close()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [302] + [409] * (len(SPELLINGS) - 1), statuses
    assert all("is taken" in body for status, body in answers if status == 409)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()
