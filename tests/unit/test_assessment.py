"""assess(): every criterion of the v1 policy at its boundary, gaps in numbers, the next step."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claims.domain import ClaimFacts, EvidenceFacts, Grade, Stage, Stance, assess, default_policy
from claims.domain.assessment import PendingReview, StepKind

POLICY = default_policy()
R, CO, CF, RF = Stage.REPORTED, Stage.CORROBORATED, Stage.CONFIRMED, Stage.REFUTED


def ev(source: str, grade: str, stance: str = "supports", *, root: str | None = None, retracted: bool = False):
    return EvidenceFacts(
        source=source,
        root=root or source,
        stance=Stance(stance),
        grade=Grade.parse(grade),
        retracted=retracted,
        source_name=f"The {source}",
    )


def facts(stage: Stage, *evidence: EvidenceFacts, pending: PendingReview | None = None) -> ClaimFacts:
    return ClaimFacts(key="claim", stage=stage, evidence=tuple(evidence), pending_review=pending)


def criterion(stage_assessment, text: str):
    return next(c for c in stage_assessment.criteria if c.criterion.startswith(text))


# --- corroboration: >= 2 independent supporting lines graded C3 or better ------------------


def test_two_independent_lines_corroborate():
    result = assess(facts(R, ev("reuters", "B2"), ev("afp", "C3")), POLICY)
    assert result.for_stage(CO).met
    assert result.next_step.kind is StepKind.ADVANCE
    assert result.next_step.to is CO


def test_one_line_does_not_and_the_gap_says_how_many_are_missing():
    result = assess(facts(R, ev("reuters", "B2")), POLICY)
    corroborated = result.for_stage(CO)
    assert not corroborated.met
    assert corroborated.gaps == ["needs 1 more independent supporting source graded C3 or better (has 1 of 2)"]
    assert result.next_step.kind is StepKind.NONE


def test_no_line_at_all_asks_for_two_sources_in_the_plural():
    result = assess(facts(R), POLICY)
    assert result.for_stage(CO).gaps == ["needs 2 more independent supporting sources graded C3 or better (has 0 of 2)"]


def test_a_derived_source_is_not_counted_twice():
    # The diplomats repeat the EEAS: two items, one independent line.
    result = assess(facts(R, ev("eeas-intel", "B3"), ev("diplomats", "C2", root="eeas-intel")), POLICY)
    lines = criterion(result.for_stage(CO), ">= 2")
    assert (lines.have, lines.met) == (1, False)


def test_two_items_from_the_same_source_are_one_line():
    result = assess(facts(R, ev("reuters", "B2"), ev("reuters", "B3")), POLICY)
    assert criterion(result.for_stage(CO), ">= 2").have == 1


def test_a_retracted_item_is_not_counted():
    result = assess(facts(R, ev("reuters", "B2"), ev("afp", "C3", retracted=True)), POLICY)
    assert not result.for_stage(CO).met
    assert criterion(result.for_stage(CO), ">= 2").have == 1


@pytest.mark.parametrize("weak", ["F1", "A6", "C4", "D3", "F6"])
def test_evidence_below_c3_and_f_or_6_are_not_counted(weak: str):
    result = assess(facts(R, ev("reuters", "B2"), ev("other", weak)), POLICY)
    assert criterion(result.for_stage(CO), ">= 2").have == 1


def test_contradicting_items_do_not_count_as_support():
    result = assess(facts(R, ev("reuters", "B2"), ev("afp", "B2", "contradicts")), POLICY)
    assert criterion(result.for_stage(CO), ">= 2").have == 1


# --- confirmation ----------------------------------------------------------------------------


def three_lines() -> tuple[EvidenceFacts, ...]:
    return ev("reuters", "B2"), ev("afp", "C3"), ev("osint", "C3")


def test_confirmation_criteria_hold_but_a_reviewer_must_sign_off():
    result = assess(facts(CO, *three_lines()), POLICY)
    confirmed = result.for_stage(CF)
    assert confirmed.evidence_met
    assert not confirmed.met
    assert confirmed.evidence_gaps == []
    assert confirmed.gaps == ["needs a review request and sign-off by a reviewer other than the requester"]
    assert result.next_step.kind is StepKind.REQUEST_REVIEW
    assert result.next_step.to is CF


def test_two_lines_miss_confirmation_by_one():
    result = assess(facts(CO, ev("reuters", "B2"), ev("afp", "C3")), POLICY)
    assert result.for_stage(CF).evidence_gaps == [
        "needs 1 more independent supporting source graded C3 or better (has 2 of 3)"
    ]
    assert result.next_step.kind is StepKind.NONE


def test_confirmation_needs_a_b2_line():
    result = assess(facts(CO, ev("reuters", "C3"), ev("afp", "C3"), ev("osint", "C2")), POLICY)
    assert result.for_stage(CF).evidence_gaps == ["needs a supporting source graded B2 or better"]


def test_a_contradicting_c3_blocks_confirmation_and_names_the_source():
    result = assess(facts(CO, *three_lines(), ev("china-mfa", "C3", "contradicts")), POLICY)
    confirmed = result.for_stage(CF)
    assert not confirmed.evidence_met
    assert confirmed.evidence_gaps == ["a contradicting C3 item from The china-mfa is unresolved"]


@pytest.mark.parametrize("harmless", [ev("china-mfa", "C4", "contradicts"), ev("china-mfa", "D3", "contradicts")])
def test_a_contradicting_item_below_c3_does_not_block(harmless: EvidenceFacts):
    assert assess(facts(CO, *three_lines(), harmless), POLICY).for_stage(CF).evidence_met


def test_a_retracted_contradiction_does_not_block():
    denial = ev("china-mfa", "B2", "contradicts", retracted=True)
    assert assess(facts(CO, *three_lines(), denial), POLICY).for_stage(CF).evidence_met


def test_pending_review_names_the_requester():
    result = assess(facts(CO, *three_lines(), pending=PendingReview(CF, "alice")), POLICY)
    assert result.for_stage(CF).gaps == ["awaiting sign-off by a reviewer other than alice"]
    assert result.next_step.kind is StepKind.AWAITING_REVIEW
    assert result.next_step.to is CF


# --- refutation ------------------------------------------------------------------------------


def test_two_contradicting_lines_with_a_b2_refute():
    result = assess(facts(R, ev("a", "B2", "contradicts"), ev("b", "C3", "contradicts")), POLICY)
    assert result.for_stage(RF).evidence_met
    assert result.next_step.kind is StepKind.REQUEST_REVIEW
    assert result.next_step.to is RF


def test_a_tie_between_contradicting_and_supporting_lines_does_not_refute():
    evidence = (
        ev("a", "B2", "contradicts"),
        ev("b", "C3", "contradicts"),
        ev("c", "C3"),
        ev("d", "C3"),
    )
    refuted = assess(facts(CO, *evidence), POLICY).for_stage(RF)
    assert not refuted.evidence_met
    assert refuted.evidence_gaps == [
        "needs more independent contradicting lines than supporting ones graded C3 or better (has 2 vs 2)"
    ]


def test_one_more_contradicting_line_breaks_the_tie():
    evidence = (
        ev("a", "B2", "contradicts"),
        ev("b", "C3", "contradicts"),
        ev("e", "C3", "contradicts"),
        ev("c", "C3"),
        ev("d", "C3"),
    )
    assert assess(facts(CO, *evidence), POLICY).for_stage(RF).evidence_met


def test_refutation_needs_a_b2_line():
    result = assess(facts(R, ev("a", "C3", "contradicts"), ev("b", "C2", "contradicts")), POLICY)
    assert result.for_stage(RF).evidence_gaps == ["needs a contradicting source graded B2 or better"]


def test_derived_contradictions_count_once_for_refutation():
    result = assess(facts(R, ev("a", "B2", "contradicts"), ev("b", "B2", "contradicts", root="a")), POLICY)
    assert result.for_stage(RF).evidence_gaps == [
        "needs 1 more independent contradicting source graded C3 or better (has 1 of 2)"
    ]


# --- final stages are flagged, never demoted; corroborated is demoted --------------------------


def test_confirmed_claim_that_lost_evidence_is_at_risk_and_not_demoted():
    result = assess(facts(CF, ev("reuters", "B2"), ev("afp", "C3"), ev("osint", "C3", retracted=True)), POLICY)
    assert result.at_risk
    assert not result.holds
    assert result.next_step.kind is StepKind.AT_RISK
    assert result.next_step.to is None
    assert "(has 2 of 3)" in result.next_step.reason
    assert result.current_gaps == ["needs 1 more independent supporting source graded C3 or better (has 2 of 3)"]


def test_confirmed_claim_that_still_holds_needs_nothing():
    result = assess(facts(CF, *three_lines()), POLICY)
    assert (result.holds, result.at_risk, result.next_step.kind) == (True, False, StepKind.NONE)


def test_refuted_claim_that_lost_its_b2_line_is_at_risk():
    result = assess(facts(RF, ev("a", "B2", "contradicts", retracted=True), ev("b", "C3", "contradicts")), POLICY)
    assert result.at_risk
    assert result.next_step.kind is StepKind.AT_RISK


def test_corroborated_claim_that_lost_a_line_is_demoted():
    result = assess(facts(CO, ev("reuters", "B2"), ev("afp", "C3", retracted=True)), POLICY)
    assert not result.holds
    assert not result.at_risk
    assert result.next_step.kind is StepKind.DEMOTE
    assert result.next_step.to is R
    assert "(has 1 of 2)" in result.next_step.reason


def test_only_next_stages_are_reachable():
    reported = assess(facts(R), POLICY)
    assert {s for s, a in reported.stages.items() if a.reachable} == {CO, RF}
    corroborated = assess(facts(CO, ev("a", "B2"), ev("b", "C3")), POLICY)
    assert {s for s, a in corroborated.stages.items() if a.reachable} == {CF, RF}
    assert reported.policy_version == "v1"


# --- properties ------------------------------------------------------------------------------

GRADES = [f"{r}{c}" for r in "ABCDEF" for c in "123456"]
items = st.builds(
    ev,
    source=st.sampled_from(["a", "b", "c", "d", "e"]),
    grade=st.sampled_from(GRADES),
    stance=st.sampled_from(["supports", "contradicts"]),
    retracted=st.booleans(),
)
LINE_CRITERIA = [(CO, 0), (CF, 0), (CF, 1), (RF, 0), (RF, 1)]


def line_counts(f: ClaimFacts) -> list[int | None]:
    result = assess(f, POLICY)
    return [result.for_stage(stage).criteria[i].have for stage, i in LINE_CRITERIA]


@given(st.lists(items, max_size=8), st.data())
def test_evidence_from_a_source_derived_from_an_already_counted_root_never_changes_a_line_count(evidence, data):
    """An echo of a counted item (same root, same stance, qualifying nowhere the original does not)."""
    live = [e for e in evidence if not e.retracted]
    if not live:
        return
    counted = data.draw(st.sampled_from(live))
    # Wherever the echo would qualify (C3 or B2), the item it repeats already qualifies.
    thresholds = [Grade.parse("C3"), Grade.parse("B2")]
    worse = data.draw(
        st.sampled_from(
            [g for g in GRADES if all(counted.grade.at_least(t) or not Grade.parse(g).at_least(t) for t in thresholds)]
        )
    )
    echo = EvidenceFacts(
        source=f"echo-of-{counted.source}", root=counted.root, stance=counted.stance, grade=Grade.parse(worse)
    )
    before = facts(CO, *evidence)
    after = dataclasses.replace(before, evidence=(*before.evidence, echo))
    assert line_counts(after) == line_counts(before)


@given(st.lists(items, max_size=8), st.randoms())
def test_the_order_of_evidence_does_not_matter(evidence, rnd):
    shuffled = list(evidence)
    rnd.shuffle(shuffled)
    a, b = assess(facts(CO, *evidence), POLICY), assess(facts(CO, *shuffled), POLICY)
    assert line_counts(facts(CO, *evidence)) == line_counts(facts(CO, *shuffled))
    assert {s: x.evidence_met for s, x in a.stages.items()} == {s: x.evidence_met for s, x in b.stages.items()}
    assert a.next_step.kind is b.next_step.kind


@given(st.lists(items, min_size=1, max_size=8), st.data())
def test_retracting_an_item_never_adds_a_line(evidence, data):
    index = data.draw(st.integers(0, len(evidence) - 1))
    retracted = list(evidence)
    retracted[index] = dataclasses.replace(retracted[index], retracted=True)
    before, after = line_counts(facts(CO, *evidence)), line_counts(facts(CO, *retracted))
    assert all(a <= b for a, b in zip(after, before, strict=True))
