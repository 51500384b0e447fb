"""Use cases: approve or reject a review request (four eyes), and reopen a final claim."""

from __future__ import annotations

from dataclasses import dataclass

from claims.domain.assessment import assess
from claims.domain.stages import ReviewStatus, Stage
from claims.domain.transitions import Via, check_four_eyes
from claims.services.errors import AlreadyDone, InvalidInput, NotFound
from claims.services.facts import load_facts
from claims.services.loading import load_claim
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import decide, move
from claims.store.models import ReviewRequest
from claims.store.uow import UnitOfWork


@dataclass(frozen=True)
class Decision:
    review_id: int
    claim: str
    status: str
    stage: Stage


def _pending(uow: UnitOfWork, review_id: int) -> ReviewRequest:
    review = uow.reviews.get(review_id)
    if review is None:
        raise NotFound(f"review: unknown review #{review_id}")
    if review.status != ReviewStatus.PENDING:
        # Decided since the caller saw it pending: the loser of a race is told so (exit 5).
        raise AlreadyDone(f"review: #{review_id} is already {review.status} (by {review.decided_by})")
    return review


def approve(rt: Runtime, actor: str, review_id: int, rationale: str | None = None) -> Decision:
    """Apply a confirm/refute if a second person approves and the criteria still hold."""
    with rt.uow() as uow:
        authorize(uow, actor, "approve")
        review = _pending(uow, review_id)
        check_four_eyes(review.requested_by, actor, review.id)
        claim = load_claim(uow, review.claim.key)
        to = Stage(review.to_stage)
        target = assess(load_facts(uow, [claim])[claim.key], rt.policy).for_stage(to)
        decide(uow, review, ReviewStatus.APPROVED, actor=actor, rationale=rationale, policy_version=rt.policy.version)
        # The move asks decide_transition: criteria (re-measured now, not when requested) and four eyes;
        # if it refuses, the decision above rolls back with it.
        move(
            uow,
            claim,
            to,
            actor=actor,
            via=Via.REVIEW,
            policy_version=rt.policy.version,
            criteria_met=target.evidence_met,
            gaps=tuple(target.evidence_gaps),
            rationale=rationale,
            requested_by=review.requested_by,
            approved_by=actor,
            review_id=review.id,
            extra={"review": review.id},
        )
        uow.commit()
        return Decision(review.id, claim.key, review.status, Stage(claim.stage))


def reject(rt: Runtime, actor: str, review_id: int, rationale: str) -> Decision:
    """Turn a request down; the claim stays where it is."""
    if not rationale or not rationale.strip():
        raise InvalidInput("rationale: rejecting a review needs a rationale")
    with rt.uow() as uow:
        authorize(uow, actor, "approve")
        review = _pending(uow, review_id)
        check_four_eyes(review.requested_by, actor, review.id)
        decide(uow, review, ReviewStatus.REJECTED, actor=actor, rationale=rationale, policy_version=rt.policy.version)
        uow.commit()
        return Decision(review.id, review.claim.key, review.status, Stage(review.claim.stage))


def reopen(
    rt: Runtime, actor: str, key: str, to: Stage, rationale: str, *, expect_version: int | None = None
) -> Decision:
    """The only way out of confirmed/refuted: an explicit, audited human decision."""
    if not rationale or not rationale.strip():
        raise InvalidInput("rationale: a reopen needs a rationale")
    with rt.uow() as uow:
        authorize(uow, actor, "reopen")
        claim = load_claim(uow, key, expect_version=expect_version)
        move(
            uow,
            claim,
            to,
            actor=actor,
            via=Via.REOPEN,
            policy_version=rt.policy.version,
            criteria_met=None,  # a reopen is a human judgement; the evidence is not what decides it
            rationale=rationale,
        )
        uow.commit()
        return Decision(0, key, "reopened", to)
