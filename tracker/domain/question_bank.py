"""The question bank: validated question files (:mod:`tracker.domain.question_files`) <-> questions
in the database.

Loading is all or nothing: every file is validated first (errors name the file, the line and the
field), and only then are questions inserted or updated by slug. Forecasts are never touched, and the
options of a question that already has forecasts cannot be changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import Clock
from ..models import Forecast, Question, QuestionOption, QuestionTag
from .lifecycle import record_status_change, scheduled_status, sync_time_status
from .question_files import BankError, QuestionSpec, parse_question_file, read_bank
from .reschedule import TIME_FIELDS, Reschedule, in_play, refusal, time_changes
from .reschedule import record as record_reschedule

__all__ = ["BankError", "LoadReport", "QuestionSpec", "apply_specs", "load_directory", "parse_question_file", "read_bank"]


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


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
