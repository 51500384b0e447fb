"""Authoring by hand (issue 17, section 1): cases, sources, claims and policy actions created, edited
and withdrawn through the services, each with its audited event (old and new value), rationale where
meaning changes, optimistic concurrency on the version the editor read, and analysts-only writes."""

from __future__ import annotations

import pytest
from identity_helpers import as_user, system_identity
from integration_helpers import event_count, events_after
from test_concurrency import race

from claims import services
from claims.domain.errors import DomainError, LineageCycle
from claims.services import InvalidInput, NotFound, PermissionDenied, Runtime
from claims.services import authoring as a
from claims.services.errors import AlreadyDone, RuleViolation
from claims.store.models import Event
from claims.store.uow import ConcurrencyConflict


def payload_of(rt: Runtime, kind: str) -> list[dict]:
    with rt.uow(write=False) as uow:
        rows = uow.session.query(Event).filter(Event.kind == kind).order_by(Event.id).all()
        return [
            {"actor": e.actor, "rationale": e.rationale, "case": e.case_key, "claim": e.claim_key, **e.payload}
            for e in rows
        ]


@pytest.fixture
def authored(rt: Runtime) -> Runtime:
    """Case `desk` with sources reuters (B) and wire (C, derived from reuters), claim `drones`
    with evidence from both, and action `sanction` requiring `drones` confirmed."""
    a.add_case(rt, as_user(rt, "alice"), "desk", "The desk's case")
    a.add_source(rt, as_user(rt, "alice"), "desk", "reuters", "Reuters", kind="media", reliability="B")
    a.add_source(
        rt, as_user(rt, "alice"), "desk", "wire", "A wire", kind="media", reliability="C", derived_from="reuters"
    )
    a.add_source(rt, as_user(rt, "alice"), "desk", "osint", "OSINT team", kind="osint", reliability="C")
    a.add_claim(rt, as_user(rt, "alice"), "desk", "Russia builds attack drones in China", key="drones")
    services.add_evidence(
        rt, as_user(rt, "alice"), "drones", "reuters", "supports", credibility=2, summary="Reuters says so"
    )
    services.add_evidence(rt, as_user(rt, "alice"), "drones", "osint", "supports", credibility=3, summary="Imagery")
    a.add_action(
        rt, as_user(rt, "alice"), "desk", "sanction", "Sanction the factory", requires=[("drones", "confirmed")]
    )
    return rt


def test_case_create_edit_list_audited(rt: Runtime):
    count = event_count(rt)
    assert a.add_case(rt, as_user(rt, "alice"), "desk", "Title one") == {
        "key": "desk",
        "title": "Title one",
        "version": 1,
        "marking": "TLP:AMBER",  # the deployment's default for a new case (issue 20)
        "caveat": None,
    }
    edited = a.edit_case(rt, as_user(rt, "admin"), "desk", expected_version=1, title="Title two")
    assert edited["version"] == 2
    assert [c["title"] for c in a.list_cases(rt, as_user(rt, "mia"))] == ["Title two"]
    created, changed = events_after(rt, count)
    assert (created["kind"], changed["kind"]) == ("case.created", "case.edited")
    (ev,) = payload_of(rt, "case.edited")
    assert (ev["actor"], ev["old"], ev["new"]) == ("admin", {"title": "Title one"}, {"title": "Title two"})
    assert services.audit_verify(rt).ok


def test_claim_key_is_a_slug_of_the_statement_unique(authored: Runtime):
    rt = authored
    first = a.add_claim(rt, as_user(rt, "alice"), "desk", "Beijing has denied the report!")
    second = a.add_claim(rt, as_user(rt, "alice"), "desk", "Beijing has denied the report")
    assert (first, second) == ("beijing-has-denied-the-report", "beijing-has-denied-the-report-2")
    with pytest.raises(RuleViolation, match="already exists"):
        a.add_claim(rt, as_user(rt, "alice"), "desk", "Another", key="drones")
    detail = services.claim_detail(rt, first)
    assert (detail["stage"], detail["statement"]) == ("reported", "Beijing has denied the report!")


def test_statement_change_needs_rationale_keeps_evidence_and_is_reassessed(authored: Runtime):
    rt = authored
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))
    assert "drones" not in services.open_claim_keys(rt, changed_only=True)
    version = services.claim_detail(rt, "drones")["version"]
    count = event_count(rt)
    with pytest.raises(InvalidInput, match=r"^rationale: "):
        a.edit_claim(rt, as_user(rt, "alice"), "drones", expected_version=version, statement="New words", rationale=" ")
    assert event_count(rt) == count
    row = a.edit_claim(
        rt, as_user(rt, "alice"), "drones", expected_version=version, statement="New words", rationale="typo"
    )
    assert row["version"] == version + 1
    detail = services.claim_detail(rt, "drones")
    assert detail["statement"] == "New words" and len(detail["evidence"]) == 2
    (ev,) = payload_of(rt, "claim.edited")
    assert ev["old"] == {"statement": "Russia builds attack drones in China"}
    assert (ev["new"], ev["rationale"], ev["claim"]) == ({"statement": "New words"}, "typo", "drones")
    assert "drones" in services.open_claim_keys(rt, changed_only=True)  # the next assessment judges it
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt, changed_only=True))
    assert "drones" not in services.open_claim_keys(rt, changed_only=True)


def test_source_regrade_needs_rationale_and_bumps_every_claim_it_touches(authored: Runtime):
    rt = authored
    a.add_claim(rt, as_user(rt, "alice"), "desk", "Untouched by reuters", key="other")
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))
    before = {k: services.claim_detail(rt, k)["version"] for k in ("drones", "other")}
    (src,) = [s for s in a.list_sources(rt, as_user(rt, "alice"), "desk") if s["key"] == "reuters"]
    with pytest.raises(InvalidInput, match=r"^rationale: "):
        a.edit_source(rt, as_user(rt, "alice"), "desk", "reuters", expected_version=src["version"], reliability="D")
    edited = a.edit_source(
        rt,
        as_user(rt, "alice"),
        "desk",
        "reuters",
        expected_version=src["version"],
        reliability="D",
        rationale="two errors",
    )
    assert (edited["reliability"], edited["version"]) == ("D", src["version"] + 1)
    after = {k: services.claim_detail(rt, k)["version"] for k in ("drones", "other")}
    assert after == {"drones": before["drones"] + 1, "other": before["other"]}
    assert services.open_claim_keys(rt, changed_only=True) == ["drones"]
    (ev,) = payload_of(rt, "source.edited")
    assert (ev["old"], ev["new"], ev["rationale"]) == ({"reliability": "B"}, {"reliability": "D"}, "two errors")
    assert {e["grade"] for e in services.claim_detail(rt, "drones")["evidence"]} >= {"D2"}
    # a name fix changes no meaning: no rationale, no re-assessment
    a.edit_source(rt, as_user(rt, "alice"), "desk", "reuters", expected_version=edited["version"], name="Reuters UK")
    assert services.claim_detail(rt, "drones")["version"] == after["drones"]


def test_lineage_cycle_is_refused_and_changes_nothing(authored: Runtime, db_snapshot):
    rt = authored
    before = db_snapshot(rt.database_url)
    (src,) = [s for s in a.list_sources(rt, as_user(rt, "alice"), "desk") if s["key"] == "reuters"]
    with pytest.raises(LineageCycle, match="cycle in source lineage"):
        a.edit_source(
            rt,
            as_user(rt, "alice"),
            "desk",
            "reuters",
            expected_version=src["version"],
            derived_from="wire",
            rationale="x",
        )
    with pytest.raises(LineageCycle):
        a.edit_source(
            rt,
            as_user(rt, "alice"),
            "desk",
            "reuters",
            expected_version=src["version"],
            derived_from="reuters",
            rationale="x",
        )
    assert db_snapshot(rt.database_url) == before


def test_withdrawn_source_stays_readable_and_its_evidence_no_longer_counts(authored: Runtime):
    rt = authored
    (src,) = [s for s in a.list_sources(rt, as_user(rt, "alice"), "desk") if s["key"] == "osint"]
    version = services.claim_detail(rt, "drones")["version"]
    row = a.withdraw_source(
        rt, as_user(rt, "alice"), "desk", "osint", "fabricated imagery", expected_version=src["version"]
    )
    assert row["withdrawn"] and row["withdrawal_reason"] == "fabricated imagery"
    assert [s["withdrawn"] for s in a.list_sources(rt, as_user(rt, "mia"), "desk") if s["key"] == "osint"] == [True]
    detail = services.claim_detail(rt, "drones")
    assert detail["version"] == version + 1
    assert [e["retracted"] for e in detail["evidence"] if e["source"] == "osint"] == [True]
    with pytest.raises(RuleViolation, match="withdrawn"):
        services.add_evidence(rt, as_user(rt, "alice"), "drones", "osint", "supports", credibility=2, summary="More")
    with pytest.raises(AlreadyDone):
        a.withdraw_source(rt, as_user(rt, "alice"), "desk", "osint", "again", expected_version=row["version"])
    (ev,) = payload_of(rt, "source.withdrawn")
    assert (ev["old"], ev["new"], ev["evidence_retracted"]) == ({"withdrawn": False}, {"withdrawn": True}, 1)
    # The retraction is replayed from that event: the log still agrees with the tables (it did not).
    assert ev["retracted"] == [e["id"] for e in detail["evidence"] if e["source"] == "osint"]
    report = services.audit_verify(rt)
    assert report.ok, report.problem


def test_withdrawn_claim_stays_readable_and_is_not_edited(authored: Runtime):
    rt = authored
    version = services.claim_detail(rt, "drones")["version"]
    with pytest.raises(InvalidInput, match=r"^reason: "):
        a.withdraw_claim(rt, as_user(rt, "alice"), "drones", "", expected_version=version)
    row = a.withdraw_claim(rt, as_user(rt, "alice"), "drones", "duplicate of another", expected_version=version)
    assert row["withdrawn"] and row["withdrawn_by"] == "alice"
    assert [c["withdrawn"] for c in a.list_claims(rt, as_user(rt, "mia"), "desk")] == [True]
    with pytest.raises(RuleViolation, match="withdrawn"):
        a.edit_claim(rt, as_user(rt, "alice"), "drones", expected_version=row["version"], statement="x", rationale="y")
    with pytest.raises(RuleViolation, match="withdrawn"):
        services.add_evidence(rt, as_user(rt, "alice"), "drones", "reuters", "supports", credibility=1, summary="More")
    (ev,) = payload_of(rt, "claim.withdrawn")
    assert (ev["rationale"], ev["new"]) == ("duplicate of another", {"withdrawn": True})


def test_action_requirements_edit_needs_rationale_and_is_audited(authored: Runtime):
    rt = authored
    a.add_claim(rt, as_user(rt, "alice"), "desk", "The factory exists", key="factory")
    (act,) = a.list_actions(rt, as_user(rt, "mia"), "desk")
    assert act["requires"] == [{"claim": "drones", "stage": "confirmed"}]
    new = [("drones", "corroborated"), ("factory", "confirmed")]
    with pytest.raises(InvalidInput, match=r"^rationale: "):
        a.edit_action(rt, as_user(rt, "alice"), "sanction", expected_version=act["version"], requires=new)
    row = a.edit_action(
        rt, as_user(rt, "alice"), "sanction", expected_version=act["version"], requires=new, rationale="scope"
    )
    assert row["version"] == act["version"] + 1
    assert row["requires"] == [{"claim": "drones", "stage": "corroborated"}, {"claim": "factory", "stage": "confirmed"}]
    (ev,) = payload_of(rt, "action.edited")
    assert ev["old"] == {"requires": [{"claim": "drones", "stage": "confirmed"}]}
    assert ev["new"]["requires"][1] == {"claim": "factory", "stage": "confirmed"}
    retitled = a.edit_action(rt, as_user(rt, "alice"), "sanction", expected_version=row["version"], title="New title")
    assert retitled["title"] == "New title" and retitled["requires"] == row["requires"]
    assert services.action_readiness(rt, "desk")


def test_a_stale_version_is_a_conflict_and_writes_nothing(authored: Runtime, db_snapshot):
    rt = authored
    before = db_snapshot(rt.database_url)
    with pytest.raises(ConcurrencyConflict, match=r"^version: "):
        a.edit_case(rt, as_user(rt, "alice"), "desk", expected_version=99, title="x")
    with pytest.raises(ConcurrencyConflict):
        a.edit_source(rt, as_user(rt, "alice"), "desk", "reuters", expected_version=99, name="x")
    with pytest.raises(ConcurrencyConflict):
        a.edit_claim(rt, as_user(rt, "alice"), "drones", expected_version=99, statement="x", rationale="y")
    with pytest.raises(ConcurrencyConflict):
        a.edit_action(rt, as_user(rt, "alice"), "sanction", expected_version=99, title="x")
    with pytest.raises(ConcurrencyConflict):
        a.withdraw_claim(rt, as_user(rt, "alice"), "drones", "why", expected_version=99)
    assert db_snapshot(rt.database_url) == before


def test_unknown_items_are_not_found_and_readers_may_not_write(authored: Runtime):
    rt = authored
    with pytest.raises(NotFound, match=r"^case: "):
        a.add_claim(rt, as_user(rt, "alice"), "nope", "A statement")
    with pytest.raises(NotFound, match=r"^claim: "):
        a.withdraw_claim(rt, as_user(rt, "alice"), "nope", "why", expected_version=1)
    with pytest.raises(NotFound, match=r"^source: "):
        a.edit_source(rt, as_user(rt, "alice"), "desk", "nope", expected_version=1, name="x")
    with pytest.raises(NotFound, match=r"^derived_from: "):
        a.add_source(rt, as_user(rt, "alice"), "desk", "x", "X", kind="media", reliability="B", derived_from="nope")
    with pytest.raises(NotFound, match=r"^claim: "):
        a.add_action(rt, as_user(rt, "alice"), "desk", "act2", "T", requires=[("nope", "confirmed")])
    for reader in ("mia", "bob"):  # a manager, a reviewer
        with pytest.raises(PermissionDenied):
            a.add_claim(rt, as_user(rt, reader), "desk", "A statement")
    assert a.list_claims(rt, as_user(rt, "mia"), "desk")
    with pytest.raises(DomainError, match=r"^reliability: "):
        a.add_source(rt, as_user(rt, "alice"), "desk", "y", "Y", kind="media", reliability="Z")
    with pytest.raises(InvalidInput, match=r"^kind: "):
        a.add_source(rt, as_user(rt, "alice"), "desk", "y", "Y", kind="blog", reliability="A")


def test_evidence_takes_locator_observed_date_and_quote(authored: Runtime):
    from datetime import date

    rt = authored
    services.add_evidence(
        rt,
        as_user(rt, "alice"),
        "drones",
        "wire",
        "supports",
        credibility=3,
        summary="Wire repeats it",
        locator="report:12-80",
        observed_at=date(2026, 11, 30),
        quote='"a plant in Xinjiang"',
    )
    with rt.uow(write=False) as uow:
        item = uow.claims.get("drones").evidence[-1]
        assert (item.locator, str(item.observed_at), item.quote) == (
            "report:12-80",
            "2026-11-30",
            '"a plant in Xinjiang"',
        )
    ev = payload_of(rt, "evidence.added")[-1]
    assert ev["quote"] == '"a plant in Xinjiang"' and ev["locator"] == "report:12-80"


@pytest.mark.postgres
def test_two_people_editing_one_claim_at_once_one_wins(postgres_url: str, own_config_dir):
    rt = Runtime(postgres_url)
    services.ensure_users(rt, {"alice": "analyst", "admin": "admin"})
    a.add_case(rt, as_user(rt, "alice"), "desk", "Desk")
    a.add_claim(rt, as_user(rt, "alice"), "desk", "First words", key="c")
    alice, admin = as_user(rt, "alice"), as_user(rt, "admin")  # proven before the events are counted
    a.add_source(rt, alice, "desk", "s", "S", kind="media", reliability="B")
    count = event_count(rt)
    outcomes = race(
        rt,
        (a.edit_claim, (alice, "c"), {"expected_version": 1, "statement": "Alice's words", "rationale": "a"}),
        (a.edit_claim, (admin, "c"), {"expected_version": 1, "statement": "Admin's words", "rationale": "b"}),
    )
    winners = [o for o in outcomes if isinstance(o, dict)]
    losers = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
    assert (len(winners), len(losers)) == (1, 1), outcomes
    assert services.claim_detail(rt, "c")["statement"] == winners[0]["statement"]
    assert len(events_after(rt, count)) == 1
    outcomes = race(
        rt,
        (a.edit_source, (alice, "desk", "s"), {"expected_version": 1, "reliability": "C", "rationale": "a"}),
        (a.edit_source, (admin, "desk", "s"), {"expected_version": 1, "reliability": "D", "rationale": "b"}),
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["ConcurrencyConflict", "dict"], outcomes
    assert len(events_after(rt, count)) == 2
    assert services.audit_verify(rt).ok


@pytest.mark.parametrize(("fmt", "whole"), [("yaml", True), ("yaml", False), ("json", False)])
def test_export_and_import_carry_the_withdrawn_state(
    authored: Runtime, fresh_database, tmp_path, fmt: str, whole: bool
):
    """Both import paths: the whole-file import (`import_case`) and the chunked one (`import_path`)."""
    from claims.services.casefile import dump_case

    rt = authored
    (src,) = [s for s in a.list_sources(rt, as_user(rt, "alice"), "desk") if s["key"] == "osint"]
    a.withdraw_source(rt, as_user(rt, "alice"), "desk", "osint", "fabricated imagery", expected_version=src["version"])
    version = services.claim_detail(rt, "drones")["version"]
    a.withdraw_claim(rt, as_user(rt, "alice"), "drones", "a duplicate", expected_version=version)
    exported = services.export_case(rt, "desk")
    assert exported["claims"][0]["withdrawn"]["reason"] == "a duplicate"
    path = tmp_path / f"desk.{fmt}"
    path.write_text(dump_case(exported, fmt), encoding="utf-8")
    other = Runtime(fresh_database())
    services.ensure_users(other, {"admin": "admin", "alice": "analyst"})
    if whole:
        services.import_case(other, as_user(other, "alice"), services.read_case_file(path))
    else:
        services.import_path(other, as_user(other, "alice"), path)
    (claim,) = a.list_claims(other, as_user(other, "alice"), "desk")
    assert (claim["withdrawn"], claim["withdrawn_by"], claim["withdrawal_reason"]) == (True, "alice", "a duplicate")
    (osint,) = [s for s in a.list_sources(other, as_user(other, "alice"), "desk") if s["key"] == "osint"]
    assert (osint["withdrawn"], osint["withdrawal_reason"]) == (True, "fabricated imagery")
    assert [e["retracted"] for e in services.claim_detail(other, "drones")["evidence"] if e["source"] == "osint"] == [
        True
    ]
