"""What a schema downgrade would destroy, found by rehearsing it in a transaction that is rolled back."""

from __future__ import annotations

from sqlalchemy import column, func, inspect, select, table

from claims.store.db import get_engine, normalise_url


def rows_per_table(conn: object) -> dict[str, int]:
    names = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]  # type: ignore[arg-type]
    return {t: conn.scalar(select(func.count()).select_from(table(t))) or 0 for t in names}  # type: ignore[attr-defined]


def _columns(conn: object) -> dict[str, set[str]]:
    insp = inspect(conn)  # type: ignore[arg-type]
    return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names() if t != "alembic_version"}


def downgrade_losses(url: str, revision: str) -> dict[str, int]:
    """What the downgrade to `revision` would destroy: rows of dropped tables (`table`), and values of
    dropped columns in kept tables (`table.column`, non-null values only); entries with data only.

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
            columns = _columns(conn)
            config = alembic_config(url)
            config.attributes["connection"] = conn
            try:
                command.downgrade(config, revision)
                after = _columns(conn)
            except Exception:  # the rehearsal itself failed: count every table as at risk
                after = {}
        finally:
            outer.rollback()
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
        losses = {t: n for t, n in before.items() if n and t not in after}
        for t, kept in after.items():  # the data is back after the rollback: count what the dropped columns hold
            for c in sorted(columns.get(t, set()) - kept):
                n = conn.scalar(select(func.count(column(c))).select_from(table(t))) or 0
                if n:
                    losses[f"{t}.{c}"] = n
        conn.rollback()
    return losses
