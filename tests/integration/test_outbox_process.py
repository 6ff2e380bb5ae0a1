"""Issue 15, item 6, against real scheduler processes: a scheduler killed (SIGKILL) while it is
sending a prompt's email must not leave the email "sending" forever; the next scheduler takes the
claim over once the claim timeout has passed and the email is sent exactly once.

The first scheduler talks to an SMTP server that accepts the connection and never answers, so it
is stuck inside the send (claim taken, no outcome) when it is killed. The second one starts with a
"now" eleven minutes later (TRACKER_FAKE_NOW) and a working SMTP server."""
from __future__ import annotations

import signal
import socket
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import make_question, make_user
from tests.integration.test_scheduler_process import FAKE_NOW, SchedulerProcess, days, scheduler_env, wait_for
from tracker.db import make_engine, make_session_factory
from tracker.models import Prompt

pytestmark = pytest.mark.slow


class SilentSmtpServer:
    """Accepts TCP connections and never says a word: an SMTP client waits for the greeting."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


def prompt_states(sessions) -> list[tuple[str, int]]:
    with sessions() as s:
        return [(p.mail_state, p.attempts) for p in s.scalars(select(Prompt).order_by(Prompt.id))]


def test_a_scheduler_killed_mid_send_leaves_the_email_to_the_next_one(settings, tmp_path, smtp_sink):
    sink, good_port = smtp_sink
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    silent = SilentSmtpServer()
    try:
        with sessions.begin() as s:
            make_user(s, "alice", role="admin").email = "alice@example.org"
            make_question(s, "just-closed", opens_at=FAKE_NOW - days(9), closes_at=FAKE_NOW - timedelta(hours=1),
                          resolve_by=FAKE_NOW + days(14), status="closed")

        stuck = SchedulerProcess(scheduler_env(settings.database_url, FAKE_NOW, tmp_path, silent.port),
                                 tmp_path / "stuck.log")
        try:
            wait_for(lambda: prompt_states(sessions) == [("sending", 1)] and silent.accepted.is_set(),
                     [stuck], "the first scheduler to claim the email and connect")
            stuck.proc.send_signal(signal.SIGKILL)  # mid-send: the claim is never completed
            stuck.proc.wait(timeout=10)
        finally:
            stuck.stop()
        time.sleep(1)
        assert prompt_states(sessions) == [("sending", 1)]
        assert sink.messages == []

        # Eleven minutes later by the scheduler's clock: past the ten-minute claim timeout.
        later = FAKE_NOW + timedelta(minutes=11)
        second = SchedulerProcess(scheduler_env(settings.database_url, later, tmp_path, good_port),
                                  tmp_path / "second.log")
        try:
            wait_for(lambda: prompt_states(sessions) == [("sent", 2)], [second], "the take-over")
            time.sleep(2.5)  # more sweeps: nothing is sent twice
        finally:
            assert second.stop() == 0, second.output()
        assert "Traceback" not in second.output(), second.output()
        assert prompt_states(sessions) == [("sent", 2)]
        assert [rcpt for _f, rcpt, _m in sink.messages] == [["alice@example.org"]]
    finally:
        silent.close()
        engine.dispose()
