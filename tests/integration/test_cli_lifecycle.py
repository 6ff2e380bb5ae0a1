"""``tracker resolve`` / ``tracker annul``: same rules as the pages, one transaction, rescored."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.models import Question, ResolutionEvent, Score, StatusChange


@pytest.fixture
def scene(sessions):
    with sessions.begin() as s:
        make_user(s, "root", role="admin")
        make_user(s, "fred")
        q = make_question(s, "rain", opens_at=NOW - timedelta(days=10), closes_at=NOW - timedelta(days=1),
                          status="closed")
        add_forecast(s, q, make_user(s, "ann"), 0.8, NOW - timedelta(days=9))
        make_question(s, "open-q", opens_at=NOW - timedelta(days=10), closes_at=NOW + timedelta(days=10))


def events(sessions) -> list[tuple[str, str | None, str]]:
    with sessions() as s:
        return [(e.action, e.outcome.key if e.outcome else None, e.actor_name)
                for e in s.scalars(select(ResolutionEvent).order_by(ResolutionEvent.id))]


def brier(sessions) -> float | None:
    with sessions() as s:
        return s.scalar(select(Score.brier))


def test_resolve_then_correct(runner, sessions, scene):
    result = runner.invoke(["resolve", "rain", "yes", "--as", "root", "--note", "Met Office"])
    assert result.exit_code == 0, result.output
    assert "rain resolved as Yes; scores recomputed." in result.output
    assert brier(sessions) == pytest.approx(2 * 0.2 ** 2)

    result = runner.invoke(["resolve", "rain", "no", "--as", "root"])
    assert result.exit_code == 0, result.output
    assert "Correction recorded: rain is now resolved as No (was resolved as Yes)" in result.output
    assert brier(sessions) == pytest.approx(2 * 0.8 ** 2)
    assert events(sessions) == [("resolve", "yes", "root"), ("resolve", "no", "root")]


def test_annul_and_annul_a_resolved_question(runner, sessions, scene):
    assert runner.invoke(["resolve", "rain", "yes"]).exit_code == 0
    result = runner.invoke(["annul", "rain", "--reason", "source withdrawn"])
    assert result.exit_code == 0, result.output
    assert "Correction recorded: rain is now annulled (was resolved as Yes); scores removed." in result.output
    assert brier(sessions) is None
    assert events(sessions)[-1][0] == "annul" and events(sessions)[-1][2].startswith("cli:")
    again = runner.invoke(["annul", "rain", "--reason", "again"])
    assert again.exit_code == 1 and "already annulled" in again.output


def test_early_resolution_from_the_command_line(runner, sessions, scene):
    refused = runner.invoke(["resolve", "open-q", "yes"])
    assert refused.exit_code == 1 and "occurred at" in refused.output
    ok = runner.invoke(["resolve", "open-q", "yes", "--occurred-at", "2026-11-24T08:00"])
    assert ok.exit_code == 0, ok.output
    assert "open-q resolved as Yes, occurred 2026-11-24 08:00 UTC" in ok.output
    with sessions() as s:
        q = s.scalar(select(Question).where(Question.slug == "open-q"))
        assert q.status == "resolved"
        assert s.scalar(select(ResolutionEvent.occurred_at)) == datetime(2026, 11, 24, 8, tzinfo=UTC)


@pytest.mark.parametrize("args, message", [
    (["resolve", "rain", "maybe"], "unknown outcome 'maybe' for rain; valid outcomes: yes, no"),
    (["resolve", "nope", "yes"], "no question with slug 'nope'"),
    (["resolve", "rain", "yes", "--as", "fred"], "'fred' is not an admin"),
    (["resolve", "rain", "yes", "--as", "ghost"], "no account named 'ghost'"),
    (["resolve", "rain", "yes", "--occurred-at", "yesterday"], "not an ISO timestamp"),
    (["resolve", "rain", "yes", "--occurred-at", "2026-12-01T00:00Z"], "in the future"),
    (["annul", "rain", "--reason", "  "], "needs a reason"),
])
def test_refusals_say_why_and_store_nothing(runner, sessions, scene, args, message):
    result = runner.invoke(args)
    assert result.exit_code == 1
    assert message in result.output
    assert events(sessions) == []
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 0
        assert s.scalar(select(Question.status).where(Question.slug == "rain")) == "closed"


def test_questions_audit_prints_the_log(runner, scene):
    runner.invoke(["resolve", "rain", "yes", "--as", "root", "--note", "Met Office"])
    result = runner.invoke(["questions", "audit", "rain"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "rain: resolved"
    assert "root" in lines[1] and "Resolved as Yes — Met Office" in lines[1]
    assert "Status closed → resolved" in lines[2]
