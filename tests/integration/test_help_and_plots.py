"""The scoring guide is served and every reference to a doc resolves; plots draw user text literally
and are built without pyplot's global state."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.factories import NOW, add_forecast, make_question, make_user

ROOT = Path(__file__).resolve().parents[2]
DAY = timedelta(days=1)
DOC_REF = re.compile(r"docs/([a-z_]+\.md)(?:#([a-z0-9-]+))?")


def _heading_ids(client) -> set[str]:
    page = client.get("/help/scoring").get_data(as_text=True)
    return set(re.findall(r'<h[1-5] id="([^"]+)"', page))


def test_scoring_guide_is_a_page_with_a_section_per_score(client):
    response = client.get("/help/scoring")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1" in page and "How forecasts are scored" in page
    assert {"brier-score", "time-averaged-brier", "relative-brier", "log-score", "calibration",
            "murphy-decomposition", "scoreboards", "judgment-calls"} <= _heading_ids(client)


def test_every_reference_to_a_doc_resolves(client):
    """README, code, templates and tests cite docs/*.md (and sections of the scoring guide): each file
    exists, and each #section is a heading of the rendered guide."""
    ids = _heading_ids(client)
    files = [ROOT / "README.md", *(ROOT / "tracker").rglob("*.py"), *(ROOT / "templates").rglob("*.html"),
             *(ROOT / "tests").rglob("*.py")]
    seen = 0
    for path in files:
        for name, anchor in DOC_REF.findall(path.read_text()):
            seen += 1
            assert (ROOT / "docs" / name).is_file(), f"{path} cites docs/{name}, which does not exist"
            if anchor and name == "scoring.md":
                assert anchor in ids, f"{path} cites docs/scoring.md#{anchor}, not a section"
    assert seen >= 5
    for path in files:
        assert "SCORING.md" not in path.read_text() or path.name == Path(__file__).name, \
            f"{path} cites SCORING.md, which is not in the repository"


def test_every_score_link_on_the_pages_points_at_a_section(client, db_session, auth):
    ids = _heading_ids(client)
    make_user(db_session, "alice")
    db_session.commit()
    templates = "".join(p.read_text() for p in (ROOT / "templates").rglob("*.html"))
    anchors = set(re.findall(r"score_help\('([a-z0-9-]+)'\)", templates))
    assert {"time-averaged-brier", "relative-brier", "log-score"} <= anchors
    assert anchors <= ids
    assert "/help/scoring#relative-brier" in client.get("/scoreboard").get_data(as_text=True)


@pytest.mark.parametrize("label", [r"$\undefinedcmd{x}$", r"$x^$", "50$ or \\ more", "$$"])
def test_option_labels_are_drawn_literally(crowd_public, client, db_session, label):
    """A $ in an option label used to start mathtext: an unknown command made the page a 500."""
    question = make_question(db_session, "math-q", NOW - 10 * DAY, NOW + 10 * DAY, kind="multiple_choice",
                             options=["a", "b"])
    question.options[0].label = label
    alice, bob = make_user(db_session, "alice"), make_user(db_session, "bob")
    add_forecast(db_session, question, alice, [0.4, 0.6], NOW - 5 * DAY)
    add_forecast(db_session, question, bob, [0.7, 0.3], NOW - 4 * DAY)
    db_session.commit()
    response = client.get("/q/math-q")
    assert response.status_code == 200
    svg = response.get_data(as_text=True)
    assert "<svg" in svg


def test_plots_do_not_use_pyplot():
    """Rendering a page's plots never imports pyplot (global state, not thread-safe)."""
    code = (
        "import sys\n"
        "from datetime import datetime, timezone\n"
        "from tracker.web.svg import literal, new_figure, render_svg\n"
        "fig, ax = new_figure()\n"
        "ax.plot([0, 1], [0, 1], label=literal(r'$\\undefinedcmd{x}$'))\n"
        "ax.legend()\n"
        "render_svg(fig, 'x')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
