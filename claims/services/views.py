"""Read side for the CLI and the flows: claim detail, readiness, review queue, audit check.

Everything returns plain dicts/dataclasses shaped like the JSON contract of docs/design.md section 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from claims.domain.assessment import Assessment, StageAssessment, assess
from claims.domain.readiness import ActionReadiness, readiness
from claims.domain.stages import ReviewStatus, Stage, next_stages
from claims.services.access import (
    case_for,
    claim_for,
    readable_evidence,
    readable_source_ids,
    reader_of,
    unread_lines,
)
from claims.services.errors import InvalidInput, NotFound
from claims.services.facts import facts_where, lineage_roots, load_facts, requirements_by_action
from claims.services.identity import Identity
from claims.services.judgement import likelihood_json
from claims.services.links import survivors_for
from claims.services.runtime import Runtime
from claims.store.uow import UnitOfWork

if TYPE_CHECKING:
    from claims.services.audit import AuditReport


def _iso(value: date | datetime | None) -> str | None:
    """ISO text; stored datetimes are already aware UTC (the UtcDateTime column type)."""
    return value.isoformat() if value is not None else None


def stage_json(sa: StageAssessment) -> dict[str, Any]:
    return {
        "met": sa.met,
        "evidence_met": sa.evidence_met,
        "gaps": sa.gaps,
        "criteria": [
            {"criterion": c.criterion, "met": c.met, "have": c.have, "need": c.need, "gap": c.gap} for c in sa.criteria
        ],
    }


def assessment_json(a: Assessment) -> dict[str, Any]:
    """Per reachable next stage: met and gaps (docs/design.md section 4)."""
    return {stage.value: stage_json(a.for_stage(stage)) for stage in next_stages(a.stage)}


UNREAD_SOURCE = "a source you may not read"


def _redact(text: str, hidden: set[str]) -> str:
    """An assessment's sentence with the names of sources the reader may not read taken out."""
    for name in sorted(hidden, key=len, reverse=True):
        text = text.replace(f"from {name}", f"from {UNREAD_SOURCE}")
    return text


def _for_reader(result: Assessment, likelihood: dict[str, Any], facts: Any, shown: set[int], seen: set[str]) -> Any:
    """The system's assessment as `who` may read it: the same judgement, without the unread items' sources.

    `shown` are the evidence ids the reader reads, `seen` the source keys they may read. Gaps name
    no unread source, and likelihood lines resting on an unread item are left out (counted apart).
    """
    unread = [e for e in facts.evidence if e.id not in shown]
    hidden = {n for e in unread if e.source not in seen for n in (e.source_name, e.source) if n}
    judged = assessment_json(result)
    for stage in judged.values():
        stage["gaps"] = [_redact(g, hidden) for g in stage["gaps"]]
        for c in stage["criteria"]:
            c["gap"] = _redact(c["gap"], hidden) if c["gap"] else c["gap"]
    covered = {(e.root, e.stance.value) for e in unread if not e.retracted}
    lines = [ln for ln in likelihood["lines"] if (ln["root"], ln["stance"]) not in covered and ln["root"] in seen]
    return judged, likelihood | {"lines": lines}


def claim_detail(rt: Runtime, key: str, *, who: Identity | None = None) -> dict[str, Any]:
    """A claim as `who` may read it (issue 20): the system's assessment on every item, and only the
    evidence they may read, with `further_lines` the live items that count but are not shown."""
    with rt.uow(write=False) as uow:
        scope = reader_of(uow, who, rt.markings)
        claim = claim_for(uow, scope, key)
        sources = uow.sources.for_case(claim.case_id)
        roots = lineage_roots(sources)
        facts = load_facts(uow, [claim])[key]  # the system judges on every item, read or not
        result = assess(facts, rt.policy)
        history = uow.history.for_claim(key)
        evidence = readable_evidence(uow, scope, claim.id)
        seen_ids = readable_source_ids(uow, scope, claim.case_id)
        seen = {s.key for s in sources if s.id in seen_ids}
        further = unread_lines(uow, scope, claim.id)
        judged, judgement = _for_reader(
            result, likelihood_json(facts, rt.policy), facts, {e.id for e in evidence}, seen
        )
        return {
            "key": claim.key,
            "case": claim.case.key,
            "statement": claim.statement,
            "stage": claim.stage,
            "version": claim.version,
            "at_risk": claim.at_risk,
            "assignee": claim.assignee,
            # Withdrawn (issue 17): still readable, shown as withdrawn; None while it stands.
            "withdrawn": (
                {"by": claim.withdrawn_by, "at": _iso(claim.withdrawn_at), "reason": claim.withdrawal_reason}
                if claim.withdrawn_at is not None
                else None
            ),
            "stage_times": {s.value: _iso(getattr(claim, f"{s.value}_at")) for s in Stage},
            "evidence": [
                {
                    "id": e.id,
                    "source": e.source.key,
                    "source_name": e.source.name,
                    "grade": str(e.grade),
                    "stance": e.stance,
                    "independent_root": _root(roots.get(e.source_id, e.source.key), seen),
                    "summary": e.summary,
                    "locator": e.locator,
                    "quote": e.quote,
                    "observed_at": _iso(e.observed_at),
                    "added_by": e.added_by,
                    "retracted": e.retracted,
                    "retracted_by": e.retracted_by,
                    "retraction_reason": e.retraction_reason,
                }
                for e in evidence
            ],
            # Need to know: items that count in the assessment below but that this reader may not read.
            "further_lines": further,
            "policy_version": rt.policy.version,
            "holds": result.holds,
            "next_step": {
                "kind": result.next_step.kind.value,
                "to": result.next_step.to.value if result.next_step.to else None,
                "reason": result.next_step.reason,
            },
            "assessment": judged,
            "likelihood": judgement,
            "reviews": [
                {
                    "id": r.id,
                    "to": r.to_stage,
                    "status": r.status,
                    "requested_by": r.requested_by,
                    "decided_by": r.decided_by,
                    "rationale": r.rationale,
                }
                for r in uow.reviews.for_claim(claim.id)
            ],
            "history": [
                {
                    "at": _iso(ev.at),
                    "actor": ev.actor,
                    "kind": ev.kind,
                    "from": ev.from_stage,
                    "to": ev.to_stage,
                    "rationale": ev.rationale,
                    "policy_version": ev.policy_version,
                }
                for ev in history
            ],
        }


def _root(root: str, seen: set[str]) -> str:
    return root if root in seen else f"({UNREAD_SOURCE})"


def assessments_for(uow: UnitOfWork, rt: Runtime, keys: list[str]) -> dict[str, Assessment]:
    facts = load_facts(uow, uow.claims.many(keys))
    return {k: assess(f, rt.policy) for k, f in facts.items()}


def action_readiness(rt: Runtime, case_key: str | None = None, *, who: Identity | None = None) -> list[ActionReadiness]:
    """Every policy action (of the cases `actor` reads) with each gating claim's stage, requirement and gaps.

    Set-based: one statement for the actions and their requirements, three for the facts of the
    required claims (selected by subquery), however many claims the database holds.
    """
    with rt.uow(write=False) as uow:
        scope = reader_of(uow, who, rt.markings)
        if case_key:
            case_for(uow, scope, case_key)
        actions = requirements_by_action(uow, case_key, scope)
        _, facts = facts_where(uow, uow.actions.required_claims(case_key, reach=scope))
        assessments = {k: assess(f, rt.policy) for k, f in facts.items()}
        survivors = survivors_for(uow, assessments.keys())
        missing = sorted(set(survivors.values()) - assessments.keys())
        if missing:
            assessments |= assessments_for(uow, rt, missing)
        return [readiness(key, title, reqs, assessments, survivors) for key, (title, reqs) in actions.items()]


def readiness_json(items: list[ActionReadiness]) -> list[dict[str, Any]]:
    return [
        {
            "key": a.key,
            "title": a.title,
            "ready": a.ready,
            "requirements": [
                {
                    "claim": r.claim,
                    "required_stage": r.required_stage.value,
                    "stage": r.stage.value if r.stage else None,
                    "met": r.met,
                    "gaps": list(r.gaps),
                }
                for r in a.requirements
            ],
        }
        for a in items
    ]


REVIEW_STATUSES = tuple(s.value for s in ReviewStatus)


@dataclass(frozen=True)
class ReviewPage:
    """One page of the review queue: its requests and the true total the filters match."""

    total: int
    offset: int
    items: list[dict[str, Any]]


def review_page(
    rt: Runtime,
    status: str | None = ReviewStatus.PENDING,
    *,
    case: str | None = None,
    action: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    who: Identity | None = None,
) -> ReviewPage:
    """Review requests (all statuses when status is None) by impact, with the assessment of their target stage.

    Impact: requests whose claim gates the most policy actions first, then the oldest. `case` and
    `action` filter (unknown keys are refused); `limit`/`offset` cut the page in SQL (limit None:
    every request). Only the claims of the page are assessed, however long the queue.
    """
    if status is not None and status not in REVIEW_STATUSES:
        raise InvalidInput(f"status: {status!r} is not one of {', '.join(REVIEW_STATUSES)} or all")
    if limit is not None and limit < 0:
        raise InvalidInput(f"limit: {limit} is negative")
    if offset < 0:
        raise InvalidInput(f"offset: {offset} is negative")
    with rt.uow(write=False) as uow:
        scope = reader_of(uow, who, rt.markings)
        if case:
            case_for(uow, scope, case)
        found = uow.actions.get(action) if action else None
        if action and (found is None or not scope.sees(found.case_id, found.case.marking)):
            raise NotFound(f"action: unknown policy action {action!r}")
        total, rows = uow.reviews.queue(
            status, case_key=case, action_key=action, limit=limit, offset=offset, reach=scope
        )
        assessments = assessments_for(uow, rt, sorted({r.claim.key for r, _ in rows}))
        out = []
        for r, gates in rows:
            target = assessments[r.claim.key].for_stage(Stage(r.to_stage))
            out.append(
                {
                    "id": r.id,
                    "claim": r.claim.key,
                    "statement": r.claim.statement,
                    "from": r.from_stage,
                    "to": r.to_stage,
                    "status": r.status,
                    "requested_by": r.requested_by,
                    "requested_at": _iso(r.requested_at),
                    "reason": r.reason,
                    "policy_version": r.policy_version,
                    "decided_by": r.decided_by,
                    "rationale": r.rationale,
                    "case": r.claim.case.key,
                    "gates": gates,
                    "gaps": target.gaps,
                    "evidence_met": target.evidence_met,
                    # the whole target-stage assessment, so a reader need not assess the claim again
                    "criteria": stage_json(target)["criteria"],
                }
            )
        return ReviewPage(total, offset, out)


def review_queue(
    rt: Runtime,
    status: str | None = ReviewStatus.PENDING,
    *,
    case: str | None = None,
    action: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    who: Identity | None = None,
) -> list[dict[str, Any]]:
    """The requests of `review_page` alone (every one unless `limit` is given), in the same order."""
    return review_page(rt, status, case=case, action=action, limit=limit, offset=offset, who=who).items


def audit_verify(rt: Runtime) -> AuditReport:
    """Hash chain, signed checkpoints and a replay of the events against the tables (claims.services.audit)."""
    from claims.services.audit import verify  # cryptography and the replay: only for this command

    return verify(rt)
