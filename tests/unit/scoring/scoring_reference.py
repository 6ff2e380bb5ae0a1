"""A deliberately slow, obviously correct scoring reference: plain Python loops over days.

It follows docs/scoring.md word by word and shares no code with tracker.scoring, so the vectorised
engine can be checked against it on random data (and timed against it in bench/scoring.py).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

DAY = 86400.0
LOG_FLOOR = 0.001


def day_of(seconds: float) -> int:
    return math.floor(seconds / DAY)


def brier(p: list[float], outcome: int, ordered: bool) -> float:
    k = len(p)
    if not ordered:
        return sum((p[i] - (1.0 if i == outcome else 0.0)) ** 2 for i in range(k))
    splits = []
    for j in range(1, k):  # split {1..j} | {j+1..K}, 1-based
        below = sum(p[:j])
        occurred_below = 1.0 if outcome < j else 0.0
        splits.append(2.0 * (below - occurred_below) ** 2)
    return sum(splits) / len(splits)


def log_score(p: list[float], outcome: int) -> float:
    return math.log(max(p[outcome], LOG_FLOOR))


def baseline(p: list[float], outcome: int) -> float:
    k = len(p)
    return 100.0 * math.log(k * max(p[outcome], LOG_FLOOR)) / math.log(k)


def crowd_of(standing: list[list[float]]) -> list[float]:
    k = len(standing[0])
    medians = [statistics.median(p[i] for p in standing) for i in range(k)]
    if k == 2:
        return [medians[0], 1.0 - medians[0]]
    total = sum(medians)
    return [m / total for m in medians] if total > 0 else [1.0 / k] * k


def bin_of(p: float) -> int:
    return min(max(math.floor(10 * p + 0.5 + 1e-9), 0), 10)


@dataclass
class PairResult:
    brier: float
    log_score: float
    relative_brier: float
    baseline: float
    coverage: float
    active_days: int
    n_forecasts: int
    bins: list[list[float]] = field(default_factory=lambda: [[0.0, 0.0, 0.0] for _ in range(11)])


@dataclass
class QuestionResult:
    window_days: int
    crowd_brier: float
    crowd_log_score: float


def score(questions: list[dict], forecasts: list[dict]) -> tuple[dict, dict]:
    """Score plain dicts. Returns ({(question, forecaster): PairResult}, {question: QuestionResult}).

    A question dict has n_options, outcome, opens_at, closes_at, occurred_at (None or seconds),
    ordered, annulled, closes_at_passed. A forecast dict has question, forecaster, time, probs
    (a list of length n_options); later entries win on equal times.
    """
    pairs: dict = {}
    results: dict = {}
    by_question: dict = {}
    for position, f in enumerate(forecasts):
        by_question.setdefault(f["question"], []).append((position, f))
    for qi, q in enumerate(questions):
        if q["annulled"] or q["outcome"] < 0:
            continue
        close = q["closes_at"]
        if q["occurred_at"] is not None and q["occurred_at"] < close:
            close = q["occurred_at"]
        first_day, last_day = day_of(q["opens_at"]), day_of(close)
        if last_day < first_day:
            continue
        window = last_day - first_day + 1
        mine = [
            (f["time"], position, f)
            for position, f in by_question.get(qi, [])
            if f["time"] <= close
        ]
        mine.sort(key=lambda item: (item[0], item[1]))
        people = sorted({f["forecaster"] for _, _, f in mine})
        outcome, ordered = q["outcome"], q["ordered"]

        # daily[person] = list of (day, standing probs) for each of the person's active days
        daily: dict = {person: [] for person in people}
        briers_by_day: dict = {}
        crowd_days = []
        own = {person: [f for _, _, f in mine if f["forecaster"] == person] for person in people}
        seen = dict.fromkeys(people, 0)  # how many of the person's forecasts are made
        for day in range(first_day, last_day + 1):
            standing_today = []
            briers_by_day[day] = []
            for person in people:
                made = own[person]
                while seen[person] < len(made) and day_of(made[seen[person]]["time"]) <= day:
                    seen[person] += 1
                if seen[person] == 0:
                    continue  # not active yet
                standing = own[person][seen[person] - 1]["probs"]
                daily[person].append((day, standing))
                standing_today.append(standing)
                briers_by_day[day].append(brier(standing, outcome, ordered))
            if standing_today:
                crowd_days.append(crowd_of(standing_today))

        median_by_day = {day: statistics.median(b) for day, b in briers_by_day.items() if b}

        for person in people:
            days = daily[person]
            active = len(days)
            briers = [brier(p, outcome, ordered) for _, p in days]
            result = PairResult(
                brier=sum(briers) / active,
                log_score=sum(log_score(p, outcome) for _, p in days) / active,
                relative_brier=sum(b - median_by_day[d] for b, (d, _) in zip(briers, days, strict=True)) / window,
                baseline=sum(baseline(p, outcome) for _, p in days) / window,
                coverage=active / window,
                active_days=active,
                n_forecasts=sum(1 for _, _, f in mine if f["forecaster"] == person),
            )
            if q["closes_at_passed"]:
                for _, p in days:
                    options = [0] if len(p) == 2 else range(len(p))
                    for option in options:
                        cell = result.bins[bin_of(p[option])]
                        cell[0] += 1.0 / active
                        cell[1] += p[option] / active
                        cell[2] += (1.0 if option == outcome else 0.0) / active
            pairs[(qi, person)] = result

        if crowd_days:
            results[qi] = QuestionResult(
                window_days=window,
                crowd_brier=sum(brier(c, outcome, ordered) for c in crowd_days) / len(crowd_days),
                crowd_log_score=sum(log_score(c, outcome) for c in crowd_days) / len(crowd_days),
            )
        else:
            results[qi] = QuestionResult(window, math.nan, math.nan)
    return pairs, results
