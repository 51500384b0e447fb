"""One stress-test worker (run as a process by test_stress.py): N random operations through the services.

Writes one JSON line per operation to OUT: what was tried and how it ended (ok, conflict, refused),
so the test can check afterwards that every success is in the database exactly once.
"""

from __future__ import annotations

import json
import random
import sys
import time

from sqlalchemy import select

from claims import services
from claims.domain import Stage
from claims.domain.errors import DomainError
from claims.services import Identity, Runtime
from claims.store.models import Evidence, ReviewRequest
from claims.store.uow import ConcurrencyConflict
from tests.identity_helpers import as_user, system_identity

CLAIMS = ["c1", "c2", "c3", "c4"]
SOURCES = ["reuters", "afp", "osint", "eeas", "tass"]
ANALYSTS = ["alice", "bob", "carol", "admin"]
REVIEWERS = ["bob", "carol", "admin"]
KINDS = ["add", "add", "add", "retract", "advance", "approve", "reject", "assess"]


def ids(rt: Runtime, model: type, **where: object) -> list[int]:
    with rt.uow(write=False) as uow:
        stmt = select(model.id).filter_by(**where)
        return list(uow.session.scalars(stmt))


_PROVEN: dict[str, Identity] = {}


def proven(rt: Runtime, name: str) -> Identity:
    """Each worker proves each person once (a setup token), not once per operation."""
    if name not in _PROVEN:
        _PROVEN[name] = as_user(rt, name)
    return _PROVEN[name]


def one(rt: Runtime, rng: random.Random, worker: int, i: int) -> dict:
    kind = rng.choice(KINDS)
    op: dict = {"kind": kind, "worker": worker, "i": i}
    if kind == "add":
        actor = rng.choice(ANALYSTS)
        done = services.add_evidence(
            rt, proven(rt, actor), rng.choice(CLAIMS), rng.choice(SOURCES),
            rng.choice(["supports", "supports", "contradicts"]),
            credibility=rng.randint(1, 4), summary=f"w{worker} op{i}",
        )  # fmt: skip
        op.update(id=done.id, actor=actor)
    elif kind == "retract":
        live = ids(rt, Evidence, retracted=False)
        if not live:
            return {**op, "outcome": "skipped"}
        actor = rng.choice(ANALYSTS)
        target = rng.choice(live)
        op.update(id=target, actor=actor)
        services.retract_evidence(rt, proven(rt, actor), target, f"w{worker} op{i}")
    elif kind == "advance":
        to = rng.choice([Stage.CORROBORATED, Stage.CONFIRMED, Stage.REFUTED, Stage.REPORTED])
        services.advance(rt, proven(rt, rng.choice(ANALYSTS)), rng.choice(CLAIMS), to)
    elif kind in ("approve", "reject"):
        pending = ids(rt, ReviewRequest, status="pending")
        if not pending:
            return {**op, "outcome": "skipped"}
        target, actor = rng.choice(pending), rng.choice(REVIEWERS)
        op.update(id=target, actor=actor)
        if kind == "approve":
            services.approve(rt, proven(rt, actor), target)
        else:
            services.reject(rt, proven(rt, actor), target, f"w{worker} op{i}")
    else:
        services.assess_claims(rt, system_identity(), CLAIMS)
    return {**op, "outcome": "ok"}


def main(url: str, worker: int, n: int, out: str, start: float) -> None:
    rt = Runtime(url)
    rng = random.Random(worker)
    time.sleep(max(0.0, start - time.time()))
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            try:
                record = one(rt, rng, worker, i)
            except ConcurrencyConflict as exc:  # includes AlreadyDone
                record = {"worker": worker, "i": i, "outcome": "conflict", "error": str(exc)}
            except DomainError as exc:
                record = {"worker": worker, "i": i, "outcome": "refused", "error": str(exc)}
            except Exception as exc:  # anything else is a bug the test reports
                record = {"worker": worker, "i": i, "outcome": "crash", "error": f"{type(exc).__name__}: {exc}"}
            f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
