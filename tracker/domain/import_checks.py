"""Checking a forecasts CSV file before anything is written: every row against the questions,
the forecasters and what is already stored, each problem named by line and column, the accepted
forecasts kept in a compact stage (:mod:`.import_stage`). :mod:`.csv_import` drives it."""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import Clock, ensure_utc, iso
from ..models import Forecast, ForecastProbability, Question, QuestionOption, User
from . import DomainError
from .csv_export import FORECAST_COLUMNS, format_number, restore
from .forecasts import SUM_TOLERANCE
from .import_stage import Stage, from_micros, same, to_micros
from .users import validate_username

MAX_REPORTED_ERRORS = 25
REQUIRED_IMPORT_COLUMNS = FORECAST_COLUMNS[:5]




class CsvImportError(DomainError):
    """The file was refused; ``errors`` holds one ``line N, column C: problem`` entry each."""

    def __init__(self, errors: list[str], total: int | None = None) -> None:
        total = len(errors) if total is None else total
        more = f"\n... and {total - len(errors)} more" if total > len(errors) else ""
        super().__init__("\n".join(errors) + more)
        self.errors = errors
        self.total = total


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    users_created: list[str] = field(default_factory=list)
    rescored: list[int] = field(default_factory=list)
    writes: int = 0  # write transactions of forecasts (SQLite writes in several short ones)
    longest_write: float = 0.0  # seconds, the longest of them


@dataclass
class _QuestionInfo:
    id: int
    kind: str
    status: str
    options: dict[str, int]  # key -> option id, in position order
    opens_at: datetime
    closes_at: datetime
    option_ids: list[int] = field(default_factory=list)  # in position order
    # Keys that a cell names exactly as written (no blanks around them, nothing for restore() to
    # undo): a row whose option cell is one of these needs no further work.
    plain_keys: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.option_ids = list(self.options.values())
        self.plain_keys = frozenset(k for k in self.options if k == k.strip() and restore(k) == k)


@dataclass(slots=True)
class ForecastRows:
    """The consecutive rows of one forecast."""

    key: tuple[str, str, str]
    first_line: int
    last_line: int = 0
    question: _QuestionInfo | None = None
    username: str = ""
    at: datetime | None = None
    rationale: str = ""
    probs: list[tuple[int, str, float]] = field(default_factory=list)  # (line, option key, p)
    bad: bool = False


_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|\+00:00)$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
#: Probability cells already found valid, as written -> value: a file repeats a few thousand
#: distinct ones (0.25, 0.7, ...) millions of times. Bounded, for files of all-distinct numbers.
NUMBER_CACHE_SIZE = 1 << 16


class ImportChecker:
    def __init__(self, session: Session, clock: Clock, allow_existing_users: bool = False) -> None:
        self.session, self.clock, self.now = session, clock, clock.now()
        self.allow_existing_users = allow_existing_users
        self.errors: list[str] = []
        self.error_count = 0
        self.report = ImportReport()
        self.questions: dict[str, _QuestionInfo | None] = {}
        self.users: dict[str, int] = {}
        self.web_accounts: set[str] = set()  # accounts with a password: real people's track records
        for uid, name, has_password in session.execute(
                select(User.id, User.username, User.password_hash.is_not(None))):
            self.users[name.lower()] = uid
            if has_password:
                self.web_accounts.add(name.lower())
        self.existing: dict[int, dict[tuple[int, datetime], dict[int, float]]] = {}
        self.stage = Stage()
        self.names: dict[str, str | DomainError] = {}  # raw forecaster cell -> username or problem
        self.numbers: dict[str, float] = {}  # valid probability cells as written -> value
        self.touched: set[int] = set()

    def error(self, line: int, column: str, problem: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"line {line}, column {column}: {problem}")

    def question(self, slug: str) -> _QuestionInfo | None:
        if not self.questions:
            self._load_questions()
        return self.questions.get(slug)

    def _load_questions(self) -> None:
        """Every question in two queries (a file names hundreds; one lookup each cost more than
        checking their rows)."""
        options: dict[int, dict[str, int]] = {}
        for question_id, key, option_id in self.session.execute(
                select(QuestionOption.question_id, QuestionOption.key, QuestionOption.id)
                .order_by(QuestionOption.question_id, QuestionOption.position)):
            options.setdefault(question_id, {})[key] = option_id
        for qid, slug, kind, status, opens_at, closes_at in self.session.execute(
                select(Question.id, Question.slug, Question.kind, Question.status, Question.opens_at,
                       Question.closes_at)):
            self.questions[slug] = _QuestionInfo(qid, kind, status, options.get(qid, {}), opens_at, closes_at)
        self.questions.setdefault("", None)  # loaded, even when there is no question at all

    def start_group(self, line: int, cells: list[str], at: dict[str, int], group: ForecastRows) -> None:
        """Check the cells a forecast's first row sets for all its rows: question, forecaster, time,
        rationale. Problems are recorded and mark the group bad."""
        ok = True
        slug = restore(group.key[0])
        group.question = self.question(slug) if slug else None
        if group.question is None:
            self.error(line, "question", f"unknown question {slug!r}" if slug else "is empty")
            ok = False
        raw_user = restore(cells[at["forecaster"]].strip())
        name = self.names.get(raw_user)
        if name is None:
            try:
                name = validate_username(raw_user)
            except DomainError as exc:
                name = DomainError(f"{raw_user!r}: {exc}")
            self.names[raw_user] = name  # a file names each forecaster many times: check once
        if isinstance(name, DomainError):
            self.error(line, "forecaster", str(name))
            ok = False
        else:
            group.username = name
        group.at = self.parse_time(line, group.key[2])
        ok = ok and group.at is not None
        if "rationale" in at:
            group.rationale = restore(cells[at["rationale"]])
        group.bad = not ok

    def add_probability(self, line: int, option: str, cell: str, group: ForecastRows) -> None:
        """Check one row's option and probability (every row of a forecast has its own).
        :func:`read_groups` skips this for a row whose two cells are known good."""
        option = restore(option.strip())
        ok = True
        if group.question is not None and option not in group.question.options:
            known = ", ".join(group.question.options)
            self.error(line, "option", f"unknown option {option!r} (this question has: {known})")
            ok = False
        text = cell.strip()
        if not _NUMBER_RE.match(text):
            self.error(line, "probability", f"{text!r} is not a number")
            ok = False
        elif not 0.0 <= (p := float(text)) <= 1.0:
            self.error(line, "probability", f"{text} is outside [0, 1]")
            ok = False
        else:
            if len(self.numbers) < NUMBER_CACHE_SIZE:
                self.numbers[cell] = p
            if ok:
                group.probs.append((line, option, p))
        if not ok:
            group.bad = True

    def parse_time(self, line: int, text: str) -> datetime | None:
        if not _TIME_RE.match(text):
            self.error(line, "forecast_at", f"{text!r} is not an ISO 8601 UTC time (e.g. 2017-02-06T12:00:00Z)")
            return None
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.error(line, "forecast_at", f"{text!r} is not a valid date and time")
            return None
        if at.tzinfo is not UTC:
            at = ensure_utc(at)
        if at > self.now:
            self.error(line, "forecast_at", f"{text} is in the future (now is {iso(self.now)})")
            return None
        return at

    def finish(self, group: ForecastRows) -> None:
        """Check a complete forecast; queue it for insertion unless it is a duplicate."""
        if group.bad:
            return
        q = group.question
        assert q is not None and group.at is not None
        rows = group.probs
        given = {key: p for _line, key, p in rows}  # every key is one of the question's options
        if len(given) < len(rows):
            seen: set[str] = set()
            for line, key, _p in rows:
                if key in seen:
                    self.error(line, "option", f"option {key!r} appears twice in this forecast")
                    return
                seen.add(key)
        if q.kind == "binary" and len(given) == 1 and "yes" in given:
            given["no"] = 1.0 - given["yes"]  # one yes row is enough for a binary question
        if len(given) < len(q.options):
            missing = [k for k in q.options if k not in given]
            self.error(group.first_line, "option",
                       f"missing option(s) {', '.join(missing)}: a forecast gives every option a probability")
            return
        total = math.fsum(given.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            self.error(group.last_line, "probability",
                       f"the probabilities of this forecast (lines {group.first_line}-{group.last_line}) "
                       f"sum to {format_number(total)}, not 1")
            return
        if not (q.status != "annulled" and q.opens_at <= group.at < q.closes_at) and not self.in_window(group, q):
            return
        values = [given[k] for k in q.options]
        lower = group.username.lower()
        user_id = self.users.get(lower)
        if user_id is not None:
            stored = self.stored(q.id).get((user_id, group.at))
            if stored is not None:
                if same(stored, dict(zip(q.option_ids, values, strict=True))):
                    self.report.duplicates += 1
                else:
                    self.error(group.first_line, "forecast_at",
                               f"a different forecast by {group.username} at {iso(group.at)} is already stored")
                return
            if lower in self.web_accounts and not self.allow_existing_users:
                # A new forecast under a real account would back-date that person's track record.
                self.error(group.first_line, "forecaster",
                           f"{group.username!r} is an existing account with a password; adding forecasts to "
                           "it needs --allow-existing-users")
                return
        self.stage.add(q.id, self.stage.user_index(group.username, lower), to_micros(group.at), q.option_ids,
                       values, group.rationale, group.first_line)
        self.touched.add(q.id)

    def check_repeats(self) -> None:
        """A forecast repeated in the file is skipped when it is the same, refused when it differs."""
        stage = self.stage
        for earlier, later in stage.repeats():
            if same(stage.probs(earlier), stage.probs(later)):
                stage.skip[later] = 1
                self.report.duplicates += 1
            else:
                name = stage.spellings[stage.user[later]]
                self.error(stage.line[later], "forecast_at",
                           f"{name} already has a different forecast at {iso(from_micros(stage.at[later]))} "
                           f"on line {stage.line[earlier]}")

    def in_window(self, group: ForecastRows, q: _QuestionInfo) -> bool:
        """A forecast counts only while its question was open: from opens_at to before closes_at."""
        assert group.at is not None
        if q.status == "annulled":
            self.error(group.first_line, "question", f"{group.key[0]!r} is annulled: it takes no forecasts")
            return False
        if not q.opens_at <= group.at < q.closes_at:
            self.error(group.first_line, "forecast_at",
                       f"{iso(group.at)} is outside the question's window "
                       f"({iso(q.opens_at)} to before {iso(q.closes_at)})")
            return False
        return True

    def stored(self, question_id: int) -> dict[tuple[int, datetime], dict[int, float]]:
        """Forecasts already in the database for one question, loaded once."""
        if question_id not in self.existing:
            found: dict[tuple[int, datetime], dict[int, float]] = {}
            stmt = (
                select(Forecast.user_id, Forecast.created_at, ForecastProbability.option_id,
                       ForecastProbability.probability)
                .join(ForecastProbability, ForecastProbability.forecast_id == Forecast.id)
                .where(Forecast.question_id == question_id)
            )
            for user_id, at, option_id, p in self.session.execute(stmt):
                found.setdefault((user_id, at), {})[option_id] = p
            self.existing[question_id] = found
        return self.existing[question_id]


def read_groups(importer: ImportChecker, records, names: list[str], index: dict[str, int],
                 on_row: Callable[[], None] | None) -> ForecastRows | None:
    """Check every row, finishing each forecast as the next begins; return the last, unfinished.

    This loop runs once per row of files with millions: it indexes the cells directly (no dict
    per row), checks what a forecast's rows share only on its first row, and takes a row whose
    option and probability cells are ones already found good without checking them again."""
    group: ForecastRows | None = None
    width = len(names)
    iq, iu, it, io, ip = (index[name] for name in REQUIRED_IMPORT_COLUMNS)
    report = importer.report
    numbers = importer.numbers
    same_group: tuple[str, str, str] | None = None  # the group's cells as written (its last row's)
    plain: frozenset[str] = frozenset()  # option cells good as written for the group's question
    probs: list[tuple[int, str, float]] = []
    for line, cells in records:
        if on_row is not None:
            on_row()
        if len(cells) < width:
            if not any(c.strip() for c in cells):
                continue  # blank line
            report.rows += 1
            importer.error(line, names[len(cells)], f"the row has {len(cells)} cells; the header has {width}")
            if group is not None:
                group.bad = True
            continue
        written = (cells[iq], cells[iu], cells[it])
        if written != same_group:
            key = (written[0].strip(), written[1].strip().lower(), written[2].strip())
            if key == ("", "", "") and not any(c.strip() for c in cells):
                continue  # a line of empty cells
            if group is None or group.key != key:
                if group is not None:
                    importer.finish(group)
                group = ForecastRows(key=key, first_line=line)
                importer.start_group(line, cells, index, group)
                probs = group.probs
                plain = group.question.plain_keys if group.question is not None else frozenset()
            same_group = written if key != ("", "", "") else None
        report.rows += 1
        group.last_line = line  # type: ignore[union-attr]
        option, cell = cells[io], cells[ip]
        p = numbers.get(cell)
        if p is not None and option in plain:
            probs.append((line, option, p))
        else:
            importer.add_probability(line, option, cell, group)  # type: ignore[arg-type]
    return group
