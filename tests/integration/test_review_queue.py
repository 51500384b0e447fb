"""The review queue by impact, paged in SQL: the order, the true total, and only the page assessed.

A modest queue (the demo case plus 800 synthetic claims from bench/build.py: about a hundred
pending requests, some on claims that gate one or more of 48 policy actions), on SQLite and
PostgreSQL. The expected order is computed here from the rows, independently of the service.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from integration_helpers import sign_in
from sqlalchemy import create_engine, event, select, text, update

from bench.build import build
from claims import services
from claims.services import InvalidInput, NotFound, Runtime
from claims.services import views as views_module
from claims.store.db import dispose_engines
from claims.store.models import Claim, ReviewRequest


@pytest.fixture
def queue(db_url: str) -> Runtime:
    """Demo + 800 synthetic claims; a third of the requests asked a day earlier, so age orders too."""
    build(db_url, 800)
    sign_in(Runtime(db_url), "alice")  # reads name their reader (issue 20); build's users read every case
    table = ReviewRequest.__table__
    engine = create_engine(db_url)
    with engine.begin() as conn:
        rows = conn.execute(select(table.c.id, table.c.requested_at).where(table.c.id % 3 == 0)).all()
        for review_id, at in rows:
            conn.execute(update(table).where(table.c.id == review_id).values(requested_at=at - timedelta(days=1)))
    engine.dispose()
    dispose_engines()
    return Runtime(db_url)


def expected(url: str, *, case: str | None = None, action: str | None = None) -> list[int]:
    """Pending request ids by impact: most actions gated first, then the oldest, then by id."""
    sql = """
        SELECT r.id, r.requested_at,
               (SELECT count(*) FROM action_requirements ar WHERE ar.claim_id = r.claim_id) AS gates
        FROM review_requests r
        JOIN claims c ON c.id = r.claim_id JOIN cases k ON k.id = c.case_id
        WHERE r.status = 'pending' AND (CAST(:case AS VARCHAR(120)) IS NULL OR k.key = :case)
          AND (CAST(:action AS VARCHAR(120)) IS NULL OR r.claim_id IN (
                SELECT ar.claim_id FROM action_requirements ar JOIN policy_actions a ON a.id = ar.action_id
                WHERE a.key = :action))
    """
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"case": case, "action": action}).all()
    engine.dispose()
    return [r.id for r in sorted(rows, key=lambda r: (-r.gates, str(r.requested_at), r.id))]


def test_the_queue_is_ordered_by_impact_then_age_and_pages_with_a_true_total(queue: Runtime, db_url: str) -> None:
    want = expected(db_url)
    gating = [r for r in services.review_queue(queue, limit=len(want)) if r["gates"]]
    assert len(want) > 40 and len(gating) >= 5  # the data really has impact to order by
    assert want != sorted(want)  # ... and impact or age reorders it against plain id order
    seen: list[int] = []
    for offset in range(0, len(want) + 7, 7):
        page = services.review_page(queue, limit=7, offset=offset)
        assert page.total == len(want)
        seen += [r["id"] for r in page.items]
    assert seen == want
    assert [r["id"] for r in services.review_queue(queue)] == want  # no limit: every request, same order
    gates = [r["gates"] for r in services.review_queue(queue)]
    assert gates == sorted(gates, reverse=True)


def test_the_queue_filters_by_case_and_action(queue: Runtime, db_url: str) -> None:
    page = services.review_page(queue, case="bulk", limit=5)
    assert page.total == len(expected(db_url, case="bulk")) < len(expected(db_url))
    assert [r["id"] for r in page.items] == expected(db_url, case="bulk")[:5]
    assert {r["case"] for r in page.items} == {"bulk"}
    engine = create_engine(db_url)
    with engine.connect() as conn:
        actions = conn.scalars(text("SELECT key FROM policy_actions ORDER BY key")).all()
    engine.dispose()
    with_requests = [a for a in actions if expected(db_url, action=a)]
    assert with_requests, "no action gates a claim with a pending request"
    for action in with_requests[:5]:
        page = services.review_page(queue, action=action, limit=50)
        assert [r["id"] for r in page.items] == expected(db_url, action=action)
        assert page.total == len(page.items)
    with pytest.raises(NotFound, match="action: unknown policy action 'no-such-action'"):
        services.review_page(queue, action="no-such-action")
    with pytest.raises(NotFound, match="case: unknown case 'no-such-case'"):
        services.review_page(queue, case="no-such-case")
    with pytest.raises(InvalidInput, match="offset: -1 is negative"):
        services.review_page(queue, offset=-1)


def test_only_the_claims_of_the_page_are_loaded_and_assessed(
    queue: Runtime, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue's cost follows the page: a long queue must not load or assess every pending claim."""
    assessed: list[str] = []
    real = views_module.assess

    def counting(facts: Any, policy: Any) -> Any:
        assessed.append(facts.key)
        return real(facts, policy)

    monkeypatch.setattr(views_module, "assess", counting)
    loaded: set[int] = set()

    def on_load(target: Claim, _context: Any) -> None:
        loaded.add(target.id)

    event.listen(Claim, "load", on_load)
    try:
        page = services.review_page(queue, limit=5, offset=10)
    finally:
        event.remove(Claim, "load", on_load)
    assert page.total > 40 and len(page.items) == 5
    assert sorted(assessed) == sorted({r["claim"] for r in page.items})
    assert len(loaded) == 5


def test_review_list_pages_with_the_total_and_lists_every_request_with_all(
    queue: Runtime, db_url: str, cli: Any
) -> None:
    want = expected(db_url)
    shown = cli("review", "list", "--limit", "3")
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [int(line.split()[0][1:]) for line in lines if line.startswith("#")] == want[:3]
    assert lines[-1] == f"requests 1-3 of {len(want)} (--offset 3 for more, --all for every one)"
    page = cli("review", "list", "--limit", "3", "--offset", "3", "--json")
    assert [r["id"] for r in json.loads(page.stdout)] == want[3:6]  # stdout stays a JSON list
    assert page.stderr.strip() == f"requests 4-6 of {len(want)} (--offset 6 for more, --all for every one)"
    every = cli("review", "list", "--all", "--json")
    assert [r["id"] for r in json.loads(every.stdout)] == want and every.stderr == ""
    assert {"gates", "gaps", "criteria", "evidence_met"} <= json.loads(every.stdout)[0].keys()
    refused = cli("review", "list", "--action", "no-such-action")
    assert refused.exit_code == 3
    assert refused.stderr.strip() == "error: action: unknown policy action 'no-such-action'"
