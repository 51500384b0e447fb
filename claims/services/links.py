"""Use case: link a claim to another as a duplicate of it or related to it; read the links.

A duplicate keeps its own evidence and history (nothing is merged away or deleted); readiness
judges an action that requires it on its survivor, the claim it duplicates
(`claims.domain.readiness`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import aliased

from claims.domain.events import EventKind
from claims.domain.similarity import duplicate_cycle, survivor_of
from claims.services.access import claim_for, reader_of
from claims.services.errors import InvalidInput, RuleViolation, refuse_nul
from claims.services.identity import Identity
from claims.services.loading import load_claim_as
from claims.services.runtime import Runtime
from claims.services.transitions import now, touch
from claims.store.models import Case, Claim, ClaimLink
from claims.store.uow import UnitOfWork


class LinkKind(StrEnum):
    DUPLICATE = "duplicate"
    RELATED = "related"


@dataclass(frozen=True)
class Link:
    claim: str
    other: str
    kind: str
    rationale: str
    created_by: str


def duplicate_map(uow: UnitOfWork) -> dict[str, str]:
    """Claim key -> the key of the claim it is marked a duplicate of (one statement; links are few)."""
    this, other = aliased(Claim), aliased(Claim)
    rows = uow.session.execute(
        select(this.key, other.key)
        .join(ClaimLink, ClaimLink.claim_id == this.id)
        .join(other, other.id == ClaimLink.other_id)
        .where(ClaimLink.kind == LinkKind.DUPLICATE.value)
    )
    return dict(rows.all())


def survivors_for(uow: UnitOfWork, keys: set[str] | list[str]) -> dict[str, str]:
    """For each of `keys` marked a duplicate, the claim that finally stands for it."""
    dupes = duplicate_map(uow)
    return {k: survivor_of(k, dupes) for k in keys if k in dupes}


def link_claims(rt: Runtime, who: Identity, claim_key: str, other_key: str, kind: str, rationale: str) -> Link:
    """Mark `claim_key` a duplicate of (or related to) `other_key`, audited with who and why.

    Refused: a claim linked to itself, a duplicate link that would close a cycle (a duplicate of
    a duplicate of itself), a second survivor for the same claim, the same link twice.
    """
    actor = who.name
    try:
        kind_v = LinkKind(kind)
    except ValueError:
        raise InvalidInput(f"kind: {kind!r} is not one of duplicate, related") from None
    if not rationale or not rationale.strip():
        raise InvalidInput("rationale: a link needs a rationale")
    refuse_nul("rationale", rationale)
    if claim_key == other_key:
        raise RuleViolation(f"link: claim {claim_key!r} cannot be linked to itself")
    with rt.uow() as uow:
        claim = load_claim_as(uow, who, claim_key, "link", rt.markings)  # issue 20: both cases, by the role there
        other = load_claim_as(uow, who, other_key, "link", rt.markings)
        existing = uow.session.scalars(
            select(ClaimLink).where(ClaimLink.claim_id == claim.id, ClaimLink.kind == LinkKind.DUPLICATE.value)
        ).first()
        if kind_v is LinkKind.DUPLICATE:
            if existing is not None:
                raise RuleViolation(f"link: claim {claim_key!r} is already marked a duplicate of another claim")
            cycle = duplicate_cycle(claim_key, other_key, duplicate_map(uow))
            if cycle:
                raise RuleViolation(
                    f"link: {claim_key!r} as a duplicate of {other_key!r} would close a cycle {' -> '.join(cycle)}"
                )
        same_pair = uow.session.scalars(
            select(ClaimLink).where(ClaimLink.claim_id == claim.id, ClaimLink.other_id == other.id)
        ).first()
        if same_pair is not None:
            raise RuleViolation(f"link: {claim_key!r} is already linked to {other_key!r} as {same_pair.kind}")
        uow.session.add(
            ClaimLink(
                claim_id=claim.id,
                other_id=other.id,
                kind=kind_v.value,
                rationale=rationale.strip(),
                created_by=actor,
                created_at=now(),
            )
        )
        touch(claim)  # its readiness may now be judged on another claim: the next assessment looks again
        uow.record(
            EventKind.CLAIM_LINKED,
            actor=actor,
            claim=claim,
            rationale=rationale.strip(),
            payload={"kind": kind_v.value, "other": other.key, "other_case": other.case.key},
        )
        uow.commit()
        return Link(claim.key, other.key, kind_v.value, rationale.strip(), actor)


def links_of(rt: Runtime, claim_key: str, *, who: Identity | None = None) -> list[Link]:
    """The links from and to a claim, for its page: only between claims `who` reads (issue 20)."""
    with rt.uow(write=False) as uow:
        scope = reader_of(uow, who, rt.markings)
        claim = claim_for(uow, scope, claim_key)
        this, other = aliased(Claim), aliased(Claim)
        this_case, other_case = aliased(Case), aliased(Case)
        rows = uow.session.execute(
            select(this.key, other.key, ClaimLink.kind, ClaimLink.rationale, ClaimLink.created_by)
            .join(ClaimLink, ClaimLink.claim_id == this.id)
            .join(other, other.id == ClaimLink.other_id)
            .join(this_case, this_case.id == this.case_id)
            .join(other_case, other_case.id == other.case_id)
            .where((ClaimLink.claim_id == claim.id) | (ClaimLink.other_id == claim.id))
            .where(scope.cases(this.case_id), scope.cases(other.case_id))
            .where(scope.marked(this_case.marking, other_case.marking))
            .order_by(ClaimLink.id)
        )
        return [Link(*r) for r in rows]
