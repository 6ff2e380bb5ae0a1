"""The question bank: YAML files in questions/ <-> questions in the database.

Loading is all or nothing: every file is validated first (errors name the file, the line and the
field), and only then are questions inserted or updated by slug. Forecasts are never touched, and the
options of a question that already has forecasts cannot be changed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import Clock, ensure_utc, parse_iso
from ..models import KINDS, Forecast, Question, QuestionOption, QuestionTag
from . import DomainError
from .lifecycle import record_status_change, scheduled_status, sync_time_status
from .reschedule import TIME_FIELDS, Reschedule, in_play, refusal, time_changes
from .reschedule import record as record_reschedule

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
BINARY_OPTIONS = [("yes", "Yes"), ("no", "No")]
# Every key a question file may use; anything else (a misspelt ``fine_prnt``) is an error, not ignored.
TOP_LEVEL_KEYS = frozenset({
    "slug", "title", "kind", "options", "ordered", "opens_at", "closes_at", "resolve_by", "tags",
    "background", "resolution_criteria", "fine_print", "source",
})
SOURCE_KEYS = frozenset({"quote", "passage"})
OPTION_KEYS = frozenset({"key", "label"})
# Text shown to readers must not leak the file's field names (write the date, not `opens_at`).
FIELD_NAME_RE = re.compile(r"\b(opens_at|closes_at|resolve_by|resolution_criteria|fine_print)\b")
READER_TEXT_FIELDS = ("title", "background", "resolution_criteria", "fine_print")


class BankError(DomainError):
    """One or more invalid question files; ``errors`` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class QuestionSpec:
    """A validated question file."""

    path: Path
    slug: str
    title: str
    kind: str
    options: list[tuple[str, str]]
    ordered: bool
    opens_at: datetime
    closes_at: datetime
    resolve_by: datetime
    tags: list[str] = field(default_factory=list)
    background: str = ""
    resolution_criteria: str = ""
    fine_print: str = ""
    source_quote: str = ""
    source_passage: str = ""


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _key_lines(text: str) -> dict[str, int]:
    """Line number (1-based) of each top-level key, so errors can point into the file."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _v in node.value if isinstance(k, yaml.ScalarNode)}


def _structure_errors(path: Path, text: str) -> list[str]:
    """Problems PyYAML's safe loader lets through: anchors and aliases, duplicate keys (the last one
    silently wins) and unknown keys (silently ignored). Each names the file, the line and the field."""
    errors: list[str] = []
    starts = sorted((line, name) for name, line in _key_lines(text).items())

    def field_at(line: int) -> str:
        """The top-level field whose value holds ``line`` (for anchors and aliases)."""
        owner = [name for start, name in starts if start <= line]
        return owner[-1] if owner else "(top)"

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            anchor = getattr(event, "anchor", None)
            if isinstance(event, yaml.AliasEvent) or anchor:
                kind = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
                line = event.start_mark.line + 1 if event.start_mark is not None else 0
                errors.append(f"{path}:{line}: field '{field_at(line)}': YAML {kind} "
                              f"'{anchor}' is not allowed; write the value out in full")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return errors  # reported by the caller with the parser's own message
    if errors or not isinstance(root, yaml.MappingNode):
        return errors

    def check_mapping(node: yaml.MappingNode, allowed: frozenset[str] | None, where: str) -> None:
        seen: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                errors.append(f"{path}:{key.start_mark.line + 1}: field '{where}': keys must be plain names")
                continue
            line = key.start_mark.line + 1
            name = key.value if not where else f"{where}.{key.value}"
            if key.value in seen:
                errors.append(f"{path}:{line}: field '{name}': duplicate key (first given on line {seen[key.value]})")
            else:
                seen[key.value] = line
            if allowed is not None and key.value not in allowed:
                hint = ", ".join(sorted(allowed))
                errors.append(f"{path}:{line}: field '{name}': unknown key (allowed: {hint})")
            if not where and key.value == "source" and isinstance(value, yaml.MappingNode):
                check_mapping(value, SOURCE_KEYS, "source")
            elif not where and key.value == "options" and isinstance(value, yaml.SequenceNode):
                for item in value.value:
                    if isinstance(item, yaml.MappingNode):
                        check_mapping(item, OPTION_KEYS, "options")
            elif isinstance(value, yaml.MappingNode):
                check_mapping(value, None, name)

    check_mapping(root, TOP_LEVEL_KEYS, "")
    return errors


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return ensure_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        if not re.search(r"(Z|[+-]\d\d:?\d\d)$", text):
            raise ValueError("must be ISO 8601 with a time zone (use a trailing Z for UTC)")
        return parse_iso(text)
    raise ValueError("must be an ISO 8601 timestamp")


def parse_question_file(path: Path) -> tuple[QuestionSpec | None, list[str]]:
    """Validate one file; returns the spec or a list of ``file:line: field 'x': problem`` errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}: cannot read: {exc}"]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        return None, [f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]
    if not isinstance(data, dict):
        return None, [f"{path}:1: the file must be a mapping of fields (slug, title, kind, ...)"]
    lines = _key_lines(text)
    errors: list[str] = _structure_errors(path, text)

    def err(name: str, problem: str) -> None:
        errors.append(f"{path}:{lines.get(name, 1)}: field '{name}': {problem}")

    def text_field(name: str, required: bool, max_len: int | None = None) -> str:
        value = data.get(name)
        if value is None:
            if required:
                err(name, "is required")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            err(name, "must be non-empty text" if required else "must be text")
            return ""
        if max_len and len(value) > max_len:
            err(name, f"is longer than {max_len} characters")
        return value.strip()

    slug = text_field("slug", True, 120)
    if slug and not SLUG_RE.match(slug):
        err("slug", "use lowercase letters, digits and single hyphens")
    elif slug and slug != path.stem:
        err("slug", f"must match the file name ({path.stem!r})")
    title = text_field("title", True, 300)
    kind = str(data.get("kind"))
    if kind not in KINDS:
        err("kind", "must be 'binary' or 'multiple_choice'")
    ordered = data.get("ordered", False)
    if not isinstance(ordered, bool):
        err("ordered", "must be true or false")
        ordered = False

    options: list[tuple[str, str]] = []
    raw_options = data.get("options")
    if raw_options is None and kind == "binary":
        options = list(BINARY_OPTIONS)
    elif not isinstance(raw_options, list) or not raw_options:
        err("options", "must be a list of {key, label}")
    else:
        for i, item in enumerate(raw_options, 1):
            if not isinstance(item, dict) or set(item) - {"key", "label"} or "key" not in item:
                err("options", f"item {i} must have exactly 'key' and 'label'")
                continue
            key, label = item.get("key"), item.get("label", item.get("key"))
            if isinstance(key, bool):
                err("options", f"item {i}: key {key!r} was read as a boolean; quote it (\"yes\")")
                continue
            key = str(key)
            if not KEY_RE.match(key):
                err("options", f"item {i}: key {key!r} must be lowercase letters, digits, '-', '_' or '.'")
            if not isinstance(label, str) or not label.strip():
                err("options", f"item {i}: label must be non-empty text")
                label = key
            options.append((key, label.strip()))
        keys = [k for k, _ in options]
        if len(set(keys)) != len(keys):
            err("options", "keys must be unique")
        if kind == "binary" and keys != ["yes", "no"]:
            err("options", "a binary question has exactly the options yes and no, in that order")
        if kind == "multiple_choice" and len(options) < 2:
            err("options", "a multiple-choice question needs at least two options")
    if ordered and kind != "multiple_choice":
        err("ordered", "only multiple-choice questions can have ordered options")

    times: dict[str, datetime] = {}
    for name in ("opens_at", "closes_at", "resolve_by"):
        if data.get(name) is None:
            err(name, "is required")
            continue
        try:
            times[name] = _as_datetime(data[name])
        except ValueError as exc:
            err(name, str(exc))
    if len(times) == 3:
        if not times["opens_at"] < times["closes_at"]:
            err("closes_at", "must be after opens_at")
        if not times["closes_at"] <= times["resolve_by"]:
            err("resolve_by", "must not be before closes_at")

    tags = data.get("tags", []) or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and TAG_RE.match(t) for t in tags):
        err("tags", "must be a list of lowercase tags (letters, digits, hyphens)")
        tags = []
    resolution_criteria = text_field("resolution_criteria", True)
    background = text_field("background", False)
    fine_print = text_field("fine_print", False)
    source = data.get("source") or {}
    if not isinstance(source, dict) or set(source) - {"quote", "passage"}:
        err("source", "must be a mapping with 'quote' and 'passage'")
        source = {}
    for name in READER_TEXT_FIELDS:
        value = data.get(name)
        found = FIELD_NAME_RE.search(value) if isinstance(value, str) else None
        if found:
            err(name, f"mentions the field name {found.group(1)!r}; readers see this text, so write the date "
                      "or the words instead")
    if errors:
        return None, errors
    return QuestionSpec(
        path=path, slug=slug, title=title, kind=kind, options=options, ordered=ordered,
        opens_at=times["opens_at"], closes_at=times["closes_at"], resolve_by=times["resolve_by"],
        tags=sorted(set(tags)), background=background, resolution_criteria=resolution_criteria,
        fine_print=fine_print, source_quote=str(source.get("quote", "")).strip(),
        source_passage=str(source.get("passage", "")).strip(),
    ), []


def read_bank(directory: Path) -> list[QuestionSpec]:
    """Validate every ``*.yaml``/``*.yml`` file in ``directory``; raise :class:`BankError` listing all problems."""
    if not directory.is_dir():
        raise BankError([f"{directory}: not a directory"])
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not paths:
        raise BankError([f"{directory}: no .yaml files found"])
    specs, errors = [], []
    for path in paths:
        spec, problems = parse_question_file(path)
        errors.extend(problems)
        if spec:
            specs.append(spec)
    seen: dict[str, Path] = {}
    for spec in specs:
        if spec.slug in seen:
            errors.append(f"{spec.path}:1: field 'slug': {spec.slug!r} is also used by {seen[spec.slug]}")
        seen[spec.slug] = spec.path
    if errors:
        raise BankError(errors)
    return specs


def _forecast_count(session: Session, question_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Forecast).where(Forecast.question_id == question_id)) or 0


def apply_specs(session: Session, clock: Clock, specs: list[QuestionSpec], is_demo: bool = False,
                reschedule: Reschedule | None = None) -> LoadReport:
    """Insert or update questions by slug. Refuses (raising, so the caller rolls back) to change the
    options of a question that already has forecasts, or the times of one with forecasts or a
    resolution unless ``reschedule`` allows it (then audited and rescored in this transaction)."""
    now = clock.now()
    report = LoadReport()
    errors: list[str] = []
    rescore: list[int] = []
    existing = {q.slug: q for q in session.scalars(select(Question).where(Question.slug.in_([s.slug for s in specs])))}
    for spec in specs:
        question = existing.get(spec.slug)
        if question is None:
            question = Question(slug=spec.slug, created_at=now, updated_at=now, is_demo=is_demo)
            _copy_fields(question, spec)
            question.status = scheduled_status(question, now)
            question.options = [QuestionOption(key=k, label=label, position=i) for i, (k, label) in enumerate(spec.options)]
            question.tags = [QuestionTag(tag=t) for t in spec.tags]
            session.add(question)
            record_status_change(session, question, None, question.status, now, "question bank", reason="created")
            report.created.append(spec.slug)
            continue
        current_options = [(o.key, o.label) for o in question.options]
        options_change = current_options != spec.options or question.kind != spec.kind or question.ordered != spec.ordered
        if options_change and _forecast_count(session, question.id):
            errors.append(
                f"{spec.path}: field 'options': {spec.slug!r} already has forecasts, so its kind and options "
                "cannot change (create a new question instead)"
            )
            continue
        changes = time_changes(question, {n: getattr(spec, n) for n in TIME_FIELDS})
        why = in_play(session, question) if changes else None
        if why is not None and reschedule is None:
            errors.append(f"{spec.path}: {refusal(spec.slug, changes, why)}")
            continue
        before = _snapshot(question)
        _copy_fields(question, spec)
        if why is not None and reschedule is not None:
            record_reschedule(session, question, changes, reschedule, now)
            rescore.append(question.id)
        if options_change:
            question.options.clear()
            session.flush()
            question.options.extend(QuestionOption(key=k, label=label, position=i) for i, (k, label) in enumerate(spec.options))
        if sorted(question.tag_names) != spec.tags:
            question.tags.clear()
            session.flush()
            question.tags.extend(QuestionTag(tag=t) for t in spec.tags)
        if _snapshot(question) != before or options_change:
            question.updated_at = now
            report.updated.append(spec.slug)
        else:
            report.unchanged.append(spec.slug)
        sync_time_status(session, question, now, actor_name="question bank")
    if errors:
        raise BankError(errors)
    session.flush()
    if rescore:
        from .scoring_runs import rescore_questions  # lazy: scoring_runs imports the scoring engine

        rescore_questions(session, clock, rescore)
    return report


def _copy_fields(question: Question, spec: QuestionSpec) -> None:
    for name in ("title", "kind", "ordered", "opens_at", "closes_at", "resolve_by", "background",
                 "resolution_criteria", "fine_print", "source_quote", "source_passage"):
        setattr(question, name, getattr(spec, name))


def _snapshot(question: Question) -> tuple:
    return (question.title, question.kind, question.ordered, question.opens_at, question.closes_at,
            question.resolve_by, question.background, question.resolution_criteria, question.fine_print,
            question.source_quote, question.source_passage, tuple(question.tag_names))


def load_directory(session: Session, clock: Clock, directory: Path, is_demo: bool = False,
                   reschedule: Reschedule | None = None) -> LoadReport:
    """Validate all files in ``directory``, then insert or update them (nothing is written on error)."""
    return apply_specs(session, clock, read_bank(directory), is_demo=is_demo, reschedule=reschedule)
