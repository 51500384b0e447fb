"""Four-eyes review: the queue, approve, reject."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from claims import services
from claims.api.deps import Id, Rt, Who
from claims.api.routers.errors import PROBLEMS
from claims.api.schemas import DecisionIn, DecisionOut, RejectIn, ReviewPage
from claims.services.identity import check_permission

router = APIRouter(tags=["reviews"], responses=PROBLEMS)


@router.get("/reviews", response_model=ReviewPage)
def list_reviews(
    rt: Rt,
    who: Who,
    status: str = "pending",
    case: str | None = None,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict[str, Any]:
    """Review requests by impact, each with the assessment of its target stage (as `claims review list --json`)."""
    check_permission(rt, who, "read")
    page = services.review_page(
        rt, None if status == "all" else status, case=case, action=action, limit=limit, offset=offset, who=who
    )
    return {"total": page.total, "offset": page.offset, "items": page.items}


def _decision(d: services.Decision) -> dict[str, Any]:
    return {"review": d.review_id, "claim": d.claim, "status": d.status, "stage": d.stage.value}


@router.post("/reviews/{review_id}/approve", response_model=DecisionOut)
def approve(review_id: Id, body: DecisionIn, rt: Rt, who: Who) -> dict[str, Any]:
    """Approve a request (a reviewer other than the requester); the claim moves if the criteria still hold."""
    return _decision(services.approve(rt, who, review_id, body.rationale))


@router.post("/reviews/{review_id}/reject", response_model=DecisionOut)
def reject(review_id: Id, body: RejectIn, rt: Rt, who: Who) -> dict[str, Any]:
    """Reject a request; the claim stays where it is."""
    return _decision(services.reject(rt, who, review_id, body.rationale))
