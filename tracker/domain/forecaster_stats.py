"""Per-forecaster score aggregates (overall and per tag), rewritten from the stored per-question
scores whenever a rescore touches a forecaster, so boards and profiles read one row per forecaster.

Means, sums and the calibration (REL of the pooled bin sums) are computed by :mod:`tracker.scoring`
exactly as a board computed them on the fly before; only the reading moved off the request path.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from .. import scoring
from ..models import ForecasterBin, ForecasterStat, Question, QuestionTag, Score

#: Forecasters refreshed per round: bounds the score rows held in memory at once.
USERS_PER_ROUND = 2000
OVERALL = ""


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def _none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _bins(stored: dict | None) -> np.ndarray:
    if not stored:
        return np.zeros((3, scoring.N_BINS))
    return np.asarray([stored["count"], stored["sum_forecast"], stored["sum_outcome"]], dtype=np.float64)


def refresh_stats(session: Session, user_ids: Iterable[int]) -> int:
    """Rewrite the aggregate rows of ``user_ids`` from their stored scores; returns rows written."""
    ids = sorted({int(u) for u in user_ids})
    written = 0
    for start in range(0, len(ids), USERS_PER_ROUND):
        written += _refresh_round(session, ids[start:start + USERS_PER_ROUND])
    return written


def _refresh_round(session: Session, ids: list[int]) -> int:
    session.execute(delete(ForecasterStat).where(ForecasterStat.user_id.in_(ids)))
    session.execute(delete(ForecasterBin).where(ForecasterBin.user_id.in_(ids)))
    rows = session.execute(
        select(Score.user_id, Score.question_id, Score.forecasts, Score.brier, Score.relative_brier,
               Score.log_score, Score.coverage, Score.calibration)
        .join(Question, Question.id == Score.question_id)
        .where(Score.user_id.in_(ids), Question.status == "resolved")
    ).all()
    if not rows:
        return 0
    qids = sorted({r.question_id for r in rows})
    tags_of: dict[int, list[str]] = {}
    for chunk in range(0, len(qids), 5000):
        for qid, tag in session.execute(select(QuestionTag.question_id, QuestionTag.tag)
                                        .where(QuestionTag.question_id.in_(qids[chunk:chunk + 5000]))):
            tags_of.setdefault(qid, []).append(tag)
    # One group per (forecaster, tag), the overall group being tag ''.
    groups: dict[tuple[int, str], int] = {}
    key, index = [], []
    for i, r in enumerate(rows):
        for tag in (OVERALL, *tags_of.get(r.question_id, ())):
            key.append(groups.setdefault((r.user_id, tag), len(groups)))
            index.append(i)
    take = np.asarray(index, dtype=np.int64)
    keys = np.asarray(key, dtype=np.int64)

    def column(values) -> np.ndarray:
        return np.fromiter(values, dtype=np.float64, count=len(rows)).take(take)

    _, mean_brier, _ = scoring.group_mean(keys, column(_nan(r.brier) for r in rows))
    _, mean_relative, _ = scoring.group_mean(keys, column(_nan(r.relative_brier) for r in rows))
    _, mean_log, _ = scoring.group_mean(keys, column(_nan(r.log_score) for r in rows))
    _, mean_coverage, _ = scoring.group_mean(keys, column(_nan(r.coverage) for r in rows))
    _, forecasts = scoring.group_sum(keys, column(r.forecasts for r in rows))
    _, questions = scoring.group_sum(keys, np.ones(len(keys)))
    bins = np.asarray([_bins(r.calibration) for r in rows]).reshape(len(rows), 3, scoring.N_BINS).take(take, axis=0)
    _, pooled = scoring.group_sum(keys, bins)
    calibration = scoring.calibration_from_bin_sums(pooled[:, 0], pooled[:, 1], pooled[:, 2])
    # group_* return groups in sorted key order, which is the order of first appearance here.
    stats: list[dict] = []
    bin_rows: list[dict] = []
    for (user_id, tag), g in groups.items():
        stats.append({
            "user_id": user_id, "tag": tag, "questions": int(questions[g]), "forecasts": int(forecasts[g]),
            "mean_brier": _none(mean_brier[g]), "mean_relative_brier": _none(mean_relative[g]),
            "mean_log_score": _none(mean_log[g]), "mean_coverage": _none(mean_coverage[g]),
            "calibration": _none(calibration.reliability[g]),
        })
        bin_rows.extend(
            {"user_id": user_id, "tag": tag, "bin": k, "count": float(pooled[g, 0, k]),
             "sum_forecast": float(pooled[g, 1, k]), "sum_outcome": float(pooled[g, 2, k])}
            for k in range(scoring.N_BINS) if pooled[g, 0, k] > 0
        )
    session.execute(insert(ForecasterStat), stats)
    if bin_rows:
        session.execute(insert(ForecasterBin), bin_rows)
    return len(stats)


def pooled_bins(session: Session, user_id: int, tag: str = OVERALL) -> np.ndarray:
    """A forecaster's stored pooled calibration bin sums as a (3, 11) array."""
    out = np.zeros((3, scoring.N_BINS))
    for b in session.scalars(select(ForecasterBin).where(ForecasterBin.user_id == user_id, ForecasterBin.tag == tag)):
        out[:, b.bin] = (b.count, b.sum_forecast, b.sum_outcome)
    return out
