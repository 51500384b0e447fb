"""Stress (issue 9, point 2): 8 processes x 50 mixed operations on four claims, on SQLite and PostgreSQL.

Afterwards every successful add and retract is in the database exactly once, no review is decided
twice, every claim's stage equals a replay of its stage events, and the audit chain verifies.
Prints the figures (operations, successes, conflicts, seconds) for README's Reliability section.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from identity_helpers import as_user
from integration_helpers import small_case
from process_helpers import env_for
from sqlalchemy import select

from claims import services
from claims.services import Runtime
from claims.store.models import Claim, Event, Evidence, ReviewRequest

WORKERS, OPS = 8, 50
WORKER = Path(__file__).with_name("stress_worker.py")


@pytest.mark.slow
def test_eight_processes_of_mixed_operations_lose_nothing_and_decide_nothing_twice(rt: Runtime, db_url: str, tmp_path):
    services.import_case(
        rt,
        as_user(rt, "alice"),
        small_case(
            {"reuters": "B", "afp": "C", "osint": "C", "eeas": "B", "tass": "C"},
            {
                "c1": [("reuters", "supports", 2), ("afp", "supports", 3)],
                "c2": [("osint", "supports", 3)],
                "c3": [("tass", "contradicts", 2), ("eeas", "contradicts", 2)],
                "c4": [],
            },
        ),
    )
    start = time.time() + 15
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), db_url, str(w), str(OPS), str(tmp_path / f"w{w}.jsonl"), str(start)],
            env=env_for(db_url),
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    for p in procs:
        _, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-2000:]
    seconds = time.time() - start
    ops = [json.loads(line) for w in range(WORKERS) for line in (tmp_path / f"w{w}.jsonl").read_text().splitlines()]
    outcomes = Counter(o["outcome"] for o in ops)
    print(f"\nstress {db_url.split(':')[0]}: {len(ops)} operations in {seconds:.1f} s: {dict(outcomes)}")
    assert len(ops) == WORKERS * OPS
    assert not [o for o in ops if o["outcome"] == "crash"]
    assert outcomes["ok"] > WORKERS * OPS // 4, outcomes

    with rt.uow(write=False) as uow:
        events = list(uow.session.scalars(select(Event).order_by(Event.id)))
        evidence = {e.id: e for e in uow.session.scalars(select(Evidence))}
        reviews = {r.id: r for r in uow.session.scalars(select(ReviewRequest))}
        claims = {c.key: c.stage for c in uow.session.scalars(select(Claim))}
        # Checked inside the unit of work: the rows stay loaded.

        # Every successful add is stored once, with exactly one evidence.added event.
        added = Counter(e.payload["evidence"] for e in events if e.kind == "evidence.added")
        for op in (o for o in ops if o["outcome"] == "ok" and o["kind"] == "add"):
            assert op["id"] in evidence and evidence[op["id"]].summary == f"w{op['worker']} op{op['i']}"
            assert added[op["id"]] == 1
        # Every successful retraction: the item says who and why, and one event says so.
        retracted = [e for e in events if e.kind == "evidence.retracted"]
        assert len(retracted) == len({e.payload["evidence"] for e in retracted})
        oks = [o for o in ops if o["outcome"] == "ok" and o["kind"] == "retract"]
        assert len(oks) == len(retracted)
        for op in oks:
            item = evidence[op["id"]]
            assert (item.retracted, item.retracted_by, item.retraction_reason) == (
                True,
                op["actor"],
                f"w{op['worker']} op{op['i']}",
            )
        # No review decided twice; each decided row has exactly one decision event.
        decisions = Counter(
            e.payload["review"] for e in events if e.kind in ("review.approved", "review.rejected", "review.withdrawn")
        )
        assert all(n == 1 for n in decisions.values()), decisions
        assert set(decisions) == {r.id for r in reviews.values() if r.status != "pending"}
        # Every claim's stage is the replay of its stage events, each starting where the last ended.
        for key, stage in claims.items():
            replay = "reported"
            for e in (e for e in events if e.kind == "claim.stage_changed" and e.claim_key == key):
                assert e.from_stage == replay, (key, e.id)
                replay = e.to_stage
            assert replay == stage, key
    assert services.audit_verify(rt).ok
