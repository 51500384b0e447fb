"""Translate stored rows into the domain's plain facts (the one place that knows both)."""

from __future__ import annotations

from collections.abc import Sequence

from claims.domain.assessment import ClaimFacts, EvidenceFacts, PendingReview
from claims.domain.lineage import resolve_roots
from claims.domain.stages import Stage, Stance
from claims.store.models import Claim, Evidence, ReviewRequest, Source
from claims.store.uow import UnitOfWork


def lineage_roots(sources: Sequence[Source]) -> dict[int, str]:
    """Source id -> root source key, for one or more cases' sources."""
    by_id = {s.id: s for s in sources}
    keyed = {
        (s.case_id, s.key): ((s.case_id, by_id[s.derived_from_id].key) if s.derived_from_id in by_id else None)
        for s in sources
    }
    roots = resolve_roots({f"{c}/{k}": (f"{p[0]}/{p[1]}" if p else None) for (c, k), p in keyed.items()})
    return {s.id: roots[f"{s.case_id}/{s.key}"].split("/", 1)[1] for s in sources}


def evidence_facts(ev: Evidence, roots: dict[int, str]) -> EvidenceFacts:
    return EvidenceFacts(
        source=ev.source.key,
        root=roots.get(ev.source_id, ev.source.key),
        stance=Stance(ev.stance),
        grade=ev.grade,
        retracted=ev.retracted,
        source_name=ev.source.name,
        id=ev.id,
    )


def claim_facts(claim: Claim, roots: dict[int, str], pending: ReviewRequest | None) -> ClaimFacts:
    return ClaimFacts(
        key=claim.key,
        stage=Stage(claim.stage),
        evidence=tuple(evidence_facts(e, roots) for e in claim.evidence),
        pending_review=PendingReview(Stage(pending.to_stage), pending.requested_by) if pending else None,
    )


def load_facts(uow: UnitOfWork, claims: Sequence[Claim]) -> dict[str, ClaimFacts]:
    """Facts for many claims in a fixed number of queries."""
    roots = lineage_roots(uow.sources.for_cases({c.case_id for c in claims}))
    pending = uow.reviews.pending_for_claims([c.id for c in claims])
    return {c.key: claim_facts(c, roots, pending.get(c.id)) for c in claims}
