"""Engines and sessions. SQLite gets WAL, foreign keys and IMMEDIATE write transactions.

An engine is handed out only for a database that exists and carries the schema (else one line
naming the URL and saying `claims db upgrade`): a read never creates an SQLite file. Only
migrations (`create=True`) may create one. `dispose_engines` checkpoints the WAL of a database
this process wrote, so the `.db` file alone holds the data once a command ends.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from claims.domain.errors import BackupRefused, DatabaseNotReady  # raised here, defined with the other errors

# How long a writer queues behind another before giving up with a conflict (both databases),
# unless CLAIMS_WRITE_WAIT_SECONDS says otherwise (`write_wait_seconds`).
WRITE_WAIT_SECONDS = 30


def write_wait_seconds() -> float:
    """The configured writer wait (CLAIMS_WRITE_WAIT_SECONDS, default WRITE_WAIT_SECONDS)."""
    from claims.settings import get_settings  # here: the store's import stays light

    return get_settings().write_wait_seconds


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and route them to psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def database_key(url: str) -> str:
    """Which database a local file entry belongs to (sign-ins): the URL without its
    password, a relative SQLite path made absolute."""
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        parsed = parsed.set(database=str(Path(parsed.database).resolve()))
    return parsed.render_as_string(hide_password=True)


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("mode") == "memory" or parsed.database.startswith("file::memory:"):
        return None
    database = parsed.database.removeprefix("file:") if parsed.query.get("uri") else parsed.database
    return Path(database.split("?", 1)[0])


def _check_location(url: str) -> None:
    """An SQLite file must sit in an existing folder (and, unless migrating, exist); checked before any connect."""
    path = sqlite_path(url)
    if path is None:
        return
    if not path.parent.is_dir():
        raise DatabaseNotReady(f"database: folder {path.parent} does not exist ({safe_url(url)})")
    if path.is_dir():
        raise DatabaseNotReady(f"database: {path} is a folder, not an SQLite file ({safe_url(url)})")


def _check_schema(engine: Engine, url: str) -> None:
    """The database exists and Alembic has stamped it; an SQLite file is looked at read-only, never created."""
    path = sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise DatabaseNotReady(f"database: no database at {safe_url(url)}; run `claims db upgrade` to create it")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'").fetchone()
            migrated = bool(found) and bool(conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0])
        except sqlite3.DatabaseError as exc:  # not an SQLite file at all
            raise DatabaseNotReady(f"database: {safe_url(url)} is not an SQLite database ({exc})") from None
        finally:
            conn.close()
    else:
        with engine.connect() as conn:
            migrated = inspect(conn).has_table("alembic_version") and bool(
                conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
            )
    if not migrated:
        raise DatabaseNotReady(f"database: {safe_url(url)} has no schema yet; run `claims db upgrade`")


WRITE_CACHE_KIB, READ_CACHE_KIB = 64 * 1024, 2000  # SQLite page cache per connection (2000: its default)


def _configure_sqlite(engine: Engine) -> None:
    # Take control of BEGIN from the sqlite3 module so a write unit of work can ask for
    # BEGIN IMMEDIATE: it then waits for the write lock up front instead of failing on
    # upgrade from a read lock (the documented pysqlite recipe).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(write_wait_seconds() * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        # A write unit of work gets a page cache of up to 64 MiB (allocated as used) instead of
        # SQLite's 2 MiB: a batch assessment dirties a few thousand pages (its events' hash indexes
        # take random ones), and with 2 MiB SQLite spilled them to the WAL mid-transaction and
        # wrote them again. Readers (the dashboard keeps a pool) stay at the default.
        conn.exec_driver_sql(f"PRAGMA cache_size=-{WRITE_CACHE_KIB if mode == 'IMMEDIATE' else READ_CACHE_KIB}")
        conn.exec_driver_sql(f"BEGIN {mode}")


_ENGINES: dict[str, Engine] = {}
# SQLite URLs this process committed a write to: checkpointed by dispose_engines. Marked on commit,
# not on BEGIN IMMEDIATE: a write that waited for the lock and gave up wrote nothing, and its
# checkpoint at the end of the command waited for the same lock once more (issue 21.11: "30 s",
# and the command returned after 58 s).
_WROTE: set[str] = set()


def wrote(url: str) -> None:
    """Note that this process committed a write to `url` (the unit of work calls it after a commit)."""
    _WROTE.add(url)


def get_engine(url: str, *, create: bool = False) -> Engine:
    """One engine per URL per process, for a database that exists and is migrated (`create`: for migrations)."""
    url = normalise_url(url)
    engine = _ENGINES.get(url)
    if engine is None:
        _check_location(url)
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": write_wait_seconds()})
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
            if engine.dialect.name == "postgresql":
                # Bulk INSERTs without RETURNING (audit events) as multi-row VALUES statements, as the
                # ones with RETURNING already are: psycopg's pipelined executemany costs a round of
                # Python per row, a third of a 10k-claim assessment.
                engine.dialect.use_insertmanyvalues_wo_returning = True
        if not create:
            try:
                _check_schema(engine, url)
            except BaseException:
                engine.dispose()
                raise
        _ENGINES[url] = engine
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def session_factory(url: str, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions for reading, or for a write unit of work (IMMEDIATE on SQLite)."""
    engine = get_engine(url)
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if write and is_sqlite(engine) else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


def checkpoint(engine: Engine) -> None:
    """Copy an SQLite WAL into the database file and empty it, so the `.db` file alone holds every commit.

    Closing the last connection does this too, but not while another process (the dashboard) has
    the database open; TRUNCATE waits (busy_timeout) for readers, and a busy result only means the
    data stays in the WAL, where it is just as safe.
    """
    if is_sqlite(engine):
        with engine.connect() as conn:
            # The wait is the writer wait at most: a checkpoint is never worth more than the change was.
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(write_wait_seconds() * 1000)}")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def dispose_engines() -> None:
    """Close every pooled connection (checkpointing the SQLite files written to): at the end of a command,
    before a test drops its database."""
    while _ENGINES:
        url, engine = _ENGINES.popitem()
        if url in _WROTE or str(engine.url) in _WROTE:
            _WROTE.discard(str(engine.url))
            with suppress(Exception):  # the commits are safe in the WAL; a failed checkpoint only leaves them there
                checkpoint(engine)
        engine.dispose()


def backup(url: str, target: Path) -> Path:
    """Copy a live SQLite database to `target` with SQLite's online backup (consistent while others write).

    The copy is written beside `target` and renamed into place, so a failed backup leaves no partial
    file, and it is a plain single file (journal mode DELETE). PostgreSQL has its own tool.
    """
    path = sqlite_path(url)
    if path is None:
        if make_url(url).get_backend_name() == "postgresql":
            raise BackupRefused(
                f"backup: PostgreSQL databases are backed up with pg_dump, e.g. "
                f"pg_dump --format=custom --file {target} '{safe_url(normalise_url(url)).replace('+psycopg', '')}'"
            )
        raise BackupRefused(f"backup: only SQLite files can be backed up here, not {safe_url(url)}")
    get_engine(url)  # exists and is migrated, else one line saying so
    target = target.expanduser()
    if target.exists():
        raise BackupRefused(f"backup: {target} already exists; choose a new file")
    if not target.parent.is_dir():
        raise BackupRefused(f"backup: folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    source = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
        partial.replace(target)
    finally:
        source.close()
        partial.unlink(missing_ok=True)
    return target
