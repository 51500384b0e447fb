"""A large, realistic database for read benchmarks (dashboard pages, reading commands, what-if).

The demo case through the real import, plus a synthetic case of N claims written with Core
(claims, about 4 evidence items each, claim.reported / stage events), 48 policy actions gating
about 300 claims, stages and pending review requests as the v1 policy would leave them, and
every claim stamped as assessed. Built this way a 100k database takes about a minute, where the
use cases would take many; the read paths cannot tell the difference, and `claims audit verify`
passes (the events are hash-chained like any others).

    PYTHONPATH=. .venv/bin/python -m bench.build sqlite:////tmp/claims-100k.db 100000
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import Connection, create_engine, insert, select, update

from bench.synthetic import _claims, _sources
from claims.services.evidence import fingerprint
from migrations import alembic_config

CHUNK = 5000
ACTIONS = 48


def build(url: str, n_claims: int, *, key: str = "bulk", seed: int = 11) -> dict[str, int]:
    """Migrate `url`, load the demo case, then add the synthetic case and its assessed state."""
    from bench.acting import proven
    from claims import services
    from claims.demo import DEMO_CASE, DEMO_USERS
    from claims.services import Runtime
    from claims.store.db import dispose_engines

    command.upgrade(alembic_config(url), "head")
    rt = Runtime(url)
    services.ensure_users(rt, DEMO_USERS)
    services.import_case(rt, proven(rt, "alice"), services.read_case_file(DEMO_CASE))
    services.assess_claims(rt, services.system_identity(), services.open_claim_keys(rt))
    dispose_engines()
    engine = create_engine(url)
    counts = {"claims": 0, "evidence": 0, "reviews": 0, "events": 0}
    if n_claims > 0:  # 0: the demo case alone, the baseline of the page benchmark
        with engine.begin() as conn:
            counts = _synthetic(conn, n_claims, key, random.Random(seed))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return counts


def _synthetic(conn: Connection, n_claims: int, key: str, rng: random.Random) -> dict[str, int]:
    from claims.domain.events import EventKind
    from claims.store.events import GENESIS, _row_hash
    from claims.store.models import ActionRequirement, Case, Claim, Event, Evidence, PolicyAction, ReviewRequest

    now = datetime.now(UTC).replace(microsecond=0)
    ct, et, rt_ = Claim.__table__, Evidence.__table__, ReviewRequest.__table__
    case_id = conn.execute(
        insert(Case.__table__).returning(Case.__table__.c.id), {"key": key, "title": "Synthetic", "created_at": now}
    ).scalar_one()
    sources = _sources(rng)
    ids = insert_sources(conn, case_id, sources)
    roots = {s["key"]: s.get("derived_from") or s["key"] for s in sources}
    rel = {s["key"]: s["reliability"] for s in sources}
    head = conn.scalar(select(Event.hash).order_by(Event.id.desc()).limit(1)) or GENESIS
    totals = {"claims": 0, "evidence": 0, "reviews": 0, "events": 0}
    claims = _claims(rng, n_claims, key)
    while True:
        part = [c for _, c in zip(range(CHUNK), claims, strict=False)]
        if not part:
            break
        rows, events, judged = [], [], []
        for c in part:
            stage, review = _judge(c["evidence"], roots, rel)
            age = timedelta(days=rng.randint(0, 120), hours=rng.randint(0, 23))
            reported = now - age
            rows.append(
                {
                    "case_id": case_id,
                    "key": c["key"],
                    "statement": c["statement"],
                    "stage": stage,
                    "at_risk": False,
                    "version": 2 if stage != "reported" else 1,
                    "assessed_version": 2 if stage != "reported" else 1,
                    "assessed_policy": "v1",
                    "created_at": reported,
                    "updated_at": reported,
                    "reported_at": reported,
                    "corroborated_at": reported + age / 2 if stage == "corroborated" else None,
                }
            )
            judged.append((stage, review, reported))
        claim_ids = conn.execute(insert(ct).returning(ct.c.id, sort_by_parameter_order=True), rows).scalars().all()
        ev_rows, ev_meta, reviews, review_meta = [], [], [], []
        for cid, c, row, (stage, review, reported) in zip(claim_ids, part, rows, judged, strict=True):
            events.append(_event(EventKind.CLAIM_REPORTED, c["key"], key, reported, to_stage="reported"))
            for e in c["evidence"]:
                ev_rows.append(
                    {
                        "claim_id": cid,
                        "source_id": ids[e["source"]],
                        "stance": e["stance"],
                        "credibility": e["credibility"],
                        "summary": e["summary"],
                        "added_by": "alice",
                        "added_at": reported,
                        "fingerprint": fingerprint(
                            e["source"], e["stance"], e["credibility"], e["summary"], None, None
                        ),
                        "retracted": False,
                    }
                )
                ev_meta.append((c["key"], e, reported))
            if stage == "corroborated":
                events.append(
                    _event(
                        EventKind.CLAIM_STAGE_CHANGED,
                        c["key"],
                        key,
                        row["corroborated_at"],
                        from_stage="reported",
                        to_stage="corroborated",
                    )
                )
            if review:
                reviews.append(
                    {
                        "claim_id": cid,
                        "from_stage": stage,
                        "to_stage": review,
                        "status": "pending",
                        "requested_by": "system",
                        "requested_at": now,
                        "reason": f"{review} criteria hold",
                        "policy_version": "v1",
                    }
                )
                review_meta.append((c["key"], stage, review))
        evidence_ids = conn.execute(insert(et).returning(et.c.id, sort_by_parameter_order=True), ev_rows).scalars()
        for evidence_id, (claim_key, e, reported) in zip(evidence_ids, ev_meta, strict=True):
            grade = f"{rel[e['source']]}{e['credibility']}"
            payload = {"evidence": evidence_id, "source": e["source"], "stance": e["stance"], "grade": grade}
            events.append(
                _event(
                    EventKind.EVIDENCE_ADDED,
                    claim_key,
                    key,
                    reported,
                    payload={**payload, "via": "import", "retracted": False},
                )
            )
        if reviews:
            review_ids = conn.execute(insert(rt_).returning(rt_.c.id, sort_by_parameter_order=True), reviews).scalars()
            for review_id, (claim_key, stage, review) in zip(review_ids, review_meta, strict=True):
                events.append(
                    _event(
                        EventKind.REVIEW_REQUESTED,
                        claim_key,
                        key,
                        now,
                        from_stage=stage,
                        to_stage=review,
                        payload={"review": review_id},
                    )
                )
        chained = []
        for ev in events:
            ev["prev_hash"] = head
            ev["hash"] = head = _row_hash(ev)
            chained.append(ev)
        conn.execute(insert(Event.__table__), chained)
        totals["claims"] += len(part)
        totals["evidence"] += len(ev_rows)
        totals["reviews"] += len(reviews)
        totals["events"] += len(chained)
    _actions(conn, case_id, key, n_claims, rng, PolicyAction.__table__, ActionRequirement.__table__, ct)
    return totals


def insert_sources(conn: Connection, case_id: int, sources: list[dict[str, Any]]) -> dict[str, int]:
    """Insert a case file's sources with their lineage (Core, no checks); source key -> id."""
    from claims.store.models import Source

    st = Source.__table__
    ids: dict[str, int] = {}
    for s in sources:
        ids[s["key"]] = conn.execute(
            insert(st).returning(st.c.id),
            {"case_id": case_id, **{k: s[k] for k in ("key", "name", "kind", "reliability")}},
        ).scalar_one()
    for s in sources:
        if s.get("derived_from"):
            conn.execute(update(st).where(st.c.id == ids[s["key"]]).values(derived_from_id=ids[s["derived_from"]]))
    return ids


def _event(kind: Any, claim: str, case: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "at": at,
        "actor": "system",
        "kind": kind.value,
        "claim_key": claim,
        "case_key": case,
        "from_stage": fields.get("from_stage"),
        "to_stage": fields.get("to_stage"),
        "rationale": None,
        "policy_version": "v1",
        "payload": fields.get("payload") or {},
    }


def _judge(evidence: list[dict[str, Any]], roots: dict[str, str], rel: dict[str, str]) -> tuple[str, str | None]:
    """The v1 policy on a fresh claim: (stage, pending review target or None)."""
    sup, sup_b2, con, con_b2 = set(), False, set(), False
    for e in evidence:
        r, c = rel[e["source"]], e["credibility"]
        if not (r in "ABC" and c <= 3):
            continue
        b2 = r in "AB" and c <= 2
        if e["stance"] == "supports":
            sup.add(roots[e["source"]])
            sup_b2 |= b2
        else:
            con.add(roots[e["source"]])
            con_b2 |= b2
    if len(con) >= 2 and con_b2 and len(con) > len(sup):
        return "reported", "refuted"
    if len(sup) >= 2:
        return "corroborated", ("confirmed" if len(sup) >= 3 and sup_b2 and not con else None)
    return "reported", None


def _actions(
    conn: Connection, case_id: int, key: str, n_claims: int, rng: random.Random, at: Any, rq: Any, ct: Any
) -> None:
    picks = [rng.sample(range(n_claims), rng.randint(3, 8)) for _ in range(ACTIONS)]
    wanted = {f"{key}-c{i}" for p in picks for i in p}
    claim_ids = dict(conn.execute(select(ct.c.key, ct.c.id).where(ct.c.key.in_(sorted(wanted)))).all())
    for a, pick in enumerate(picks):
        action_id = conn.execute(
            insert(at).returning(at.c.id),
            {"case_id": case_id, "key": f"{key}-a{a}", "title": f"Action {a}", "severity": 1 + a % 3},
        ).scalar_one()
        conn.execute(
            insert(rq),
            [
                {
                    "action_id": action_id,
                    "claim_id": claim_ids[f"{key}-c{i}"],
                    "stage": rng.choice(["confirmed", "corroborated"]),
                }
                for i in pick
            ],
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("claims", type=int)
    args = parser.parse_args(argv)
    print(build(args.url, args.claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
