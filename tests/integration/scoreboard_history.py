"""A small scored history whose numbers are worked out by hand in the tests (docs/scoring.md §1-§8).

Two forecasters, two binary questions:
- q1 (2017-03-01 .. 2017-03-04, four days), resolved yes: alice 80% on the 1st, 90% on the 3rd;
  bob 40% on the 2nd.
- q2 (2017-03-01 .. 2017-03-02, two days), resolved no: alice 30%, bob 10% on the 1st.
"""
from __future__ import annotations

from datetime import UTC, datetime

from tests.factories import add_forecast, make_question, make_user
from tracker.domain.resolution import resolve


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def build_history(session, clock, with_forecasts: bool = True) -> dict:
    q1 = make_question(session, "q1-four-days", utc(2017, 3, 1), utc(2017, 3, 4, 23), tags=["alpha"])
    q2 = make_question(session, "q2-two-days", utc(2017, 3, 1), utc(2017, 3, 2, 23), tags=["beta"])
    users = {}
    if with_forecasts:
        alice = users["alice"] = make_user(session, "alice")
        bob = users["bob"] = make_user(session, "bob")
        add_forecast(session, q1, alice, 0.8, utc(2017, 3, 1, 10), rationale="=HYPERLINK(\"http://x\")")
        add_forecast(session, q1, alice, 0.9, utc(2017, 3, 3, 9))
        add_forecast(session, q1, bob, 0.4, utc(2017, 3, 2, 12))
        add_forecast(session, q2, alice, 0.3, utc(2017, 3, 1, 8))
        add_forecast(session, q2, bob, 0.1, utc(2017, 3, 1, 9), rationale="-2+3, said bob")
    resolve_all(session, clock, q1, q2)
    return {"q1": q1, "q2": q2, **users}


def resolve_all(session, clock, q1, q2) -> None:
    resolve(session, clock, q1, "yes", None, "test")
    resolve(session, clock, q2, "no", None, "test")
