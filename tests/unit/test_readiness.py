"""Policy-action readiness: stage requirements, refuted blocking, gaps."""

from __future__ import annotations

from claims.domain import (
    ClaimFacts,
    EvidenceFacts,
    Grade,
    Requirement,
    Stage,
    Stance,
    assess,
    default_policy,
)
from claims.domain.readiness import readiness

POLICY = default_policy()
R, CO, CF, RF = Stage.REPORTED, Stage.CORROBORATED, Stage.CONFIRMED, Stage.REFUTED


def supports(source: str, grade: str, *, retracted: bool = False) -> EvidenceFacts:
    return EvidenceFacts(source, source, Stance.SUPPORTS, Grade.parse(grade), retracted=retracted)


THREE = (supports("a", "B2"), supports("b", "C3"), supports("c", "C3"))
TWO = THREE[:2]


def assessed(key: str, stage: Stage, *evidence: EvidenceFacts):
    return key, assess(ClaimFacts(key, stage, tuple(evidence)), POLICY)


def check(requirements: list[tuple[str, Stage]], *claims):
    return readiness("act", "An action", [Requirement(c, s) for c, s in requirements], dict(claims))


def test_confirmed_satisfies_a_corroborated_requirement():
    action = check([("k", CO)], assessed("k", CF, *THREE))
    assert action.ready
    (req,) = action.requirements
    assert (req.met, req.stage, req.required_stage, req.gaps) == (True, CF, CO, ())


def test_corroborated_does_not_satisfy_confirmed_and_the_gaps_say_why():
    action = check([("k", CF)], assessed("k", CO, *TWO))
    assert not action.ready
    assert action.requirements[0].gaps == (
        "needs 1 more independent supporting source graded C3 or better (has 2 of 3)",
        "needs a review request and sign-off by a reviewer other than the requester",
    )


def test_reported_claim_needing_confirmation_must_be_corroborated_first():
    action = check([("k", CF)], assessed("k", R, supports("a", "C3")))
    gaps = action.requirements[0].gaps
    assert gaps[0] == "must be corroborated first"
    assert "needs 2 more independent supporting sources graded C3 or better (has 1 of 3)" in gaps


def test_a_refuted_claim_blocks_an_action_needing_it_confirmed():
    action = check([("k", CF)], assessed("k", RF))
    assert not action.ready
    assert not action.requirements[0].met
    assert "refuted" in action.requirements[0].gaps[0]


def test_refuted_satisfies_only_a_refuted_requirement():
    against = tuple(EvidenceFacts(s, s, Stance.CONTRADICTS, Grade.parse(g)) for s, g in (("x", "B2"), ("y", "C3")))
    assert check([("k", RF)], assessed("k", RF, *against)).ready
    assert not check([("k", RF)], assessed("k", RF)).ready  # refuted on paper, nothing against it: at risk
    assert not check([("k", R)], assessed("k", RF)).ready
    assert not check([("k", CO)], assessed("k", RF)).ready


def test_a_confirmed_claim_cannot_satisfy_a_refuted_requirement_without_a_reopen():
    action = check([("k", RF)], assessed("k", CF, *THREE))
    assert not action.ready
    assert "reopen" in action.requirements[0].gaps[0]


def test_ready_only_when_every_requirement_is_met():
    claims = (assessed("done", CF, *THREE), assessed("open", CO, *TWO))
    assert not check([("done", CO), ("open", CF)], *claims).ready
    assert check([("done", CO), ("open", CO)], *claims).ready


def test_every_unmet_requirement_states_at_least_one_gap():
    claims = (assessed("r", R), assessed("co", CO, *TWO), assessed("rf", RF), assessed("cf", CF, *THREE))
    for claim, _ in claims:
        for stage in Stage:
            for req in check([(claim, stage)], *claims).requirements:
                assert req.met or req.gaps, (claim, stage)


def test_an_unknown_claim_is_unmet_and_named():
    action = check([("ghost", CO)])
    assert not action.ready
    assert action.requirements[0].stage is None
    assert "'ghost'" in action.requirements[0].gaps[0]


def test_an_action_without_requirements_is_not_ready():
    assert not check([]).ready


def test_an_at_risk_confirmed_claim_does_not_make_its_action_ready():
    """Readiness only on solid ground: confirmed on paper but no longer meeting it is a gap, with the reason."""
    action = check([("k", CF)], assessed("k", CF, *THREE[:2], supports("c", "C3", retracted=True)))
    assert not action.ready
    assert not action.requirements[0].met
    assert action.requirements[0].gaps == (
        "at risk: no longer meets confirmed: needs 1 more independent supporting source graded C3 or better "
        "(has 2 of 3)",
    )


def test_an_at_risk_claim_blocks_a_lower_requirement_too():
    action = check([("k", CO)], assessed("k", CF, *THREE[:2], supports("c", "C3", retracted=True)))
    assert not action.ready
