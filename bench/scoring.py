"""Benchmark the scoring engine on synthetic questions; the last line is the 10^6 rate.

Usage: python bench/scoring.py [--max 7] [--batch 250000] [--reference-cap 60]

Synthetic data: questions open for 30–400 days (70% binary, 20% multiple choice with 3–6 options,
10% ordered with 4–8 bins), 5–200 forecasters each, every forecaster updating 1+ times at random
moments; some questions resolve early, a few are annulled. Rows arrive in (question, time) order,
as a scoring run's query would return them, so the engine pays for its own sort. Questions are
scored in batches of about ``--batch`` forecasts, so memory holds one batch at a time.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit" / "scoring")]

from tracker.scoring import Forecasts, Questions, score_questions  # noqa: E402

DAY = 86400.0
START = 19723 * DAY  # 2024-01-01


def synthetic_batch(rng: np.random.Generator, n_questions: int) -> tuple[Questions, Forecasts]:
    """One batch of synthetic questions with all their forecasts (about 250 per question)."""
    kind = rng.random(n_questions)
    n_options = np.where(kind < 0.7, 2, np.where(kind < 0.9, rng.integers(3, 7, n_questions),
                                                 rng.integers(4, 9, n_questions)))
    ordered = kind >= 0.9
    window = rng.integers(30, 401, n_questions)
    opens = START + rng.integers(0, 700, n_questions) * DAY + rng.uniform(0, DAY, n_questions)
    closes = opens + window * DAY
    occurred = np.where(rng.random(n_questions) < 0.1, opens + rng.uniform(0.3, 1.0, n_questions) * (closes - opens), np.nan)
    outcome = rng.integers(0, 1 << 30, n_questions) % n_options

    n_forecasters = rng.integers(5, 201, n_questions)
    q_of_forecaster = np.repeat(np.arange(n_questions), n_forecasters)
    forecaster_id = rng.integers(0, 50_000, len(q_of_forecaster))
    per_forecaster = 1 + rng.geometric(0.4, len(q_of_forecaster)) - 1
    q = np.repeat(q_of_forecaster, per_forecaster)
    who = np.repeat(forecaster_id, per_forecaster)
    t = opens[q] + rng.random(len(q)) * (closes[q] - opens[q])
    k_max = int(n_options.max())
    # Probabilities: a noisy lean towards the true option, so scores spread realistically.
    raw = rng.gamma(0.8, size=(len(q), k_max))
    raw[np.arange(len(q)), outcome[q]] += rng.gamma(0.8, size=len(q))
    raw[np.arange(k_max) >= n_options[q][:, None]] = 0.0
    probs = raw / raw.sum(axis=1, keepdims=True)
    order = np.lexsort((t, q))
    questions = Questions(
        n_options=n_options, outcome=outcome, opens_at=opens, closes_at=closes,
        closes_at_passed=rng.random(n_questions) < 0.9, ordered=ordered, occurred_at=occurred,
        annulled=rng.random(n_questions) < 0.03,
    )
    forecasts = Forecasts(question=q[order], forecaster=who[order], time=t[order], probs=probs[order])
    return questions, forecasts


def batches(seed: int, n_forecasts: int, batch_forecasts: int) -> Iterator[tuple[Questions, Forecasts]]:
    """Batches until about n_forecasts forecasts have been produced."""
    rng = np.random.default_rng(seed)
    produced = 0
    while produced < n_forecasts:
        remaining = n_forecasts - produced
        questions, forecasts = synthetic_batch(rng, max(1, min(batch_forecasts, remaining) // 250))
        produced += len(forecasts)
        yield questions, forecasts


def run_engine(n_forecasts: int, batch_forecasts: int, crowd: bool) -> dict[str, float]:
    """Score about n_forecasts synthetic forecasts batch by batch; time only the scoring.

    Returns forecasts scored, wall and CPU seconds (and the system part of the CPU time, mostly
    page faults on freshly mapped memory), and the peak memory (tracemalloc, which sees numpy's
    buffers) of the largest batch above what was allocated before it.
    """
    total, wall, cpu, system, peak = 0, 0.0, 0.0, 0.0, 0
    tracemalloc.start()
    for questions, forecasts in batches(n_forecasts, n_forecasts, batch_forecasts):
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        system_start = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        score_questions(questions, forecasts, crowd=crowd)
        wall += time.perf_counter() - wall_start
        cpu += time.process_time() - cpu_start
        system += resource.getrusage(resource.RUSAGE_SELF).ru_stime - system_start
        peak = max(peak, tracemalloc.get_traced_memory()[1] - base)
        total += len(forecasts)
    tracemalloc.stop()
    return {"forecasts": total, "wall": wall, "cpu": cpu, "system": system, "peak": peak}


def run_reference(n_forecasts: int, batch_forecasts: int, cap_seconds: float) -> tuple[int, float]:
    """Run the slow loop reference on the same data until cap_seconds; (forecasts, seconds)."""
    import scoring_cases
    import scoring_reference

    done, spent = 0, 0.0
    for questions, forecasts in batches(n_forecasts, n_forecasts, batch_forecasts):
        # One question at a time, so the cap can stop it part-way through a batch.
        for index in range(len(questions)):
            rows = np.flatnonzero(forecasts.question == index)
            one_question = Questions(
                **{name: getattr(questions, name)[index : index + 1] for name in (
                    "n_options", "outcome", "opens_at", "closes_at", "closes_at_passed",
                    "ordered", "occurred_at", "annulled")}
            )
            one_batch = Forecasts(np.zeros(len(rows), dtype=np.int64), forecasts.forecaster[rows],
                                  forecasts.time[rows], forecasts.probs[rows])
            plain = scoring_cases.to_reference(one_question, one_batch)
            started = time.process_time()
            scoring_reference.score(*plain)
            spent += time.process_time() - started
            done += len(rows)
            if spent > cap_seconds:
                return done, spent
    return done, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=7, help="largest size as a power of ten")
    parser.add_argument("--batch", type=int, default=250_000, help="forecasts per batch")
    parser.add_argument("--reference-cap", type=float, default=60.0, help="CPU seconds")
    args = parser.parse_args()

    print("forecasts   mode          wall s   CPU s  (sys s)  forecasts/s (CPU)  peak MB"
          "  vs reference")
    rate_at_million = float("nan")
    for power in range(4, args.max + 1):
        size = 10**power
        reference_rate = None
        if power <= 5:
            done, spent = run_reference(size, args.batch, args.reference_cap)
            reference_rate = done / spent if spent > 0 else None
        for crowd in (False, True):
            result = run_engine(size, args.batch, crowd)
            rate = result["forecasts"] / result["cpu"]
            ratio = f"{rate / reference_rate:9.0f}x" if reference_rate else "        -"
            mode = "with crowd" if crowd else "pipeline"
            print(
                f"{result['forecasts']:>9}   {mode:<12} {result['wall']:7.2f} {result['cpu']:7.2f}"
                f"  ({result['system']:5.2f})   {rate:>17,.0f}"
                f"  {result['peak'] / 2**20:7.1f}  {ratio}"
            )
            if power == 6 and not crowd:
                rate_at_million = rate
        if reference_rate:
            print(f"            reference: {reference_rate:,.0f} forecasts/s (CPU, loop over days)")
    print("pipeline = standing forecasts, time-averaged Brier and log, relative Brier, Baseline,")
    print("calibration bin sums; with crowd = also the §6 crowd forecast's Brier and log score.")
    print(f"forecasts/s at 10^6: {rate_at_million:.0f}")


if __name__ == "__main__":
    main()
