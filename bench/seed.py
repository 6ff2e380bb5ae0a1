"""Fill a database with the benchmark dataset through the same bulk path as the import.

Usage: python bench/seed.py [--url URL] [--scale 1.0] [--fresh]

Sizes (``--scale 1``): 1,000 questions, 10,000 forecasters, about 1,000,000 forecasts, one question
with 100,000 forecasts (resolved, slug ``big``) and one with 10 (open, slug ``small``); 500
resolved questions. The forecasts are staged in the import's compact stage
(:class:`tracker.domain.import_stage.Stage`) and written by the import's own writer,
:func:`tracker.domain.import_stage.store_stage` (COPY and one move on PostgreSQL, batched executemany on
SQLite); then every question's crowd rows and every score are built. The bench users
``f0``..``fN`` share the password in bench/common.py.
"""
from __future__ import annotations

import argparse
import time
from array import array
from datetime import UTC, datetime, timedelta

import numpy as np
from common import BENCH_PASSWORD, add_common, sizes
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.orm import Session, selectinload
from tqdm import tqdm

from tracker import migrate
from tracker.clock import SystemClock
from tracker.domain.crowd_upkeep import refresh_stale
from tracker.domain.import_stage import Stage, store_stage
from tracker.domain.scoring_runs import rebuild_all
from tracker.domain.users import hash_password
from tracker.models import Question, QuestionOption, QuestionTag, ResolutionEvent, User

DAY = timedelta(days=1)
TAGS = ["europe", "economy", "security", "elections", "energy"]


def _fresh(url: str) -> None:
    """Drop every table (and the Alembic stamp) so the seed starts from an empty schema."""
    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        else:
            for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).all():
                conn.execute(text(f'DROP TABLE "{name}"'))
    engine.dispose()


def _users(session: Session, n: int, now: datetime) -> list[int]:
    digest = hash_password(BENCH_PASSWORD)  # one hash shared by all bench users: argon2 is slow on purpose
    session.execute(insert(User), [
        {"username": f"f{i}", "email": None, "password_hash": digest, "role": "forecaster", "is_demo": False,
         "created_at": now - 400 * DAY} for i in range(n)
    ])
    return list(session.scalars(select(User.id).order_by(User.id)))


def _questions(session: Session, n: int, resolved: int, now: datetime, rng: np.random.Generator) -> list[Question]:
    """Question 0 (``big``) resolved, question 1 (``small``) open, then ``resolved - 1`` more
    resolved ones and the rest open (a tenth multiple choice)."""
    questions = []
    for i in range(n):
        closed = i == 0 or 2 <= i < resolved + 1
        if closed:
            closes = now - int(rng.integers(2, 60)) * DAY
            opens = closes - int(rng.integers(60, 365)) * DAY
        else:
            opens = now - int(rng.integers(30, 365)) * DAY
            closes = now + int(rng.integers(10, 365)) * DAY
        kind = "multiple_choice" if i % 10 == 9 else "binary"
        keys = ["a", "b", "c", "d"] if kind == "multiple_choice" else ["yes", "no"]
        slug = {0: "big", 1: "small"}.get(i, f"q{i}")
        q = Question(slug=slug, title=f"Benchmark question {slug}?", kind=kind, background="Seeded.",
                     resolution_criteria="Seeded.", opens_at=opens, closes_at=closes,
                     resolve_by=closes + 30 * DAY, status="closed" if closed else "open", is_demo=False,
                     created_at=opens, updated_at=opens)
        q.options = [QuestionOption(key=k, label=k.title(), position=p) for p, k in enumerate(keys)]
        q.tags = [QuestionTag(tag=TAGS[i % len(TAGS)])]
        session.add(q)
        questions.append(q)
    session.flush()
    return questions


def _counts(s, n_questions: int) -> list[int]:
    rest = max(s.forecasts - s.big - 10, 0)
    each = rest // max(n_questions - 2, 1)
    return [s.big, 10] + [each] * (n_questions - 2)


def _stage(questions, counts, n_users: int, now: datetime, rng: np.random.Generator) -> Stage:
    """The forecasts, question by question, in the import's stage (forecaster indexes into the
    bench users, in id order): random times in the question's window, Dirichlet probabilities."""
    stage = Stage()
    stage.spellings = [f"f{i}" for i in range(n_users)]
    for q, n in zip(questions, counts, strict=True):
        start, end = q.opens_at.timestamp(), min(q.closes_at, now).timestamp()
        times = np.sort(rng.uniform(start, end, n))
        who = rng.choice(n_users, size=n)
        k = len(q.options)
        probs = np.clip(rng.dirichlet(np.ones(k) * 2, size=n), 0.01, 0.99)
        probs /= probs.sum(axis=1, keepdims=True)
        stage.add_many(q.id, who, np.round(times * 1e6).astype(np.int64), [o.id for o in q.options], probs)
    return stage


def seed(url: str, scale: float, fresh: bool, forecasts_only: bool = False) -> None:
    s = sizes(scale)
    if fresh:
        _fresh(url)
    migrate.upgrade(url, "head")
    engine = create_engine(url)
    rng = np.random.default_rng(14)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with Session(engine) as session:
        users = _users(session, s.forecasters, now)
        questions = _questions(session, s.questions, s.resolved, now, rng)
        counts = _counts(s, len(questions))
        session.commit()
        stage = _stage(questions, counts, len(users), now, rng)
        copy_started = time.perf_counter()
        with tqdm(total=len(stage), desc="forecasts", unit="f", unit_scale=True, mininterval=1) as bar:
            written = store_stage(session.connection(), stage, array("q", users), bar.update)
        session.commit()
        copy_seconds = time.perf_counter() - copy_started
        assert written == len(stage), (written, len(stage))
        del stage
        print(f"COPIED {written} forecasts in {copy_seconds:.3f} s", flush=True)
        if forecasts_only:
            return
        if engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE"))  # fresh statistics after a bulk load, as after any restore
            session.commit()
        closed = [q for q in questions if q.status == "closed"]
        for q in closed:
            session.add(ResolutionEvent(question_id=q.id, action="resolve", outcome_option_id=q.options[0].id,
                                        actor_name="bench", created_at=now, note=""))
            q.status = "resolved"
        session.commit()
        loaded = list(session.scalars(select(Question).options(selectinload(Question.options))))
        for i in tqdm(range(0, len(loaded), 50), desc="crowd rows", unit="x50q"):
            refresh_stale(session, loaded[i:i + 50])
            session.commit()
        report = rebuild_all(session, SystemClock())
        session.commit()
    if engine.dialect.name == "postgresql":
        # What a restored production database has: the visibility map set (index-only scans) and
        # statistics on the tables written after the ANALYZE above (crowd rows, scores,
        # aggregates). Without it, autovacuum does this work on ~3 M fresh rows during the next
        # benchmark, and the pages measure the vacuum instead of the steady state.
        vacuum_started = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
        print(f"VACUUM (ANALYZE) in {time.perf_counter() - vacuum_started:.1f} s", flush=True)
    engine.dispose()
    print(f"seeded {sum(counts):,} forecasts on {len(questions)} questions by {len(users):,} forecasters; "
          f"{report.scored} questions scored ({report.score_rows:,} score rows) in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(parser)
    parser.add_argument("--fresh", action="store_true", help="drop every table first")
    parser.add_argument("--forecasts-only", action="store_true",
                        help="stop after the forecasts (bench/bulk.py times the bulk path alone this way)")
    args = parser.parse_args()
    seed(args.url, args.scale, args.fresh, args.forecasts_only)


if __name__ == "__main__":
    main()
