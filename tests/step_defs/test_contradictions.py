"""Scenarios of tests/features/contradictions.feature (shared steps in conftest.py)."""

from pytest_bdd import parsers, scenarios, then

from claims import services
from claims.services import Runtime

scenarios("contradictions.feature")


def _pending(rt: Runtime, claim: str) -> list[dict]:
    return [r for r in services.review_queue(rt) if r["claim"] == claim]


@then(parsers.parse('"{claim}" has no pending review'))
def no_pending_review(rt: Runtime, claim: str) -> None:
    assert _pending(rt, claim) == []


@then(parsers.parse('"{claim}" has a pending review to {stage:w}'))
def pending_review_to(rt: Runtime, claim: str, stage: str) -> None:
    assert [r["to"] for r in _pending(rt, claim)] == [stage]
