"""Bulk writes on SQLite: store.bulk.executemany stores what Core stores; the page cache a batch needs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, func, insert, text, update
from sqlalchemy.orm import Session

from claims.store.bulk import BulkInsert, executemany
from claims.store.db import get_engine, session_factory
from claims.store.models import Case, Claim
from claims.store.types import UtcDateTime


def test_rows_stored_as_core_stores_them(sqlite_url: str) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    claims = Claim.__table__
    statement = (
        update(claims)
        .where(claims.c.id == bindparam("cid"), claims.c.version == bindparam("seen"))
        .values(
            stage=bindparam("stage"),
            at_risk=bindparam("at_risk"),
            updated_at=bindparam("now"),
            corroborated_at=func.coalesce(bindparam("at", type_=UtcDateTime()), claims.c.corroborated_at),
            version=claims.c.version + 1,
        )
    )
    with Session(get_engine(sqlite_url)) as session:
        case = session.execute(insert(Case.__table__).returning(Case.id), {"key": "k", "title": "t", "created_at": at})
        case_id = case.scalar_one()
        row = {"case_id": case_id, "statement": "s", "stage": "reported", "at_risk": False, "version": 1}
        row |= {"created_at": at, "updated_at": at}
        session.execute(insert(claims), [row | {"key": f"c{i}"} for i in range(4)])
        ids = list(session.scalars(text("SELECT id FROM claims ORDER BY id")))
        change = {"stage": "corroborated", "at_risk": True, "now": at, "seen": 1}
        core = [change | {"cid": ids[0], "at": at}, change | {"cid": ids[1], "at": None}]
        ours = [change | {"cid": ids[2], "at": at}, change | {"cid": ids[3], "at": None}]
        session.execute(statement, core)
        assert executemany(session, statement, [*ours, change | {"cid": ids[0], "at": at}]) == 2  # version moved on
        stored = session.execute(
            text("SELECT stage, at_risk, updated_at, corroborated_at, version FROM claims ORDER BY id")
        ).all()
    assert stored[2:] == stored[:2]
    assert stored[0] == ("corroborated", 1, "2026-01-02 03:04:05.000000", "2026-01-02 03:04:05.000000", 2)


def test_bulk_insert_stores_what_core_stores(sqlite_url: str) -> None:
    """The import's BulkInsert: the same text for every value, timestamps included (SQLite compares them as text)."""
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    claims = Claim.__table__
    columns = ("case_id", "key", "statement", "stage", "at_risk", "version", "created_at", "updated_at")
    with Session(get_engine(sqlite_url)) as session:
        case = session.execute(insert(Case.__table__).returning(Case.id), {"key": "k", "title": "t", "created_at": at})
        case_id = case.scalar_one()
        values = (case_id, "?", "s", "reported", False, 1, at, at)
        session.execute(insert(claims), [dict(zip(columns, values, strict=True)) | {"key": "core"}])
        assert BulkInsert(session, claims, columns)([(case_id, "bulk", *values[2:])]) == 1
        stored = session.execute(
            text("SELECT stage, at_risk, version, created_at, updated_at FROM claims ORDER BY key")
        ).all()
    assert stored[0] == stored[1] == ("reported", 0, 1, "2026-01-02 03:04:05.000000", "2026-01-02 03:04:05.000000")


def test_sqlite_write_units_of_work_keep_a_page_cache_a_batch_fits_in(sqlite_url: str) -> None:
    """A batch assessment dirties thousands of pages; SQLite's default 2 MiB cache spilled them
    mid-transaction. Readers keep the default (the dashboard holds a pool of them)."""
    write = session_factory(sqlite_url, write=True)
    read = session_factory(sqlite_url)
    for _ in range(2):  # the same pooled connection, alternately writing and reading
        with write() as session, session.begin():
            assert session.execute(text("PRAGMA cache_size")).scalar_one() == -64 * 1024
        with read() as session, session.begin():
            assert session.execute(text("PRAGMA cache_size")).scalar_one() == -2000
