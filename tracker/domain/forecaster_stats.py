"""Per-forecaster score aggregates (overall: tag '', and per tag), kept by every rescore so boards
and profiles read one row per forecaster.

Each stored per-question score contributes a fixed vector (one question, its forecasts, the sum and
count of each score present, its calibration bin sums); an aggregate is the sum of its
contributions. A rescore subtracts the old rows' contributions and adds the new ones, so its cost
follows the rescored questions' forecasters, not their histories. In memory the sums are whole
numbers of :data:`tracker.scoring.SUM_UNIT` (:func:`tracker.scoring.to_sum_units`), so adding and
subtracting is exact and the kept sums equal a rebuild's bit for bit. Means
come from :func:`tracker.scoring.mean_from_sums` and the calibration (REL of the pooled bins) from
:func:`tracker.scoring.calibration_from_bin_sums`. Everything moves as numpy columns
(:mod:`.column_copy`): no Python object per row.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from sqlalchemy import ColumnElement, Table, and_, case, select, true
from sqlalchemy.orm import Session

from .. import scoring
from ..models import BIN_COLUMNS, ForecasterStat, Question, QuestionTag, Score
from .column_copy import float_or_nan, read_select, replace_rows

OVERALL = ""
#: The summed fields of an aggregate, in vector order.
FIELDS = ["questions", "forecasts", "sum_brier", "n_brier", "sum_relative_brier", "n_relative_brier",
          "sum_log_score", "n_log_score", "sum_coverage", "n_coverage", *BIN_COLUMNS]
_INTEGER_FIELDS = {"questions", "forecasts", "n_brier", "n_relative_brier", "n_log_score", "n_coverage"}
_BINS = slice(10, 10 + 33)
#: The fields summed as whole numbers of SUM_UNIT (the others are counts).
_UNIT_FIELDS = np.asarray([name not in _INTEGER_FIELDS for name in FIELDS])
#: Score rows per read when aggregates are rebuilt from the stored rows.
QUESTIONS_PER_READ = 100
#: Forecasters per IN list.
USERS_PER_QUERY = 5000


@dataclass
class Contributions:
    """Stored per-question scores as their forecasters' aggregates see them: the forecaster, the
    question and the vector (len(FIELDS)) each adds, sums in SUM_UNIT."""

    user_id: np.ndarray
    question_id: np.ndarray
    matrix: np.ndarray


def contributions(user_id: np.ndarray, question_id: np.ndarray, forecasts: np.ndarray, scores: np.ndarray,
                  bins: np.ndarray) -> Contributions:
    """The contributions of score rows: ``scores`` (n, 4) Brier, relative Brier, log score and
    coverage (NaN: absent), ``bins`` (n, 33) calibration bin sums in BIN_COLUMNS order (NaN or 0:
    no samples yet)."""
    n = len(user_id)
    matrix = np.zeros((n, len(FIELDS)))
    matrix[:, 0] = 1.0
    matrix[:, 1] = forecasts
    for i in range(4):
        present = ~np.isnan(scores[:, i])
        matrix[:, 2 + 2 * i] = np.where(present, scores[:, i], 0.0)
        matrix[:, 3 + 2 * i] = present
    if n:
        matrix[:, _BINS] = np.nan_to_num(bins, nan=0.0)
    matrix[:, _UNIT_FIELDS] = scoring.to_sum_units(matrix[:, _UNIT_FIELDS])
    return Contributions(np.asarray(user_id, dtype=np.int64), np.asarray(question_id, dtype=np.int64), matrix)


def stored_contributions(session: Session, question_ids: Sequence[int], resolved_only: bool = False) -> Contributions:
    """The contributions of the Score rows now stored for ``question_ids``."""
    floats = [float_or_nan(session, c) for c in (Score.brier, Score.relative_brier, Score.log_score, Score.coverage)]
    bins = [float_or_nan(session, getattr(Score, name)) for name in BIN_COLUMNS]
    stmt = select(Score.user_id, Score.question_id, Score.forecasts, *floats, *bins).where(
        Score.question_id.in_([int(q) for q in question_ids]))
    if resolved_only:
        stmt = stmt.join(Question, Question.id == Score.question_id).where(Question.status == "resolved")
    columns = read_select(session, stmt, ["i4", "i4", "i4"] + ["f8"] * (4 + 33))
    return contributions(columns[0], columns[1], columns[2], np.stack(columns[3:7], axis=1).reshape(-1, 4),
                         np.stack(columns[7:], axis=1).reshape(-1, 33))


@dataclass
class KeySums:
    """Summed contributions per aggregate key (forecaster, tag)."""

    user_id: np.ndarray  # (k,) int
    tag: np.ndarray  # (k,) str
    sums: np.ndarray  # (k, len(FIELDS)), in SUM_UNIT but for the counts

    @classmethod
    def empty(cls) -> KeySums:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=str), np.zeros((0, len(FIELDS))))

    def __add__(self, other: KeySums) -> KeySums:
        return _group(np.concatenate([self.user_id, other.user_id]), np.concatenate([self.tag, other.tag]),
                      np.concatenate([self.sums, other.sums]))


def _group(user_id: np.ndarray, tag: np.ndarray, matrix: np.ndarray) -> KeySums:
    if len(user_id) == 0:
        return KeySums.empty()
    vocabulary, tag_index = np.unique(np.asarray(tag, dtype=str), return_inverse=True)
    width = len(vocabulary)
    keys, inverse = np.unique(np.asarray(user_id, dtype=np.int64) * width + tag_index.ravel(), return_inverse=True)
    # Column by column: no index array the size of the whole matrix. Whole units: exact sums.
    sums = np.empty((len(keys), matrix.shape[1]))
    for j in range(matrix.shape[1]):
        sums[:, j] = np.bincount(inverse.ravel(), weights=matrix[:, j], minlength=len(keys))
    return KeySums(keys // width, vocabulary[keys % width], sums)


def _tags(session: Session, question_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = sorted({int(q) for q in question_ids})
    found: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(ids), 5000):
        for qid, tag in session.execute(select(QuestionTag.question_id, QuestionTag.tag)
                                        .where(QuestionTag.question_id.in_(ids[start:start + 5000]))):
            found[qid].append(tag)
    return found


def key_sums(session: Session, rows: Contributions, sign: float = 1.0) -> KeySums:
    """``sign`` × the contributions, summed per forecaster overall and per tag of the question."""
    if len(rows.user_id) == 0:
        return KeySums.empty()
    questions, inverse = np.unique(rows.question_id, return_inverse=True)
    inverse = inverse.ravel()
    tags = _tags(session, questions.tolist())
    lists = [[OVERALL, *tags.get(int(q), ())] for q in questions]
    total = KeySums.empty()
    for j in range(max(len(tag_list) for tag_list in lists)):  # the overall key, then each tag slot
        has = np.asarray([len(tag_list) > j for tag_list in lists])
        name = np.asarray([tag_list[j] if len(tag_list) > j else OVERALL for tag_list in lists], dtype=str)
        entries = np.flatnonzero(has[inverse])
        part = _group(rows.user_id[entries], name[inverse[entries]],
                      rows.matrix if len(entries) == len(inverse) else rows.matrix[entries])
        total = total + part
    if sign != 1.0:
        total.sums *= sign
    return total


def _stored_totals(session: Session, keys: KeySums) -> KeySums:
    """The stored sums of every aggregate row of ``keys``' forecasters and tags."""
    tags = sorted(set(keys.tag.tolist()))
    tag_index = case({t: i for i, t in enumerate(tags)}, value=ForecasterStat.tag)
    kinds = ["i4" if name in _INTEGER_FIELDS else "f8" for name in FIELDS]
    users = sorted(set(keys.user_id.tolist()))
    found = []
    for start in range(0, len(users), USERS_PER_QUERY):
        stmt = select(ForecasterStat.user_id, tag_index, *[getattr(ForecasterStat, f) for f in FIELDS]).where(
            _rows_of(users[start:start + USERS_PER_QUERY], tags))
        columns = read_select(session, stmt, ["i4", "i4", *kinds])
        sums = np.stack([c.astype(np.float64) for c in columns[2:]], axis=1).reshape(-1, len(FIELDS))
        sums[:, _UNIT_FIELDS] = scoring.to_sum_units(sums[:, _UNIT_FIELDS])
        found.append(KeySums(columns[0], np.asarray(tags, dtype=str)[columns[1]], sums))
    return _group(np.concatenate([f.user_id for f in found]), np.concatenate([f.tag for f in found]),
                  np.concatenate([f.sums for f in found]))


def _rows_of(users: list[int], tags: list[str]):
    return and_(ForecasterStat.user_id.in_(users), ForecasterStat.tag.in_(tags))


def apply_deltas(session: Session, deltas: KeySums) -> None:
    """Add ``deltas`` to the stored aggregates and rewrite the rows they touch."""
    if len(deltas.user_id) == 0:
        return
    totals = _stored_totals(session, deltas) + deltas
    users, tags = sorted(set(deltas.user_id.tolist())), sorted(set(deltas.tag.tolist()))
    write_totals(session, totals, _rows_of(users, tags))


def write_totals(session: Session, totals: KeySums, scope: ColumnElement[bool]) -> None:
    """Make the aggregate rows in ``scope`` one row per key of ``totals`` with at least one scored
    question (a forecaster left with none has no row), means and calibration from the sums."""
    keep = totals.sums[:, 0] > 0.5
    matrix = totals.sums[keep]
    matrix[:, _UNIT_FIELDS] = scoring.from_sum_units(matrix[:, _UNIT_FIELDS])
    means = scoring.mean_from_sums(matrix[:, [2, 4, 6, 8]], matrix[:, [3, 5, 7, 9]])
    bins = matrix[:, _BINS].reshape(len(matrix), 3, scoring.N_BINS)
    reliability = (scoring.calibration_from_bin_sums(bins[:, 0], bins[:, 1], bins[:, 2]).reliability
                   if len(matrix) else np.zeros(0))
    columns: dict[str, np.ndarray | list] = {"user_id": totals.user_id[keep], "tag": totals.tag[keep].tolist()}
    for i, name in enumerate(FIELDS):
        columns[name] = np.rint(matrix[:, i]).astype(np.int64) if name in _INTEGER_FIELDS else matrix[:, i]
    for i, name in enumerate(("mean_brier", "mean_relative_brier", "mean_log_score", "mean_coverage")):
        columns[name] = means[:, i]
    columns["calibration"] = np.asarray(reliability, dtype=np.float64)
    replace_rows(session, cast(Table, ForecasterStat.__table__), columns, scope)


def rebuild_stats(session: Session) -> None:
    """Recompute every aggregate from the stored Score rows of resolved questions."""
    question_ids = list(session.scalars(select(Score.question_id).distinct().order_by(Score.question_id)))
    totals = KeySums.empty()
    for start in range(0, len(question_ids), QUESTIONS_PER_READ):
        rows = stored_contributions(session, question_ids[start:start + QUESTIONS_PER_READ], resolved_only=True)
        totals = totals + key_sums(session, rows)
    write_totals(session, totals, true())


def pooled_bins(session: Session, user_id: int, tag: str = OVERALL) -> np.ndarray:
    """A forecaster's stored pooled calibration bin sums as a (3, 11) array."""
    row = session.execute(select(*[getattr(ForecasterStat, name) for name in BIN_COLUMNS])
                          .where(ForecasterStat.user_id == user_id, ForecasterStat.tag == tag)).first()
    if row is None:
        return np.zeros((3, scoring.N_BINS))
    return np.asarray(row, dtype=np.float64).reshape(3, scoring.N_BINS)
