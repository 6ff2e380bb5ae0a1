"""``tracker questions load`` and a question already in play (issue 15, item 5): a changed time on a
question with forecasts or a resolution is refused; with ``--allow-reschedule`` it is audited (who,
why) and rescored in the same transaction, so stored scores equal a full rebuild."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import add_forecast, make_user
from tracker.domain.questions import get_question
from tracker.domain.resolution import audit_log, resolve
from tracker.models import Score, StatusChange

ROOT = Path(__file__).resolve().parents[2]
SLUG = "us-withdraws-jcpoa-2018"
OLD_CLOSE = '"2018-12-31T23:59:59Z"'
NEW_CLOSE = '"2018-06-30T23:59:59Z"'


@pytest.fixture
def bank(tmp_path) -> Path:
    folder = tmp_path / "bank"
    folder.mkdir()
    shutil.copy(ROOT / "questions" / f"{SLUG}.yaml", folder)
    return folder


@pytest.fixture
def resolved(runner, sessions, clock, bank):
    assert runner.invoke(["questions", "load", str(bank)]).exit_code == 0
    with sessions() as session:
        question = get_question(session, SLUG)
        admin = make_user(session, "root", role="admin")
        for i, name in enumerate(("ann", "bob", "cy")):
            user = make_user(session, name)
            for month in range(1, 23, 3):  # through 2018, some after the new close
                at = datetime(2017, 2, 10, tzinfo=UTC) + timedelta(days=30 * month + i)
                add_forecast(session, question, user, 0.1 + 0.1 * ((month + i) % 8), at)
        resolve(session, clock, question, "yes", admin, "root")
        session.commit()


def move_close(bank: Path) -> None:
    path = bank / f"{SLUG}.yaml"
    path.write_text(path.read_text().replace(f"closes_at: {OLD_CLOSE}", f"closes_at: {NEW_CLOSE}"))


def scores(sessions) -> list[tuple]:
    with sessions() as session:
        return [(s.user_id, s.forecasts, s.active_days, round(s.brier or 0, 12), round(s.relative_brier or 0, 12))
                for s in session.scalars(select(Score).order_by(Score.user_id))]


def test_changed_close_of_a_resolved_question_is_refused(runner, sessions, bank, resolved):
    before = scores(sessions)
    move_close(bank)
    result = runner.invoke(["questions", "load", str(bank)])
    assert result.exit_code == 1
    assert f"field 'closes_at': '{SLUG}' has 24 forecasts and a resolution" in result.output
    assert "--allow-reschedule" in result.output
    with sessions() as session:
        assert get_question(session, SLUG).closes_at == datetime(2018, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert scores(sessions) == before


def test_allowed_reschedule_is_audited_and_rescored(runner, sessions, bank, resolved):
    before = scores(sessions)
    move_close(bank)
    result = runner.invoke(["questions", "load", str(bank), "--allow-reschedule", "--by", "carol",
                            "--reason", "the deal's deadline was moved"])
    assert result.exit_code == 0, result.output
    with sessions() as session:
        question = get_question(session, SLUG)
        assert question.closes_at == datetime(2018, 6, 30, 23, 59, 59, tzinfo=UTC)
        (entry,) = [e for e in audit_log(session, question) if e.summary == "Times changed"]
        assert entry.actor_name == "carol"
        assert "closes_at 2018-12-31T23:59:59Z → 2018-06-30T23:59:59Z" in entry.note
        assert "the deal's deadline was moved" in entry.note
        assert session.scalar(select(StatusChange.to_status).where(StatusChange.actor_name == "carol")) == "resolved"
    after = scores(sessions)
    assert after != before  # fewer days, fewer forecasts count
    assert runner.invoke(["scores", "rebuild"]).exit_code == 0
    assert scores(sessions) == after  # exactly what a rebuild gives


def test_allow_reschedule_needs_a_reason(runner, bank):
    result = runner.invoke(["questions", "load", str(bank), "--allow-reschedule"])
    assert result.exit_code == 2 and "--reason" in result.output
