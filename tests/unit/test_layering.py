"""The layers point one way (see README, Development): read every module's imports and check them.

- ``tracker.scoring`` imports nothing from the project (pure numpy);
- ``tracker.domain`` and ``tracker.models`` import nothing from ``tracker.web`` or ``tracker.cli``;
- ``tracker.web`` never imports ``tracker.scoring`` (scores come through the domain layer).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tracker"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, at any depth (lazy ones too)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _modules(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


def _violations(subpackage: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in _modules(subpackage):
        for name in sorted(_imports(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{_module_name(path)} imports {name}")
    return bad


def test_the_import_reader_sees_relative_and_lazy_imports(tmp_path):
    # The checks below are only as good as the reader: prove it resolves the forms used here.
    imports = _imports(PACKAGE / "domain" / "resolution.py")
    assert "tracker.domain.lifecycle" in imports and "tracker.models" in imports
    assert "tracker.domain.scoring_runs" in imports  # imported inside a function


def test_scoring_imports_nothing_from_the_project():
    bad = [v for v in _violations("scoring", ("tracker",)) if " imports tracker.scoring" not in v]
    assert bad == []


@pytest.mark.parametrize("layer", ["domain", "models"])
def test_domain_and_models_do_not_import_web_or_cli(layer):
    assert _violations(layer, ("tracker.web", "tracker.cli", "tracker.scheduler", "flask")) == []


def test_web_does_not_import_scoring():
    assert _violations("web", ("tracker.scoring",)) == []


def test_cli_does_not_import_web_or_scoring():
    assert _violations("cli", ("tracker.web", "tracker.scoring")) == []
