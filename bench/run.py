"""Benchmarks, each a ratio against a baseline measured in the same run (machines here are noisy).

1. Batched assessment (one transaction per 200 claims) against one transaction per claim:
   target at least 5x faster.
2. Facts for many claims loaded in a fixed number of queries against loading each claim on
   its own (what readiness and the dashboard do): target at least 3x faster.
3. The Prefect assessment flow with one task per batch of 200 claims against one task per
   claim (Prefect's per-task overhead is tens of milliseconds): target at least 3x faster.

Run: `make bench` (or `python bench/run.py --claims 2000`). Exits non-zero if a target is missed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command

from bench.synthetic import synthetic_case
from claims import services
from claims.domain.assessment import assess
from claims.services import Runtime
from claims.services.casefile import validate_case
from claims.services.facts import load_facts
from migrations import alembic_config


def fresh_runtime(tmp: Path, name: str, n_claims: int) -> Runtime:
    url = f"sqlite:///{tmp / name}.db"
    command.upgrade(alembic_config(url), "head")
    rt = Runtime(url)
    services.ensure_users(rt, {"admin": "admin", "alice": "analyst"})
    services.import_case(rt, "alice", validate_case(synthetic_case(n_claims)))
    return rt


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_assessment(tmp: Path, n: int) -> tuple[float, float]:
    batched_rt, single_rt = fresh_runtime(tmp, "batched", n), fresh_runtime(tmp, "single", n)
    keys = services.open_claim_keys(batched_rt)

    def batched() -> None:
        for i in range(0, len(keys), 200):
            services.assess_claims(batched_rt, "system", keys[i : i + 200])

    def one_by_one() -> None:
        for key in keys:
            services.assess_claims(single_rt, "system", [key])

    return timed(one_by_one), timed(batched)


def bench_readiness(tmp: Path, n: int) -> tuple[float, float]:
    rt = fresh_runtime(tmp, "readiness", n)
    keys = services.open_claim_keys(rt)[:300]

    def per_claim() -> None:
        with rt.uow(write=False) as uow:
            for key in keys:
                claim = uow.claims.get(key)
                assert claim is not None
                assess(load_facts(uow, [claim])[key], rt.policy)

    def set_based() -> None:
        with rt.uow(write=False) as uow:
            for facts in load_facts(uow, uow.claims.many(keys)).values():
                assess(facts, rt.policy)

    return timed(per_claim), timed(set_based)


def _harness() -> tuple[Any, Any]:
    """The tests' Prefect harness (test support, not installed): the module pytest already loaded, else from tests/."""
    module = sys.modules.get("prefect_support") or importlib.import_module("tests.prefect_support")
    return module.start_harness, module.stop_harness


def bench_flow(tmp: Path, n: int) -> tuple[float, float]:
    from flows.runner import run_assessment

    start_harness, stop_harness = _harness()

    n = min(n, 400)  # one task per claim is the slow baseline: keep it to minutes
    per_task_rt, batched_rt = fresh_runtime(tmp, "flow-single", n), fresh_runtime(tmp, "flow-batched", n)
    start_harness()
    try:
        run_assessment(fresh_runtime(tmp, "flow-warmup", 10), "system", None)  # API start-up off the clock
        # Batched first: the per-claim run leaves the in-process API server a backlog of task-run
        # events to write for seconds afterwards, which would slow whatever runs next.
        ours = timed(lambda: run_assessment(batched_rt, "system", None, batch_size=200))
        baseline = timed(lambda: run_assessment(per_task_rt, "system", None, batch_size=1))
    finally:
        stop_harness()
    return baseline, ours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=2000)
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn, target in (
            ("assessment: per-claim tx vs batched tx", bench_assessment, 5.0),
            ("facts: per-claim load vs set-based load", bench_readiness, 3.0),
            ("flow: one task per claim vs one task per batch", bench_flow, 3.0),
        ):
            baseline, candidate = fn(Path(tmp), args.claims)
            ratio = baseline / candidate
            verdict = "ok" if ratio >= target else "MISSED"
            ok &= ratio >= target
            print(
                f"{name}: baseline {baseline:.2f}s, ours {candidate:.2f}s, ratio {ratio:.1f}x "
                f"(target >= {target}x) {verdict}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
