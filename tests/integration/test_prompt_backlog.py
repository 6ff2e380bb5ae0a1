"""A fresh install with the shipped question bank, on the frozen clock: the questions that closed years
ago are summarised in ONE backlog prompt, every question's prompts are numbered 1, 2, 3 ... from the
first one recorded, and the queue, the inbox and the email subject show the same number."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import Runner
from tests.factories import NOW, make_question, make_user
from tracker.domain.prompts import BACKLOG_DELIVERY, create_due_prompts
from tracker.models import FINAL_STATUSES, Prompt, Question

BANK = Path(__file__).resolve().parents[2] / "questions"
EVERY = 7


def days(n: float) -> timedelta:
    return timedelta(days=n)


def all_prompts(sessions) -> list[Prompt]:
    with sessions() as s:
        return list(s.scalars(select(Prompt).order_by(Prompt.id)))


def label(html: str) -> list[int]:
    """The reminder numbers shown in a piece of page, in order."""
    return [int(n) for n in re.findall(r'data-reminder="(\d+)"', html)]


def queue_number(client, slug: str) -> list[int]:
    """The number the queue shows in the row of ``slug``."""
    page = client.get("/admin/").get_data(as_text=True)
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*<code>" + re.escape(slug) + r"</code>.*?</tr>", page, re.S)
    assert row is not None, slug
    return label(row.group(0))


def inbox_numbers(client, prompt_id: int) -> list[int]:
    """The number the inbox shows on the prompt ``prompt_id``."""
    page = client.get("/admin/inbox").get_data(as_text=True)
    item = re.search(rf'<li class="prompt [^"]*" id="prompt-{prompt_id}">.*?<div class="prompt-head">(.*?)</div>',
                     page, re.S)
    assert item is not None, prompt_id
    return label(item.group(1))


@pytest.fixture
def install(settings, clock, smtp_sink, sessions):
    """``make run`` on a fresh database (the bank loaded, an admin with an address), mail to a real
    SMTP server; returns a runner for ``tracker`` commands and the sink."""
    sink, port = smtp_sink
    runner = Runner(replace(settings, smtp_url=f"smtp://127.0.0.1:{port}", base_url="https://t.example.org"), clock)
    result = runner.invoke(["questions", "load", str(BANK)])
    assert result.exit_code == 0, result.output
    with sessions.begin() as s:
        make_user(s, "root", role="admin").email = "root@example.org"
    return runner, sink


def scheduler_once(runner) -> None:
    result = runner.invoke(["scheduler", "--once"])
    assert result.exit_code == 0, result.output


def prompt_mails(sink) -> list:
    """The admin's prompt emails (the forecasters' weekly digest goes to the same address)."""
    return [m for m in sink.to("root@example.org") if "weekly digest" not in m["Subject"]]


def test_a_fresh_install_summarises_the_backlog_once_and_numbers_from_one(install, sessions, clock, client, auth):
    runner, sink = install
    with sessions() as s:
        stale = {q.id: q.slug for q in s.scalars(select(Question).where(
            Question.closes_at < NOW - days(EVERY), Question.status.not_in(FINAL_STATUSES)))}
    assert len(stale) >= 10  # the bank's 2017-2018 questions closed years ago

    scheduler_once(runner)
    scheduler_once(runner)  # a second sweep (or a restart) adds nothing
    prompts = all_prompts(sessions)
    (summary,) = [p for p in prompts if p.kind == "summary"]
    backlog = [p for p in prompts if p.kind == "backlog"]
    assert {p.question_id for p in backlog} == set(stale)
    assert all(p.number == 1 and p.summary_id == summary.id and p.due_at == NOW for p in backlog)
    assert all(p.mail_state == "skipped" and p.delivery == BACKLOG_DELIVERY for p in backlog)
    assert [p for p in prompts if p.kind == "question"] == []  # no reminder per old question
    assert f"{len(stale)} questions closed more than 7 days before" in summary.message
    assert "`tracker demo`" in summary.message and "sourced outcomes" in summary.message
    # One email, the summary, listing every question with its link.
    (msg,) = prompt_mails(sink)
    assert msg["Subject"] == f"[Forecast tracker] {len(stale)} questions await resolution (backlog summary)"
    body = msg.get_payload(decode=True).decode()
    assert all(f"https://t.example.org/admin/questions/{slug}/resolve" in body for slug in stale.values())
    assert "https://t.example.org/admin/" in body

    auth.login("root")
    slug = next(iter(stale.values()))
    assert queue_number(client, slug) == [1]
    inbox = client.get("/admin/inbox").get_data(as_text=True)
    assert "reminder 408" not in inbox and inbox.count('class="prompt ') == 1  # the summary alone
    assert "backlog summary" in inbox and f'href="/admin/questions/{slug}/resolve"' in inbox

    # Nothing more within the interval; one interval after the summary, reminder 2 for each.
    clock.set(NOW + days(EVERY) - timedelta(minutes=1))
    scheduler_once(runner)
    assert len(all_prompts(sessions)) == len(prompts)
    clock.set(NOW + days(EVERY))
    scheduler_once(runner)
    second = [p for p in all_prompts(sessions) if p.kind == "question"]
    assert {p.question_id for p in second} == set(stale)
    assert all(p.number == 2 and p.due_at == NOW + days(EVERY) for p in second)
    assert len([p for p in all_prompts(sessions) if p.kind == "summary"]) == 1
    subjects = {m["Subject"] for m in prompt_mails(sink)[1:]}
    assert len(subjects) == len(stale) and all(s.startswith("[Forecast tracker] Reminder 2: resolve ") for s in subjects)

    # The queue and the inbox show the same number for the same prompt.
    for prompt in second[:3]:
        slug = stale[prompt.question_id]
        assert queue_number(client, slug) == inbox_numbers(client, prompt.id) == [2]
    # And the next one, another interval on, is 3.
    clock.set(NOW + days(2 * EVERY))
    scheduler_once(runner)
    third = [p for p in all_prompts(sessions) if p.kind == "question" and p.number == 3]
    assert {p.question_id for p in third} == set(stale)
    assert queue_number(client, stale[third[0].question_id]) == inbox_numbers(client, third[0].id) == [3]


def test_the_demo_resolves_the_backlog_and_its_reminders_stop(install, sessions, clock):
    runner, _sink = install
    scheduler_once(runner)
    result = runner.invoke(["demo", "--forecasters", "6"])
    assert result.exit_code == 0, result.output
    clock.set(NOW + days(EVERY))
    scheduler_once(runner)
    with sessions() as s:
        waiting = set(s.scalars(select(Question.id).where(
            Question.closes_at < NOW, Question.status.not_in(FINAL_STATUSES))))
    reminded = {p.question_id for p in all_prompts(sessions) if p.kind == "question"}
    assert reminded == waiting  # only what the demo could not resolve from the record


def test_a_recent_close_is_prompted_on_its_own_beside_the_backlog(db_session, clock):
    old = [make_question(db_session, f"old-{i}", opens_at=NOW - days(400), closes_at=NOW - days(300 + i),
                         resolve_by=NOW - days(290)) for i in range(3)]
    fresh = make_question(db_session, "fresh", opens_at=NOW - days(30), closes_at=NOW - days(2),
                          resolve_by=NOW + days(5))
    ids = create_due_prompts(db_session, clock, EVERY)
    rows = list(db_session.scalars(select(Prompt).order_by(Prompt.id)))
    summary = next(p for p in rows if p.kind == "summary")
    mine = next(p for p in rows if p.question_id == fresh.id)
    assert set(ids) == {summary.id, mine.id}
    assert (mine.kind, mine.number, mine.step) == ("question", 1, 0)
    assert {p.question_id for p in rows if p.kind == "backlog"} == {q.id for q in old}
    assert "tracker demo" not in summary.message  # none of them is the bank's history
    # Its resolve-by prompt is number 2, on the resolve-by date.
    clock.set(NOW + days(5))
    (later,) = [db_session.get(Prompt, i) for i in create_due_prompts(db_session, clock, EVERY)]
    assert (later.question_id, later.number, later.step) == (fresh.id, 2, 1)


def test_one_stale_question_alone_is_prompted_as_usual(db_session, clock):
    q = make_question(db_session, "q", opens_at=NOW - days(60), closes_at=NOW - days(40), resolve_by=NOW - days(30))
    (pid,) = create_due_prompts(db_session, clock, EVERY)
    prompt = db_session.get(Prompt, pid)
    assert (prompt.question_id, prompt.kind, prompt.number, prompt.step) == (q.id, "question", 1, 5)
    assert "still unresolved 28 days after" in prompt.message and "reminder" not in prompt.message


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'numbers.sqlite3'}"
    return request.getfixturevalue("fresh_pg_url")


def test_the_migration_numbers_existing_prompts_from_one(empty_url):
    """An install upgraded from 0005 whose inbox said "reminder 407": its prompts become 1, 2, 3."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from tracker.db import make_engine
    from tracker.migrate import downgrade, upgrade

    upgrade(empty_url, "0005")
    engine = make_engine(empty_url)
    try:
        with Session(engine) as s, s.begin():
            a = make_question(s, "a", opens_at=NOW - days(9), closes_at=NOW - days(8))
            b = make_question(s, "b", opens_at=NOW - days(9), closes_at=NOW - days(8))
            ids = (a.id, b.id)
        with engine.begin() as conn:
            for qid, step in ((ids[0], 408), (ids[0], 409), (ids[0], 407), (ids[1], 0)):
                conn.execute(text(
                    "INSERT INTO prompts (question_id, step, due_at, message, created_at, delivery) "
                    "VALUES (:q, :s, :t, :m, :t, 'sent')"),
                    {"q": qid, "s": step, "t": NOW, "m": f"Still unresolved (reminder {step - 1})." if step else "Closed."})
        upgrade(empty_url, "head")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT question_id, step, number, kind, message FROM prompts "
                                     "ORDER BY question_id, step")).all()
        assert [(r.step, r.number, r.kind) for r in rows] == [
            (407, 1, "question"), (408, 2, "question"), (409, 3, "question"), (0, 1, "question")]
        assert [r.message for r in rows] == ["Still unresolved."] * 3 + ["Closed."]
        downgrade(empty_url, "0005")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM prompts")).scalar() == 4
    finally:
        engine.dispose()
