"""Translate stored rows into the domain's plain facts (the one place that knows both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select

from claims.domain.assessment import ClaimFacts, EvidenceFacts, PendingReview
from claims.domain.grades import Credibility, Grade, Reliability
from claims.domain.lineage import resolve_roots
from claims.domain.readiness import Requirement
from claims.domain.stages import Stage, Stance
from claims.store.models import Claim, Evidence, ReviewRequest, Source
from claims.store.reach import Reach
from claims.store.uow import UnitOfWork


def lineage_roots(sources: Sequence[Source] | Sequence[Row[Any]]) -> dict[int, str]:
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


def facts_where(uow: UnitOfWork, claim_ids: Select[tuple[int]]) -> tuple[Sequence[Claim], dict[str, ClaimFacts]]:
    """The claims a subquery selects and their facts, in three statements whatever their number.

    Set-based: the set goes to the database as the subquery itself, never as a list of bound ids.
    """
    claims = uow.claims.matching(claim_ids)
    roots = lineage_roots(uow.sources.for_cases_of(claim_ids))
    pending = uow.reviews.pending_where(claim_ids)
    return claims, {c.key: claim_facts(c, roots, pending.get(c.id)) for c in claims}


def load_facts(uow: UnitOfWork, claims: Sequence[Claim]) -> dict[str, ClaimFacts]:
    """Facts for many claims in a fixed number of queries."""
    roots = lineage_roots(uow.sources.for_cases({c.case_id for c in claims}))
    pending = uow.reviews.pending_for_claims([c.id for c in claims])
    return {c.key: claim_facts(c, roots, pending.get(c.id)) for c in claims}


_GRADES: dict[tuple[str, int], Grade] = {}
STAGES = {s.value: s for s in Stage}  # a dict lookup, not an enum call, per row of a 100k-claim batch


def _grade(reliability: str, credibility: int) -> Grade:
    """Grades are few (36): one object each, not one per item."""
    grade = _GRADES.get((reliability, credibility))
    if grade is None:
        grade = _GRADES[(reliability, credibility)] = Grade(Reliability(reliability), Credibility(credibility))
    return grade


def batch_facts(uow: UnitOfWork, heads: Sequence[Row[Any]]) -> tuple[dict[int, ClaimFacts], dict[int, Row[Any]]]:
    """Facts of many claims from plain rows (claim id -> facts), and their pending requests (claim id -> row).

    Three set-based queries whatever the batch size; no ORM object is built. The items carry
    no id (the plan never reads one): an item is its source, stance, credibility and whether it
    is retracted, so items alike are one shared object (they are immutable), not one per row.
    """
    ids = [h.id for h in heads]
    sources = uow.sources.lineage_rows({h.case_id for h in heads})
    roots = lineage_roots(sources)
    named = {s.id: (s.key, roots.get(s.id, s.key), s.name, s.reliability) for s in sources}
    pending = uow.reviews.pending_rows(ids)
    evidence: dict[int, list[EvidenceFacts]] = {}
    stances = {s.value: s for s in Stance}
    items: dict[tuple[int, str, int, bool], EvidenceFacts] = {}
    for claim_id, source_id, stance, credibility, retracted in uow.evidence.fact_rows(ids):
        item = items.get((source_id, stance, credibility, retracted))
        if item is None:
            key, root, name, reliability = named[source_id]
            item = items[(source_id, stance, credibility, retracted)] = EvidenceFacts(
                key, root, stances[stance], _grade(reliability, credibility), bool(retracted), name
            )
        got = evidence.get(claim_id)
        if got is None:
            evidence[claim_id] = [item]
        else:
            got.append(item)
    facts = {}
    for h in heads:
        review = pending.get(h.id)
        facts[h.id] = ClaimFacts(
            key=h.key,
            stage=STAGES[h.stage],
            evidence=tuple(evidence.get(h.id, ())),
            pending_review=PendingReview(STAGES[review.to_stage], review.requested_by) if review else None,
        )
    return facts, pending


def requirements_by_action(
    uow: UnitOfWork, case_key: str | None, reach: Reach
) -> dict[str, tuple[str, list[Requirement]]]:
    """Action key -> (title, its requirements), in policy order, from one statement (the cases `reach` reads)."""
    actions: dict[str, tuple[str, list[Requirement]]] = {}
    for action, title, claim, stage in uow.actions.requirement_rows(case_key, reach=reach):
        reqs = actions.setdefault(action, (title, []))[1]
        if claim is not None:
            reqs.append(Requirement(claim, Stage(stage)))
    return actions
