"""Time planning collection tasks (issue 18) at 100k claims, full and incremental, against baselines
measured in the same run.

`python -m bench.tasks [--claims 100000] [--db-claims 100000]` prints one JSON line per measure.

- `plan_full` (pure domain, worst case): every one of N claims gates an action (N/4 actions of
  four claims each); `plan_tasks` plans them all, memo cold. Baseline: one assessment pass
  (`assess`) over the same N claims, the work any plan must at least do. Target: under 1 s.
- `plan_one` (pure domain): re-planning after one claim changed, as the service does it: the
  gates of that claim only. Baseline: `plan_full`; the ratio says how much less it costs.
- `replan_all` / `replan_one` (service, SQLite): a database from bench/build.py (the demo plus N
  synthetic claims, 48 actions gating about 300 of them). `replan_all` is the full plan with its
  writes and events (`claims tasks plan`); `replan_one` re-plans one gated claim after a new
  evidence item, in one unit of work, as the assessment's hook does. Baseline: the readiness read
  of every action (`action_readiness`) on the same database, in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from claims.domain import plan as plan_module
from claims.domain.assessment import ClaimFacts, EvidenceFacts, assess
from claims.domain.grades import Credibility, Grade, Reliability
from claims.domain.plan import Gate, plan_tasks
from claims.domain.policy import default_policy
from claims.domain.stages import Stage, Stance

POLICY = default_policy()
GRADES = [Grade(Reliability(r), Credibility(c)) for r in "ABCDE" for c in (1, 2, 3, 4, 5)]


def facts(n: int, seed: int = 3) -> dict[str, ClaimFacts]:
    """N claims of 0-5 items from 400 roots; stages as the evidence would leave most of them."""
    rng = random.Random(seed)
    out = {}
    for i in range(n):
        items = tuple(
            EvidenceFacts(
                f"s{r}", f"s{r}", rng.choice((Stance.SUPPORTS,) * 4 + (Stance.CONTRADICTS,)), rng.choice(GRADES)
            )
            for r in rng.sample(range(400), rng.randrange(0, 6))
        )
        stage = rng.choice((Stage.REPORTED, Stage.REPORTED, Stage.CORROBORATED))
        out[f"c{i}"] = ClaimFacts(f"c{i}", stage, items)
    return out


def gates(keys: list[str], seed: int = 4) -> list[Gate]:
    rng = random.Random(seed)
    return [
        Gate(f"a{i // 4}", key, rng.choice((Stage.CORROBORATED, Stage.CONFIRMED, Stage.CONFIRMED)))
        for i, key in enumerate(keys)
    ]


def best(fn: Callable[[], object], runs: int = 3, before: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cold() -> None:
    plan_module._MEMO.clear()


def domain(n: int) -> list[dict[str, object]]:
    claims = facts(n)
    every = gates(list(claims))
    baseline = best(lambda: [assess(f, POLICY) for f in claims.values()])
    full = best(lambda: plan_tasks(every, claims, POLICY), before=cold)
    planned = plan_tasks(every, claims, POLICY)
    one_key = "c12345" if n > 12345 else "c1"
    mine = [g for g in every if g.claim == one_key]
    one = statistics.median(
        [best(lambda: plan_tasks(mine, {one_key: claims[one_key]}, POLICY), runs=1) for _ in range(21)]
    )
    return [
        {
            "measure": "plan_full",
            "claims": n,
            "tasks": len(planned.tasks),
            "seconds": round(full, 3),
            "baseline": "assess every claim once",
            "baseline_seconds": round(baseline, 3),
            "ratio": round(full / baseline, 2),
            "target": "under 1 s",
            "met": full < 1.0,
        },
        {
            "measure": "plan_one",
            "claims": n,
            "seconds": round(one, 6),
            "baseline": "plan_full",
            "baseline_seconds": round(full, 3),
            "ratio": round(one / full, 6),
            "target": "far less than the full plan",
            "met": one < full / 100,
        },
    ]


def service(n: int) -> list[dict[str, object]]:
    from sqlalchemy import select

    from bench.acting import proven
    from bench.build import build
    from claims import services
    from claims.services.tasks import replan_all, replan_claims
    from claims.store.models import ActionRequirement, Claim

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'tasks.db'}"
        build(url, n)
        rt = services.Runtime(url)
        baseline = best(lambda: services.action_readiness(rt), runs=3)
        admin = proven(rt, "admin")
        start = time.perf_counter()
        made = replan_all(rt, admin)
        full = time.perf_counter() - start
        again = best(lambda: replan_all(rt, admin), runs=1)
        with rt.uow(write=False) as uow:
            key = uow.session.scalar(
                select(Claim.key).join(ActionRequirement, ActionRequirement.claim_id == Claim.id).limit(1)
            )

        def one() -> None:
            with rt.uow() as uow:
                replan_claims(uow, rt.policy, [key], "admin")
                uow.commit()

        single = statistics.median([best(one, runs=1) for _ in range(5)])
    return [
        {
            "measure": "replan_all",
            "claims": n,
            "tasks_opened": made.opened,
            "seconds": round(full, 3),
            "unchanged_seconds": round(again, 3),
            "baseline": "action_readiness (every action)",
            "baseline_seconds": round(baseline, 3),
            "ratio": round(full / baseline, 2),
            "target": "under 1 s",
            "met": full < 1.0,
        },
        {
            "measure": "replan_one",
            "claims": n,
            "seconds": round(single, 4),
            "baseline": "replan_all",
            "baseline_seconds": round(full, 3),
            "ratio": round(single / full, 4),
            "target": "far less than the full plan",
            "met": single < full / 5,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=100_000, help="claims for the pure planning measures")
    parser.add_argument("--db-claims", type=int, default=100_000, help="synthetic claims in the service database")
    args = parser.parse_args(argv)
    for row in domain(args.claims):
        print(json.dumps(row), flush=True)
    if args.db_claims:
        for row in service(args.db_claims):
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
