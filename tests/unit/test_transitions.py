"""The one rule every stage change goes through: stage table, criteria, four eyes, reopen."""

from __future__ import annotations

import itertools

import pytest

from claims.domain import IllegalTransition, RuleViolation, Stage, TransitionKind
from claims.domain.transitions import TransitionRequest, Via, check_four_eyes, decide_transition

R, CO, CF, RF = Stage.REPORTED, Stage.CORROBORATED, Stage.CONFIRMED, Stage.REFUTED


def req(frm: Stage, to: Stage, via: Via = Via.IMPORT, **kw: object) -> TransitionRequest:
    kw.setdefault("requested_by", "alice")
    return TransitionRequest(claim="factory", from_stage=frm, to_stage=to, via=via, **kw)  # type: ignore[arg-type]


# --- four eyes -------------------------------------------------------------------------------


@pytest.mark.parametrize("via", [Via.REVIEW, Via.IMPORT])
@pytest.mark.parametrize(("frm", "to"), [(CO, CF), (R, RF), (CO, RF)])
def test_confirm_or_refute_by_a_second_person_is_applied(via: Via, frm: Stage, to: Stage):
    decision = decide_transition(req(frm, to, via, approved_by="bob", criteria_met=True))
    assert (decision.kind, decision.apply) == (TransitionKind.SIGN_OFF, True)


@pytest.mark.parametrize("via", [Via.REVIEW, Via.IMPORT])
@pytest.mark.parametrize("approver", ["alice", " alice ", None])
@pytest.mark.parametrize(("frm", "to"), [(CO, CF), (R, RF), (CO, RF)])
def test_confirm_or_refute_without_a_second_person_is_refused(via: Via, approver: str | None, frm: Stage, to: Stage):
    with pytest.raises(RuleViolation, match="four eyes"):
        decide_transition(req(frm, to, via, approved_by=approver, criteria_met=True))


@pytest.mark.parametrize("via", [Via.ADVANCE, Via.ASSESSMENT])
def test_asking_for_a_confirmation_opens_a_review_instead_of_moving(via: Via):
    decision = decide_transition(req(CO, CF, via, criteria_met=True))
    assert (decision.kind, decision.apply) == (TransitionKind.SIGN_OFF, False)


def test_four_eyes_names_the_review_and_the_reviewer():
    with pytest.raises(
        RuleViolation, match=r"reviewer: 'bob' requested review #7 and cannot also decide it \(four eyes\)"
    ):
        check_four_eyes("bob", "bob", 7)
    check_four_eyes("bob", "carol", 7)


# --- criteria --------------------------------------------------------------------------------


def test_approval_when_the_criteria_no_longer_hold_is_refused_naming_the_gap():
    gap = "a contradicting C3 item from china-mfa is unresolved"
    with pytest.raises(RuleViolation, match=f"review: #3 can no longer be approved, 'factory' misses confirmed.*{gap}"):
        decide_transition(req(CO, CF, Via.REVIEW, approved_by="bob", criteria_met=False, gaps=(gap,), review_id=3))


@pytest.mark.parametrize("via", [Via.ADVANCE, Via.ASSESSMENT])
def test_an_automatic_move_needs_its_criteria(via: Via):
    assert decide_transition(req(R, CO, via, criteria_met=True)).apply
    with pytest.raises(RuleViolation, match="does not meet corroborated under policy v1: needs more"):
        decide_transition(req(R, CO, via, criteria_met=False, gaps=("needs more",), policy_version="v1"))
    with pytest.raises(RuleViolation, match="still meets corroborated"):
        decide_transition(req(CO, R, via, criteria_met=False))


def test_history_is_not_judged_against_todays_evidence():
    assert decide_transition(req(R, CO, Via.IMPORT, criteria_met=None)).apply


# --- the stage table and reopen -----------------------------------------------------------------


@pytest.mark.parametrize("via", list(Via))
@pytest.mark.parametrize(("frm", "to"), [(R, CF), (RF, CF), (CF, RF), (R, R), (CF, CF)])
def test_pairs_outside_the_table_are_illegal_whoever_asks(via: Via, frm: Stage, to: Stage):
    with pytest.raises(IllegalTransition, match=f"stage: {frm} -> {to} is not allowed"):
        decide_transition(req(frm, to, via, approved_by="bob", criteria_met=True, rationale="why"))


@pytest.mark.parametrize(("frm", "to"), list(itertools.product((CF, RF), (CO, R))))
def test_leaving_a_final_stage_is_only_a_reopen_with_a_rationale(frm: Stage, to: Stage):
    assert decide_transition(req(frm, to, Via.REOPEN, rationale="forged documents")).kind is TransitionKind.REOPEN
    with pytest.raises(RuleViolation, match="needs a rationale"):
        decide_transition(req(frm, to, Via.REOPEN, rationale="  "))
    for via in (Via.ADVANCE, Via.ASSESSMENT, Via.REVIEW):
        with pytest.raises(RuleViolation, match="is a reopen"):
            decide_transition(req(frm, to, via, approved_by="bob", criteria_met=True, rationale="x"))


def test_reopen_refuses_a_claim_that_is_not_final():
    with pytest.raises(RuleViolation, match="not a reopen"):
        decide_transition(req(CO, R, Via.REOPEN, rationale="x"))


def test_a_review_cannot_apply_an_automatic_move():
    with pytest.raises(RuleViolation, match="automatic"):
        decide_transition(req(R, CO, Via.REVIEW, approved_by="bob", criteria_met=True))
