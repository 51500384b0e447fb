"""The audit log is append-only at the database level, and `claims audit verify` detects tampering."""

from __future__ import annotations

import json

import pytest
from audit_helpers import guards_lifted
from integration_helpers import error_line
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from claims.services import Runtime


def execute(url: str, sql: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET actor = 'mallory' WHERE id = (SELECT min(id) FROM events)",
        "DELETE FROM events WHERE id = (SELECT max(id) FROM events)",
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_change_or_delete_events(demo: Runtime, db_url: str, db_snapshot, sql: str):
    before = db_snapshot(db_url)
    with pytest.raises(DBAPIError, match="append-only"):
        execute(db_url, sql)
    assert db_snapshot(db_url) == before


def test_audit_verify_passes_on_an_untouched_log(demo: Runtime, cli):
    result = cli("audit", "verify", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["events"] > 0


@pytest.mark.parametrize(
    ("sql", "found_at", "problem"),
    [
        (
            "UPDATE events SET rationale = 'nothing to see' WHERE id = (SELECT min(id) + 2 FROM events)",
            0,  # the altered event itself
            "content does not match its hash",
        ),
        (
            "DELETE FROM events WHERE id = (SELECT min(id) + 2 FROM events)",
            1,  # the event after the hole no longer links to its predecessor
            "prev_hash does not match event before it",
        ),
    ],
    ids=["altered", "removed"],
)
def test_audit_verify_detects_tampering(demo: Runtime, cli, env_db: str, sql: str, found_at: int, problem: str):
    engine = create_engine(env_db)
    with engine.connect() as conn:
        target = conn.execute(text("SELECT min(id) + 2 FROM events")).scalar_one()
    engine.dispose()
    with guards_lifted(env_db):
        execute(env_db, sql)
    result = cli("audit", "verify")
    assert result.exit_code == 1
    line = error_line(result)
    assert line == f"error: audit: chain broken at event {target + found_at}: {problem}"
    # The guard is back: the next tamper attempt is refused again.
    with pytest.raises(DBAPIError, match="append-only"):
        execute(env_db, "UPDATE events SET actor = 'mallory'")


def test_one_change_leaves_the_same_event_on_the_unit_of_work_path_and_the_bulk_path(db_url: str):
    """Issue 19 (one of everything): a fact's event is spelled once (`claims.domain.changes`); the writer one
    claim at a time and the bulk writer store it field for field alike, and both chain and verify."""
    from claims.domain import changes
    from claims.domain.stages import Stage
    from claims.domain.transitions import Via
    from claims.store.events import verify_chain
    from claims.store.uow import UnitOfWork

    change = changes.stage_changed(
        "case-a", "claim-a", "reported", Stage.CORROBORATED, via=Via.ASSESSMENT, by="system",
        rationale="2 independent lines", policy="v1", extra={"note": "x"},
    )  # fmt: skip
    with UnitOfWork(db_url) as uow:
        uow.record_change(change, actor="system")
        uow.commit()
    with UnitOfWork(db_url) as uow:
        uow.events.append_many("system", [change.row()])
        uow.commit()
    # (their times are each transaction's clock: not compared)
    columns = "kind, actor, case_key, claim_key, from_stage, to_stage, rationale, policy_version, payload"
    engine = create_engine(db_url)
    with engine.connect() as conn:
        one, bulk = conn.execute(text(f"SELECT {columns} FROM events ORDER BY id DESC LIMIT 2")).all()[::-1]
    engine.dispose()
    # The stored JSON text may differ in spacing and key order (the ORM's encoder, the bulk writer's hashed
    # text); the event is the same.
    assert tuple(one)[:8] == tuple(bulk)[:8]
    def parsed(payload: object) -> object:
        return json.loads(payload) if isinstance(payload, str) else payload  # SQLite gives text, PostgreSQL a dict

    assert parsed(one.payload) == parsed(bulk.payload) == {"via": "assessment", "by": "system", "note": "x"}
    with UnitOfWork(db_url) as uow:
        assert verify_chain(uow.session).ok  # (a replay would miss the claim these two events name)
