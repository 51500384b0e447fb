"""The manager's sentences, straight from readiness results (pure functions, no Streamlit)."""

from __future__ import annotations

from claims.domain.readiness import ActionReadiness, RequirementStatus
from claims.domain.stages import Stage
from dashboard import summary

NEED = "needs 1 more independent supporting source graded C3 or better"
SIGN = "needs a review request and sign-off by a reviewer other than the requester"


def req(claim: str, *gaps: str, met: bool = False) -> RequirementStatus:
    return RequirementStatus(claim, Stage.CONFIRMED, Stage.CORROBORATED, met, tuple(gaps))


def test_a_claim_blocking_three_actions_is_said_once() -> None:
    actions = [
        ActionReadiness("a1", "One", False, (req("factory", NEED, SIGN), req("other", "must be corroborated first"))),
        ActionReadiness("a2", "Two", False, (req("factory", NEED, SIGN),)),
        ActionReadiness("a3", "Three", False, (req("factory", NEED, SIGN),)),
        ActionReadiness("a4", "Four", True, (req("factory", met=True),)),
    ]
    (first, second) = summary.gaps_by_claim(actions)
    assert first.sentence == f"factory blocks 3 actions: {NEED}, then sign-off"
    assert second.sentence == "other blocks 1 action: must be corroborated first"
    assert [a.key for a in summary.ordered(actions)] == ["a2", "a3", "a1", "a4"]  # not ready, fewest blockers first
    assert summary.shortest_gap(actions[0]) == "other: must be corroborated first"  # one gap, no sign-off yet
    assert summary.shortest_gap(actions[1]) == f"factory: {NEED}, then sign-off"


def test_waiting_only_for_a_reviewer_keeps_the_services_words() -> None:
    assert summary.phrase(("awaiting sign-off by a reviewer other than system",)) == (
        "awaiting sign-off by a reviewer other than system"
    )
    assert summary.shortest_gap(ActionReadiness("a", "A", True, (req("x", met=True),))) == ""
