"""Engines and sessions. SQLite gets WAL, foreign keys and IMMEDIATE write transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and route them to psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _configure_sqlite(engine: Engine) -> None:
    # Take control of BEGIN from the sqlite3 module so a write unit of work can ask for
    # BEGIN IMMEDIATE: it then waits for the write lock up front instead of failing on
    # upgrade from a read lock (the documented pysqlite recipe).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
    url = normalise_url(url)
    engine = _ENGINES.get(url)
    if engine is None:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        _ENGINES[url] = engine
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def session_factory(url: str, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions for reading, or for a write unit of work (IMMEDIATE on SQLite)."""
    engine = get_engine(url)
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if write and is_sqlite(engine) else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


def dispose_engines() -> None:
    """Close every pooled connection, e.g. before a test drops its database."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()
