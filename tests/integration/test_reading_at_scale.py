"""The reading commands on more claims than any cap a page or an IN list would hide (issue 11).

A database of 2,500 synthetic claims (bench.build, the same builder the read benchmarks use)
plus the demo case: `claims list --json` pages with the true total and `--all` returns every
row; readiness, what-if and the list bind a handful of values per statement however many
claims there are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from integration_helpers import sign_in
from sqlalchemy import event

from bench.build import build
from claims import services
from claims.services import Runtime
from claims.services.whatif import Hypothesis, what_if
from claims.store.db import dispose_engines, get_engine

N = 2_500
TOTAL = N + 5  # and the demo case's five claims
MAX_BOUND = 16  # values bound by any one statement of a read (its constants): never one per claim


@pytest.fixture
def big(env_db: str) -> str:
    build(env_db, N)
    sign_in(Runtime(env_db), "alice")  # reads name their reader (issue 20); build's users read every case
    dispose_engines()
    return env_db


@contextmanager
def widest_statement(url: str) -> Iterator[list[int]]:
    """Collect how many values each statement binds."""
    seen: list[int] = []

    def count(_conn, _cursor, _statement, parameters, _context, _executemany):  # type: ignore[no-untyped-def]
        seen.append(len(parameters) if hasattr(parameters, "__len__") else 0)

    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_list_json_pages_with_the_total_and_all_returns_every_row(big: str, cli):
    first = json.loads(cli("list", "--json").stdout)
    assert (first["total"], first["offset"], first["limit"], len(first["claims"])) == (TOTAL, 0, 50, 50)
    with widest_statement(big) as bound:
        every = json.loads(cli("list", "--json", "--all").stdout)
    keys = [r["key"] for r in every["claims"]]
    assert (every["total"], every["limit"], len(keys), len(set(keys))) == (TOTAL, None, TOTAL, TOTAL)
    assert keys[:50] == [r["key"] for r in first["claims"]]
    assert max(bound) <= MAX_BOUND, max(bound)
    pages = [cli("list", "--json", "--limit", "1000", "--page", str(p)).stdout for p in (1, 2, 3)]
    assert [r["key"] for p in pages for r in json.loads(p)["claims"]] == keys
    last = cli("list", "--page", str(TOTAL // 50 + 1)).stdout.strip().splitlines()[-1]
    assert last == f"showing {TOTAL // 50 * 50 + 1:,}-{TOTAL:,} of {TOTAL:,} matching claims; " + (
        "--page N / --limit N for others, --all for every row"
    )
    corroborated = json.loads(cli("list", "--json", "--all", "--stage", "corroborated").stdout)
    assert corroborated["total"] == len(corroborated["claims"]) > 50
    assert {r["stage"] for r in corroborated["claims"]} == {"corroborated"}


def test_readiness_and_what_if_bind_a_handful_of_values(big: str, cli):
    rt = Runtime(big)
    with widest_statement(big) as bound:
        actions = json.loads(cli("readiness", "--json").stdout)
        required = {r["claim"] for a in actions for r in a["requirements"]}
        result = what_if(rt, "bulk", [Hypothesis(claim="bulk-c2", stance="supports", credibility=2, reliability="B")])
        services.claim_detail(rt, "bulk-c7")
    assert len(required) > MAX_BOUND  # enough gating claims that a list of them would show
    assert max(bound) <= MAX_BOUND, max(bound)
    assert {p.claim for p in result.claims} == {r for r in required if r.startswith("bulk-")} | {"bulk-c2"}
    assert len(result.actions) == sum(1 for a in actions if a["key"].startswith("bulk-"))
