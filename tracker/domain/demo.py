"""The replay demo: the essay's 2017-2018 questions, forecast by synthetic forecasters, resolved from
the public record, so every scoreboard and profile page has real numbers to show.

Forecasts are placed at historical times (inserted directly, as a replay, not through the live
forecast form). Generation is seeded, so two runs produce the same history, and the demo is
idempotent: forecasters, forecasts and resolutions that already exist are left alone. The live
questions (closing 2027 and later) are never touched.

The forecasters' beliefs live in log-odds space: a public prior shared by everyone, plus a signal
towards the eventual outcome that grows as the window runs out (scaled by skill), plus a lasting
personal bias and fresh noise per update. Overconfident forecasters sharpen their beliefs; herders
pull theirs towards the crowd of the others (the crowd from :mod:`tracker.scoring`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import scoring
from ..clock import Clock, ensure_utc, parse_iso
from ..models import FINAL_STATUSES, Forecast, Question, User
from . import DomainError
from .csv_import import NewForecast, insert_forecasts
from .question_bank import apply_specs, read_bank
from .resolution import resolve
from .users import create_user

DEMO_YEARS = (2017, 2018)
DEMO_ACTOR = "demo"
DEFAULT_SEED = 2017
DEFAULT_FORECASTERS = 36


@dataclass(frozen=True)
class Archetype:
    """A kind of forecaster; ``share`` of the accounts are of this kind."""

    name: str
    share: float
    skill: float  # how strongly beliefs move towards the truth
    noise: float  # spread of personal bias and per-update noise, in log-odds
    sharpen: float  # > 1: overconfident
    herd: float  # weight on the crowd of the non-herders
    updates: float  # mean number of updates after the first forecast
    participation: float  # chance of forecasting a given question


ARCHETYPES = (
    Archetype("sharp", 0.22, skill=1.0, noise=0.35, sharpen=1.0, herd=0.0, updates=5.0, participation=0.9),
    Archetype("steady", 0.28, skill=0.6, noise=0.5, sharpen=1.0, herd=0.0, updates=2.5, participation=0.8),
    Archetype("herd", 0.22, skill=0.2, noise=0.4, sharpen=1.0, herd=0.75, updates=3.0, participation=0.8),
    Archetype("bold", 0.17, skill=0.5, noise=0.6, sharpen=2.3, herd=0.0, updates=2.0, participation=0.75),
    Archetype("noisy", 0.11, skill=0.1, noise=1.2, sharpen=1.0, herd=0.0, updates=1.5, participation=0.6),
)


@dataclass
class DemoReport:
    questions_loaded: list[str] = field(default_factory=list)
    questions: int = 0
    forecasters_created: int = 0
    forecasters: int = 0
    forecasts_added: int = 0
    resolved: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


@dataclass
class _Persona:
    username: str
    kind: Archetype
    index: int


def demo_names(count: int) -> list[_Persona]:
    """Account names such as ``demo-sharp-01``, split between the archetypes by their shares."""
    counts = [int(round(a.share * count)) for a in ARCHETYPES]
    counts[1] += count - sum(counts)  # rounding remainder goes to the steady majority
    personas: list[_Persona] = []
    for kind, n in zip(ARCHETYPES, counts, strict=True):
        for i in range(1, n + 1):
            personas.append(_Persona(f"demo-{kind.name}-{i:02d}", kind, len(personas)))
    return personas


def load_demo_resolutions(path: Path | None = None) -> dict[str, dict]:
    """slug -> {outcome, note, occurred_at, source} for the outcomes that are a matter of public record."""
    if path is None:
        text = resources.files("tracker").joinpath("data/demo_resolutions.yaml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise DomainError("demo resolutions must be a mapping of slug -> {outcome, note, occurred_at}")
    return data


def resolution_note(entry: dict) -> str:
    """The note recorded with a demo resolution: what happened, then where to check it."""
    note = str(entry.get("note") or "").strip()
    source = str(entry.get("source") or "").strip()
    return f"{note} Source: {source}" if source else note


def _occurred_at(entry: dict | None) -> datetime | None:
    value = (entry or {}).get("occurred_at")
    if value is None:
        return None
    return ensure_utc(value) if isinstance(value, datetime) else parse_iso(str(value))


def load_demo_questions(session: Session, clock: Clock, bank: Path, report: DemoReport) -> list[Question]:
    """The essay-horizon questions (closing in 2017 or 2018), loaded from the bank if missing."""
    specs = [s for s in read_bank(bank) if s.closes_at.year in DEMO_YEARS]
    if not specs:
        raise DomainError(f"{bank} holds no questions closing in {' or '.join(map(str, DEMO_YEARS))}")
    slugs = [s.slug for s in specs]
    present = set(session.scalars(select(Question.slug).where(Question.slug.in_(slugs))))
    missing = [s for s in specs if s.slug not in present]
    if missing:
        apply_specs(session, clock, missing, is_demo=True)
        report.questions_loaded = [s.slug for s in missing]
    return list(session.scalars(select(Question).where(Question.slug.in_(slugs)).order_by(Question.slug)))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def _tidy(p: np.ndarray, low: float, high: float) -> list[float]:
    """Probabilities as a person would type them: within the form's bounds, to 0.1 percentage point,
    summing to 1."""
    if len(p) == 2:
        yes = float(np.clip(round(float(p[0]), 3), low, high))
        return [yes, 1.0 - yes]
    p = np.clip(p, low, None)
    p = np.round(p / p.sum(), 3)
    top = int(np.argmax(p))
    p[top] = 0.0
    p[top] = 1.0 - float(p.sum())
    return [float(x) for x in p]


def _simulate_question(
    rng: np.random.Generator,
    question: Question,
    target: int,
    close: datetime,
    personas: list[_Persona],
    bounds: tuple[float, float],
) -> dict[int, list[tuple[datetime, list[float]]]]:
    """Forecasts of every persona on one question: persona index -> [(time, probabilities)]."""
    k = len(question.options)
    start = question.opens_at
    span = (close - start).total_seconds()
    prior = np.log(rng.dirichlet(np.full(k, 2.0)))
    signal = np.zeros(k)
    signal[target] = 3.0
    plans: dict[int, list[tuple[datetime, np.ndarray]]] = {}
    for persona in personas:
        kind = persona.kind
        # Draw everything for a persona even when it sits the question out, so one persona's
        # choices never shift another's random stream.
        joins = rng.random() < kind.participation
        first = rng.uniform(0.0, 0.6)
        n_updates = rng.poisson(kind.updates)
        later = np.sort(rng.uniform(first, 1.0, size=n_updates))
        bias = rng.normal(0.0, kind.noise, size=k)
        jitter = rng.normal(0.0, kind.noise / 3, size=(n_updates + 1, k))
        if not joins:
            continue
        fractions = np.concatenate([[first], later])
        beliefs = []
        for j, fraction in enumerate(fractions):
            information = 0.25 + 0.75 * fraction  # the outcome gets clearer as the close nears
            logits = prior + kind.skill * information * signal + bias + jitter[j]
            beliefs.append(_softmax(kind.sharpen * (logits - logits.mean())))
        times = [start + timedelta(seconds=int(f * span * 0.999)) for f in fractions]
        plans[persona.index] = list(zip(times, beliefs, strict=True))

    # Herders move towards the crowd of everyone else at the moment they forecast.
    others = [(i, t, p) for i, plan in plans.items() if personas[i].kind.herd == 0 for t, p in plan]
    crowd = None
    if others:
        crowd = scoring.crowd_forecast_over_time(
            np.array([i for i, _, _ in others]), np.array([t.timestamp() for _, t, _ in others]),
            np.array([p for _, _, p in others]), k,
        )
    result: dict[int, list[tuple[datetime, list[float]]]] = {}
    for index, plan in plans.items():
        herd = personas[index].kind.herd
        forecasts = []
        for when, belief in plan:
            if herd and crowd is not None and len(crowd.at):
                at = np.searchsorted(crowd.at, when.timestamp(), side="right") - 1
                if at >= 0:
                    belief = (1 - herd) * belief + herd * crowd.probs[at]
            forecasts.append((when, _tidy(np.asarray(belief), *bounds)))
        result[index] = forecasts
    return result


def run_demo(
    session: Session,
    clock: Clock,
    bank: Path = Path("questions"),
    forecasters: int = DEFAULT_FORECASTERS,
    seed: int = DEFAULT_SEED,
    bounds: tuple[float, float] = (0.01, 0.99),
    resolutions_file: Path | None = None,
) -> DemoReport:
    """Load the 2017-2018 questions, replay synthetic forecasts and resolve the known outcomes.

    Re-running adds nothing that exists already (forecasters by name, forecasts per forecaster and
    question, resolutions per question).
    """
    if forecasters < 2:
        raise DomainError("the demo needs at least two forecasters")
    report = DemoReport()
    questions = load_demo_questions(session, clock, bank, report)
    known = load_demo_resolutions(resolutions_file)
    personas = demo_names(forecasters)
    users = _demo_users(session, clock, personas, report)
    done = {tuple(row) for row in session.execute(
        select(Forecast.user_id, Forecast.question_id).where(
            Forecast.user_id.in_([u.id for u in users]), Forecast.question_id.in_([q.id for q in questions])
        ).distinct()
    )}
    rng = np.random.default_rng(seed)
    new: list[NewForecast] = []
    touched: set[int] = set()
    for question in questions:
        entry = known.get(question.slug)
        keys = [o.key for o in question.options]
        # Unknown outcomes still need a hidden truth for the forecasters to drift towards.
        hidden = int(rng.integers(len(keys)))
        target = keys.index(str(entry["outcome"])) if entry and str(entry["outcome"]) in keys else hidden
        occurred = _occurred_at(entry)
        close = min(question.closes_at, occurred) if occurred else question.closes_at
        plans = _simulate_question(rng, question, target, close, personas, bounds)
        option_ids = [o.id for o in question.options]
        for index, plan in plans.items():
            user = users[index]
            if (user.id, question.id) in done:
                continue
            touched.add(question.id)
            new.extend(NewForecast(question.id, user.id, when, dict(zip(option_ids, probs, strict=True)))
                       for when, probs in plan)
    insert_forecasts(session, new)
    report.forecasts_added = len(new)
    session.flush()

    rescore = []
    for question in questions:
        entry = known.get(question.slug)
        if question.status in FINAL_STATUSES:
            if question.id in touched:
                rescore.append(question.id)
            continue
        if entry is None:
            report.unresolved.append(question.slug)
            continue
        resolve(session, clock, question, str(entry["outcome"]), None, DEMO_ACTOR,
                note=resolution_note(entry), occurred_at=_occurred_at(entry))
        report.resolved.append(question.slug)
    if rescore:
        from .scoring_runs import rescore_questions

        rescore_questions(session, clock, rescore)
    report.questions = len(questions)
    report.forecasters = len(users)
    return report


def _demo_users(session: Session, clock: Clock, personas: list[_Persona], report: DemoReport) -> list[User]:
    """The demo accounts (no password: they cannot log in), created when missing."""
    names = [p.username for p in personas]
    existing = {u.username: u for u in session.scalars(select(User).where(User.username.in_(names)))}
    users = []
    for persona in personas:
        user = existing.get(persona.username)
        if user is None:
            user = create_user(session, clock, persona.username, None, is_demo=True)
            report.forecasters_created += 1
        elif not user.is_demo:
            raise DomainError(f"{persona.username!r} exists but is not a demo account; the demo will not touch it")
        users.append(user)
    return users
