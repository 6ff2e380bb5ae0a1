"""Question files: read and validate the YAML files of questions/ (no database).

Every problem is reported with the file, the line and the field; PyYAML's silent cases (duplicate
keys, unknown keys, anchors and aliases) are errors too. :mod:`tracker.domain.question_bank` loads
the validated specs into the database.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml

from ..clock import ensure_utc, parse_iso
from ..models import KINDS
from . import DomainError

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


class _FileCheck:
    """The checks of one parsed file; each records ``file:line: field 'x': problem`` errors."""

    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path, self.data = path, data
        self.lines = _key_lines(text)
        self.errors: list[str] = _structure_errors(path, text)

    def err(self, name: str, problem: str) -> None:
        self.errors.append(f"{self.path}:{self.lines.get(name, 1)}: field '{name}': {problem}")

    def text(self, name: str, required: bool, max_len: int | None = None) -> str:
        value = self.data.get(name)
        if value is None:
            if required:
                self.err(name, "is required")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.err(name, "must be non-empty text" if required else "must be text")
            return ""
        if max_len and len(value) > max_len:
            self.err(name, f"is longer than {max_len} characters")
        return value.strip()

    def slug(self) -> str:
        slug = self.text("slug", True, 120)
        if slug and not SLUG_RE.match(slug):
            self.err("slug", "use lowercase letters, digits and single hyphens")
        elif slug and slug != self.path.stem:
            self.err("slug", f"must match the file name ({self.path.stem!r})")
        return slug

    def kind_and_order(self) -> tuple[str, bool]:
        kind = str(self.data.get("kind"))
        if kind not in KINDS:
            self.err("kind", "must be 'binary' or 'multiple_choice'")
        ordered = self.data.get("ordered", False)
        if not isinstance(ordered, bool):
            self.err("ordered", "must be true or false")
            ordered = False
        if ordered and kind != "multiple_choice":
            self.err("ordered", "only multiple-choice questions can have ordered options")
        return kind, ordered

    def options(self, kind: str) -> list[tuple[str, str]]:
        raw_options = self.data.get("options")
        if raw_options is None and kind == "binary":
            return list(BINARY_OPTIONS)
        if not isinstance(raw_options, list) or not raw_options:
            self.err("options", "must be a list of {key, label}")
            return []
        options: list[tuple[str, str]] = []
        for i, item in enumerate(raw_options, 1):
            option = self._option(i, item)
            if option is not None:
                options.append(option)
        keys = [k for k, _ in options]
        if len(set(keys)) != len(keys):
            self.err("options", "keys must be unique")
        if kind == "binary" and keys != ["yes", "no"]:
            self.err("options", "a binary question has exactly the options yes and no, in that order")
        if kind == "multiple_choice" and len(options) < 2:
            self.err("options", "a multiple-choice question needs at least two options")
        return options

    def _option(self, i: int, item: Any) -> tuple[str, str] | None:
        if not isinstance(item, dict) or set(item) - {"key", "label"} or "key" not in item:
            self.err("options", f"item {i} must have exactly 'key' and 'label'")
            return None
        key, label = item.get("key"), item.get("label", item.get("key"))
        if isinstance(key, bool):
            self.err("options", f"item {i}: key {key!r} was read as a boolean; quote it (\"yes\")")
            return None
        key = str(key)
        if not KEY_RE.match(key):
            self.err("options", f"item {i}: key {key!r} must be lowercase letters, digits, '-', '_' or '.'")
        if not isinstance(label, str) or not label.strip():
            self.err("options", f"item {i}: label must be non-empty text")
            label = key
        return key, label.strip()

    def times(self) -> dict[str, datetime]:
        times: dict[str, datetime] = {}
        for name in ("opens_at", "closes_at", "resolve_by"):
            if self.data.get(name) is None:
                self.err(name, "is required")
                continue
            try:
                times[name] = _as_datetime(self.data[name])
            except ValueError as exc:
                self.err(name, str(exc))
        if len(times) == 3:
            if not times["opens_at"] < times["closes_at"]:
                self.err("closes_at", "must be after opens_at")
            if not times["closes_at"] <= times["resolve_by"]:
                self.err("resolve_by", "must not be before closes_at")
        return times

    def tags(self) -> list[str]:
        tags = self.data.get("tags", []) or []
        if not isinstance(tags, list) or not all(isinstance(t, str) and TAG_RE.match(t) for t in tags):
            self.err("tags", "must be a list of lowercase tags (letters, digits, hyphens)")
            return []
        return sorted(set(tags))

    def source(self) -> dict[str, Any]:
        source = self.data.get("source") or {}
        if not isinstance(source, dict) or set(source) - {"quote", "passage"}:
            self.err("source", "must be a mapping with 'quote' and 'passage'")
            return {}
        return source

    def reader_texts(self) -> None:
        for name in READER_TEXT_FIELDS:
            value = self.data.get(name)
            found = FIELD_NAME_RE.search(value) if isinstance(value, str) else None
            if found:
                self.err(name, f"mentions the field name {found.group(1)!r}; readers see this text, so write "
                               "the date or the words instead")


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
    check = _FileCheck(path, text, data)
    slug = check.slug()
    title = check.text("title", True, 300)
    kind, ordered = check.kind_and_order()
    options = check.options(kind)
    times = check.times()
    tags = check.tags()
    resolution_criteria = check.text("resolution_criteria", True)
    background = check.text("background", False)
    fine_print = check.text("fine_print", False)
    source = check.source()
    check.reader_texts()
    if check.errors:
        return None, check.errors
    return QuestionSpec(
        path=path, slug=slug, title=title, kind=kind, options=options, ordered=ordered,
        opens_at=times["opens_at"], closes_at=times["closes_at"], resolve_by=times["resolve_by"],
        tags=tags, background=background, resolution_criteria=resolution_criteria,
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
