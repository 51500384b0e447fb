"""Tampering with the audit log the way an insider with database access would, for the chain tests.

The append-only triggers are lifted with the initial migration's own code and always put back.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session

from claims.store.events import event_hash
from claims.store.models import Event
from migrations import HERE as MIGRATIONS


def _initial_migration() -> ModuleType:
    (path,) = (MIGRATIONS / "versions").glob("*_0001_*.py")
    spec = importlib.util.spec_from_file_location("initial_migration_for_tamper", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def guards_lifted(url: str) -> Iterator[None]:
    migration = _initial_migration()
    engine = create_engine(url)

    def run(fn_name: str) -> None:
        with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
            getattr(migration, fn_name)()

    run("_drop_append_only_events")
    try:
        yield
    finally:
        run("_append_only_events")
        engine.dispose()


def middle_event_ids(url: str) -> tuple[int, int, int]:
    """Three consecutive event ids from the middle of the log: before, target, after."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            ids = list(session.scalars(select(Event.id).order_by(Event.id)))
    finally:
        engine.dispose()
    assert len(ids) >= 5, "the log is too short to cut an event out of its middle"
    i = len(ids) // 2
    return ids[i - 1], ids[i], ids[i + 1]


def delete_and_relink(url: str, target: int, *, recompute: bool) -> int:
    """Delete event `target` and point the next event's prev_hash at the one before the hole.

    With `recompute`, the relinked event's own hash is recomputed too, so it verifies on its
    own; only a rewrite of every later hash would hide the hole. Returns the relinked id.
    """
    engine = create_engine(url)
    try:
        with guards_lifted(url), Session(engine) as session:
            before = session.scalars(select(Event).where(Event.id < target).order_by(Event.id.desc()).limit(1)).one()
            after = session.scalars(select(Event).where(Event.id > target).order_by(Event.id).limit(1)).one()
            session.execute(delete(Event).where(Event.id == target))
            session.flush()
            after.prev_hash = before.hash
            if recompute:
                after.hash = event_hash(after)
            session.commit()
            return after.id
    finally:
        engine.dispose()
