"""plan(): the ordered steps one assessment run takes on a claim (the batch service only persists them)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from claims.domain import ClaimFacts, EvidenceFacts, Grade, Stage, Stance, assess, default_policy
from claims.domain.assessment import FlagAtRisk, Move, PendingReview, Request, Withdraw, _plan, plan

POLICY = default_policy()
R, CO, CF, RF = Stage.REPORTED, Stage.CORROBORATED, Stage.CONFIRMED, Stage.REFUTED


def ev(source: str, grade: str, stance: str = "supports", *, retracted: bool = False) -> EvidenceFacts:
    return EvidenceFacts(
        source=source, root=source, stance=Stance(stance), grade=Grade.parse(grade), retracted=retracted
    )


def facts(stage: Stage, *evidence: EvidenceFacts, pending: PendingReview | None = None) -> ClaimFacts:
    return ClaimFacts(key="claim", stage=stage, evidence=tuple(evidence), pending_review=pending)


def test_nothing_due_plans_nothing():
    assert plan(facts(R, ev("a", "B2")), POLICY) == ()


def test_a_move_is_followed_by_the_request_it_makes_due_in_the_same_run():
    steps = plan(facts(R, ev("a", "B2"), ev("b", "C3"), ev("c", "C3")), POLICY)
    assert steps == (
        Move(R, CO, "corroboration criteria hold"),
        Request(CO, CF, "confirmation criteria hold"),
    )


def test_refutation_is_requested_from_reported_without_a_move():
    steps = plan(facts(R, ev("a", "B2", "contradicts"), ev("b", "C3", "contradicts")), POLICY)
    assert steps == (Request(R, RF, "refutation criteria hold"),)


def test_a_lapsed_request_is_withdrawn_with_its_gaps_then_the_claim_is_judged_again():
    pending = PendingReview(CF, "alice")
    steps = plan(facts(CO, ev("a", "B2"), ev("b", "C3"), pending=pending), POLICY)
    assert steps == (Withdraw(CF, ("needs 1 more independent supporting source graded C3 or better (has 2 of 3)",)),)


def test_a_corroborated_claim_that_lost_a_line_is_demoted():
    steps = plan(facts(CO, ev("a", "B2"), ev("b", "C3", retracted=True)), POLICY)
    assert [type(s) for s in steps] == [Move]
    assert steps[0].to is R and steps[0].reason.startswith("no longer corroborated: needs 1 more")


def test_a_confirmed_claim_is_flagged_never_demoted_and_cleared_once_it_holds_again():
    lapsed = plan(facts(CF, ev("a", "B2")), POLICY)
    assert len(lapsed) == 1 and isinstance(lapsed[0], FlagAtRisk) and lapsed[0].at_risk
    assert lapsed[0].gaps and lapsed[0].reason.startswith("no longer meets confirmed")
    holds = (ev("a", "B2"), ev("b", "C3"), ev("c", "C3"))
    assert plan(facts(CF, *holds), POLICY, at_risk=True) == (FlagAtRisk(False, "meets confirmed again", ()),)
    assert plan(facts(CF, *holds), POLICY, at_risk=False) == ()


def test_shared_results_do_not_leak_between_claims():
    """Criterion results are memoised by their counts; the sign-off gap still names each claim's requester."""
    evidence = (ev("a", "B2"), ev("b", "C3"), ev("c", "C3"))
    for who in ("alice", "bob"):
        result = assess(facts(CO, *evidence, pending=PendingReview(CF, who)), POLICY)
        assert result.for_stage(CF).gaps == [f"awaiting sign-off by a reviewer other than {who}"]


grades = st.sampled_from([f"{r}{c}" for r in "ABCDEF" for c in range(1, 7)])
items = st.lists(
    st.tuples(st.sampled_from("abcde"), grades, st.sampled_from(["supports", "contradicts"]), st.booleans()),
    max_size=8,
)


def _naive_lines(evidence: tuple[EvidenceFacts, ...], stance: Stance, grade: str) -> int:
    threshold = Grade.parse(grade)
    return len({e.root for e in evidence if not e.retracted and e.stance is stance and e.grade.at_least(threshold)})


@settings(max_examples=300, deadline=None)
@given(items, st.sampled_from([R, CO, CF, RF]))
def test_counts_agree_with_a_plain_recount(raw, stage):
    """Every line count the (memoised) evaluators report equals a recount from scratch."""
    evidence = tuple(ev(s, g, stance, retracted=r) for s, g, stance, r in raw)
    result = assess(facts(stage, *evidence), POLICY)
    sup_c3 = _naive_lines(evidence, Stance.SUPPORTS, "C3")
    con_c3 = _naive_lines(evidence, Stance.CONTRADICTS, "C3")
    assert result.for_stage(CO).criteria[0].have == sup_c3
    assert result.for_stage(CO).criteria[0].met == (sup_c3 >= 2)
    outweighs = next(c for c in result.for_stage(RF).criteria if c.criterion.startswith("more independent"))
    assert (outweighs.have, outweighs.need) == (con_c3, sup_c3 + 1)
    assert outweighs.met == (con_c3 > sup_c3)


pending_reviews = st.one_of(
    st.none(), st.builds(PendingReview, st.sampled_from([CF, RF]), st.sampled_from(["al", "bo"]))
)


@settings(max_examples=400, deadline=None)
@given(items, st.sampled_from([R, CO, CF, RF]), pending_reviews, st.booleans())
def test_memoised_plans_equal_plans_worked_out_afresh(raw, stage, pending, at_risk):
    """plan() memoises on what the criteria read; a plan from the memo is the one worked out from scratch."""
    evidence = tuple(ev(s, g, stance, retracted=r) for s, g, stance, r in raw)
    claim = facts(stage, *evidence, pending=pending)
    plan(claim, POLICY, at_risk=at_risk)  # fills the memo, if no claim alike did already
    assert plan(claim, POLICY, at_risk=at_risk) == _plan(claim, POLICY, at_risk, {})


def test_claims_alike_but_for_their_blocking_sources_get_their_own_gaps():
    """Line counts equal, blocking items differ: the at-risk flag names each claim's own sources."""
    support = (ev("a", "B2"), ev("b", "C3"), ev("c", "C3"))
    for source in ("x", "y"):
        steps = plan(facts(CF, *support, ev(source, "B2", "contradicts")), POLICY)
        assert isinstance(steps[0], FlagAtRisk)
        assert steps[0].gaps == (f"a contradicting B2 item from {source} is unresolved",)
