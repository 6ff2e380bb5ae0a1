"""Run Alembic from code: the migrations folder ships inside the package, so no alembic.ini is needed."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from .db import normalise_url


def migrations_dir() -> Path:
    """The checkout's top-level migrations/ folder, or the copy inside an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "migrations", here.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("migrations folder not found next to the tracker package")


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation would choke on a % in a password.
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def next_revision_id() -> str:
    """Revisions are numbered 0001, 0002, ...: the next free number."""
    from alembic.script import ScriptDirectory

    ids = [rev.revision for rev in ScriptDirectory(str(migrations_dir())).walk_revisions()]
    numbers = [int(rev) for rev in ids if rev.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def head_revision() -> str:
    """The id of the newest revision in migrations/versions/."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(migrations_dir())).get_current_head()
    if head is None:
        raise FileNotFoundError("migrations/versions/ holds no revision")
    return head


def revision(database_url: str, message: str, autogenerate: bool = True) -> Path | None:
    """Write a new revision into migrations/versions/ comparing the models with the database at
    ``database_url`` (which must be at the current head). Returns its path, or None when
    autogenerate found no difference (nothing is written then)."""
    from alembic.operations.ops import MigrationScript

    empty: list[bool] = []

    def skip_empty(context, revision, directives: list[MigrationScript]) -> None:  # noqa: ANN001
        script = directives[0]
        if autogenerate and script.upgrade_ops is not None and script.upgrade_ops.is_empty():
            directives[:] = []
            empty.append(True)

    result = command.revision(
        alembic_config(database_url), message=message, autogenerate=autogenerate,
        rev_id=next_revision_id(), process_revision_directives=skip_empty,
    )
    if empty or result is None:
        return None
    script = result[0] if isinstance(result, list) else result
    return Path(script.path) if script is not None else None


def current_heads(database_url: str) -> set[str]:
    """The revisions the database is at (empty before the first upgrade)."""
    from alembic.runtime.migration import MigrationContext

    from .db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
