"""Migrations (pytest-alembic's built-in checks, bound explicitly) on SQLite and on PostgreSQL:
a single head, upgrade from empty, every downgrade and back, and models matching the migrations."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from identity_helpers import as_user, system_identity
from integration_helpers import error_line
from pytest_alembic import MigrationContext, tests
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from claims import services
from claims.demo import DEMO_CASE
from claims.services.identity import issue_signoff_code, set_email
from claims.services.provenance import public_text, trust_key
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


def _predicate(sql: object) -> str:
    """A partial index predicate without what each database adds when it prints it back (casts, brackets, spaces)."""
    return re.sub(r"::\w+|[()\s]", "", str(sql)).lower()


def test_partial_index_predicates_match_the_migrations(alembic_runner: MigrationContext, alembic_engine: Engine):
    """The models keep partial-index predicates in `info["where"]` (models.partial_index says why); alembic's
    model check compares no predicate, so this does: each one is the migrated index's own."""
    alembic_runner.migrate_up_to("heads")
    dialect = alembic_engine.dialect.name
    inspector = inspect(alembic_engine)
    declared = {
        (table.name, index.name): index.info["where"][dialect]
        for table in Base.metadata.sorted_tables
        for index in table.indexes
        if "where" in index.info
    }
    assert len(declared) == 5  # 0011 adds ix_claim_links_one_survivor, 0013 uq_collection_tasks_one_open
    for (table_name, index_name), where in declared.items():
        [reflected] = [i for i in inspector.get_indexes(table_name) if i["name"] == index_name]
        migrated = reflected.get("dialect_options", {}).get(f"{dialect}_where")
        assert migrated is not None, f"{index_name} is not partial in the migrated {dialect} database"
        assert _predicate(migrated) == _predicate(where), (index_name, str(migrated), where)


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
    assert line.startswith(f"error: downgrade: to 'base' would destroy {sum(counts.values())} rows or values (")
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


# head first; each revision's down_revision follows it
CHAIN = ["0016", "0015", "0014", "0013", "0012", "0011", "0010", "0009", "0008", "0007", "0002", "0005", "0003", "0001"]
THROUGHOUT = [  # the tables every revision has, whose rows a round trip must keep
    "cases",
    "sources",
    "claims",
    "evidence",
    "review_requests",
    "policy_actions",
    "action_requirements",
    "events",
    "users",
]


def table_rows(url: str, tables: Iterable[str]) -> dict[str, list[dict[str, object]]]:
    """Every row of each table as a column -> value mapping (ordered by id), to compare across schemas."""
    engine = create_engine(url)
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        data = {
            t: [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
            for t in tables
            if t in names
        }
    engine.dispose()
    return data


def common(rows: list[dict[str, object]], columns: set[str]) -> list[dict[str, object]]:
    return [{c: v for c, v in r.items() if c in columns} for r in rows]


def test_a_round_trip_with_data_in_every_table_keeps_it(rt, cli, env_db: str):
    """Issue 9, point 7: fill every table at head, step down one revision at a time to 0001 and back up.
    Rows of the tables every revision has keep their contents in the columns each revision has; a step
    that would drop a table holding rows is refused (and changes nothing) until --destroy-data."""
    demo = rt  # the unsigned demo: its confirmed history waits for a reviewer (review_requests)
    services.import_case(demo, as_user(demo, "alice"), services.read_case_file(DEMO_CASE))
    services.assess_claims(demo, system_identity(), services.open_claim_keys(demo))
    (pending,) = [r["id"] for r in services.review_queue(demo)]
    issue_signoff_code(demo, as_user(demo, "bob"), pending)  # signoff_codes
    services.reject(demo, as_user(demo, "bob"), pending, "the criteria no longer hold")  # a decided review
    trust_key(demo, as_user(demo, "admin"), "partner", public_text(Ed25519PrivateKey.generate().public_key()))
    set_email(demo, as_user(demo, "admin"), "alice", "alice@example.org")
    assert cli("audit", "verify").exit_code == 0
    everything = table_rows(env_db, [*THROUGHOUT, "trusted_keys", "tokens", "signoff_codes"])
    assert all(everything.values()), {t: len(r) for t, r in everything.items()}  # every table holds rows
    before = {t: everything[t] for t in THROUGHOUT}
    head_columns = {t: set(rows[0]) for t, rows in before.items()}

    refused, said = [], {}
    for revision, target in itertools.pairwise(CHAIN):
        snap = table_rows(env_db, [*THROUGHOUT, "trusted_keys", "tokens", "signoff_codes"])
        result = cli("db", "downgrade", target)
        if result.exit_code == 1:  # would drop a table holding rows: refused, nothing changed
            refused.append(revision)
            said[revision] = error_line(result)
            assert "--destroy-data" in said[revision]
            assert table_rows(env_db, snap) == snap
            result = cli("db", "downgrade", target, "--destroy-data")
        assert result.exit_code == 0, result.output
        now = table_rows(env_db, THROUGHOUT)
        for t in THROUGHOUT:
            columns = set(now[t][0]) if now[t] else set()
            assert common(now[t], columns) == common(before[t], columns), f"{t} changed by the downgrade to {target}"
    # tokens and sign-off codes, the users' password hashes and e-mails; the assessment bookmark; trusted
    # keys; the authoring versions (0009); the collection tasks the assessment planned (0013); the policies
    # that judged (0015)
    assert refused == ["0016", "0015", "0013", "0009", "0002", "0005", "0003"]
    assert "collection_tasks" in said["0013"]
    assert "users.email 1" in said["0002"]  # a dropped column holding data counts, not only dropped tables
    assert "claims.assessed_version" in said["0005"]

    assert cli("db", "upgrade").exit_code == 0
    after = table_rows(env_db, THROUGHOUT)
    for t in THROUGHOUT:
        assert set(after[t][0]) == head_columns[t]
        # what only lives in a column a downgrade dropped: the assessment bookmark and sign-in fields
        lost = {"claims": {"assessed_version", "assessed_policy"}}.get(t, set()) | (
            {"password_hash", "email", "disabled_at", "failed_sign_ins", "locked_until", "clearance", "all_cases"}
            if t == "users"
            else set()
        )
        kept = head_columns[t] - lost
        assert common(after[t], kept) == common(before[t], kept), t
    assert {r["email"] for r in after["users"]} == {None}  # the email set above went with 0002's downgrade
    # 0016 lets the people who were there read what they read before it: everything, every case
    assert {(r["clearance"], bool(r["all_cases"])) for r in after["users"]} == {("TLP:RED", True)}
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
