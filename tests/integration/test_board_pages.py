"""Scoreboard pages in the default order are read from the (tag, mean) index with ranks derived
from the order: they must equal the pages of the board ranked whole by the window function, with
ties across page boundaries, forecasters without a mean, a tag and a minimum of questions."""
from __future__ import annotations

import pytest

from tests.factories import make_user
from tracker.domain.board_pages import board_page
from tracker.domain.scoreboards import ScoreFilter
from tracker.models import ForecasterStat

MEANS = [0.1, -0.2, 0.1, None, 0.1, -0.2, 0.3, None, 0.0, 0.1, 0.1, -0.5, None]


@pytest.fixture
def board(db_session):
    for i, mean in enumerate(MEANS):
        user = make_user(db_session, f"{'zyx'[i % 3]}user{i}")
        for tag in ("", "europe"):
            db_session.add(ForecasterStat(user_id=user.id, tag=tag, questions=1 + i % 4, forecasts=i,
                                          mean_relative_brier=mean, mean_brier=0.2))
    db_session.commit()
    return db_session


@pytest.mark.parametrize("sort", ["rank", "mean_relative_brier"])
@pytest.mark.parametrize(("tag", "min_questions"), [(None, 0), ("europe", 0), (None, 3)])
def test_pages_in_rank_order_equal_the_whole_ranked_board(board, sort, tag, min_questions):
    filters = ScoreFilter(tag=tag)
    # The whole board from the window function (another sort's path, then put in rank order).
    whole = board_page(board, filters, "forecaster", min_questions=min_questions, size=None).rows
    whole.sort(key=lambda r: (r.rank, r.username.lower(), r.user_id))
    assert len({r.rank for r in whole}) < len(whole)  # ties to carry across page boundaries
    for size in (1, 2, 3, 4):
        paged = []
        for page in range(1, len(whole) // size + 2):
            got = board_page(board, filters, sort, min_questions=min_questions, page=page, size=size)
            assert got.total == len(whole)
            paged.extend(got.rows)
        assert [(r.rank, r.username) for r in paged] == [(r.rank, r.username) for r in whole]
