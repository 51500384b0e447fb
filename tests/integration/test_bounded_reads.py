"""Reads bind a bounded number of parameters whatever the caller asks for (PostgreSQL refuses
more than 65,535; the what-if once bound every key of a 100k case)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event

import claims.store.repositories as repositories
from claims import services
from claims.services import Runtime
from claims.store.db import get_engine


def test_many_claims_are_read_in_bounded_slices(demo: Runtime, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(repositories, "KEY_SLICE", 2)
    keys = services.open_claim_keys(demo)
    assert len(keys) > 2
    widest: list[int] = []

    def count(_conn, _cursor, statement, parameters, _context, _executemany):  # type: ignore[no-untyped-def]
        if re.search(r"claims\.\W?key\W? IN", statement):  # (selectinload binds at most 500 parent ids by itself)
            widest.append(len(parameters))

    engine = get_engine(demo.database_url)
    event.listen(engine, "before_cursor_execute", count)
    try:
        with demo.uow(write=False) as uow:
            found = [c.key for c in uow.claims.many(list(reversed(keys)) + keys[:1])]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sorted(found) == sorted(keys) and len(found) == len(keys)  # each once, in id order
    assert found == keys
    assert len(widest) >= 2 and max(widest) <= 2
