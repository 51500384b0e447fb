"""Use cases: add evidence to a claim, retract it (never delete it)."""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from claims.domain.events import EventKind
from claims.domain.grades import Credibility, Grade
from claims.domain.stages import Stance
from claims.services.access import authorize_case, reader
from claims.services.errors import AlreadyDone, InvalidInput, NotFound, RuleViolation, refuse_future, refuse_nul
from claims.services.identity import Identity
from claims.services.loading import load_claim_as
from claims.services.markings import chosen
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import now, touch
from claims.store.models import Evidence

if TYPE_CHECKING:
    from claims.store.uow import UnitOfWork


def fingerprint(
    source: str,
    stance: str,
    credibility: int,
    summary: str,
    locator: str | None,
    observed_at: date | None,
    quote: str | None = None,
) -> str:
    """Identity of an evidence item across imports, so importing twice adds nothing.

    A quote (migration 0009) joins the identity only when given, so older items keep theirs.
    """
    parts = [source, stance, str(credibility), summary.strip(), locator or "", str(observed_at or "")]
    raw = "\x1f".join([*parts, quote.strip()] if quote and quote.strip() else parts)
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class EvidenceAdded:
    id: int
    claim: str
    grade: str


def add_evidence(
    rt: Runtime,
    who: Identity,
    claim_key: str,
    source_key: str,
    stance: str,
    *,
    credibility: str | int | None = None,
    grade: str | None = None,
    summary: str,
    locator: str | None = None,
    observed_at: date | None = None,
    quote: str | None = None,
    within: UnitOfWork | None = None,
    marking: str | None = None,
    caveat: str | None = None,
) -> EvidenceAdded:
    """Attach one graded item; give the credibility, or a full grade whose letter matches the source.

    `locator` says where (URL, document and page, a report's character span), `observed_at` when
    the source saw it, `quote` the source's own words, `marking` its own sensitivity (default: its
    case's; its effective marking is the highest of its own, its source's and its case's). `within`
    writes it in a caller's unit of work (accepting a report's sentence records the acceptance in the
    same transaction), which commits.
    """
    actor = who.name
    stance_v = Stance.parse(stance)
    if not summary or not summary.strip():
        raise InvalidInput("summary: evidence needs a summary")
    refuse_nul("summary", summary)
    refuse_nul("locator", locator)
    refuse_future("observed_at", observed_at)
    refuse_nul("quote", quote)
    quote = quote.strip() if quote and quote.strip() else None
    if (credibility is None) == (grade is None):
        raise InvalidInput("credibility: give either --credibility 1-6 or --grade like B2")
    chosen(rt, marking, caveat, default="")  # an unknown marking is refused before anything is read
    with nullcontext(within) if within is not None else rt.uow() as uow:
        claim = load_claim_as(uow, who, claim_key, "add_evidence", rt.markings)
        source = uow.sources.get(claim.case_id, source_key)
        if source is None:
            raise NotFound(f"source: unknown source {source_key!r} in case {claim.case.key!r}")
        if claim.withdrawn_at is not None:
            raise RuleViolation(f"claim: {claim_key!r} was withdrawn; it takes no new evidence")
        if source.withdrawn_at is not None:
            raise RuleViolation(f"source: {source_key!r} was withdrawn; its evidence no longer counts")
        if grade is not None:
            parsed = Grade.parse(grade)
            if parsed.reliability.value != source.reliability:
                raise InvalidInput(
                    f"grade: {grade!r} does not match source {source_key!r}, whose reliability is {source.reliability}"
                )
            cred = parsed.credibility
        else:
            cred = Credibility.parse(credibility)
        mark, cav = chosen(rt, marking, caveat, default=claim.case.marking)
        fp = fingerprint(source.key, stance_v.value, int(cred), summary, locator, observed_at, quote)
        if any(e.fingerprint == fp for e in claim.evidence):
            raise RuleViolation(f"evidence: the same item from {source_key!r} is already recorded on {claim_key!r}")
        item = Evidence(
            claim=claim,
            source=source,
            stance=stance_v.value,
            credibility=int(cred),
            summary=summary.strip(),
            locator=locator,
            quote=quote,
            observed_at=observed_at,
            added_by=actor,
            added_at=now(),
            fingerprint=fp,
            marking=mark,
            caveat=cav,
        )
        uow.evidence.add(item)
        touch(claim)
        uow.flush()
        grade_s = str(item.grade)
        uow.record(
            EventKind.EVIDENCE_ADDED,
            actor=actor,
            claim=claim,
            payload={
                "evidence": item.id,
                "source": source.key,
                "stance": stance_v.value,
                "grade": grade_s,
                "marking": mark,
                **{
                    k: v
                    for k, v in (
                        ("locator", locator),
                        ("observed_at", observed_at and str(observed_at)),
                        ("quote", quote),
                        ("caveat", cav),
                    )
                    if v
                },
            },
        )
        if within is None:
            uow.commit()
        return EvidenceAdded(item.id, claim.key, grade_s)


def retract_evidence(rt: Runtime, who: Identity, evidence_id: int, reason: str) -> EvidenceAdded:
    """Mark an item retracted with who/when/why; it stays visible but never counts again."""
    actor = who.name
    if not reason or not reason.strip():
        raise InvalidInput("reason: a retraction needs a reason")
    refuse_nul("reason", reason)
    with rt.uow() as uow:
        authorize(uow, who, "read")  # a known, signed-in user; the role that counts is the one on the case
        item = uow.evidence.get(evidence_id)
        unknown = f"evidence: unknown evidence id {evidence_id}"
        if item is None:
            raise NotFound(unknown)
        actor = authorize_case(uow, who, "retract_evidence", item.claim.case, rt.markings, unknown=unknown).name
        if not reader(uow, actor, rt.markings).may_read(item.marking, item.source.marking):
            raise NotFound(unknown)
        if item.retracted:  # the loser of two retractions at once: nothing is overwritten (exit 5)
            raise AlreadyDone(f"evidence: #{evidence_id} was already retracted by {item.retracted_by}")
        item.retracted, item.retracted_by, item.retracted_at, item.retraction_reason = True, actor, now(), reason
        touch(item.claim)
        uow.record(
            EventKind.EVIDENCE_RETRACTED,
            actor=actor,
            claim=item.claim,
            rationale=reason,
            payload={"evidence": item.id},
        )
        uow.commit()
        return EvidenceAdded(item.id, item.claim.key, str(item.grade))
