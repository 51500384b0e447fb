"""A first run that never stumbles (issue 7, points 9 and 10; issue 11, point 1's reading commands).

(That the `.db` file alone holds the data after `claims demo` is checked in test_prefect_runtime.py.)

- A missing or un-migrated database is one line naming the URL and saying `claims db upgrade`; a read
  never creates a file.
- `claims db backup PATH` copies a live SQLite database; on PostgreSQL it points at pg_dump.
- Reading commands import neither Prefect nor Streamlit, nor what they do not use (LEFT_OUT).
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from identity_helpers import as_user, system_identity
from integration_helpers import sign_in
from typer.testing import CliRunner

from claims import services
from claims.cli import app
from claims.cli.tokenstore import TokenStore
from claims.demo import DEMO_CASE, DEMO_USERS
from claims.services import Runtime

ROOT = Path(__file__).resolve().parents[2]
READS = [["list"], ["show", "factory-exists"], ["readiness"], ["review", "list"], ["audit", "verify"]]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def sqlite_demo(sqlite_url: str) -> str:
    """An SQLite file with the EU drones case imported and assessed (through the services)."""
    rt = Runtime(sqlite_url)
    services.ensure_users(rt, DEMO_USERS)
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(DEMO_CASE))
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))
    sign_in(rt, "alice")  # a read names its reader (issue 20): the commands below read as alice
    return sqlite_url


@pytest.fixture
def in_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point_settings_at: Callable[[str], None]) -> Path:
    """An empty working folder and the default database URL (sqlite:///claims.db, relative to it)."""
    monkeypatch.chdir(tmp_path)
    point_settings_at("sqlite:///claims.db")
    return tmp_path


@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_a_read_without_a_database_is_one_line_and_creates_no_file(in_folder: Path, command: list[str]):
    result = invoke(*command)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: database: no database at sqlite:///claims.db; run `claims db upgrade` to create it"
    ]
    assert list(in_folder.iterdir()) == []


@pytest.mark.parametrize(
    "command", [["list"], ["advance", "factory-exists", "--to", "corroborated", "--as", "alice"]], ids=" ".join
)
def test_an_unmigrated_database_is_one_line_and_left_as_it_was(in_folder: Path, command: list[str]):
    (in_folder / "claims.db").touch()
    result = invoke(*command)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: database: sqlite:///claims.db has no schema yet; run `claims db upgrade`"
    ]
    assert [(p.name, p.stat().st_size) for p in in_folder.iterdir()] == [("claims.db", 0)]


def test_a_file_that_is_not_sqlite_is_one_line(in_folder: Path):
    (in_folder / "claims.db").write_text("not a database\n")
    result = invoke("list")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: database: sqlite:///claims.db is not an SQLite database (file is not a database)"
    ]


@pytest.mark.parametrize("command", [["list"], ["db", "upgrade"]], ids=" ".join)
def test_a_database_in_a_missing_folder_is_one_line(
    tmp_path: Path, point_settings_at: Callable[[str], None], command: list[str]
):
    point_settings_at(f"sqlite:///{tmp_path}/missing/claims.db")
    result = invoke(*command)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: database: folder {tmp_path}/missing does not exist (sqlite:///{tmp_path}/missing/claims.db)"
    ]
    assert not (tmp_path / "missing").exists()


def test_backup_copies_a_live_database_into_one_file(
    sqlite_demo: str, point_settings_at: Callable[[str], None], tmp_path: Path
):
    point_settings_at(sqlite_demo)
    target = tmp_path / "copies" / "backup.db"
    target.parent.mkdir()
    before = invoke("list", "--json")
    result = invoke("db", "backup", target)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in target.parent.iterdir()) == ["backup.db"]  # one file: no -wal, no partial copy
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    point_settings_at(f"sqlite:///{target}")
    store = TokenStore()  # alice's sign-in holds in the copy (its tokens table came with it)
    store.put(f"sqlite:///{target}", "alice", store.token(sqlite_demo, "alice"))
    store.save()
    assert json.loads(invoke("list", "--json").stdout) == json.loads(before.stdout)

    again = invoke("db", "backup", target)
    assert again.exit_code == 1
    assert again.stderr.splitlines() == [f"error: backup: {target} already exists; choose a new file"]


def test_only_the_bounded_commands_run_without_the_garbage_collector(in_folder: Path):
    """`main` starts with the collector off (claims.cli.common.BOUNDED): every other command turns it on."""
    gc.disable()
    try:
        for command in (["list"], ["show", "c1"], ["readiness"], ["review", "list"]):
            invoke(*command)
            assert not gc.isenabled(), command
        invoke("audit", "verify")
        assert gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.postgres
def test_backup_on_postgresql_points_at_pg_dump(postgres_url: str, point_settings_at: Callable[[str], None]):
    point_settings_at(postgres_url)
    result = invoke("db", "backup", "claims.dump")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: backup: PostgreSQL databases are backed up with pg_dump, e.g. pg_dump ")


PROBE = """
import sys
from claims.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print("MODULES=" + ",".join(sorted(sys.modules)), file=sys.stderr)
"""


def imported_by(url: str, folder: Path, command: list[str]) -> set[str]:
    """The modules a reading command imported, run in a fresh process as a person would."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *command],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CLAIMS_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("MODULES="), result.stderr
    assert result.stdout.strip()  # the command did answer
    return set(last.removeprefix("MODULES=").split(","))


def packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("command", [*READS[:4], ["--help"], ["list", "--help"]], ids=" ".join)
def test_reading_commands_import_neither_prefect_nor_streamlit(sqlite_demo: str, tmp_path: Path, command: list[str]):
    assert packages(imported_by(sqlite_demo, tmp_path, command)) & {"prefect", "streamlit"} == set()


# What each reading command leaves out to answer sooner (issue 11): the PostgreSQL dialect on SQLite
# (claims.store.models.partial_index says how), rich where nothing is drawn, the assessment rules
# (claims.domain loads its names on first use) where no claim is assessed, and for `--help` the
# database and settings libraries altogether.
LEFT_OUT = {
    ("--help",): {"sqlalchemy", "pydantic", "pydantic_settings", "rich", "claims.domain.assessment"},
    ("list", "--json"): {"sqlalchemy.dialects.postgresql", "rich", "claims.domain.assessment"},
    ("list",): {"sqlalchemy.dialects.postgresql", "claims.domain.assessment"},
    ("show", "factory-exists"): {"sqlalchemy.dialects.postgresql"},
    ("readiness", "--json"): {"sqlalchemy.dialects.postgresql", "rich"},
    ("review", "list"): {"sqlalchemy.dialects.postgresql"},
}


@pytest.mark.parametrize("command", list(LEFT_OUT), ids=" ".join)
def test_reading_commands_import_only_what_they_use(sqlite_demo: str, tmp_path: Path, command: tuple[str, ...]):
    modules = imported_by(sqlite_demo, tmp_path, list(command))
    assert LEFT_OUT[command] & (modules | packages(modules)) == set()
