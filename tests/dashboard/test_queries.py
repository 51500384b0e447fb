"""The dashboard's read-side queries: aggregated in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from dashboard_helpers import assess_all, make_confirmable
from dashboard_helpers import system_queries as queries
from identity_helpers import as_user
from sqlalchemy import event

from claims import services
from claims.services import Runtime
from claims.store.db import get_engine


@contextmanager
def statements(url: str) -> Iterator[list[str]]:
    """Collect the SQL statements sent to the database."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def selects(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


def test_stage_counts_every_stage_in_one_query(demo_db: Runtime) -> None:
    url = demo_db.database_url
    with statements(url) as seen:
        counts = queries.stage_counts(url)
    assert [(c["stage"], c["claims"]) for c in counts] == [
        ("reported", 3),
        ("corroborated", 1),
        ("confirmed", 1),
        ("refuted", 0),
    ]
    assert len(selects(seen)) == 1
    assert queries.stage_counts(url, "no-such-case")[0]["claims"] == 0


def test_movements_count_on_the_effective_date(demo_db: Runtime) -> None:
    url = demo_db.database_url
    moves = {(m["from_stage"], m["to_stage"]): m for m in queries.movements(url)}
    # Four claims newly reported and factory-exists corroborated today; dual-use-supply's imported
    # history (2022-2023) does not count as a move of today.
    assert moves[("new", "reported")]["last_7_days"] == 4
    assert moves[("reported", "corroborated")]["last_7_days"] == 1
    assert ("corroborated", "confirmed") not in moves
    later = queries.movements(url, now=datetime.now(UTC) + timedelta(days=10))
    assert {(m["from_stage"], m["to_stage"]): (m["last_7_days"], m["last_30_days"]) for m in later} == {
        ("new", "reported"): (0, 4),
        ("reported", "corroborated"): (0, 1),
    }
    assert queries.movements(url, now=datetime.now(UTC) + timedelta(days=40)) == []
    assert queries.movements(url, "another-case") == []


def test_ageing_buckets_from_stage_timestamps(demo_db: Runtime) -> None:
    url = demo_db.database_url
    with statements(url) as seen:
        rows = queries.ageing(url)
    assert len(selects(seen)) == 1
    by_stage = {(r["stage"], r["bucket"]): r["claims"] for r in rows}
    assert by_stage == {
        ("reported", "under 7 days"): 3,
        ("corroborated", "under 7 days"): 1,
        ("confirmed", "over 90 days"): 1,
    }
    confirmed = next(r for r in rows if r["stage"] == "confirmed")
    assert confirmed["oldest"] == datetime(2023, 2, 24, 16, 0, tzinfo=UTC)
    later = queries.ageing(url, now=datetime.now(UTC) + timedelta(days=20))
    assert {(r["stage"], r["bucket"]) for r in later if r["stage"] == "reported"} == {("reported", "7-30 days")}


def test_at_risk_lists_the_reason(demo_db: Runtime) -> None:
    url = demo_db.database_url
    assert queries.at_risk_claims(url) == []
    detail = services.claim_detail(demo_db, "dual-use-supply")
    for item in detail["evidence"]:
        if item["stance"] == "supports" and item["source"] in ("eu-council", "us-treasury"):
            services.retract_evidence(
                demo_db, as_user(demo_db, "alice"), item["id"], "listing annulled by the General Court"
            )
    assess_all(demo_db)
    (row,) = queries.at_risk_claims(url)
    assert row["key"] == "dual-use-supply"
    assert row["stage"] == "confirmed"
    assert "no longer meets confirmed" in row["reason"]
    assert row["flagged_at"].tzinfo is not None
    assert {c["stage"]: c["at_risk"] for c in queries.stage_counts(url)}["confirmed"] == 1


def test_claim_table_filters_in_sql(demo_db: Runtime) -> None:
    url = demo_db.database_url
    with statements(url) as seen:
        rows = queries.claim_table(url)
    assert len(selects(seen)) == 3  # the counts per case, the page's id run in the one case, the run's rows
    assert [r["key"] for r in rows] == [
        "factory-exists",
        "lethal-production",
        "shipped-to-russia",
        "beijing-aware",
        "dual-use-supply",
    ]
    factory = rows[0]
    assert (factory["stage"], factory["supporting"], factory["contradicting"]) == ("corroborated", 3, 1)
    assert factory["sources"] == "china-mfa, diplomats, eeas-intel, reuters"

    def keys(**filters: object) -> list[str]:
        return [r["key"] for r in queries.claim_table(url, **filters)]  # type: ignore[arg-type]

    assert keys(stages=["reported"]) == ["lethal-production", "shipped-to-russia", "beijing-aware"]
    assert keys(source="reuters-documents") == ["shipped-to-russia"]
    assert keys(grade="B2") == ["factory-exists", "dual-use-supply"]
    assert keys(grade="b2", stages=["confirmed"]) == ["dual-use-supply"]
    assert keys(grade="Z9") == []
    assert keys(search="IZHEVSK") == ["shipped-to-russia"]
    assert keys(case="eu-drones-2024", assignee="nobody") == []


def test_claim_table_pages_in_sql_with_a_true_total(demo_db: Runtime) -> None:
    """No silent cap: the total counts every match; pages are cut in SQL and together give every row."""
    url = demo_db.database_url
    everything = [r["key"] for r in queries.claim_table(url)]
    assert queries.claim_count(url) == len(everything) == 5
    with statements(url) as seen:
        page = queries.claim_table(url, limit=2, offset=2)
    assert [r["key"] for r in page] == everything[2:4]
    assert any("LIMIT" in s.upper() and "OFFSET" in s.upper() for s in selects(seen))
    pages = [r["key"] for o in range(0, 6, 2) for r in queries.claim_table(url, limit=2, offset=o)]
    assert pages == everything
    assert queries.claim_count(url, stages=["reported"]) == 3
    assert queries.claim_count(url, grade="Z9") == 0


def test_claim_search_treats_like_wildcards_as_text(demo_db: Runtime) -> None:
    """`%` and `_` are searched for literally: neither matches every claim any more."""
    url = demo_db.database_url
    assert queries.claim_table(url, search="%") == []
    assert queries.claim_table(url, search="_") == []
    assert queries.claim_count(url, search="%") == 0
    assert [r["key"] for r in queries.claim_table(url, search="factory-exists")] == ["factory-exists"]
    assert queries.like_pattern("50%_a\\") == "%50\\%\\_a\\\\%"


def test_pickers_put_gating_claims_first(demo_db: Runtime) -> None:
    url = demo_db.database_url
    keys = queries.claim_keys(url)
    gates = queries.claim_gates(url)
    assert sorted(keys) == sorted(r["key"] for r in queries.claim_table(url))
    counts = [gates.get(k, 0) for k in keys]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0


def test_claim_table_shows_the_pending_review(demo_db: Runtime) -> None:
    make_confirmable(demo_db)
    factory = queries.claim_table(demo_db.database_url, search="factory-exists")[0]
    assert factory["pending_review"] == "confirmed"
    assert queries.pending_review_count(demo_db.database_url) == 1
    assert queries.pending_review_count(demo_db.database_url, "eu-drones-2024") == 1


def test_filter_options_and_lineage(demo_db: Runtime) -> None:
    url = demo_db.database_url
    options = queries.filter_options(url, "eu-drones-2024")
    assert "reuters-documents" in options["sources"]
    assert options["grades"] == ["A1", "B2", "B3", "B4", "C2", "C3", "D4"]
    edges = {e["key"]: e["derived_from"] for e in queries.lineage_edges(url, "eu-drones-2024")}
    assert edges["diplomats"] == "eeas-intel"
    assert edges["reuters-documents"] == "reuters"
    assert edges["reuters"] is None
    assert [c["key"] for c in queries.case_rows(url)] == ["eu-drones-2024"]
    assert queries.claim_keys(url, "eu-drones-2024")[:2] == ["factory-exists", "lethal-production"]
    assert queries.claim_keys(url, "nope") == []
    assert {u["name"]: u["role"] for u in queries.user_rows(url)}["bob"] == "reviewer"


def test_data_version_moves_with_every_change(demo_db: Runtime) -> None:
    url = demo_db.database_url
    before = queries.data_version(url)
    services.add_evidence(
        demo_db,
        as_user(demo_db, "alice"),
        "beijing-aware",
        "eu-official",
        "supports",
        credibility=3,
        summary="A second briefing.",
    )
    assert queries.data_version(url) == before + 1


@pytest.mark.parametrize("case", [None, "eu-drones-2024"])
def test_no_query_loads_a_table_into_python(demo_db: Runtime, case: str | None) -> None:
    """Each read is a fixed, small number of statements whatever the data size."""
    url = demo_db.database_url
    with statements(url) as seen:
        queries.stage_counts(url, case)
        queries.movements(url, case)
        queries.ageing(url, case)
        queries.at_risk_claims(url, case)
        queries.pending_review_count(url, case)
        queries.filter_options(url, case)
        queries.claim_table(url, case=case)
    # movements two (the window's moves, the dated ones); filter_options three small DISTINCT
    # questions; the claim table three (counts, id run, rows)
    assert len(selects(seen)) == 12


def test_recent_decisions_newest_first(demo_db: Runtime) -> None:
    url = demo_db.database_url
    assert queries.recent_decisions(url) == []
    make_confirmable(demo_db)
    services.reject(demo_db, as_user(demo_db, "bob"), 1, "wait for the Council")
    (row,) = queries.recent_decisions(url, "eu-drones-2024")
    assert (row["id"], row["claim"], row["to_stage"], row["status"], row["decided_by"]) == (
        1,
        "factory-exists",
        "confirmed",
        "rejected",
        "bob",
    )
    assert row["decided_at"].tzinfo is not None
    assert queries.recent_decisions(url, "another-case") == []


def test_claim_keys_for_a_picker_are_capped_and_searchable(demo_db: Runtime) -> None:
    """A picker gets the claims gating most actions first, cut at its limit; a search finds the others."""
    url = demo_db.database_url
    every = queries.claim_keys(url)
    assert queries.claim_keys(url, limit=2) == every[:2] == ["factory-exists", "lethal-production"]
    assert queries.claim_keys(url, limit=len(every) + 5) == every
    assert queries.claim_keys(url, "eu-drones-2024", "BEIJING") == ["beijing-aware"]  # key or statement, any case
    assert queries.claim_keys(url, search="assembles attack drones") == ["factory-exists"]
    assert queries.claim_keys(url, search="100%") == []  # % is literal


def test_filter_options_of_a_case_are_its_own(demo_db: Runtime) -> None:
    """Sources and grades are scoped through the sources of the case: none for an unknown case."""
    url = demo_db.database_url
    assert queries.filter_options(url) == queries.filter_options(url, "eu-drones-2024")
    empty = queries.filter_options(url, "no-such-case")
    assert (empty["sources"], empty["grades"], empty["assignees"]) == ([], [], [])
