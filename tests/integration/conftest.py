"""Helpers for the integration tests: the CLI in-process, fresh databases, event counts."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from identity_helpers import as_user
from integration_helpers import empty_postgres, small_case
from typer.testing import CliRunner

from claims import services
from claims.cli import app
from claims.services import Runtime

Invoke = Callable[..., Result]


@pytest.fixture
def cli(env_db: str) -> Invoke:
    """`cli("show", "KEY", "--json")` runs `claims ...` in-process against the test database.

    Unexpected exceptions propagate (catch_exceptions=False): a crash must never pass for a
    clean non-zero exit.
    """
    runner = CliRunner()

    def invoke(*args: object, input: str | None = None) -> Result:
        return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def fresh_database(db_url: str, sqlite_template: Path, tmp_path: Path) -> Callable[[], str]:
    """Give an empty, migrated database of the same kind as `db_url`.

    SQLite: another copy of the migrated template. PostgreSQL: the session database emptied
    (the caller has read what it needs from it first).
    """

    def make() -> str:
        if db_url.startswith("sqlite"):
            path = tmp_path / f"fresh-{uuid.uuid4().hex[:6]}.db"
            shutil.copy(sqlite_template, path)
            return f"sqlite:///{path}"
        empty_postgres(db_url)
        # A new log under the same URL: the old one's checkpoints no longer apply (a real operator moves them aside)
        from claims.services.audit import checkpoint_path

        checkpoint_path(db_url).unlink(missing_ok=True)
        return db_url

    return make


@pytest.fixture
def three_lines(rt: Runtime) -> Runtime:
    """Case `small`: claim `strong` with three independent supporting lines (B2, C3, C3), still reported;
    claim `weak` with one line."""
    services.import_case(
        rt,
        as_user(rt, "alice"),
        small_case(
            {"reuters": "B", "afp": "C", "osint": "C"},
            {
                "strong": [("reuters", "supports", 2), ("afp", "supports", 3), ("osint", "supports", 3)],
                "weak": [("afp", "supports", 2)],
            },
        ),
    )
    return rt
