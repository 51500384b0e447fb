"""The bulk import (issue 11 point 3): one read of the JSON file in any key order, one event per claim
listing its items, and `claims audit verify` replaying those items against the evidence table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from identity_helpers import as_user
from sqlalchemy import create_engine, select, text

from bench.synthetic import synthetic_case
from claims import services
from claims.services import Runtime, jsonstream
from claims.store.models import Event


def write(path: Path, case: dict[str, Any], order: list[str]) -> Path:
    path.write_text(json.dumps({key: case[key] for key in order}, indent=1), encoding="utf-8")
    return path


def stored(rt: Runtime, case_key: str) -> dict[str, Any]:
    """What the import left: each claim with its evidence, as `claims show` reports them."""
    keys = services.open_claim_keys(rt, case_key)
    return {
        key: sorted((e["source"], e["stance"], e["grade"], e["summary"]) for e in detail["evidence"])
        for key in keys
        for detail in [services.claim_detail(rt, key)]
    }


def events(rt: Runtime) -> list[Any]:
    """(kind, claim_key, payload) of every event, oldest first."""
    with rt.uow(write=False) as uow:
        return list(uow.session.execute(select(Event.kind, Event.claim_key, Event.payload).order_by(Event.id)))


def test_the_claims_may_come_before_the_case_and_the_actions_after(rt: Runtime, tmp_path: Path):
    case = synthetic_case(30, key="order")
    report = services.import_path(
        rt, as_user(rt, "alice"), write(tmp_path / "late.json", case, ["claims", "case", "sources", "policy_actions"])
    )
    assert report.created == {
        "cases": 1,
        "sources": 40,
        "claims": 30,
        "evidence": report.created["evidence"],
        "actions": 5,
    }
    assert report.created["evidence"] == sum(len(c["evidence"]) for c in case["claims"])
    first = stored(rt, "order")
    again = write(tmp_path / "usual.json", case, ["case", "sources", "claims", "policy_actions"])
    assert not services.import_path(rt, as_user(rt, "alice"), again).changed
    assert stored(rt, "order") == first
    assert services.audit_verify(rt).ok


@pytest.mark.parametrize("block", [7, 97, 4096])
def test_the_reader_follows_values_cut_by_its_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int):
    """Read in tiny windows, every claim and number straddles an edge somewhere; the result is json.load's."""
    monkeypatch.setattr(jsonstream, "BLOCK", block)
    case = synthetic_case(12, key="window")
    case["claims"][5]["statement"] = "naïve café \u2028 ☕ " * 30 + "\\u0000 is not a NUL"  # multi-byte text
    case["claims"][6]["evidence"][0]["credibility"] = 1234567890123  # a number longer than a small window
    case["serial"] = 12345678901234567890  # a bare number: only the next window says where it ends
    path = write(tmp_path / "w.json", case, ["serial", *case][:-1])
    with path.open("rb") as fh:
        read = {
            key: [item for item, _ in value] if isinstance(value, jsonstream.Items) else value
            for key, value in jsonstream.ObjectReader(fh, "claims").members()
        }
    assert read == json.loads(path.read_text(encoding="utf-8"))


def test_each_claim_gets_one_event_listing_its_items(rt: Runtime, tmp_path: Path):
    case = synthetic_case(20, key="ev")
    before = len(events(rt))
    services.import_path(rt, as_user(rt, "alice"), write(tmp_path / "a.json", case, list(case)))
    new = events(rt)[before:]
    reported = [e for e in new if e.kind == "claim.reported"]
    assert [e.claim_key for e in reported] == [c["key"] for c in case["claims"]]
    for event, claim in zip(reported, case["claims"], strict=True):
        assert [i["source"] for i in event.payload["items"]] == [e["source"] for e in claim["evidence"]]
    assert [e.kind for e in new[len(reported) :]] == ["case.imported"]

    case["claims"][3]["evidence"].append({"source": "s1", "stance": "supports", "credibility": 2, "summary": "later"})
    before = len(events(rt))
    report = services.import_path(rt, as_user(rt, "alice"), write(tmp_path / "b.json", case, list(case)))
    assert report.created["evidence"] == 1
    (added, imported) = events(rt)[before:]
    assert (added.kind, added.claim_key) == ("evidence.imported", case["claims"][3]["key"])
    assert [i["source"] for i in added.payload["items"]] == ["s1"] and added.payload["via"] == "import"
    assert imported.kind == "case.imported"
    assert services.audit_verify(rt).ok


@pytest.mark.parametrize("change", ["retract", "insert"])
def test_the_audit_replay_checks_imported_items_against_the_evidence_table(rt: Runtime, tmp_path: Path, change: str):
    case = synthetic_case(5, key="replay")
    services.import_path(rt, as_user(rt, "alice"), write(tmp_path / "r.json", case, list(case)))
    case["claims"][0]["evidence"].append({"source": "s2", "stance": "contradicts", "credibility": 3, "summary": "x"})
    services.import_path(rt, as_user(rt, "alice"), write(tmp_path / "r2.json", case, list(case)))  # evidence.imported
    assert services.audit_verify(rt).ok
    engine = create_engine(rt.database_url)
    with engine.begin() as conn:
        if change == "retract":  # an imported item edited behind the log's back
            target = conn.execute(text("SELECT max(id) FROM evidence")).scalar_one()
            conn.execute(text("UPDATE evidence SET retracted = true WHERE id = :id"), {"id": target})
            expected = f"evidence #{target} has retracted=True, the events say False"
        else:  # an item no event added
            row = conn.execute(text("SELECT * FROM evidence ORDER BY id LIMIT 1")).mappings().one()
            values = {**row, "summary": "smuggled in", "fingerprint": "f" * 64}
            values.pop("id")
            cols = ", ".join(values)
            conn.execute(text(f"INSERT INTO evidence ({cols}) VALUES ({', '.join(':' + c for c in values)})"), values)
            target = conn.execute(text("SELECT max(id) FROM evidence")).scalar_one()
            expected = f"evidence #{target} is in the evidence table but no event added it"
    engine.dispose()
    report = services.audit_verify(rt)
    assert not report.ok and report.message == f"replay differs: {expected}"
