"""The database layer of scoring: arrays in, engine called, rows stored; following every event."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import add_forecast, make_question, make_user
from tracker.domain.scoring_runs import rebuild_all, rescore_questions, stale_question_ids
from tracker.models import QuestionScore, ResolutionEvent, Score


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2017, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def scene(db_session):
    q = make_question(db_session, "q", opens_at=at(1, 0), closes_at=datetime(2017, 3, 7, 23, 59, tzinfo=UTC),
                      status="closed")
    a, b = make_user(db_session, "ann"), make_user(db_session, "bob")
    add_forecast(db_session, q, a, 0.9, at(1))
    add_forecast(db_session, q, a, 0.95, at(4))
    add_forecast(db_session, q, b, 0.5, at(5))
    return q, a, b


def _event(db_session, q, action, key=None, occurred_at=None):
    event = ResolutionEvent(question_id=q.id, action=action, outcome_option_id=q.option_by_key(key).id if key else None,
                            occurred_at=occurred_at, note="", actor_name="test",
                            created_at=datetime(2017, 4, 1, tzinfo=UTC))
    db_session.add(event)
    db_session.flush()
    return event


def _scores(db_session, q) -> dict[str, Score]:
    return {s.user_id: s for s in db_session.scalars(select(Score).where(Score.question_id == q.id))}


def test_resolution_scores_match_the_hand_computed_values(db_session, clock, scene):
    q, a, b = scene
    event = _event(db_session, q, "resolve", "yes")
    assert stale_question_ids(db_session) == [q.id]
    rescore_questions(db_session, clock, [q.id])
    assert stale_question_ids(db_session, clock.now()) == []
    s = _scores(db_session, q)
    # docs/scoring.md §3: 90% for 3 days then 95% for 4 days, resolved yes.
    assert s[a.id].brier == pytest.approx((3 * 0.02 + 4 * 0.005) / 7)
    assert s[a.id].log_score == pytest.approx((3 * math.log(0.9) + 4 * math.log(0.95)) / 7)
    # Days 5-7: the median of ann's 0.005 and bob's 0.5 is 0.2525; days 1-4 ann is the median.
    assert s[a.id].relative_brier == pytest.approx(3 * (0.005 - 0.2525) / 7)
    assert s[b.id].relative_brier == pytest.approx(3 * (0.5 - 0.2525) / 7)
    assert s[b.id].brier == pytest.approx(0.5)
    assert (s[a.id].coverage, s[b.id].coverage) == (pytest.approx(1.0), pytest.approx(3 / 7))
    assert (s[a.id].forecasts, s[a.id].active_days) == (2, 7)
    assert s[a.id].first_forecast_at == at(1) and s[a.id].last_forecast_at == at(4)
    assert s[a.id].resolution_event_id == event.id
    counts = [getattr(s[a.id], f"count_{k}") for k in range(11)]
    assert sum(counts) == pytest.approx(1.0)  # one p(yes) sample a day, weight 1/active days
    qs = db_session.get(QuestionScore, q.id)
    assert qs.window_days == 7 and qs.forecasters == 2 and qs.crowd_brier is not None


def test_annulment_removes_scores_and_correction_restores_them(db_session, clock, scene):
    q, a, b = scene
    _event(db_session, q, "resolve", "yes")
    rescore_questions(db_session, clock, [q.id])
    annul = _event(db_session, q, "annul")
    assert stale_question_ids(db_session) == [q.id]
    rescore_questions(db_session, clock, [q.id])
    assert _scores(db_session, q) == {}
    qs = db_session.get(QuestionScore, q.id)
    assert qs.resolution_event_id == annul.id and qs.crowd_brier is None
    _event(db_session, q, "resolve", "no")
    rescore_questions(db_session, clock, [q.id])
    assert _scores(db_session, q)[b.id].brier == pytest.approx(0.5)
    assert _scores(db_session, q)[a.id].brier == pytest.approx(2 * (3 * 0.9**2 + 4 * 0.95**2) / 7)


def test_occurred_at_cuts_the_window(db_session, clock, scene):
    q, a, b = scene
    _event(db_session, q, "resolve", "yes", occurred_at=at(3, 12))
    rescore_questions(db_session, clock, [q.id])
    s = _scores(db_session, q)
    assert set(s) == {a.id}  # bob's only forecast came after the event
    assert s[a.id].brier == pytest.approx(0.02) and s[a.id].forecasts == 1 and s[a.id].active_days == 3
    assert s[a.id].last_forecast_at == at(1)


def test_rebuild_recomputes_everything(runner, sessions, clock, scene, db_session):
    q, a, b = scene
    _event(db_session, q, "resolve", "yes")
    db_session.commit()
    result = runner.invoke(["scores", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "1 scored" in result.output and "2 score row(s)" in result.output
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Score)) == 2
        rebuild_all(s, clock)
        assert s.scalar(select(func.count()).select_from(Score)) == 2


def test_early_resolution_is_rescored_once_the_close_passes(db_session, clock, scene):
    q, a, b = scene
    _event(db_session, q, "resolve", "yes", occurred_at=at(3, 12))
    clock.set(at(5))  # resolved early; the scheduled close (7 March) is still ahead
    rescore_questions(db_session, clock, [q.id])
    assert _scores(db_session, q)[a.id].count_0 is None  # all 33 bin sums NULL: not yet eligible
    assert stale_question_ids(db_session, clock.now()) == []
    clock.set(at(8))
    assert stale_question_ids(db_session, clock.now()) == [q.id]
    rescore_questions(db_session, clock, [q.id])
    assert _scores(db_session, q)[a.id].count_0 is not None


def _stats(db_session) -> dict:
    from tracker.domain.forecaster_stats import FIELDS
    from tracker.models import ForecasterStat

    rows = db_session.scalars(select(ForecasterStat).order_by(ForecasterStat.user_id, ForecasterStat.tag))
    return {(r.user_id, r.tag): [getattr(r, f) for f in (*FIELDS, "mean_brier", "mean_relative_brier",
                                                        "mean_log_score", "mean_coverage", "calibration")]
            for r in rows}


def test_forecaster_aggregates_kept_by_rescores_equal_a_rebuild(db_session, clock, scene):
    """Each rescore adds its change to the aggregates; after resolutions, a correction and an
    annulment they equal the aggregates recomputed from every stored score."""
    from tracker.domain.forecaster_stats import rebuild_stats

    q, a, b = scene
    q2 = make_question(db_session, "q2", opens_at=at(1, 0), closes_at=at(9), status="closed", tags=["t"])
    add_forecast(db_session, q2, a, 0.3, at(2))
    add_forecast(db_session, q2, b, 0.6, at(3))
    clock.set(datetime(2017, 5, 1, tzinfo=UTC))
    for question, key in ((q, "yes"), (q2, "no"), (q2, "yes")):  # the last one corrects q2
        _event(db_session, question, "resolve", key)
        question.status = "resolved"
        rescore_questions(db_session, clock, [question.id])
    kept = _stats(db_session)
    assert kept[(a.id, "")][0] == 2 and kept[(a.id, "t")][0] == 1
    rebuild_stats(db_session)
    assert _stats(db_session).keys() == kept.keys()
    for key, values in _stats(db_session).items():
        assert values == pytest.approx(kept[key], nan_ok=True, rel=1e-12, abs=1e-12)
    _event(db_session, q2, "annul")
    q2.status = "annulled"
    rescore_questions(db_session, clock, [q2.id])
    assert (a.id, "t") not in _stats(db_session) and _stats(db_session)[(a.id, "")][0] == 1


def test_batches_bounded_by_forecasts_score_the_same(db_session, clock, scene, monkeypatch):
    import tracker.domain.scoring_runs as runs

    q, _a, _b = scene
    q2 = make_question(db_session, "q2b", opens_at=at(1, 0), closes_at=at(9), status="closed")
    add_forecast(db_session, q2, _a, 0.3, at(2))
    for question in (q, q2):
        _event(db_session, question, "resolve", "yes")
        question.status = "resolved"
    clock.set(datetime(2017, 5, 1, tzinfo=UTC))
    rescore_questions(db_session, clock, [q.id, q2.id])
    together = {(s.question_id, s.user_id): s.brier for s in db_session.scalars(select(Score))}
    assert [len(b) for b in runs._batches(db_session, [q.id, q2.id])] == [2]
    monkeypatch.setattr(runs, "BATCH_FORECASTS", 1)  # every question its own batch
    assert [len(b) for b in runs._batches(db_session, [q.id, q2.id])] == [1, 1]
    rescore_questions(db_session, clock, [q.id, q2.id])
    assert {(s.question_id, s.user_id): s.brier for s in db_session.scalars(select(Score))} == together


def _rows(db_session, model) -> list[tuple]:
    columns = [c for c in model.__table__.columns if c.name != "id"]
    return sorted(tuple(r) for r in db_session.execute(select(*columns)))


def test_a_resolve_and_three_corrections_leave_exactly_what_a_rebuild_writes(db_session, clock):
    """The incremental path (delete and rewrite one question's rows, subtract its old contribution
    from the aggregates and add the new) leaves the same rows, bit for bit, as a full rebuild."""
    import numpy as np

    from tests.factories import NOW
    from tracker.domain.resolution import resolve
    from tracker.models import ForecasterStat

    rng = np.random.default_rng(11)
    admin = make_user(db_session, "root", role="admin")
    users = [make_user(db_session, f"u{i}") for i in range(9)]
    opens, closes = NOW - timedelta(days=40), NOW - timedelta(days=2)
    big = make_question(db_session, "big", opens_at=opens, closes_at=closes, status="closed", tags=["t"])
    other = make_question(db_session, "other", opens_at=opens, closes_at=closes, status="closed", tags=["t", "u"])
    choice = make_question(db_session, "choice", opens_at=opens, closes_at=closes, kind="multiple_choice",
                           options=["a", "b", "c"], status="closed", tags=["u"])
    for question, n in ((big, 60), (other, 15), (choice, 15)):
        for i in range(n):
            k = len(question.options)
            probs = rng.dirichlet(np.ones(k)).round(3)
            probs[-1] = round(1.0 - probs[:-1].sum(), 3)
            # The last forecaster only forecasts late: an early occurred_at drops them from big.
            who = users[-1] if question is big and i >= n - 3 else users[int(rng.integers(0, len(users) - 1))]
            at = opens + timedelta(days=float(rng.uniform(0, 37)) if who is not users[-1] else 36.5, seconds=i)
            add_forecast(db_session, question, who, probs.tolist() if k > 2 else float(probs[0]), at)
    resolve(db_session, clock, other, "yes", admin, "root")
    resolve(db_session, clock, choice, "b", admin, "root")
    resolve(db_session, clock, big, "yes", admin, "root")
    resolve(db_session, clock, big, "no", admin, "root", note="correction 1")
    resolve(db_session, clock, big, "no", admin, "root", occurred_at=opens + timedelta(days=20), note="correction 2")
    assert users[-1].id not in {s.user_id for s in db_session.scalars(select(Score).where(Score.question_id == big.id))}
    resolve(db_session, clock, big, "yes", admin, "root", note="correction 3")
    kept = [_rows(db_session, model) for model in (Score, QuestionScore, ForecasterStat)]
    assert len(kept[0]) > 10 and len(kept[2]) > 10
    rebuild_all(db_session, clock)
    rebuilt = [_rows(db_session, model) for model in (Score, QuestionScore, ForecasterStat)]
    assert rebuilt[0] == kept[0]
    assert rebuilt[1] == kept[1]
    assert rebuilt[2] == kept[2]


def test_fingerprints_tell_every_compared_value_apart():
    """A change of any one stored value (a NULL included) changes the row's fingerprint; equal
    rows, whatever their NaN bits, share one; none is the 'unknown' value stored rows read as."""
    import numpy as np

    from tracker.domain import scoring_runs as runs

    n = len(runs._COMPARED) + 1
    columns = {name: np.full(n, 7 if name in runs._INTEGERS | runs._TIMES else 0.25) for name in runs._COMPARED}
    columns["question_id"] = np.arange(n)
    for row, name in enumerate(runs._COMPARED, start=1):  # row 0 untouched, row k changes one value
        columns[name] = columns[name].astype(np.int64 if name in runs._INTEGERS | runs._TIMES else np.float64)
        columns[name][row] = 8 if name in runs._INTEGERS | runs._TIMES else np.nan
    printed = runs.fingerprints(columns)
    assert len(set(printed.tolist())) == n and runs._UNKNOWN not in printed
    payload = np.array([0x7FF8000000000001], dtype=np.int64).view(np.float64)  # another NaN
    same = {name: values[1:2].copy() for name, values in columns.items()}
    same["resolution_event_id"] = columns["resolution_event_id"][0:1]
    same["brier"] = np.where(np.isnan(same["brier"]), payload, same["brier"])
    assert runs.fingerprints(same)[0] == runs.fingerprints({k: v[0:1] for k, v in columns.items()})[0]


def test_a_run_rewrites_only_the_rows_whose_values_changed(db_session, clock, scene):
    """PostgreSQL compares stored fingerprints: an unchanged row keeps its id and computed_at, a
    changed row is rewritten, and a row without a fingerprint (stored before 0013) is rewritten."""
    from sqlalchemy import update

    q, a, b = scene
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite replaces a question's rows (no comparison)")
    _event(db_session, q, "resolve", "yes")
    rescore_questions(db_session, clock, [q.id])
    before = {u: (s.id, s.computed_at, s.fingerprint) for u, s in _scores(db_session, q).items()}
    assert all(fp is not None for _id, _at, fp in before.values())
    clock.advance(hours=1)
    add_forecast(db_session, q, b, 0.2, at(6))  # bob's row changes (and ann's relative Brier)
    db_session.execute(update(Score).where(Score.user_id == a.id).values(fingerprint=None, brier=0.5))
    rescore_questions(db_session, clock, [q.id])
    db_session.expire_all()
    after = _scores(db_session, q)
    assert after[b.id].id != before[b.id][0] and after[b.id].computed_at == clock.now()
    assert after[a.id].brier != 0.5 and after[a.id].fingerprint is not None
    clock.advance(hours=1)
    rebuild_all(db_session, clock)  # nothing changed since: every row kept as it is
    db_session.expire_all()
    assert {u: (s.id, s.computed_at) for u, s in _scores(db_session, q).items()} == {
        u: (s.id, s.computed_at) for u, s in after.items()}


def test_aggregate_rows_are_rewritten_only_where_their_values_change(db_session, clock, scene, monkeypatch):
    """A rebuild that finds the stored aggregates right writes and deletes none; a correction
    rewrites the rows of the question's forecasters (overall and its tags), nobody else's."""
    import tracker.domain.forecaster_stats as stats

    q, a, b = scene
    carl = make_user(db_session, "carl")
    q2 = make_question(db_session, "q2", opens_at=at(1, 0), closes_at=at(9), status="closed", tags=["t"])
    add_forecast(db_session, q2, a, 0.3, at(2))
    add_forecast(db_session, q, carl, 0.7, at(2))
    clock.set(datetime(2017, 5, 1, tzinfo=UTC))
    for question in (q, q2):
        _event(db_session, question, "resolve", "yes")
        question.status = "resolved"
        rescore_questions(db_session, clock, [question.id])
    touched: list[tuple[str, list]] = []
    real_write, real_delete = stats.write_columns, stats._delete_keys
    monkeypatch.setattr(stats, "write_columns", lambda s, t, cols: touched.append(
        ("write", sorted(zip(cols["user_id"], cols["tag"], strict=True)))) or real_write(s, t, cols))
    monkeypatch.setattr(stats, "_delete_keys", lambda s, users, tags: touched.append(
        ("delete", sorted(zip(users, tags, strict=True)))) or real_delete(s, users, tags))
    rebuild_all(db_session, clock)
    assert touched == [("delete", []), ("write", [])]
    touched.clear()
    _event(db_session, q2, "resolve", "no")
    rescore_questions(db_session, clock, [q2.id])
    # (PostgreSQL deletes the rows as it reads them, SQLite apart.)
    assert [entry for entry in touched if entry[1]] in (
        [("write", [(a.id, ""), (a.id, "t")])],
        [("delete", [(a.id, ""), (a.id, "t")]), ("write", [(a.id, ""), (a.id, "t")])])
    assert _stats(db_session)[(b.id, "")][0] == 1 and _stats(db_session)[(a.id, "t")][0] == 1
