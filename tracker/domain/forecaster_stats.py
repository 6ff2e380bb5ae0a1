"""Per-forecaster score aggregates (overall: tag '', and per tag), kept by every rescore so boards
and profiles read one row per forecaster.

Each stored per-question score contributes a fixed vector (one question, its forecasts, the sum and
count of each score present, its calibration bin sums); an aggregate is the sum of its
contributions. A rescore subtracts the old rows' contributions and adds the new ones, so its cost
follows the rescored questions' forecasters, not their histories. Means come from
:func:`tracker.scoring.mean_from_sums` and the calibration (REL of the pooled bins) from
:func:`tracker.scoring.calibration_from_bin_sums`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from .. import scoring
from ..models import BIN_COLUMNS, ForecasterStat, Question, QuestionTag, Score

OVERALL = ""
#: The summed fields of an aggregate, in vector order.
FIELDS = ["questions", "forecasts", "sum_brier", "n_brier", "sum_relative_brier", "n_relative_brier",
          "sum_log_score", "n_log_score", "sum_coverage", "n_coverage", *BIN_COLUMNS]
_BINS = slice(10, 10 + 33)
#: Score rows read per round when aggregates are rebuilt from scratch.
ROWS_PER_ROUND = 50_000
Key = tuple[int, str]


_NO_BINS = [0.0] * 33


def contributions(rows: Sequence[tuple]) -> np.ndarray:
    """The vectors (n, len(FIELDS)) that stored per-question scores add to their forecaster's
    aggregates; each row is (forecasts, brier, relative Brier, log score, coverage, calibration)."""
    matrix = np.zeros((len(rows), len(FIELDS)))
    if not rows:
        return matrix
    matrix[:, 0] = 1.0
    matrix[:, 1] = [r[0] for r in rows]
    for i in range(4):
        values = np.array([np.nan if r[1 + i] is None else r[1 + i] for r in rows], dtype=np.float64)
        present = ~np.isnan(values)
        matrix[:, 2 + 2 * i] = np.where(present, values, 0.0)
        matrix[:, 3 + 2 * i] = present
    matrix[:, _BINS] = [c["count"] + c["sum_forecast"] + c["sum_outcome"] if c else _NO_BINS
                        for c in (r[5] for r in rows)]
    return matrix


def _tags(session: Session, question_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = sorted(set(question_ids))
    found: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(ids), 5000):
        for qid, tag in session.execute(select(QuestionTag.question_id, QuestionTag.tag)
                                        .where(QuestionTag.question_id.in_(ids[start:start + 5000]))):
            found[qid].append(tag)
    return found


def accumulate(session: Session, rows: Sequence[tuple], sign: float,
               into: dict[Key, np.ndarray] | None = None) -> dict[Key, np.ndarray]:
    """Add ``sign`` × the contribution of each stored score row (user id, question id, then the
    fields of :func:`contributions`) to its forecaster's overall and per-tag keys."""
    deltas: dict[Key, np.ndarray] = into if into is not None else {}
    if not rows:
        return deltas
    matrix = contributions([r[2:] for r in rows])
    tags = _tags(session, (r[1] for r in rows))
    index: dict[Key, int] = {}
    key_of_entry, row_of_entry = [], []
    for i, r in enumerate(rows):
        for tag in (OVERALL, *tags.get(r[1], ())):
            key_of_entry.append(index.setdefault((r[0], tag), len(index)))
            row_of_entry.append(i)
    _, sums = scoring.group_sum(np.asarray(key_of_entry), matrix.take(row_of_entry, axis=0))
    for key, k in index.items():  # group_sum orders groups by key index, i.e. first appearance
        deltas[key] = deltas[key] + sign * sums[k] if key in deltas else sign * sums[k]
    return deltas


def stored_contributions(session: Session, question_ids: Sequence[int]) -> list[tuple]:
    """The Score rows now stored for ``question_ids``, as :func:`accumulate` takes them."""
    return list(session.execute(
        select(Score.user_id, Score.question_id, Score.forecasts, Score.brier, Score.relative_brier,
               Score.log_score, Score.coverage, Score.calibration).where(Score.question_id.in_(question_ids))))


def apply_deltas(session: Session, deltas: dict[Key, np.ndarray]) -> None:
    """Add ``deltas`` to the stored aggregates and rewrite the rows they touch."""
    if not deltas:
        return
    users = sorted({u for u, _t in deltas})
    tags = sorted({t for _u, t in deltas})
    columns = [getattr(ForecasterStat, name) for name in FIELDS]
    totals: dict[Key, np.ndarray] = {}
    for start in range(0, len(users), 5000):
        chunk = users[start:start + 5000]
        for row in session.execute(select(ForecasterStat.user_id, ForecasterStat.tag, *columns)
                                   .where(ForecasterStat.user_id.in_(chunk), ForecasterStat.tag.in_(tags))):
            totals[(row[0], row[1])] = np.asarray(row[2:], dtype=np.float64)
        session.execute(delete(ForecasterStat).where(ForecasterStat.user_id.in_(chunk), ForecasterStat.tag.in_(tags)))
    for key, delta in deltas.items():
        totals[key] = totals[key] + delta if key in totals else delta
    keys = [k for k, v in totals.items() if v[0] > 0.5]  # a forecaster left with no scored question has no row
    if not keys:
        return
    matrix = np.asarray([totals[k] for k in keys])
    means = scoring.mean_from_sums(matrix[:, [2, 4, 6, 8]], matrix[:, [3, 5, 7, 9]])
    bins = matrix[:, _BINS].reshape(len(keys), 3, scoring.N_BINS)
    reliability = scoring.calibration_from_bin_sums(bins[:, 0], bins[:, 1], bins[:, 2]).reliability
    records: list[dict[str, Any]] = []
    for i, (user_id, tag) in enumerate(keys):
        record: dict[str, Any] = dict(zip(FIELDS, matrix[i].tolist(), strict=True))
        record.update(user_id=user_id, tag=tag, questions=round(matrix[i, 0]), forecasts=round(matrix[i, 1]))
        for name in ("n_brier", "n_relative_brier", "n_log_score", "n_coverage"):
            record[name] = round(record[name])
        for name, value in zip(("mean_brier", "mean_relative_brier", "mean_log_score", "mean_coverage"),
                               means[i].tolist(), strict=True):
            record[name] = None if np.isnan(value) else value
        record["calibration"] = None if np.isnan(reliability[i]) else float(reliability[i])
        records.append(record)
    _write(session, records)


def _write(session: Session, records: list[dict[str, Any]]) -> None:
    """Insert aggregate rows: COPY on PostgreSQL (a rescore of a big question rewrites tens of
    thousands), executemany elsewhere."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(ForecasterStat), records)
        return
    names = [c.name for c in ForecasterStat.__table__.columns]
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
            f"COPY forecaster_stats ({', '.join(names)}) FROM STDIN") as copy:
        for record in records:
            copy.write_row([record[name] for name in names])


def rebuild_stats(session: Session) -> None:
    """Recompute every aggregate from the stored Score rows (after ``tracker scores rebuild``)."""
    session.execute(delete(ForecasterStat))
    last_user = -1
    while True:
        # Whole forecasters per round, so each one's rows are written once.
        users = list(session.scalars(select(Score.user_id).where(Score.user_id > last_user).distinct()
                                     .order_by(Score.user_id).limit(2000)))
        if not users:
            return
        last_user = users[-1]
        rows = session.execute(
            select(Score.user_id, Score.question_id, Score.forecasts, Score.brier, Score.relative_brier,
                   Score.log_score, Score.coverage, Score.calibration)
            .join(Question, Question.id == Score.question_id)
            .where(Score.user_id.in_(users), Question.status == "resolved"))
        apply_deltas(session, accumulate(session, list(rows), 1.0))


def pooled_bins(session: Session, user_id: int, tag: str = OVERALL) -> np.ndarray:
    """A forecaster's stored pooled calibration bin sums as a (3, 11) array."""
    row = session.execute(select(*[getattr(ForecasterStat, name) for name in BIN_COLUMNS])
                          .where(ForecasterStat.user_id == user_id, ForecasterStat.tag == tag)).first()
    if row is None:
        return np.zeros((3, scoring.N_BINS))
    return np.asarray(row, dtype=np.float64).reshape(3, scoring.N_BINS)
