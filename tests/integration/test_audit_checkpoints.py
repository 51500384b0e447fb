"""An audit log that cannot be rewritten quietly (issue 9.8), on SQLite and PostgreSQL.

The attacker here holds the database credentials: lifts the append-only triggers (PostgreSQL:
`session_replication_role = replica` for the transaction; SQLite: drops them) and rewrites.
The hash chain alone misses a cut-off tail and a rewrite with recomputed hashes; the signed
checkpoints outside the database catch both. Edits to claims/evidence/reviews write no event;
the replay catches them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from identity_helpers import as_user, system_identity
from integration_helpers import error_line
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from claims import services
from claims.services import Runtime
from claims.services.audit import checkpoint_path, make_checkpoint
from claims.services.errors import RuleViolation
from claims.store.events import event_hash, verify_chain
from claims.store.models import Event


def as_attacker(url: str, work: Callable[[Session], None]) -> None:
    """Run `work` in one transaction with the event log's triggers out of the way."""
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            if engine.dialect.name == "postgresql":
                session.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                session.execute(text("DROP TRIGGER IF EXISTS events_no_update"))
                session.execute(text("DROP TRIGGER IF EXISTS events_no_delete"))
            work(session)
    finally:
        engine.dispose()


def neutral_tail(rt: Runtime) -> int:
    """End the log with an event the replay does not look at (a user added), so only a checkpoint can tell."""
    services.add_user(rt, as_user(rt, "admin"), "dora", "analyst")
    with rt.uow(write=False) as uow:
        return uow.session.scalar(select(func.max(Event.id))) or 0


def chain_only_ok(url: str) -> bool:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return verify_chain(session).ok
    finally:
        engine.dispose()


def test_deleting_the_last_event_is_caught_by_a_checkpoint(demo: Runtime, cli, env_db: str):
    last = neutral_tail(demo)
    assert cli("audit", "checkpoint").exit_code == 0
    as_attacker(env_db, lambda s: s.execute(text("DELETE FROM events WHERE id = :id"), {"id": last}))
    assert chain_only_ok(env_db)  # what the chain alone says: intact
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"event {last} is missing" in error_line(result)
    # Without the checkpoint file the same cut no longer passes (issue 21.9): a missing file fails too.
    checkpoint_path(env_db).rename(checkpoint_path(env_db).with_suffix(".moved"))
    assert cli("audit", "verify").exit_code == 1


def test_rewriting_an_event_and_recomputing_every_later_hash_is_caught(demo: Runtime, cli, env_db: str):
    last = neutral_tail(demo)
    assert cli("audit", "checkpoint").exit_code == 0
    target = last // 2

    def rewrite(session: Session) -> None:
        prev = None
        for ev in session.scalars(select(Event).where(Event.id >= target).order_by(Event.id)):
            if ev.id == target:
                ev.rationale = "nothing to see here"
            else:
                ev.prev_hash = prev
            ev.hash = event_hash(ev)  # the project's own function
            prev = ev.hash
            session.flush()

    as_attacker(env_db, rewrite)
    assert chain_only_ok(env_db)
    result = cli("audit", "verify", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["checkpoints"] >= 1  # every write signs one (issue 21.9)
    assert "is not the event that was checkpointed" in report["problem"]
    with pytest.raises(RuleViolation, match="will not checkpoint"):
        make_checkpoint(demo)  # a checkpoint never blesses a rewrite


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("UPDATE claims SET stage = 'confirmed' WHERE key = 'factory-exists'", "claim 'factory-exists' is confirmed"),
        ("UPDATE claims SET at_risk = true WHERE key = 'factory-exists'", "claim 'factory-exists' has at_risk=True"),
        ("UPDATE evidence SET retracted = true WHERE id = (SELECT min(id) FROM evidence)", "has retracted=True"),
        ("DELETE FROM evidence WHERE id = (SELECT max(id) FROM evidence)", "missing from the evidence table"),
        ("UPDATE review_requests SET decided_by = 'mallory' WHERE status <> 'pending'", "decided by 'mallory'"),
    ],
    ids=["stage", "at-risk", "retracted", "evidence-deleted", "decided-by"],
)
def test_editing_the_tables_directly_is_caught_by_the_replay(demo: Runtime, cli, env_db: str, sql: str, problem: str):
    services.add_evidence(
        demo, as_user(demo, "alice"), "factory-exists", "us-treasury", "supports", credibility=2, summary="OFAC"
    )
    services.assess_claims(demo, system_identity(), ["factory-exists"])  # opens a confirm review
    pending = [r for r in services.review_queue(demo) if r["claim"] == "factory-exists"]
    services.reject(demo, as_user(demo, "bob"), pending[0]["id"], "not yet")
    assert cli("audit", "verify").exit_code == 0
    as_attacker(env_db, lambda s: s.execute(text(sql)))
    result = cli("audit", "verify")
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith("error: audit: replay differs: ") and problem in line, line


def test_a_forged_or_edited_checkpoint_line_fails_verify(demo: Runtime, cli, env_db: str):
    assert cli("audit", "checkpoint").exit_code == 0
    path = checkpoint_path(env_db)
    cp = json.loads(path.read_text(encoding="utf-8").splitlines()[0])  # the demo's writes signed more after it
    cp["events"] += 1
    path.write_text(json.dumps(cp) + "\n", encoding="utf-8")
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "line 1: not a checkpoint with a valid signature" in error_line(result)


def test_serve_signs_checkpoints_on_a_timer(demo: Runtime, env_db: str, monkeypatch):
    """The timer covers what writers without the key left (here: writes that sign nothing themselves)."""
    from claims.services import audit
    from flows.serve import checkpoints

    monkeypatch.setattr(audit, "checkpoint_after_write", lambda url: None)
    path = checkpoint_path(env_db)
    path.unlink()
    stop = threading.Event()
    worker = threading.Thread(target=checkpoints, args=(0.2, stop), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not (path.exists() and path.read_text(encoding="utf-8").count("\n") >= 1):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        neutral_tail(demo)
        while path.read_text(encoding="utf-8").count("\n") < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(10)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[1]["last_id"] > lines[0]["last_id"]
    assert len(lines) == 2  # an unchanged head is not signed again
    report = services.audit_verify(demo)
    assert report.ok and report.checkpoints == 2


def test_verify_without_key_or_checkpoints_still_checks_chain_and_replay(rt: Runtime, cli, key_dir: Path):
    del key_dir
    result = cli("audit", "verify")
    assert result.exit_code == 0
    assert "0 signed checkpoints" in result.stdout
