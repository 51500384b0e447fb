"""The single places a claim changes stage and a review is decided, so each writes the same audit event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm.attributes import flag_modified

from claims.domain import changes
from claims.domain.changes import Change
from claims.domain.errors import RuleViolation
from claims.domain.stages import ReviewStatus, Stage
from claims.domain.transitions import TransitionRequest, Via, decide_transition
from claims.store import clock
from claims.store.models import Claim, ReviewRequest
from claims.store.uow import UnitOfWork


def now() -> datetime:
    """The running write transaction's clock reading (the database server's on PostgreSQL), else this
    computer's; whole seconds. Security decisions read the server's clock themselves (`UnitOfWork.clock`)."""
    return clock.now()


def touch(claim: Claim) -> None:
    """Mark the claim aggregate changed: a new `updated_at` and, always, a new version.

    `updated_at` has whole seconds, so two changes within one second would leave it equal and
    SQLAlchemy would skip the UPDATE - and with it the version bump that optimistic
    concurrency relies on. Flagging the attribute forces the UPDATE.
    """
    claim.updated_at = now()
    flag_modified(claim, "updated_at")


def move(
    uow: UnitOfWork,
    claim: Claim,
    to: Stage,
    *,
    actor: str,
    via: Via,
    policy_version: str | None,
    criteria_met: bool | None,
    gaps: tuple[str, ...] = (),
    rationale: str | None = None,
    requested_by: str | None = None,
    approved_by: str | None = None,
    review_id: int | None = None,
    at: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Set the stage and its timestamp, clear at-risk, and record `claim.stage_changed`.

    Every stage change of one claim at a time passes here (a batch of the assessment asks the same
    `decide_transition` in `_check_move` and writes the same `changes.stage_changed`; an import's rows
    ask `stage_change` below): a move the rule refuses (or allows only after a sign-off nobody gave)
    raises and changes nothing.
    """
    change = stage_change(
        claim.case.key, claim.key, claim.stage, to, actor=actor, via=via, policy_version=policy_version,
        criteria_met=criteria_met, gaps=gaps, rationale=rationale, requested_by=requested_by,
        approved_by=approved_by, review_id=review_id, at=at, extra=extra,
    )  # fmt: skip
    claim.stage = to.value
    setattr(claim, f"{to.value}_at", at or now())
    claim.at_risk = False
    touch(claim)
    # The event's time is the transaction's clock (the database server's on PostgreSQL), as is the stage
    # timestamp's; a move replayed from a case file keeps its historical time in the payload.
    uow.record_change(change, actor=actor)


def stage_change(
    case_key: str,
    claim_key: str,
    from_stage: str,
    to: Stage,
    *,
    actor: str,
    via: Via,
    policy_version: str | None,
    criteria_met: bool | None,
    gaps: tuple[str, ...] = (),
    rationale: str | None = None,
    requested_by: str | None = None,
    approved_by: str | None = None,
    review_id: int | None = None,
    at: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> Change:
    """The `claim.stage_changed` the transition rule allows, or the rule's refusal (raised).

    `move` applies it to a loaded claim; an import's rows (claims.services.import_rows) carry it
    to the claim's row and the bulk writer, so both ask the rule the same question.
    """
    decision = decide_transition(
        TransitionRequest(
            claim=claim_key,
            from_stage=Stage(from_stage),
            to_stage=to,
            via=via,
            requested_by=requested_by or actor,
            approved_by=approved_by,
            criteria_met=criteria_met,
            gaps=gaps,
            rationale=rationale,
            policy_version=policy_version,
            review_id=review_id,
        )
    )
    if not decision.apply:
        raise RuleViolation(f"stage: {from_stage} -> {to} of {claim_key!r} needs a reviewer's sign-off first")
    return changes.stage_changed(
        case_key,
        claim_key,
        from_stage,
        to,
        via=via,
        by=requested_by or actor,
        rationale=rationale,
        policy=policy_version,
        approved_by=approved_by,
        at=at,
        extra=extra,
    )


def decide(
    uow: UnitOfWork,
    review: ReviewRequest,
    status: ReviewStatus,
    *,
    actor: str,
    rationale: str | None,
    policy_version: str,
) -> None:
    """Close a review request (approved, rejected, withdrawn) and record `review.<status>`."""
    review.status, review.decided_by, review.decided_at, review.rationale = status.value, actor, now(), rationale
    claim = review.claim
    touch(claim)
    change = changes.review_decided(
        claim.case.key,
        claim.key,
        status,
        review.from_stage,
        review.to_stage,
        review=review.id,
        rationale=rationale,
        policy=policy_version,
    )
    uow.record_change(change, actor=actor)
