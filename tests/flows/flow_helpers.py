"""Helpers for the flow tests: read the audit log straight from the database; call a flow as a proven person."""

from __future__ import annotations

from collections import Counter
from typing import Any

from identity_helpers import as_user
from sqlalchemy import create_engine, text

from claims.services import Runtime
from flows.common import acting_as


def event_rows(url: str) -> list[tuple[str, str | None, str | None]]:
    """(kind, claim, to_stage) of every event, in order."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT kind, claim_key, to_stage FROM events ORDER BY id"))]
    engine.dispose()
    return rows  # type: ignore[return-value]


def event_counts(url: str, *, tasks: bool = False) -> Counter[tuple[str, str | None]]:
    """How many events of each (kind, claim) there are; the collection tasks' (`task.*`, issue 18, which
    tests/integration/test_tasks.py counts) only with `tasks=True`, so a flow's own events stay exact."""
    return Counter((kind, claim) for kind, claim, _ in event_rows(url) if tasks or not kind.startswith("task."))


def intake_as(rt: Runtime, name: str, **params: Any) -> Any:
    """The intake flow called by a process that proved `name` (a command, the API): it acts as them, and its
    run's `actor` parameter names them. A deployment's run, with no such caller, acts as the system."""
    from flows.intake import intake_flow

    with acting_as(as_user(rt, name)):
        return intake_flow(actor=name, **params)
