"""Read side for the sign-off flow: where one review request stands, so a waiting flow knows when to stop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from claims.domain.stages import ReviewStatus
from claims.services.errors import NotFound
from claims.services.runtime import Runtime
from claims.store.models import ReviewRequest


@dataclass(frozen=True)
class ReviewState:
    """One review request as stored: who asked for what, and whether someone already decided it."""

    id: int
    claim: str
    from_stage: str
    to_stage: str
    status: str
    requested_by: str
    requested_at: datetime
    reason: str | None
    decided_by: str | None
    rationale: str | None

    @property
    def pending(self) -> bool:
        return self.status == ReviewStatus.PENDING


def review_state(rt: Runtime, review_id: int) -> ReviewState:
    """The current state of review request `review_id` (NotFound if there is none)."""
    with rt.uow(write=False) as uow:
        review = uow.reviews.get(review_id)
        if review is None:
            raise NotFound(f"review: unknown review #{review_id}")
        return _state(review)


def pending_reviews(rt: Runtime) -> list[ReviewState]:
    """Every review request still waiting for a decision, oldest first."""
    with rt.uow(write=False) as uow:
        return [_state(r) for r in uow.reviews.list(ReviewStatus.PENDING)]


def _state(review: ReviewRequest) -> ReviewState:
    return ReviewState(
        id=review.id,
        claim=review.claim.key,
        from_stage=review.from_stage,
        to_stage=review.to_stage,
        status=review.status,
        requested_by=review.requested_by,
        requested_at=review.requested_at,
        reason=review.reason,
        decided_by=review.decided_by,
        rationale=review.rationale,
    )
