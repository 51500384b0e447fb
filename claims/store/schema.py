"""What a schema downgrade would destroy, found by rehearsing it in a transaction that is rolled back."""

from __future__ import annotations

from sqlalchemy import func, inspect, select, table

from claims.store.db import get_engine, normalise_url


def rows_per_table(conn: object) -> dict[str, int]:
    names = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]  # type: ignore[arg-type]
    return {t: conn.scalar(select(func.count()).select_from(table(t))) or 0 for t in names}  # type: ignore[attr-defined]


def downgrade_losses(url: str, revision: str) -> dict[str, int]:
    """Rows in the tables that the downgrade to `revision` would drop (tables with rows only).

    Both SQLite and PostgreSQL run DDL inside a transaction, so the downgrade is run for real
    and rolled back: the answer comes from the migrations themselves, not from a list kept by hand.
    """
    from alembic import command

    from migrations import alembic_config

    engine = get_engine(normalise_url(url))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # as migrations/env.py: a batch rebuild DROPs tables others reference (pragma outside a transaction)
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            conn.rollback()
        outer = conn.begin()
        try:
            before = rows_per_table(conn)
            config = alembic_config(url)
            config.attributes["connection"] = conn
            try:
                command.downgrade(config, revision)
                kept = set(inspect(conn).get_table_names())
            except Exception:  # the rehearsal itself failed: count every table as at risk
                kept = set()
        finally:
            outer.rollback()
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    return {t: n for t, n in before.items() if n and t not in kept}
