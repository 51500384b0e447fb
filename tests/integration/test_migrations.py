"""Migrations (pytest-alembic's built-in checks, bound explicitly) on SQLite and on PostgreSQL:
a single head, upgrade from empty, every downgrade and back, and models matching the migrations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_alembic import MigrationContext, tests
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from claims.store.models import Base
from migrations import alembic_config as make_alembic_config


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def alembic_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database: a new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    server = make_url(request.getfixturevalue("pg_database"))  # skips when PostgreSQL is unreachable
    name = f"claims_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(server.set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def alembic_config(alembic_engine: Engine):
    """Our config comes from migrations.alembic_config(url); pytest-alembic hands env.py the connection."""
    return make_alembic_config(alembic_engine.url.render_as_string(hide_password=False))


def test_single_head_revision(alembic_runner: MigrationContext):
    tests.test_single_head_revision(alembic_runner)
    assert len(alembic_runner.heads) == 1


def test_upgrade(alembic_runner: MigrationContext, alembic_engine: Engine):
    tests.test_upgrade(alembic_runner)
    tables = set(inspect(alembic_engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_model_definitions_match_ddl(alembic_runner: MigrationContext):
    tests.test_model_definitions_match_ddl(alembic_runner)


def test_up_down_consistency(alembic_runner: MigrationContext, alembic_engine: Engine):
    tests.test_up_down_consistency(alembic_runner)
    alembic_runner.migrate_down_to("base")
    assert set(inspect(alembic_engine).get_table_names()) <= {"alembic_version"}
    alembic_runner.migrate_up_to("heads")
    with alembic_engine.connect() as conn:
        users = conn.execute(text("SELECT name, role FROM users")).all()
    assert [tuple(u) for u in users] == [("system", "system")]


def test_a_downgrade_that_would_destroy_data_is_refused_and_says_what(demo, cli, env_db: str, db_snapshot):
    """Issue 9, point 7: `claims db downgrade base` with data exits 1, names the rows per table it would
    drop and changes nothing; with --destroy-data it goes ahead; `db upgrade` brings the schema back."""
    before = db_snapshot(env_db)
    result = cli("db", "downgrade", "base")
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    counts = {t: len(rows) for t, rows in before.items() if rows}
    assert line.startswith(f"error: downgrade: to 'base' would destroy {sum(counts.values())} rows (")
    for table_name, n in counts.items():
        assert f"{table_name} {n}" in line
    assert "--destroy-data" in line
    assert db_snapshot(env_db) == before

    result = cli("db", "downgrade", "base", "--destroy-data")
    assert result.exit_code == 0, result.output
    engine = create_engine(env_db)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    assert cli("db", "upgrade").exit_code == 0
