"""Alembic environment: runs migrations online against CLAIMS_DATABASE_URL or the given URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from claims.store.db import get_engine, normalise_url
from claims.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # Tests may hand in their own connection, or an engine (pytest-alembic hands in its
    # `alembic_engine` fixture as is).
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    if isinstance(given, Engine):
        engine = given
    else:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            from claims.settings import get_settings

            url = get_settings().database_url
        engine = get_engine(normalise_url(url), create=True)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations recreate a table (DROP + rename); with foreign keys enforced the DROP of a
            # table that others reference fails. SQLite only honours this pragma outside a transaction.
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            _run(conn)
            conn.commit()
        finally:
            if sqlite:
                conn.rollback()
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
