"""Import is idempotent; export -> import -> export is lossless. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from identity_helpers import as_user
from integration_helpers import event_count, small_case

from claims import services
from claims.demo import DEMO_CASE, DEMO_USERS
from claims.domain import Stage
from claims.services import InvalidInput, Runtime
from claims.services.casefile import dump_case
from claims.services.provenance import sign_case


def expected_counts() -> dict[str, int]:
    """What a first import of the demo file must create, counted from the file itself."""
    data = yaml.safe_load(DEMO_CASE.read_text(encoding="utf-8"))
    return {
        "cases": 1,
        "sources": len(data["sources"]),
        "claims": len(data["claims"]),
        "evidence": sum(len(c.get("evidence", [])) for c in data["claims"]),
        "actions": len(data["policy_actions"]),
    }


def test_importing_the_demo_twice_changes_nothing_the_second_time(rt: Runtime, cli, env_db: str, db_snapshot):
    first = cli("import", DEMO_CASE, "--as", "alice", "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["created"] == expected_counts()
    events = event_count(rt)
    before = db_snapshot(env_db)

    second = cli("import", DEMO_CASE, "--as", "alice", "--json")
    assert second.exit_code == 0, second.stderr
    assert set(json.loads(second.stdout)["created"].values()) == {0}
    assert event_count(rt) == events
    assert db_snapshot(env_db) == before


def test_reimport_after_the_case_moved_on_leaves_it_alone(demo: Runtime, db_url: str, db_snapshot):
    """The assessment moved factory-exists; re-importing the original file must not move it back."""
    assert services.claim_detail(demo, "factory-exists")["stage"] == "corroborated"
    before = db_snapshot(db_url)
    report = services.import_case(demo, as_user(demo, "alice"), services.read_case_file(DEMO_CASE))
    assert not report.changed
    assert db_snapshot(db_url) == before


def test_import_adds_only_what_is_new(demo: Runtime, tmp_path: Path):
    data = yaml.safe_load(DEMO_CASE.read_text(encoding="utf-8"))
    data["claims"][1]["evidence"].append(
        {"source": "reuters", "stance": "supports", "credibility": 3, "summary": "Reuters on lethal production."}
    )
    path = tmp_path / "more.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    report = services.import_case(demo, as_user(demo, "alice"), services.read_case_file(path))
    assert report.created == {"cases": 0, "sources": 0, "claims": 0, "evidence": 1, "actions": 0}


def test_export_import_export_is_lossless(demo: Runtime, fresh_database: Callable[[], str], tmp_path: Path):
    rt = demo
    # Make the case richer than the file: a retraction, new evidence, a live four-eyes confirmation.
    (diplomats,) = [e for e in services.claim_detail(rt, "lethal-production")["evidence"] if e["source"] == "diplomats"]
    services.retract_evidence(rt, as_user(rt, "alice"), diplomats["id"], "the diplomats were quoting the EEAS")
    services.add_evidence(
        rt,
        as_user(rt, "alice"),
        "factory-exists",
        "us-treasury",
        "supports",
        credibility=2,
        summary="OFAC designates the operators of the plant.",
        locator="treasury.gov/press",
        observed_at=date(2024, 10, 17),
    )
    rejected = services.advance(rt, as_user(rt, "alice"), "factory-exists", Stage.CONFIRMED).review_id
    assert rejected is not None
    services.reject(rt, as_user(rt, "carol"), rejected, "wait for the OFAC press release text")
    review = services.advance(rt, as_user(rt, "alice"), "factory-exists", Stage.CONFIRMED).review_id
    assert review is not None
    services.approve(rt, as_user(rt, "bob"), review, "three independent lines, one of them B2")

    first = services.export_case(rt, "eu-drones-2024")
    details = {c["key"]: services.claim_detail(rt, c["key"]) for c in first["claims"]}

    # The export carries what a lossy one would drop.
    claims = {c["key"]: c for c in first["claims"]}
    (retracted,) = [e for e in claims["lethal-production"]["evidence"] if e.get("retracted")]
    assert (retracted["retracted_by"], retracted["retraction_reason"]) == (
        "alice",
        "the diplomats were quoting the EEAS",
    )
    assert [h["stage"] for h in claims["factory-exists"]["history"]] == ["reported", "corroborated", "confirmed"]
    assert claims["factory-exists"]["history"][-1]["approved_by"] == "bob"
    assert claims["factory-exists"]["history"][-1]["by"] == "alice"
    assert [h["stage"] for h in claims["dual-use-supply"]["history"]] == ["reported", "corroborated", "confirmed"]
    assert [(r["status"], r["decided_by"], r["rationale"]) for r in claims["factory-exists"]["reviews"]] == [
        ("rejected", "carol", "wait for the OFAC press release text"),
        ("approved", "bob", "three independent lines, one of them B2"),
    ]

    path = tmp_path / "export.yaml"
    path.write_text(dump_case(sign_case(first)), encoding="utf-8")  # the instance trusts its own signature
    fresh = Runtime(fresh_database())
    services.ensure_users(fresh, DEMO_USERS)
    services.import_case(fresh, as_user(fresh, "alice"), services.read_case_file(path))

    assert services.export_case(fresh, "eu-drones-2024") == first
    for key, before in details.items():
        after = services.claim_detail(fresh, key)
        assert after["stage"] == before["stage"], key
        assert after["stage_times"] == before["stage_times"], key
        assert after["assessment"] == before["assessment"], key
        assert [(e["source"], e["grade"], e["retracted"]) for e in after["evidence"]] == [
            (e["source"], e["grade"], e["retracted"]) for e in before["evidence"]
        ], key
    assert [(r["status"], r["requested_by"], r["decided_by"]) for r in services.review_queue(fresh, None)] == [
        (r["status"], r["requested_by"], r["decided_by"]) for r in services.review_queue(rt, None)
    ]
    assert services.audit_verify(fresh).ok


def test_json_export_reads_back_the_same(demo: Runtime, fresh_database: Callable[[], str], tmp_path: Path):
    first = services.export_case(demo)
    path = tmp_path / "export.json"
    path.write_text(dump_case(sign_case(first), "json"), encoding="utf-8")
    fresh = Runtime(fresh_database())
    services.ensure_users(fresh, DEMO_USERS)
    services.import_case(fresh, as_user(fresh, "alice"), services.read_case_file(path))
    assert services.export_case(fresh) == first


def test_history_reports_the_same_time_as_the_stage_timestamp(rt: Runtime, monkeypatch):
    """A stage's timestamp and its history entry must come from one clock reading, or an export
    moved into another database shifts the stage times (whenever a second ticks over in between).
    This computer's clock ticks a second at every reading to make that tick certain; the write
    transaction's one reading (the server's on PostgreSQL, issue 21.4) stamps both."""
    import itertools

    from claims.store import clock

    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    ticks = itertools.count()
    monkeypatch.setattr(clock, "client_now", lambda: start + timedelta(seconds=next(ticks)))
    case = small_case({"a": "B", "b": "C"}, {"k": [("a", "supports", 2), ("b", "supports", 3)]})
    services.import_case(rt, as_user(rt, "alice"), case)
    services.advance(rt, as_user(rt, "alice"), "k", Stage.CORROBORATED)

    times = services.claim_detail(rt, "k")["stage_times"]
    history = {h["stage"]: h["at"] for h in services.export_case(rt, "small")["claims"][0]["history"]}
    assert set(history) == {"reported", "corroborated"}
    assert {s: t for s, t in times.items() if t} == history


def test_a_lineage_cycle_is_refused_on_an_empty_database(rt: Runtime, db_url: str, db_snapshot, tmp_path: Path):
    text = DEMO_CASE.read_text(encoding="utf-8").replace(
        "    reliability: B\n  - key: reuters-documents",
        "    reliability: B\n    derived_from: reuters-documents\n  - key: reuters-documents",
        1,
    )
    path = tmp_path / "cycle.yaml"
    path.write_text(text, encoding="utf-8")
    before = db_snapshot(db_url)
    with pytest.raises(InvalidInput, match="reuters -> reuters-documents -> reuters"):
        services.import_case(rt, as_user(rt, "alice"), services.read_case_file(path))
    assert db_snapshot(db_url) == before
