"""The question bank refuses what PyYAML would silently accept: unknown keys, duplicate keys,
anchors and aliases, and field names leaking into the text readers see."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker.domain.question_bank import BankError, read_bank

BANK = ROOT / "questions"
SLUG = "us-lifts-russia-sectoral-sanctions-2017"


def _one(tmp_path: Path) -> Path:
    bank = tmp_path / "bank"
    bank.mkdir()
    shutil.copy(BANK / f"{SLUG}.yaml", bank / f"{SLUG}.yaml")
    return bank


def _line_of(text: str, prefix: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


def _errors(bank: Path) -> str:
    with pytest.raises(BankError) as info:
        read_bank(bank)
    return str(info.value)


def test_a_misspelt_key_is_an_error_naming_the_line(tmp_path):
    bank = _one(tmp_path)
    path = bank / f"{SLUG}.yaml"
    text = path.read_text().replace("fine_print: |", "fine_prnt: |")
    path.write_text(text)
    message = _errors(bank)
    assert f"{SLUG}.yaml:{_line_of(text, 'fine_prnt:')}: field 'fine_prnt': unknown key" in message


def test_unknown_keys_inside_source_and_options_are_errors(tmp_path):
    bank = _one(tmp_path)
    path = bank / f"{SLUG}.yaml"
    text = path.read_text().replace("  passage:", "  pasage:").replace(
        '{key: "no", label: "No"}', '{key: "no", lable: "No"}')
    path.write_text(text)
    message = _errors(bank)
    assert f":{_line_of(text, '  pasage:')}: field 'source.pasage': unknown key" in message
    assert "field 'options.lable': unknown key" in message


def test_a_duplicate_key_is_an_error_not_last_one_wins(tmp_path):
    bank = _one(tmp_path)
    path = bank / f"{SLUG}.yaml"
    text = path.read_text() + 'title: "A second title"\n'
    path.write_text(text)
    message = _errors(bank)
    last = len(text.splitlines())
    assert f"{SLUG}.yaml:{last}: field 'title': duplicate key (first given on line {_line_of(text, 'title:')})" in message


def test_yaml_anchors_and_aliases_are_refused(tmp_path):
    bank = _one(tmp_path)
    path = bank / f"{SLUG}.yaml"
    text = path.read_text().replace("closes_at: ", "closes_at: &close ").replace(
        "resolve_by: ", "resolve_by: *close\n# was: ")
    path.write_text(text)
    message = _errors(bank)
    assert f"{SLUG}.yaml:{_line_of(text, 'closes_at:')}: field 'closes_at': YAML anchor 'close' is not allowed" in message
    assert f"{SLUG}.yaml:{_line_of(text, 'resolve_by:')}: field 'resolve_by': YAML alias 'close' is not allowed" in message


@pytest.mark.parametrize("name", ["resolution_criteria", "fine_print", "background"])
def test_field_names_in_reader_text_are_refused(tmp_path, name):
    bank = _one(tmp_path)
    path = bank / f"{SLUG}.yaml"
    text = path.read_text().replace(f"{name}: |\n", f"{name}: |\n  Counted from `opens_at`.\n", 1)
    assert text != path.read_text()
    path.write_text(text)
    message = _errors(bank)
    assert f"{SLUG}.yaml:{_line_of(text, name + ':')}: field '{name}': mentions the field name 'opens_at'" in message


def test_cli_check_refuses_a_bad_file_and_names_file_line_and_field(runner, tmp_path):
    bank = _one(tmp_path)
    path = bank / f"{SLUG}.yaml"
    text = path.read_text().replace("fine_print: |", "fine_prnt: |")
    path.write_text(text)
    for args in (["questions", "load", "--check", str(bank)], ["questions", "load", str(bank)]):
        result = runner.invoke(args)
        assert result.exit_code != 0
        assert f"{SLUG}.yaml:{_line_of(text, 'fine_prnt:')}: field 'fine_prnt': unknown key" in result.output


def test_cli_check_accepts_the_bank(runner):
    result = runner.invoke(["questions", "load", "--check", str(BANK)])
    assert result.exit_code == 0, result.output
    assert f"{len(list(BANK.glob('*.yaml')))} question files are valid" in result.output
