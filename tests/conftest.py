"""Shared fixtures: real SQLite files and a real PostgreSQL database, migrated by Alembic.

PostgreSQL tests use CLAIMS_TEST_POSTGRES_URL (default: the local server, database `test`);
they skip when it is unreachable, unless CLAIMS_REQUIRE_SERVICES=1 (set by .ci/run), in which
case any skipped `postgres` or `browser` test fails the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from identity_helpers import as_user
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from claims import services
from claims.cli.tokenstore import TokenStore
from claims.demo import DEMO_USERS, signed_demo_case
from claims.services import Runtime
from claims.services.identity import issue_token_unchecked, system_identity
from claims.settings import get_settings
from claims.store.db import dispose_engines
from claims.store.models import Base
from migrations import alembic_config

PG_ADMIN_URL = os.environ.get("CLAIMS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("CLAIMS_REQUIRE_SERVICES") == "1"
# Every table the models declare: a new table is emptied between tests and covered by the snapshots.
TABLES = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI a skipped PostgreSQL or browser test is a failure, not a shrug."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and any(item.iter_markers(m) for m in ("postgres", "browser")):
        report.outcome = "failed"
        report.longrepr = f"skipped but CLAIMS_REQUIRE_SERVICES=1: {report.longrepr}"


def migrate(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "claims.db"
    migrate(f"sqlite:///{path}")
    dispose_engines()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session, migrated to head."""
    admin = make_url(PG_ADMIN_URL)
    name = f"claims_test_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL not reachable at {admin.render_as_string(hide_password=True)}: {exc}")
    url = admin.set(database=name).render_as_string(hide_password=False)
    migrate(url)
    yield url
    dispose_engines()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def reset_postgres(url: str) -> None:
    """Empty every table (TRUNCATE skips the row triggers that guard the event log)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO users (name, role, created_at) VALUES ('system', 'system', now())"))
    engine.dispose()
    # The similar-claim index is per process and per URL; ids restart here, so a kept index would take the
    # new claims for the old ones it embedded (a test saw another test's vectors). Start it afresh.
    from claims.services import similar

    with similar._INDEXES_LOCK:
        for key in [k for k in similar._INDEXES if k[0] == url]:
            del similar._INDEXES[key]


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "claims.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url(pg_database: str) -> str:
    reset_postgres(pg_database)
    return pg_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on a fresh SQLite file and on a clean PostgreSQL database."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def point_settings_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Point CLAIMS_DATABASE_URL (and so the CLI and the dashboard) at a test database, with the
    default policy and no acting user from the environment; the settings cache is reset both ways."""

    def point(url: str) -> None:
        monkeypatch.setenv("CLAIMS_DATABASE_URL", url)
        monkeypatch.delenv("CLAIMS_USER", raising=False)
        monkeypatch.delenv("CLAIMS_POLICY_FILE", raising=False)
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


@pytest.fixture
def env_db(db_url: str, point_settings_at: Callable[[str], None]) -> str:
    """The test database, with CLAIMS_DATABASE_URL pointing at it."""
    point_settings_at(db_url)
    return db_url


@pytest.fixture(autouse=True)
def own_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test keeps its sign-ins in its own config dir (never the real ~/.config/claims), with no CLAIMS_TOKEN."""
    path = tmp_path / "claims-config"
    monkeypatch.setenv("CLAIMS_CONFIG_DIR", str(path))
    monkeypatch.delenv("CLAIMS_TOKEN", raising=False)
    get_settings.cache_clear()
    return path


def sign_in(rt: Runtime, *names: str) -> None:
    """Sign `names` in as `claims login` would (tokens in the test's config dir); the last one is current."""
    store = TokenStore()
    for name in names:
        store.put(rt.database_url, name, issue_token_unchecked(rt, name, reason="test fixture").token)
    store.save()


@pytest.fixture
def signed_in(own_config_dir: Path) -> Callable[..., None]:
    """`signed_in(rt)` signs the demo users in (alice current); `signed_in(rt, "bob")` only bob."""

    def sign(rt: Runtime, *names: str) -> None:
        sign_in(rt, *(names or [*[n for n in DEMO_USERS if n != "alice"], "alice"]))

    return sign


@pytest.fixture
def rt(db_url: str, own_config_dir: Path) -> Runtime:
    """A runtime on the test database with the demo users (admin, alice, bob, carol, mia), each signed in
    (alice current), so CLI tests can pass `--as NAME` as a person picks among their own sign-ins."""
    runtime = Runtime(db_url)
    services.ensure_users(runtime, DEMO_USERS)
    sign_in(runtime, *[n for n in DEMO_USERS if n != "alice"], "alice")
    return runtime


@pytest.fixture(autouse=True)
def key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test its own instance key folder (CLAIMS_KEY_DIR): keys and checkpoints never touch ~/.config."""
    folder = tmp_path / "keys"
    monkeypatch.setenv("CLAIMS_KEY_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture
def demo(rt: Runtime, tmp_path: Path) -> Runtime:
    """The EU drones case (signed by this instance, so its confirmed history stands) imported and assessed once."""
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(signed_demo_case(tmp_path / "demo")))
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))
    return rt


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to prove a failed command changed nothing."""
    engine = create_engine(url)
    with engine.connect() as conn:
        data = {
            t.strip(): [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t.strip()} ORDER BY 1"))]
            for t in TABLES.split(",")
        }
    engine.dispose()
    return data


@pytest.fixture
def db_snapshot() -> object:
    return snapshot
