"""Many rows into one table in the session's transaction: the driver's executemany, or COPY on PostgreSQL.

Core's `session.execute(insert(table), dicts)` spent more time per row in SQLAlchemy (parameter
dicts, one type processor call per value) than the database spent storing the row: at 10k claims
that was a third of a bulk import. Here rows are tuples in a fixed column order, each column's
bind processor (the same one Core would use, so the stored values are identical) is asked once,
and a value repeated through a batch (its timestamp) is converted once. PostgreSQL gets the rows
through COPY on the session's own connection: same transaction, so a failure anywhere still
leaves nothing behind, and driver errors are raised as SQLAlchemy's (IntegrityError, ...), as
Core would raise them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Date, DateTime, Executable, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def _memoised(process: Callable[[Any], Any], sqlite: bool) -> Callable[[Any], Any]:
    """A processor for dates and times: a batch repeats few distinct values, convert each once.

    On SQLite the value is also put through the adapter sqlite3 itself would apply when binding
    it (datetime -> ISO text), the same function, so the stored text is the same.
    """
    seen: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        if value is None:
            return None
        try:
            return seen[value]
        except KeyError:
            out = process(value)
            adapt = sqlite3.adapters.get((type(out), sqlite3.PrepareProtocol)) if sqlite else None
            seen[value] = out = adapt(out) if adapt is not None else out
            return out

    return run


def _is_temporal(kind: Any) -> bool:
    """Date and time columns (UtcDateTime too): their processors are pure, so memoising is safe."""
    return isinstance(getattr(kind, "impl_instance", kind), Date | DateTime)


class BulkInsert:
    """`BulkInsert(session, table, columns)(rows)`: rows are tuples in `columns` order.

    `prepared` names columns whose values are already what the driver takes (e.g. JSON text
    the caller serialised anyway), so no processor runs on them.
    """

    def __init__(self, session: Session, table: Table, columns: Sequence[str], prepared: Iterable[str] = ()) -> None:
        self.session = session
        self.table = table
        self.columns = tuple(columns)
        dialect = session.get_bind().dialect
        self.postgres = dialect.name == "postgresql"
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in self.columns)
        if self.postgres:
            self.sql = f"COPY {quote(table.name)} ({names}) FROM STDIN"
        else:
            marks = ", ".join("?" for _ in self.columns)
            self.sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"
        skip = set(prepared)
        processors: list[tuple[int, Callable[[Any], Any]]] = []
        for i, name in enumerate(self.columns):
            column = table.c[name]
            process = None if name in skip else column.type.dialect_impl(dialect).bind_processor(dialect)
            if process is None:
                continue
            if _is_temporal(column.type):
                process = _memoised(process, sqlite=dialect.name == "sqlite")
            processors.append((i, process))
        self.processors = processors

    def _converted(self, rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        if not self.processors:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, process in self.processors:
                values[i] = process(values[i])
            out.append(tuple(values))
        return out

    def __call__(self, rows: Iterable[Sequence[Any]]) -> int:
        """Insert the rows; returns how many."""
        values = self._converted(rows)
        if not values:
            return 0
        connection = self.session.connection()
        if not self.postgres:
            connection.exec_driver_sql(self.sql, values)  # one sqlite3 executemany
            return len(values)
        import psycopg

        raw = connection.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        try:
            with raw.cursor() as cursor, cursor.copy(self.sql) as copy:
                for row in values:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise DBAPIError.instance(self.sql, None, exc, psycopg.Error) from exc
        return len(values)


def executemany(session: Session, statement: Executable, rows: Sequence[dict[str, Any]]) -> int:
    """`session.execute(statement, rows)` as one driver executemany; the rows it matched.

    Core converts every value of every row through its parameter machinery, several times what
    SQLite takes to apply an UPDATE by id. Here the statement is compiled once, each bind's
    processor is the one Core would use (dates and times converted once per distinct value),
    and the driver gets tuples. For positional (qmark) dialects, i.e. SQLite.
    """
    if not rows:
        return 0
    connection = session.connection()
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    names = compiled.positiontup
    assert names is not None, "a positional dialect"
    # per position: (its key in a row, or None for a value the statement carries, e.g. `version + 1`;
    # that value; the processor)
    slots: list[tuple[str | None, Any, Callable[[Any], Any] | None]] = []
    for name in names:
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)  # what Core runs, e.g. SQLite's DATETIME
        if process is not None and _is_temporal(bind.type):
            process = _memoised(process, sqlite=dialect.name == "sqlite")
        if bind.required:
            slots.append((name, None, process))
        else:
            value = bind.effective_value
            slots.append((None, process(value) if process is not None else value, None))
    values = [
        tuple(fixed if key is None else p(row[key]) if p is not None else row[key] for key, fixed, p in slots)
        for row in rows
    ]
    result = connection.exec_driver_sql(str(compiled), values)
    return int(result.rowcount)
