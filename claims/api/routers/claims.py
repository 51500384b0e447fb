"""Claims: list and show, readiness of the policy actions, evidence, stage requests."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query

from claims import services
from claims.api.deps import Id, Rt, Who
from claims.api.routers.errors import PROBLEMS
from claims.api.schemas import (
    ActionReadiness,
    AdvanceIn,
    AdvanceOut,
    ClaimPage,
    EvidenceIn,
    EvidenceOut,
    RetractIn,
)
from claims.domain.stages import Stage
from claims.services.identity import check_permission

router = APIRouter(tags=["claims"], responses=PROBLEMS)


@router.get("/claims", response_model=ClaimPage)
def list_claims(
    rt: Rt,
    who: Who,
    case: str | None = None,
    stage: str | None = None,
    source: str | None = None,
    grade: str | None = None,
    assignee: str | None = None,
    search: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict[str, Any]:
    """Claims with their stage, evidence counts and any pending review, a page at a time (as `claims list --json`)."""
    from claims.domain.grades import Grade
    from claims.services.access import reach
    from claims.store.queries import ClaimFilters, claim_page

    check_permission(rt, who, "read")
    filters = ClaimFilters(
        case=case,
        stages=[Stage.parse(stage).value] if stage else None,
        source=source,
        grade=str(Grade.parse(grade)) if grade else None,
        assignee=assignee,
        search=search,
        reach=reach(rt, who),
    )
    total, rows = claim_page(rt.database_url, filters, limit=limit, offset=offset)
    # values as `claims list --json` writes them (str() of dates), so both paths print the same rows
    return {"total": total, "offset": offset, "limit": limit, "claims": json.loads(json.dumps(list(rows), default=str))}


@router.get("/claims/{key}", response_model=dict[str, Any])
def show_claim(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    """A claim: stage, evidence with grades and lineage roots, assessment and history (as `claims show --json`)."""
    check_permission(rt, who, "read")
    return services.claim_detail(rt, key, who=who)


@router.get("/readiness", response_model=list[ActionReadiness])
def readiness(rt: Rt, who: Who, case: str | None = None) -> list[dict[str, Any]]:
    """Policy actions: ready or not, which claims gate each, and what would close the gap."""
    check_permission(rt, who, "read")
    return services.readiness_json(services.action_readiness(rt, case, who=who))


@router.post("/claims/{key}/evidence", response_model=EvidenceOut, status_code=201)
def add_evidence(key: str, body: EvidenceIn, rt: Rt, who: Who) -> dict[str, Any]:
    """Attach one graded evidence item to a claim."""
    added = services.add_evidence(
        rt,
        who,
        key,
        body.source,
        body.stance,
        credibility=body.credibility,
        grade=body.grade,
        summary=body.summary,
        locator=body.locator,
        observed_at=body.observed_at,
        quote=body.quote,
        marking=body.marking,
        caveat=body.caveat,
    )
    return {"id": added.id, "claim": added.claim, "grade": added.grade}


@router.post("/evidence/{evidence_id}/retract", response_model=EvidenceOut)
def retract_evidence(evidence_id: Id, body: RetractIn, rt: Rt, who: Who) -> dict[str, Any]:
    """Retract an evidence item; it stays on record but never counts again."""
    item = services.retract_evidence(rt, who, evidence_id, body.reason)
    return {"id": item.id, "claim": item.claim, "grade": item.grade}


@router.post("/claims/{key}/advance", response_model=AdvanceOut)
def advance(key: str, body: AdvanceIn, rt: Rt, who: Who) -> dict[str, Any]:
    """Request a transition: corroborate/demote apply now, confirm/refute open a review."""
    result = services.advance(rt, who, key, Stage.parse(body.to), expect_version=body.if_version, reason=body.reason)
    return {
        "claim": result.claim,
        "from": result.from_stage.value,
        "stage": result.stage.value,
        "review": result.review_id,
    }
