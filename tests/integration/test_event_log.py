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
