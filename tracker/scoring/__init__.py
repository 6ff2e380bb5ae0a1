"""Pure numpy scoring engine (docs/scoring.md). Imports nothing else from the project.

Conventions
-----------
* Times are seconds since 1970-01-01 UTC as float64 (``datetime.timestamp()``), or numpy
  ``datetime64``. Days are UTC calendar days, ``floor(seconds / 86400)``.
* Options are indexed 0..K-1. Binary questions: option 0 is *yes*, option 1 is *no*; probability
  arrays are (n, K_max) and zero-padded beyond a question's K (``binary_probs(p_yes)`` builds the
  binary layout). ``outcome`` is the index of the option that occurred, -1 when there is none.

Scoring a batch (the database layer's entry point)
--------------------------------------------------
``score_questions(Questions(...), Forecasts(...)) -> Scores``

``Questions`` (each (Q,)): ``n_options`` int, ``outcome`` int (-1 unresolved), ``opens_at``,
``closes_at``, ``closes_at_passed`` bool (scheduled close already past; calibration samples only
come from those), optional ``ordered`` bool, ``occurred_at`` (NaN = none), ``annulled`` bool.

``Forecasts`` (each (n,)): ``question`` int index into Questions, ``forecaster`` int id, ``time``,
and ``probs`` (n, K_max). Any row order; rows sorted by (question, forecaster, time) skip a sort.
On equal times the later row wins.

``Scores.pairs`` (``PairScores``, one row per (question, forecaster) with at least one forecast
made on or before the effective close of a scored question; sorted by question then forecaster):
``question``, ``forecaster``, ``brier``, ``log_score``, ``relative_brier``, ``baseline``,
``coverage``, ``active_days``, ``n_forecasts``, and the calibration bin sums
``calibration_count``, ``calibration_sum_forecast``, ``calibration_sum_outcome`` (each (P, 11)).

``Scores.questions`` (``QuestionScores``, (Q,) aligned with the input): ``scored``,
``window_days`` (D), ``effective_close``, ``n_forecasters``, ``crowd_brier``, ``crowd_log_score``.
Annulled and unresolved questions have ``scored`` False, no pair rows and NaN crowd scores.

Everything else
---------------
* ``brier_scores``, ``log_scores``, ``baseline_scores``: per-forecast scores (§1, §5).
* ``crowd_forecast_over_time(forecaster, time, probs, n_options, until=None, by_day=False)``:
  the crowd of one question, open or resolved, for plots (§6) -> ``CrowdTimeline``.
* ``calibration_from_bin_sums(count, sum_forecast, sum_outcome) -> Calibration``: per-bin n, f, o,
  Wilson interval, and REL/RES/UNC from summed bin sums of shape (..., 11) (§7); ``bin_sums`` and
  ``calibration_bin`` for raw samples.
* ``mean_over_questions``, ``group_mean``, ``group_sum``: NaN-skipping aggregates (§8);
  ``mean_from_sums``, ``to_sum_units`` and ``from_sum_units`` for stored running sums that
  rescores keep exactly.
"""

from .aggregates import (
    SUM_UNIT,
    from_sum_units,
    group_mean,
    group_sum,
    mean_from_sums,
    mean_over_questions,
    to_sum_units,
)
from .batch import Forecasts, PairScores, Questions, QuestionScores, Scores
from .brier import binary_probs, brier_scores
from .calibration import (
    BIN_CENTRES,
    N_BINS,
    Calibration,
    bin_sums,
    calibration_bin,
    calibration_from_bin_sums,
    wilson_interval,
)
from .crowd import CrowdTimeline, crowd_forecast_over_time, crowd_of_standing, crowd_probabilities
from .engine import score_questions
from .logscore import LOG_FLOOR, baseline_scores, log_scores
from .timeline import DAY_SECONDS, epoch_seconds, utc_day

__all__ = [
    "BIN_CENTRES",
    "SUM_UNIT",
    "DAY_SECONDS",
    "LOG_FLOOR",
    "N_BINS",
    "Calibration",
    "CrowdTimeline",
    "Forecasts",
    "PairScores",
    "QuestionScores",
    "Questions",
    "Scores",
    "baseline_scores",
    "bin_sums",
    "binary_probs",
    "brier_scores",
    "calibration_bin",
    "calibration_from_bin_sums",
    "crowd_forecast_over_time",
    "crowd_of_standing",
    "crowd_probabilities",
    "epoch_seconds",
    "group_mean",
    "mean_from_sums",
    "group_sum",
    "log_scores",
    "mean_over_questions",
    "to_sum_units",
    "from_sum_units",
    "score_questions",
    "utc_day",
    "wilson_interval",
]
