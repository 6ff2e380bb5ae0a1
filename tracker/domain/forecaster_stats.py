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
from sqlalchemy import ColumnElement, Table, and_, any_, case, delete, literal_column, select, true
from sqlalchemy.orm import Session

from .. import scoring
from ..models import BIN_COLUMNS, ForecasterStat, Question, QuestionTag, Score
from .column_copy import float_or_nan, read_select, write_columns

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
    # Column-major: every step below, and the grouping, works a column at a time.
    matrix = np.zeros((n, len(FIELDS)), order="F")
    matrix[:, 0] = 1.0
    matrix[:, 1] = forecasts
    for i in range(4):
        present = ~np.isnan(scores[:, i])
        matrix[:, 2 + 2 * i] = np.where(present, scores[:, i], 0.0)
        matrix[:, 3 + 2 * i] = present
    if n:
        matrix[:, _BINS] = np.nan_to_num(bins, nan=0.0)
    for j in np.flatnonzero(_UNIT_FIELDS):
        matrix[:, j] = scoring.to_sum_units(matrix[:, j])
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
                      _stack_rows(self.sums, other.sums))


def _stack_rows(*parts: np.ndarray) -> np.ndarray:
    """The rows of ``parts`` one after the other, column-major."""
    out = np.empty((sum(len(p) for p in parts), len(FIELDS)), order="F")
    start = 0
    for part in parts:
        out[start:start + len(part)] = part
        start += len(part)
    return out


def _group(user_id: np.ndarray, tag: np.ndarray, matrix: np.ndarray, take: np.ndarray | None = None) -> KeySums:
    """Rows of ``matrix`` (those at ``take``, one per entry of ``user_id`` and ``tag``, if given)
    summed per (forecaster, tag)."""
    if len(user_id) == 0:
        return KeySums.empty()
    # A sorted vocabulary from a set: sorting the few distinct tags, not one string per row.
    vocabulary = np.asarray(sorted(set(np.asarray(tag, dtype=str).tolist())), dtype=str)
    width = len(vocabulary)
    tag_index = np.searchsorted(vocabulary, tag) if width > 1 else np.zeros(len(tag), dtype=np.int64)
    keys, inverse = np.unique(np.asarray(user_id, dtype=np.int64) * width + tag_index, return_inverse=True)
    inverse = inverse.ravel()
    # Column by column (contiguous in a column-major matrix). Whole units: exact sums.
    sums = np.empty((len(keys), matrix.shape[1]), order="F")
    for j in range(matrix.shape[1]):
        column = matrix[:, j] if take is None else matrix[:, j][take]
        sums[:, j] = np.bincount(inverse, weights=column, minlength=len(keys))
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
    entries, names = [], []
    for j in range(max(len(tag_list) for tag_list in lists)):  # the overall key, then each tag slot
        has = np.asarray([len(tag_list) > j for tag_list in lists])
        name = np.asarray([tag_list[j] if len(tag_list) > j else OVERALL for tag_list in lists], dtype=str)
        found = np.flatnonzero(has[inverse])
        entries.append(found)
        names.append(name[inverse[found]])
    take = np.concatenate(entries)
    total = _group(rows.user_id[take], np.concatenate(names), rows.matrix, take)
    if sign != 1.0:
        total.sums *= sign
    return total


#: The aggregate columns computed from the sums (compared too: a rebuild follows a change of
#: how they are computed even where the sums are the same).
DERIVED = ["mean_brier", "mean_relative_brier", "mean_log_score", "mean_coverage", "calibration"]


@dataclass
class Stored:
    """Stored aggregate rows: their sums (in SUM_UNIT but for the counts) and derived columns."""

    sums: KeySums
    derived: np.ndarray  # (k, len(DERIVED)), NaN for NULL


def _stored_rows(session: Session, keys: KeySums | None, take: bool = False) -> Stored:
    """The stored aggregate rows of exactly ``keys``' (forecaster, tag) pairs; every row if None.
    ``take``: delete them as they are read (one DELETE ... RETURNING per tag)."""
    if take and keys is not None:
        return _take_rows(session, keys)
    if keys is None:
        tags = sorted(session.scalars(select(ForecasterStat.tag).distinct()))
        groups: list[ColumnElement[bool]] = [true()] if tags else []
        wanted = None
    else:
        tags = sorted(set(keys.tag.tolist()))
        users = sorted(set(keys.user_id.tolist()))
        groups = [and_(_user_in(session, part), ForecasterStat.tag.in_(tags)) for part in _parts(session, users)]
        wanted = _codes(keys.user_id, keys.tag, tags)
    kinds = ["i4" if name in _INTEGER_FIELDS else "f8" for name in FIELDS] + ["f8"] * len(DERIVED)
    derived = [float_or_nan(session, getattr(ForecasterStat, name)) for name in DERIVED]
    found = []
    for where in groups:
        tag_index = case({t: i for i, t in enumerate(tags)}, value=ForecasterStat.tag)
        stmt = select(ForecasterStat.user_id, tag_index, *[getattr(ForecasterStat, f) for f in FIELDS],
                      *derived).where(where)
        found.append(read_select(session, stmt, ["i4", "i4", *kinds]))
    return _stored_from(found, tags, wanted)


def _take_rows(session: Session, keys: KeySums) -> Stored:
    """The stored rows of exactly ``keys``, deleted as they are read: a rescore rewrites every
    row whose delta is not zero, so reading them and deleting them is one pass, not two."""
    tags = sorted(set(keys.tag.tolist()))
    kinds = ["i4" if name in _INTEGER_FIELDS else "f8" for name in FIELDS] + ["f8"] * len(DERIVED)
    derived = [float_or_nan(session, getattr(ForecasterStat, name)) for name in DERIVED]
    found = []
    for i, name in enumerate(tags):
        users = sorted(keys.user_id[keys.tag == name].tolist())
        for part in _parts(session, users):
            stmt = (delete(ForecasterStat).where(ForecasterStat.tag == name, _user_in(session, part))
                    .returning(ForecasterStat.user_id, literal_column(str(i)),
                               *[getattr(ForecasterStat, f) for f in FIELDS], *derived))
            found.append(read_select(session, stmt, ["i4", "i4", *kinds]))
    return _stored_from(found, tags, None)


def _stored_from(found: list[list[np.ndarray]], tags: list[str], wanted: np.ndarray | None) -> Stored:
    if not found:
        return Stored(KeySums.empty(), np.zeros((0, len(DERIVED))))
    columns = [np.concatenate(parts) for parts in zip(*found, strict=True)]
    user_id, tag = columns[0], np.asarray(tags, dtype=str)[columns[1]] if tags else np.zeros(0, dtype=str)
    values = np.stack([c.astype(np.float64) for c in columns[2:]], axis=1).reshape(-1, len(FIELDS) + len(DERIVED))
    if wanted is not None:  # the query read every pair of the keys' forecasters and tags
        exact = np.isin(_codes(user_id, tag, tags), wanted)
        user_id, tag, values = user_id[exact], tag[exact], values[exact]
    sums = np.asfortranarray(values[:, :len(FIELDS)])
    for j in np.flatnonzero(_UNIT_FIELDS):
        sums[:, j] = scoring.to_sum_units(sums[:, j])
    return Stored(KeySums(user_id, tag, sums), values[:, len(FIELDS):])


def stored_rows(session: Session) -> Stored:
    """Every stored aggregate row (a rebuild compares its totals with them)."""
    return _stored_rows(session, None)


def _codes(user_id: np.ndarray, tag: np.ndarray, vocabulary: Sequence[str]) -> np.ndarray:
    """One int64 per (forecaster, tag) pair, tags numbered by their place in ``vocabulary``."""
    index = np.searchsorted(np.asarray(vocabulary, dtype=str), np.asarray(tag, dtype=str))
    return np.asarray(user_id, dtype=np.int64) * (len(vocabulary) + 1) + index


def _parts(session: Session, users: list[int]) -> list[list[int]]:
    """``users`` in lists of USERS_PER_QUERY for SQLite's IN; whole for PostgreSQL's ANY."""
    if session.get_bind().dialect.name == "postgresql":
        return [users]
    return [users[start:start + USERS_PER_QUERY] for start in range(0, len(users), USERS_PER_QUERY)]


def _user_in(session: Session, users: list[int]) -> ColumnElement[bool]:
    """``user_id`` among ``users``. PostgreSQL gets one array literal (``= ANY(ARRAY[...])``): an
    IN list of thousands of parameters costs more to bind and plan than the rows it finds."""
    if session.get_bind().dialect.name == "postgresql":
        return ForecasterStat.user_id == any_(literal_column(f"ARRAY[{','.join(str(int(u)) for u in users)}]::int[]"))
    return ForecasterStat.user_id.in_(users)


def apply_deltas(session: Session, deltas: KeySums) -> None:
    """Add ``deltas`` to the stored aggregates and rewrite the rows whose values change (a delta
    of exactly zero, in whole SUM_UNITs, changes nothing and is not even read)."""
    moved = np.any(deltas.sums != 0.0, axis=1)
    if not moved.any():
        return
    deltas = KeySums(deltas.user_id[moved], deltas.tag[moved], deltas.sums[moved])
    # PostgreSQL deletes the rows as it reads them (they all change); SQLite reads, then deletes.
    take = session.get_bind().dialect.name == "postgresql"
    stored = _stored_rows(session, deltas, take=take)
    write_totals(session, stored.sums + deltas, stored, deleted=take)


def write_totals(session: Session, totals: KeySums, stored: Stored, deleted: bool = False) -> None:
    """Make the aggregate rows of ``stored``'s and ``totals``' keys one row per key of
    ``totals`` with at least one scored question (a forecaster left with none has no row), means
    and calibration from the sums. Rows whose values are already stored are left alone: no write,
    and no dead row for a database whose vacuum may be far off (``deleted``: the stored rows are
    already gone, every row is written)."""
    keep = totals.sums[:, 0] > 0.5
    totals = KeySums(totals.user_id[keep], totals.tag[keep], totals.sums[keep])
    columns = _row_columns(totals)
    vocabulary = sorted(set(totals.tag.tolist()) | set(stored.sums.tag.tolist()))
    new_codes = _codes(totals.user_id, totals.tag, vocabulary)
    old_codes = _codes(stored.sums.user_id, stored.sums.tag, vocabulary)
    order = np.argsort(old_codes)
    at = np.minimum(np.searchsorted(old_codes[order], new_codes), max(len(order) - 1, 0))
    same = np.zeros(len(new_codes), dtype=bool)
    if len(order) and not deleted:
        match = order[at]
        derived = np.stack([columns[name] for name in DERIVED], axis=1).reshape(-1, len(DERIVED))
        same = ((old_codes[match] == new_codes) & np.all(stored.sums.sums[match] == totals.sums, axis=1)
                & np.all(_same_floats(stored.derived[match], derived), axis=1))
    kept = np.zeros(len(old_codes), dtype=bool)
    kept[order[at[same]]] = True
    if not deleted:
        _delete_keys(session, stored.sums.user_id[~kept], stored.sums.tag[~kept])
    changed = np.flatnonzero(~same)
    write_columns(session, cast(Table, ForecasterStat.__table__),
                  {name: [values[i] for i in changed] if isinstance(values, list) else values[changed]
                   for name, values in columns.items()})


def _same_floats(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _row_columns(totals: KeySums) -> dict[str, np.ndarray | list]:
    """The stored columns of the aggregate rows of ``totals``: sums back to plain values, means
    and calibration (REL of the pooled bins) from :mod:`tracker.scoring`."""
    matrix = totals.sums.copy()
    matrix[:, _UNIT_FIELDS] = scoring.from_sum_units(matrix[:, _UNIT_FIELDS])
    means = scoring.mean_from_sums(matrix[:, [2, 4, 6, 8]], matrix[:, [3, 5, 7, 9]])
    bins = matrix[:, _BINS].reshape(len(matrix), 3, scoring.N_BINS)
    reliability = (scoring.calibration_from_bin_sums(bins[:, 0], bins[:, 1], bins[:, 2]).reliability
                   if len(matrix) else np.zeros(0))
    columns: dict[str, np.ndarray | list] = {"user_id": totals.user_id, "tag": totals.tag.tolist()}
    for i, name in enumerate(FIELDS):
        columns[name] = np.rint(matrix[:, i]).astype(np.int64) if name in _INTEGER_FIELDS else matrix[:, i]
    for i, name in enumerate(DERIVED[:4]):
        columns[name] = means[:, i]
    columns["calibration"] = np.asarray(reliability, dtype=np.float64)
    return columns


def _delete_keys(session: Session, user_id: np.ndarray, tag: np.ndarray) -> None:
    """Delete the aggregate rows of exactly these (forecaster, tag) pairs, tag by tag."""
    for name in sorted(set(tag.tolist())):
        users = sorted(user_id[tag == name].tolist())
        for part in _parts(session, users):
            session.execute(delete(ForecasterStat).where(ForecasterStat.tag == name, _user_in(session, part)))


def rebuild_stats(session: Session) -> None:
    """Recompute every aggregate from the stored Score rows of resolved questions."""
    question_ids = list(session.scalars(select(Score.question_id).distinct().order_by(Score.question_id)))
    totals = KeySums.empty()
    for start in range(0, len(question_ids), QUESTIONS_PER_READ):
        rows = stored_contributions(session, question_ids[start:start + QUESTIONS_PER_READ], resolved_only=True)
        totals = totals + key_sums(session, rows)
    write_totals(session, totals, _stored_rows(session, None))


def pooled_bins(session: Session, user_id: int, tag: str = OVERALL) -> np.ndarray:
    """A forecaster's stored pooled calibration bin sums as a (3, 11) array."""
    row = session.execute(select(*[getattr(ForecasterStat, name) for name in BIN_COLUMNS])
                          .where(ForecasterStat.user_id == user_id, ForecasterStat.tag == tag)).first()
    if row is None:
        return np.zeros((3, scoring.N_BINS))
    return np.asarray(row, dtype=np.float64).reshape(3, scoring.N_BINS)
