"""Use cases: approve or reject a review request (four eyes), and reopen a final claim."""

from __future__ import annotations

from dataclasses import dataclass

from claims.domain.assessment import assess
from claims.domain.events import EventKind
from claims.domain.stages import ReviewStatus, Stage
from claims.domain.transitions import Via, check_four_eyes
from claims.services.access import authorize_case
from claims.services.errors import AlreadyDone, InvalidInput, NotFound, PermissionDenied, refuse_nul
from claims.services.facts import load_facts
from claims.services.identity import Identity, redeem_signoff_code
from claims.services.loading import load_claim, load_claim_as
from claims.services.runtime import Runtime, authorize
from claims.services.tasks import replan_claims
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


def _pending_as(uow: UnitOfWork, rt: Runtime, who: Identity, review_id: int) -> ReviewRequest:
    """The pending review for a decision by `actor` with their role on its case (issue 20): a review on a
    case they do not read is NotFound, as an unknown id, before anything else is said about it."""
    authorize(uow, who, "read")  # a known, signed-in user; the role that counts is the one on the case
    review = uow.reviews.get(review_id)
    unknown = f"review: unknown review #{review_id}"
    if review is None:
        raise NotFound(unknown)
    authorize_case(uow, who, "approve", review.claim.case, rt.markings, unknown=unknown)
    return _pending(uow, review_id)


def approve(rt: Runtime, who: Identity, review_id: int, rationale: str | None = None) -> Decision:
    """Apply a confirm/refute if a second person approves and the criteria still hold."""
    with rt.uow() as uow:
        decision = _approve(uow, rt, who, review_id, rationale)
        uow.commit()
        return decision


def _approve(uow: UnitOfWork, rt: Runtime, who: Identity, review_id: int, rationale: str | None) -> Decision:
    """The approval inside the caller's unit of work (the code path spends its code in the same one)."""
    refuse_nul("rationale", rationale)
    review = _pending_as(uow, rt, who, review_id)
    actor = who.name
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
    replan_claims(uow, rt.policy, [claim.key], actor)  # a sign-off met: its task closes now (issue 18)
    return Decision(review.id, claim.key, review.status, Stage(claim.stage))


def reject(rt: Runtime, who: Identity, review_id: int, rationale: str) -> Decision:
    """Turn a request down; the claim stays where it is."""
    with rt.uow() as uow:
        decision = _reject(uow, rt, who, review_id, rationale)
        uow.commit()
        return decision


def _reject(uow: UnitOfWork, rt: Runtime, who: Identity, review_id: int, rationale: str | None) -> Decision:
    if not rationale or not rationale.strip():
        raise InvalidInput("rationale: rejecting a review needs a rationale")
    refuse_nul("rationale", rationale)
    review = _pending_as(uow, rt, who, review_id)
    actor = who.name
    check_four_eyes(review.requested_by, actor, review.id)
    decide(uow, review, ReviewStatus.REJECTED, actor=actor, rationale=rationale, policy_version=rt.policy.version)
    return Decision(review.id, review.claim.key, review.status, Stage(review.claim.stage))


def decide_with_code(
    rt: Runtime, review_id: int, code: str, decision: str, rationale: str | None = None
) -> tuple[str, Decision]:
    """A decision from a form nobody signed in to (the Prefect UI): the one-time code proves who decides.

    The code is spent in the same transaction as the decision; a refused code is audited. Returns
    (who the code proved, the decision).
    """
    if decision not in ("approve", "reject"):
        raise InvalidInput(f"decision: {decision!r} is not approve or reject")
    try:
        with rt.uow() as uow:
            who = redeem_signoff_code(uow, review_id, code)
            apply = _approve if decision == "approve" else _reject
            result = apply(uow, rt, who, review_id, rationale)
            uow.commit()
            return who.name, result
    except PermissionDenied as exc:
        with rt.uow() as uow:
            uow.record(
                EventKind.SIGNOFF_CODE_REFUSED, actor="anonymous", payload={"review": review_id, "reason": str(exc)}
            )
            uow.commit()
        raise


def reopen(
    rt: Runtime, who: Identity, key: str, to: Stage, rationale: str, *, expect_version: int | None = None
) -> Decision:
    """The only way out of confirmed/refuted: an explicit, audited human decision."""
    actor = who.name
    if not rationale or not rationale.strip():
        raise InvalidInput("rationale: a reopen needs a rationale")
    refuse_nul("rationale", rationale)
    with rt.uow() as uow:
        claim = load_claim_as(uow, who, key, "reopen", rt.markings, expect_version=expect_version)
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
