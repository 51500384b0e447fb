"""Read-side queries for the CLI list and the dashboard: aggregates computed in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func, or_, select

from claims.store.db import session_factory
from claims.store.models import Case, Claim, Evidence


def claim_rows(
    url: str, *, case: str | None = None, stage: str | None = None, search: str | None = None, limit: int = 5000
) -> list[dict[str, Any]]:
    """One row per claim with live supporting/contradicting counts and retracted count."""
    live = Evidence.retracted.is_(False)
    stmt = (
        select(
            Claim.key,
            Case.key.label("case"),
            Claim.statement,
            Claim.stage,
            Claim.at_risk,
            Claim.assignee,
            Claim.updated_at,
            func.count(when((live & (Evidence.stance == "supports"), Evidence.id))).label("supporting"),
            func.count(when((live & (Evidence.stance == "contradicts"), Evidence.id))).label("contradicting"),
            func.count(when((Evidence.retracted.is_(True), Evidence.id))).label("retracted"),
        )
        .join(Case, Case.id == Claim.case_id)
        .outerjoin(Evidence, Evidence.claim_id == Claim.id)
        .group_by(Claim.id, Case.key)
        .order_by(Case.key, Claim.id)
        .limit(limit)
    )
    if case:
        stmt = stmt.where(Case.key == case)
    if stage:
        stmt = stmt.where(Claim.stage == stage)
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(or_(func.lower(Claim.key).like(pattern), func.lower(Claim.statement).like(pattern)))
    with session_factory(url)() as session:
        return [dict(row._mapping) for row in session.execute(stmt)]
