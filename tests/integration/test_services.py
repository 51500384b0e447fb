"""Use cases on a real database: evidence, transitions, reviews, reopen. Each writes its change
and its audit event in one transaction. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from identity_helpers import as_user, system_identity
from integration_helpers import event_count, events_after

import claims.services.transitions
from claims import services
from claims.domain import IllegalTransition, Stage
from claims.services import InvalidInput, NotFound, PermissionDenied, RuleViolation, Runtime
from claims.store.uow import ConcurrencyConflict, UnitOfWork

CO, CF, R = Stage.CORROBORATED, Stage.CONFIRMED, Stage.REPORTED


def evidence_of(rt: Runtime, claim: str, source: str) -> dict:
    (item,) = [e for e in services.claim_detail(rt, claim)["evidence"] if e["source"] == source]
    return item


# --- evidence --------------------------------------------------------------------------------


def test_add_evidence_records_the_item_and_its_event(demo: Runtime):
    before = services.claim_detail(demo, "factory-exists")
    count = event_count(demo)
    added = services.add_evidence(
        demo,
        as_user(demo, "alice"),
        "factory-exists",
        "us-treasury",
        "supports",
        grade="B2",
        summary="OFAC designation",
    )
    assert added.grade == "B2"
    after = services.claim_detail(demo, "factory-exists")
    assert after["version"] == before["version"] + 1
    item = evidence_of(demo, "factory-exists", "us-treasury")
    assert (item["grade"], item["stance"], item["independent_root"], item["retracted"], item["added_by"]) == (
        "B2",
        "supports",
        "us-treasury",
        False,
        "alice",
    )
    (event,) = events_after(demo, count)
    assert (event["kind"], event["actor"], event["claim"]) == ("evidence.added", "alice", "factory-exists")
    assert event["payload"]["evidence"] == added.id
    # A third independent line: confirmation now misses only the sign-off.
    assert after["assessment"]["confirmed"]["evidence_met"] is True


def test_the_same_item_twice_is_refused(demo: Runtime):
    args = (demo, as_user(demo, "alice"), "factory-exists", "us-treasury", "supports")
    services.add_evidence(*args, credibility=2, summary="OFAC designation")
    with pytest.raises(RuleViolation, match="already recorded"):
        services.add_evidence(*args, credibility=2, summary="OFAC designation")


def test_a_grade_letter_must_match_the_source(demo: Runtime):
    with pytest.raises(InvalidInput, match="reliability is B"):
        services.add_evidence(
            demo, as_user(demo, "alice"), "factory-exists", "us-treasury", "supports", grade="A1", summary="x"
        )


def test_retraction_keeps_the_item_and_stops_it_counting(demo: Runtime):
    """factory-exists stands on reuters and eeas-intel; the diplomats repeat eeas-intel."""
    eeas = evidence_of(demo, "factory-exists", "eeas-intel")
    count = event_count(demo)
    services.retract_evidence(demo, as_user(demo, "alice"), eeas["id"], "the intelligence was withdrawn")
    item = evidence_of(demo, "factory-exists", "eeas-intel")
    assert (item["retracted"], item["retracted_by"], item["retraction_reason"]) == (
        True,
        "alice",
        "the intelligence was withdrawn",
    )
    (event,) = events_after(demo, count)
    assert (event["kind"], event["rationale"]) == ("evidence.retracted", "the intelligence was withdrawn")

    # The eeas-intel line survives through the diplomats, who repeat it: still two lines.
    services.assess_claims(demo, system_identity(), ["factory-exists"])
    assert services.claim_detail(demo, "factory-exists")["stage"] == "corroborated"

    diplomats = evidence_of(demo, "factory-exists", "diplomats")
    services.retract_evidence(demo, as_user(demo, "alice"), diplomats["id"], "they were repeating the EEAS")
    count = event_count(demo)
    services.assess_claims(demo, system_identity(), ["factory-exists"])
    detail = services.claim_detail(demo, "factory-exists")
    assert detail["stage"] == "reported"
    # the demotion, and the collection tasks re-planned with it (issue 18)
    (demoted,) = [e for e in events_after(demo, count) if not e["kind"].startswith("task.")]
    assert (demoted["kind"], demoted["from"], demoted["to"], demoted["policy_version"]) == (
        "claim.stage_changed",
        "corroborated",
        "reported",
        "v1",
    )
    assert len(detail["evidence"]) == 4  # nothing deleted


def test_retracting_twice_or_an_unknown_item_is_refused(demo: Runtime):
    item = evidence_of(demo, "factory-exists", "reuters")
    services.retract_evidence(demo, as_user(demo, "alice"), item["id"], "wrong")
    with pytest.raises(ConcurrencyConflict, match="already retracted by alice"):
        services.retract_evidence(demo, as_user(demo, "bob"), item["id"], "wrong again")
    with pytest.raises(NotFound, match="9999"):
        services.retract_evidence(demo, as_user(demo, "alice"), 9999, "nope")
    with pytest.raises(InvalidInput, match="reason"):
        services.retract_evidence(demo, as_user(demo, "alice"), item["id"], "  ")


# --- transitions -----------------------------------------------------------------------------


def test_every_transition_writes_exactly_its_events(three_lines: Runtime, db_url: str, db_snapshot):
    rt = three_lines

    def step(expected_kinds: list[str], fn, actor: str, *args, **kwargs):
        who = as_user(rt, actor)
        count = event_count(rt)
        result = fn(rt, who, *args, **kwargs)
        events = events_after(rt, count)
        assert [e["kind"] for e in events] == expected_kinds
        return result, events

    _, (moved,) = step(["claim.stage_changed"], services.advance, "alice", "strong", CO)
    assert (moved["from"], moved["to"], moved["actor"], moved["policy_version"]) == ("reported", CO, "alice", "v1")

    first, (requested,) = step(["review.requested"], services.advance, "alice", "strong", CF)
    assert services.claim_detail(rt, "strong")["stage"] == "corroborated"
    assert requested["payload"]["review"] == first.review_id

    _, (rejected,) = step(["review.rejected"], services.reject, "bob", first.review_id, "wait for the documents")
    assert rejected["rationale"] == "wait for the documents"
    assert services.claim_detail(rt, "strong")["stage"] == "corroborated"

    second, _ = step(["review.requested"], services.advance, "alice", "strong", CF)
    _, (approved, confirmed) = step(
        ["review.approved", "claim.stage_changed"], services.approve, "carol", second.review_id, "convincing"
    )
    assert (approved["actor"], approved["rationale"], approved["to"]) == ("carol", "convincing", "confirmed")
    assert (confirmed["from"], confirmed["to"], confirmed["payload"]["by"], confirmed["payload"]["approved_by"]) == (
        "corroborated",
        "confirmed",
        "alice",
        "carol",
    )
    detail = services.claim_detail(rt, "strong")
    assert detail["stage"] == "confirmed"
    assert detail["stage_times"]["confirmed"] is not None

    _, (reopened,) = step(["claim.stage_changed"], services.reopen, "bob", "strong", CO, "the documents are forged")
    assert (reopened["from"], reopened["to"], reopened["rationale"]) == (
        "confirmed",
        "corroborated",
        "the documents are forged",
    )

    # A refused use case writes nothing at all.
    before = db_snapshot(db_url)
    with pytest.raises(ConcurrencyConflict, match="already approved"):
        services.approve(rt, as_user(rt, "bob"), second.review_id)
    assert db_snapshot(db_url) == before
    assert services.audit_verify(rt).ok


def test_advance_refuses_what_the_policy_does_not_allow_and_writes_nothing(
    three_lines: Runtime, db_url: str, db_snapshot
):
    rt = three_lines

    def refused(error: type[Exception], match: str, fn, actor: str, *args) -> None:
        who = as_user(rt, actor)
        before = db_snapshot(db_url)
        with pytest.raises(error, match=match):
            fn(rt, who, *args)
        assert db_snapshot(db_url) == before

    refused(
        RuleViolation,
        r"does not meet corroborated under policy v1: needs 1 more .* \(has 1 of 2\)",
        services.advance,
        "alice",
        "weak",
        CO,
    )
    refused(IllegalTransition, "reported -> confirmed is not allowed", services.advance, "alice", "strong", CF)
    services.advance(rt, as_user(rt, "alice"), "strong", CO)
    refused(RuleViolation, "still meets corroborated", services.advance, "alice", "strong", R)
    review = services.advance(rt, as_user(rt, "alice"), "strong", CF).review_id
    refused(RuleViolation, "already has pending review", services.advance, "bob", "strong", CF)
    services.approve(rt, as_user(rt, "bob"), review)
    refused(RuleViolation, "is a reopen; use `claims reopen strong", services.advance, "alice", "strong", CO)
    refused(RuleViolation, "not a reopen", services.reopen, "bob", "weak", CO, "weak is not final")


def test_roles_are_checked(three_lines: Runtime):
    with pytest.raises(PermissionDenied, match="'mia' has role manager"):
        services.advance(three_lines, as_user(three_lines, "mia"), "strong", CO)
    with pytest.raises(PermissionDenied, match="may not reopen"):
        services.reopen(three_lines, as_user(three_lines, "alice"), "strong", CO, "analysts cannot reopen")
    with pytest.raises(NotFound, match="'zed'"):
        services.advance(three_lines, as_user(three_lines, "zed"), "strong", CO)


def test_a_failed_commit_leaves_neither_the_change_nor_its_event(
    three_lines: Runtime, db_url: str, db_snapshot, monkeypatch: pytest.MonkeyPatch
):
    """The event is flushed before the commit; if it lived in its own transaction it would survive."""
    before = db_snapshot(db_url)

    def broken_commit(self: UnitOfWork) -> None:
        self.session.flush()
        raise RuntimeError("the database went away")

    monkeypatch.setattr(UnitOfWork, "commit", broken_commit)
    with pytest.raises(RuntimeError):
        services.advance(three_lines, as_user(three_lines, "alice"), "strong", CO)
    with pytest.raises(RuntimeError):
        services.add_evidence(
            three_lines, as_user(three_lines, "alice"), "weak", "osint", "supports", credibility=2, summary="more"
        )
    monkeypatch.undo()
    assert db_snapshot(db_url) == before


def test_every_change_to_a_claim_bumps_its_version_even_within_one_second(
    three_lines: Runtime, monkeypatch: pytest.MonkeyPatch
):
    """`--if-version` and concurrent writers rely on the version; a clock pinned to one second
    shows the bump does not depend on `updated_at` changing value."""
    pinned = claims.services.transitions.now()
    monkeypatch.setattr(claims.services.transitions, "now", lambda: pinned)
    rt = three_lines
    version = services.claim_detail(rt, "weak")["version"]
    first = services.add_evidence(rt, as_user(rt, "alice"), "weak", "osint", "supports", credibility=3, summary="one")
    services.add_evidence(rt, as_user(rt, "alice"), "weak", "reuters", "supports", credibility=3, summary="two")
    services.retract_evidence(rt, as_user(rt, "alice"), first.id, "wrong claim")
    assert services.claim_detail(rt, "weak")["version"] == version + 3


# --- the assessment's own moves ----------------------------------------------------------------


def test_refutation_end_to_end_blocks_the_action_that_needs_the_claim(demo: Runtime):
    """beijing-aware has no qualifying support (eu-official B4). Two independent contradicting lines,
    one of them B2 or better (eu-council A2, trade-data C3), outweigh zero: a refutation is due."""
    services.add_evidence(
        demo, as_user(demo, "alice"), "beijing-aware", "eu-council", "contradicts", credibility=2, summary="a"
    )
    services.add_evidence(
        demo, as_user(demo, "alice"), "beijing-aware", "trade-data", "contradicts", credibility=3, summary="b"
    )
    (outcome,) = services.assess_claims(demo, system_identity(), ["beijing-aware"])
    assert outcome.review_requested is Stage.REFUTED
    assert outcome.stage is R  # requested, not applied: a reviewer must sign off
    (review,) = services.review_queue(demo)
    assert (review["claim"], review["to"], review["evidence_met"]) == ("beijing-aware", "refuted", True)

    assert services.approve(demo, as_user(demo, "bob"), review["id"]).stage is Stage.REFUTED
    (action,) = [a for a in services.action_readiness(demo) if a.key == "measures-chinese-state"]
    (blocked,) = [r for r in action.requirements if r.claim == "beijing-aware"]
    assert not blocked.met
    assert blocked.gaps == ("claim is refuted; it blocks this action unless reopened with new evidence",)


def test_a_confirmed_claim_losing_evidence_is_flagged_then_cleared_never_demoted(demo: Runtime):
    """dual-use-supply stands on eu-council A1, us-treasury B2 and trade-data C2: three lines."""
    treasury = evidence_of(demo, "dual-use-supply", "us-treasury")
    services.retract_evidence(demo, as_user(demo, "alice"), treasury["id"], "designation lifted")
    count = event_count(demo)
    (outcome,) = services.assess_claims(demo, system_identity(), ["dual-use-supply"])
    assert (outcome.stage, outcome.at_risk) == (Stage.CONFIRMED, True)
    # the flag, and (issue 18) a collection task for the line it lost: the claim gates an action
    (flagged,) = [e for e in events_after(demo, count) if not e["kind"].startswith("task.")]
    assert [e["kind"] for e in events_after(demo, count)] == ["claim.at_risk", "task.opened"]
    assert flagged["kind"] == "claim.at_risk"
    assert "(has 2 of 3)" in flagged["rationale"]
    (action,) = [a for a in services.action_readiness(demo) if a.key == "extend-dual-use-listings"]
    assert not action.ready  # still confirmed, but at risk: not solid ground to act on
    assert (
        action.requirements[0]
        .gaps[0]
        .startswith("at risk: no longer meets confirmed: needs 1 more independent supporting source")
    )

    # Running the assessment again changes nothing and writes nothing.
    count = event_count(demo)
    services.assess_claims(demo, system_identity(), ["dual-use-supply"])
    assert event_count(demo) == count

    services.add_evidence(
        demo, as_user(demo, "alice"), "dual-use-supply", "reuters", "supports", credibility=2, summary="new"
    )
    (outcome,) = services.assess_claims(demo, system_identity(), ["dual-use-supply"])
    assert (outcome.stage, outcome.at_risk) == (Stage.CONFIRMED, False)
    assert [e["kind"] for e in events_after(demo, count)][-2:] == ["claim.at_risk_cleared", "task.closed"]


def test_a_pending_review_is_withdrawn_when_its_criteria_no_longer_hold(three_lines: Runtime):
    rt = three_lines
    services.advance(rt, as_user(rt, "alice"), "strong", CO)
    review = services.advance(rt, as_user(rt, "alice"), "strong", CF).review_id
    osint = evidence_of(rt, "strong", "osint")
    services.retract_evidence(rt, as_user(rt, "alice"), osint["id"], "fabricated")
    count = event_count(rt)
    services.assess_claims(rt, system_identity(), ["strong"])
    (withdrawn,) = events_after(rt, count)
    assert (withdrawn["kind"], withdrawn["payload"]["review"]) == ("review.withdrawn", review)
    assert "(has 2 of 3)" in withdrawn["rationale"]
    with pytest.raises(ConcurrencyConflict, match="already withdrawn"):
        services.approve(rt, as_user(rt, "bob"), review)
    assert services.claim_detail(rt, "strong")["stage"] == "corroborated"


def test_demoting_by_hand_withdraws_the_pending_review_in_the_same_transaction(three_lines: Runtime):
    rt = three_lines
    services.advance(rt, as_user(rt, "alice"), "strong", CO)
    review = services.advance(rt, as_user(rt, "alice"), "strong", CF).review_id
    for source in ("afp", "osint"):
        services.retract_evidence(
            rt, as_user(rt, "alice"), evidence_of(rt, "strong", source)["id"], "withdrawn by the outlet"
        )
    count = event_count(rt)
    services.advance(rt, as_user(rt, "alice"), "strong", R, reason="lost two lines")
    kinds = [e["kind"] for e in events_after(rt, count)]
    assert kinds == ["review.withdrawn", "claim.stage_changed"]
    assert [r["status"] for r in services.review_queue(rt, None) if r["id"] == review] == ["withdrawn"]
    assert services.review_queue(rt) == []


def test_an_unknown_review_status_is_refused(demo: Runtime):
    with pytest.raises(InvalidInput, match="status: 'bogus'"):
        services.review_queue(demo, "bogus")
