"""Loading the YAML question bank: validation first, all or nothing, forecasts never touched."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from tests.conftest import ROOT
from tests.factories import add_forecast, make_user
from tracker.domain.question_bank import BankError, load_directory, read_bank
from tracker.models import Forecast, Question, StatusChange

BANK = ROOT / "questions"
ESSAY = ROOT.parent / "shared" / "seed" / "essay.txt"


def _copy_bank(tmp_path: Path, names: list[str] | None = None) -> Path:
    target = tmp_path / "bank"
    target.mkdir()
    for path in sorted(BANK.glob("*.yaml")):
        if names is None or path.stem in names:
            shutil.copy(path, target / path.name)
    return target


def test_every_question_in_the_bank_is_valid():
    specs = read_bank(BANK)
    assert len(specs) >= 14
    kinds = [s.kind for s in specs]
    assert kinds.count("multiple_choice") >= 3
    assert any(s.ordered for s in specs)
    # Both horizons: the essay's own (2017/2018) and live questions still open today.
    assert any(s.closes_at.year in (2017, 2018) for s in specs)
    assert sum(s.closes_at.year >= 2027 for s in specs) >= 5
    for spec in specs:
        assert spec.resolution_criteria and "annul" in spec.resolution_criteria.lower() + spec.fine_print.lower(), spec.slug


@pytest.mark.skipif(not ESSAY.exists(), reason="the essay is in ../shared/seed")
def test_every_question_quotes_the_essay_verbatim():
    essay = ESSAY.read_text(encoding="utf-8")
    for spec in read_bank(BANK):
        assert spec.source_quote, spec.slug
        assert spec.source_quote in essay, spec.slug


def test_load_inserts_then_is_idempotent(db_session, clock):
    report = load_directory(db_session, clock, BANK)
    assert len(report.created) == len(list(BANK.glob("*.yaml")))
    again = load_directory(db_session, clock, BANK)
    assert again.created == [] and again.updated == []
    q = db_session.scalar(select(Question).where(Question.slug == "us-withdraws-jcpoa-2018"))
    assert q.status == "closed" and [o.key for o in q.options] == ["yes", "no"]
    live = db_session.scalar(select(Question).where(Question.slug == "us-recognizes-crimea-2027"))
    assert live.status == "open"
    # The first status of every question is in its audit trail.
    assert db_session.scalar(select(func.count()).select_from(StatusChange)) == len(report.created)


def test_cli_load_reports_counts(runner, tmp_path):
    bank = _copy_bank(tmp_path)
    result = runner.invoke(["questions", "load", str(bank)])
    assert result.exit_code == 0, result.output
    assert f"{len(list(bank.glob('*.yaml')))} created" in result.output


def test_invalid_file_names_file_line_and_field_and_writes_nothing(runner, tmp_path, db_session):
    bank = _copy_bank(tmp_path)
    bad = bank / "us-withdraws-jcpoa-2018.yaml"
    text = bad.read_text().replace('closes_at: "2018-12-31T23:59:59Z"', 'closes_at: "not a date"')
    assert text != bad.read_text()
    bad.write_text(text)
    result = runner.invoke(["questions", "load", str(bank)])
    assert result.exit_code != 0
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("closes_at:"))
    assert f"us-withdraws-jcpoa-2018.yaml:{line}: field 'closes_at'" in result.output
    assert "nothing was written" in result.output
    assert db_session.scalar(select(func.count()).select_from(Question)) == 0


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"kind": "ternary"}, "kind"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"options": [{"key": True, "label": "Yes"}, {"key": "no", "label": "No"}]}, "options"),
        ({"opens_at": "2019-01-01T00:00:00Z"}, "closes_at"),
        ({"resolve_by": "2017-01-01T00:00:00Z"}, "resolve_by"),
        ({"resolution_criteria": ""}, "resolution_criteria"),
        ({"closes_at": "2017-12-31 23:59"}, "closes_at"),
        ({"tags": ["Not A Tag"]}, "tags"),
    ],
)
def test_each_field_is_validated(tmp_path, patch, field):
    bank = _copy_bank(tmp_path, ["us-lifts-russia-sectoral-sanctions-2017"])
    path = bank / "us-lifts-russia-sectoral-sanctions-2017.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(patch)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(BankError) as info:
        read_bank(bank)
    assert f"field '{field}'" in str(info.value)
    assert path.name in str(info.value)


def test_broken_yaml_names_the_line(tmp_path):
    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "broken.yaml").write_text("slug: broken\ntitle: [unclosed\n")
    with pytest.raises(BankError, match=r"broken.yaml:\d+: not valid YAML"):
        read_bank(bank)


def test_update_keeps_forecasts_and_refuses_option_changes(db_session, clock, tmp_path):
    bank = _copy_bank(tmp_path, ["french-presidential-winner-2027"])
    load_directory(db_session, clock, bank)
    q = db_session.scalar(select(Question).where(Question.slug == "french-presidential-winner-2027"))
    user = make_user(db_session, "ann")
    n = len(q.options)
    add_forecast(db_session, q, user, [1.0 / n] * n, datetime(2026, 11, 20, tzinfo=UTC))

    path = bank / "french-presidential-winner-2027.yaml"
    data = yaml.safe_load(path.read_text())
    data["title"] = "A clearer title?"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    report = load_directory(db_session, clock, bank)
    assert report.updated == ["french-presidential-winner-2027"]
    assert q.title == "A clearer title?"
    assert db_session.scalar(select(func.count()).select_from(Forecast)) == 1

    data["options"] = data["options"][:-1]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(BankError, match="already has forecasts"):
        load_directory(db_session, clock, bank)


def test_times_are_stored_as_aware_utc(db_session, clock):
    load_directory(db_session, clock, BANK)
    db_session.commit()
    db_session.expire_all()
    q = db_session.scalar(select(Question).where(Question.slug == "us-withdraws-jcpoa-2018"))
    assert q.closes_at == datetime(2018, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert q.closes_at.tzinfo is not None
