"""Use cases: import a case file (idempotent) and export one (lossless)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from claims.domain import changes
from claims.domain.assessment import assess
from claims.domain.errors import DomainError
from claims.domain.events import EventKind
from claims.domain.lineage import resolve_roots
from claims.domain.markings import Scale
from claims.domain.stages import ReviewStatus, Stage
from claims.domain.transitions import TransitionRequest, Via, decide_transition
from claims.services.casefile import CaseFile, ClaimEntry, LeftOut, ReviewEntry, check_history, history_error
from claims.services.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from claims.services.evidence import fingerprint
from claims.services.facts import lineage_roots, load_facts
from claims.services.markings import ImportMarks
from claims.services.provenance import trusted_name
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import move, now, touch
from claims.store.models import ActionRequirement, Case, Claim, Evidence, PolicyAction, ReviewRequest, Source
from claims.store.types import to_utc
from claims.store.uow import UnitOfWork


@dataclass(frozen=True)
class ImportReport:
    case: str
    created: dict[str, int]
    left_out: tuple[LeftOut, ...] = ()  # what a foreign STIX bundle held that has no place here

    @property
    def changed(self) -> bool:
        return any(self.created.values())


def import_case(rt: Runtime, actor: str, case_file: CaseFile) -> ImportReport:
    """Create what is new in the file; what is already known by key is left as it is.

    One transaction: a file that fails half-way (an unknown source key, a lineage cycle)
    leaves the database exactly as before.
    """
    created: Counter[str] = Counter()
    with rt.uow() as uow:
        authorize(uow, actor, "import")
        voucher = _voucher(uow, case_file)
        case = uow.cases.get(case_file.case.key)
        marks = ImportMarks(rt, uow, actor, case_file.origin, case_file.case.marking, case)
        source_marks = marks.sources(case_file.sources)  # every marking checked before anything is written
        evidence_marks = [marks.evidence(i, entry) for i, entry in enumerate(case_file.claims)]
        marks.finish(case_file.marking)
        if case is None:
            case = _new_case(case_file, marks)
            uow.cases.add(case)
            uow.flush()
            created["cases"] += 1
        sources = _import_sources(uow, case, case_file, created, source_marks)
        claims = _import_claims(uow, rt, actor, case, case_file, sources, created, voucher, evidence_marks)
        _import_actions(uow, case, case_file, claims, created)
        kinds = ("cases", "sources", "claims", "evidence", "actions")
        report = ImportReport(case.key, {k: created[k] for k in kinds}, case_file.left_out)
        if report.changed:
            uow.record(
                EventKind.CASE_IMPORTED,
                actor=actor,
                case_key=case.key,
                payload={**report.created, "attested_by": voucher.get("key_id"), "signature": voucher["signature"]},
            )
        uow.commit()
        return report


UNVOUCHED: dict[str, Any] = {"signature": "none", "trusted": False}


def _new_case(cf: CaseFile, marks: ImportMarks) -> Case:
    return Case(key=cf.case.key, title=cf.case.title, created_at=now(), marking=marks.case, caveat=cf.case.caveat)


def _voucher(uow: UnitOfWork, cf: CaseFile) -> dict[str, Any]:
    """Who vouches for the file's confirm/refute history: a trusted key that signed it, or nobody."""
    att = cf.attestation
    if att is None:
        return UNVOUCHED
    name = trusted_name(uow, att)
    if name is None:
        return {"signature": "untrusted", "trusted": False, "key_id": att.key_id}
    return {"signature": "trusted", "trusted": True, "key_id": att.key_id, "key_name": name}


def _import_sources(
    uow: UnitOfWork, case: Case, cf: CaseFile, created: Counter[str], marks: dict[str, str] | None = None
) -> dict[str, Source]:
    """New sources by key (known ones are left as they are), marked as `marks` says (else as the case)."""
    known = {s.key: s for s in uow.sources.for_case(case.id)}
    lineage: dict[str, str | None] = {k: (s.derived_from.key if s.derived_from else None) for k, s in known.items()}
    for i, entry in enumerate(cf.sources):
        if (
            entry.derived_from
            and entry.derived_from not in known
            and entry.derived_from not in {s.key for s in cf.sources}
        ):
            raise InvalidInput(f"{cf.origin}: sources[{i}].derived_from: unknown source {entry.derived_from!r}")
        if entry.key not in known:
            lineage[entry.key] = entry.derived_from
    resolve_roots(lineage)  # raises LineageCycle naming the loop before anything is written
    for entry in cf.sources:
        if entry.key not in known:
            known[entry.key] = Source(
                case=case,
                key=entry.key,
                name=entry.name,
                kind=entry.kind,
                reliability=entry.reliability.value,
                marking=(marks or {}).get(entry.key, case.marking),
                caveat=entry.caveat,
            )
            if entry.withdrawn:  # its evidence comes with its own retractions
                w = entry.withdrawn
                known[entry.key].withdrawn_at, known[entry.key].withdrawn_by = to_utc(w.at), w.by
                known[entry.key].withdrawal_reason = w.reason
            uow.sources.add(known[entry.key])
            created["sources"] += 1
    for entry in cf.sources:
        src = known[entry.key]
        if entry.derived_from and src.derived_from_id is None and src.id is None:
            src.derived_from = known[entry.derived_from]
    uow.flush()
    return known


def _import_claims(
    uow: UnitOfWork,
    rt: Runtime,
    actor: str,
    case: Case,
    cf: CaseFile,
    sources: dict[str, Source],
    created: Counter[str],
    voucher: dict[str, Any],
    marks: list[list[str]] | None = None,
) -> dict[str, Claim]:
    claims: dict[str, Claim] = {c.key: c for c in uow.claims.for_case(case.id)}
    for i, entry in enumerate(cf.claims):
        claim = claims.get(entry.key)
        new = claim is None
        if claim is None:
            existing = uow.claims.get(entry.key)
            if existing is not None:
                raise InvalidInput(
                    f"{cf.origin}: claims[{i}].key: {entry.key!r} already belongs to case {existing.case.key!r}"
                )
            claim = _new_claim(uow, actor, case, entry, f"{cf.origin}: claims[{i}]", voucher)
            claims[entry.key] = claim
            created["claims"] += 1
        known = {e.fingerprint for e in claim.evidence}
        for j, ev in enumerate(entry.evidence):
            source = sources.get(ev.source)
            if source is None:
                raise InvalidInput(f"{cf.origin}: claims[{i}].evidence[{j}].source: unknown source {ev.source!r}")
            fp = fingerprint(ev.source, ev.stance.value, int(ev.credibility), ev.summary, ev.locator, ev.observed_at)
            if fp in known:
                continue
            known.add(fp)
            item = Evidence(
                claim=claim,
                source=source,
                stance=ev.stance.value,
                credibility=int(ev.credibility),
                summary=ev.summary,
                locator=ev.locator,
                observed_at=ev.observed_at,
                added_by=ev.added_by or actor,
                added_at=to_utc(ev.added_at) or now(),
                fingerprint=fp,
                retracted=ev.retracted,
                retracted_by=ev.retracted_by if ev.retracted else None,
                retracted_at=(to_utc(ev.retracted_at) or now()) if ev.retracted else None,
                retraction_reason=ev.retraction_reason if ev.retracted else None,
                marking=marks[i][j] if marks else case.marking,
                caveat=ev.caveat,
            )
            uow.evidence.add(item)
            touch(claim)
            created["evidence"] += 1
            uow.flush()
            uow.record(
                EventKind.EVIDENCE_ADDED,
                actor=actor,
                claim=claim,
                payload={
                    "evidence": item.id,
                    "source": source.key,
                    "stance": item.stance,
                    "grade": str(item.grade),
                    "via": "import",
                    "retracted": item.retracted,
                },
            )
        claims_more = entry.reviews or any(h.stage is not Stage.REPORTED for h in entry.history)
        if new and not voucher["trusted"] and claims_more:
            _land_unvouched(uow, rt, actor, claim, entry, cf.origin, voucher)
    return claims


def _new_claim(
    uow: UnitOfWork, actor: str, case: Case, entry: ClaimEntry, where: str, voucher: dict[str, Any]
) -> Claim:
    """Create the claim; replay its stage history and reviews only when a trusted key vouches for them.

    Without that, the history is kept as provenance in the `claim.reported` event and the
    claim is placed by its evidence afterwards (`_land_unvouched`).
    """
    stamp = now()
    history = entry.history or []
    first = history[0] if history and history[0].stage is Stage.REPORTED else None
    claim = Claim(
        case=case,
        key=entry.key,
        statement=entry.statement,
        stage=Stage.REPORTED.value,
        assignee=entry.assignee,
        created_at=stamp,
        updated_at=stamp,
        reported_at=to_utc(first.at) if first else stamp,
    )
    if entry.withdrawn:
        claim.withdrawn_at, claim.withdrawn_by = to_utc(entry.withdrawn.at), entry.withdrawn.by
        claim.withdrawal_reason = entry.withdrawn.reason
    uow.claims.add(claim)
    uow.flush()
    payload: dict[str, Any] = {"by": first.by if first else actor}
    if first:
        payload["at"] = to_utc(first.at).isoformat()
    if voucher["trusted"]:
        payload["attested_by"] = voucher["key_id"]
    elif history or entry.reviews:
        payload["provenance"] = {
            "signature": voucher["signature"],
            **({"key_id": voucher["key_id"]} if "key_id" in voucher else {}),
            "stage": entry.stage.value,
            "history": [h.model_dump(mode="json", exclude_none=True) for h in history],
            "reviews": [r.model_dump(mode="json", exclude_none=True) for r in entry.reviews],
        }
    uow.record_change(changes.claim_reported(claim.case.key, claim.key, payload), actor=actor)
    if not voucher["trusted"]:
        check_history(entry, where)  # not replayed, but a history no rule allows is still refused
        return claim
    for index, step in entry.replayed_history():
        try:
            move(
                uow,
                claim,
                step.stage,
                actor=actor,
                via=Via.IMPORT,
                policy_version=None,
                criteria_met=None,  # history happened under the evidence and policy of its day
                rationale=step.rationale,
                requested_by=step.by,
                approved_by=step.approved_by,
                at=to_utc(step.at),
                extra={"attested_by": voucher["key_id"]},
            )
        except DomainError as err:
            raise history_error(where, index, err) from None
    for review in entry.reviews:
        _import_review(uow, claim, review, actor)
    return claim


def _import_review(uow: UnitOfWork, claim: Claim, entry: ReviewEntry, actor: str) -> None:
    review = ReviewRequest(
        claim=claim,
        from_stage=entry.from_stage.value,
        to_stage=entry.to_stage.value,
        status=entry.status.value,
        requested_by=entry.requested_by,
        requested_at=to_utc(entry.requested_at),
        reason=entry.reason,
        policy_version=entry.policy_version,
        decided_by=entry.decided_by,
        decided_at=to_utc(entry.decided_at),
        rationale=entry.rationale,
    )
    uow.reviews.add(review)
    uow.flush()
    uow.record(
        EventKind.REVIEW_IMPORTED,
        actor=actor,
        claim=claim,
        from_stage=review.from_stage,
        to_stage=review.to_stage,
        rationale=review.rationale,
        policy_version=review.policy_version,
        payload={
            "review": review.id,
            "status": review.status,
            "requested_by": review.requested_by,
            "decided_by": review.decided_by,
        },
    )


def _land_unvouched(
    uow: UnitOfWork, rt: Runtime, actor: str, claim: Claim, entry: ClaimEntry, origin: str, voucher: dict[str, Any]
) -> None:
    """Place a claim from an unsigned or untrusted file where its evidence puts it, never further.

    Corroborated if the criteria hold (an automatic step), else reported. A confirm or refute the
    file claims becomes a review request here, carrying the imported rationale, for a reviewer
    other than the importer.
    """
    uow.flush()
    uow.session.expire(claim, ["evidence"])
    result = assess(load_facts(uow, [claim])[claim.key], rt.policy)
    if result.for_stage(Stage.CORROBORATED).evidence_met:
        move(
            uow,
            claim,
            Stage.CORROBORATED,
            actor=actor,
            via=Via.ASSESSMENT,
            policy_version=rt.policy.version,
            criteria_met=True,  # just assessed under this instance's policy
            rationale="corroboration criteria hold",
            extra={"imported": True},
        )
    claimed = next((h for h in reversed(entry.history) if h.stage.is_final), None)
    pending = next((r for r in entry.reviews if r.status is ReviewStatus.PENDING), None)
    if entry.stage.is_final and claimed is not None:
        target = claimed.stage
        said = f"{claimed.stage} by {claimed.by}, approved by {claimed.approved_by}"
        said += f": {claimed.rationale}" if claimed.rationale else ""
    elif pending is not None:
        target = pending.to_stage
        said = f"review to {pending.to_stage} requested by {pending.requested_by}"
        said += f": {pending.reason}" if pending.reason else ""
    else:
        return
    # The same rule as every other path: only a transition that needs a sign-off becomes a request.
    request = TransitionRequest(
        claim=claim.key, from_stage=Stage(claim.stage), to_stage=target, via=Via.ADVANCE, requested_by=actor
    )
    try:
        decision = decide_transition(request)
    except DomainError:
        return
    if decision.apply:
        return
    how = "unsigned" if voucher["signature"] == "none" else f"signed by untrusted key {voucher['key_id']}"
    reason = f"imported from {origin} ({how}): {said}"
    review = ReviewRequest(
        claim=claim,
        from_stage=claim.stage,
        to_stage=target.value,
        status=ReviewStatus.PENDING.value,
        requested_by=actor,
        requested_at=now(),
        reason=reason,
        policy_version=rt.policy.version,
    )
    uow.reviews.add(review)
    touch(claim)
    uow.flush()
    change = changes.review_requested(
        claim.case.key, claim.key, review.from_stage, review.to_stage, reason=reason, policy=rt.policy.version,
        review=review.id, via="import",
    )  # fmt: skip
    uow.record_change(change, actor=actor)


def _import_actions(uow: UnitOfWork, case: Case, cf: CaseFile, claims: dict[str, Claim], created: Counter[str]) -> None:
    for i, entry in enumerate(cf.policy_actions):
        action = uow.actions.get(entry.key)
        if action is None:
            action = PolicyAction(case=case, key=entry.key, title=entry.title, severity=entry.severity)
            uow.actions.add(action)
            created["actions"] += 1
        elif action.case_id != case.id:
            raise InvalidInput(f"{cf.origin}: policy_actions[{i}].key: {entry.key!r} belongs to another case")
        have = {r.claim.key for r in action.requirements}
        for j, req in enumerate(entry.requires):
            if req.claim not in claims:
                raise InvalidInput(f"{cf.origin}: policy_actions[{i}].requires[{j}].claim: unknown claim {req.claim!r}")
            if req.claim not in have:
                action.requirements.append(ActionRequirement(claim=claims[req.claim], stage=req.stage.value))
    uow.flush()


def export_case(
    rt: Runtime, case_key: str | None = None, *, actor: str | None = None, max_marking: str | None = None
) -> dict[str, Any]:
    """The case as a case file: sources, claims with full evidence and stage history, actions.

    Need to know (issue 20): only what `actor` may read (their cases, their clearance; no actor: the
    system, which reads everything) and whose effective marking is at or below `max_marking`
    (default: the actor's clearance; never above it), selected in SQL. `marking` says the highest
    marking inside. Lineage through a source left out stays one line (`_shown_lineage`).
    """
    return export_view(rt, case_key, actor=actor, max_marking=max_marking)[0]


def export_view(
    rt: Runtime, case_key: str | None = None, *, actor: str | None = None, max_marking: str | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """`export_case`, and per claim how many of its evidence items it left out (for the exports that need it)."""
    from claims.services.access import reader
    from claims.services.runtime import SYSTEM_USER

    scale = rt.markings
    with rt.uow(write=False) as uow:
        if actor is not None:
            authorize(uow, actor, "read")
        who = reader(uow, actor or SYSTEM_USER, scale)
        allowed = export_markings(scale, who.clearance, who.allowed, max_marking, who.name)
        if case_key is None:
            keys = uow.session.scalars(
                select(Case.key).where(who.cases(Case.id), Case.marking.in_(who.allowed)).order_by(Case.key)
            ).all()
            if len(keys) != 1:
                raise InvalidInput(f"case: choose one with --case (cases: {', '.join(keys) or 'none'})")
            case_key = keys[0]
        case = uow.cases.get(case_key)
        if case is None or not who.sees_case(case.id) or case.marking not in who.allowed:
            raise NotFound(f"case: unknown case {case_key!r}")
        if case.marking not in allowed:
            raise RuleViolation(
                f"max_marking: case {case_key!r} is marked {case.marking}, above {allowed[-1]}; nothing to export"
            )
        sources = uow.session.scalars(
            select(Source).where(Source.case_id == case.id, Source.marking.in_(allowed)).order_by(Source.id)
        ).all()
        parents = _shown_lineage(case.sources, {s.id for s in sources})
        evidence: dict[int, list[Evidence]] = {}
        for e in uow.session.scalars(
            select(Evidence)
            .join(Claim, Claim.id == Evidence.claim_id)
            .join(Source, Source.id == Evidence.source_id)
            .where(Claim.case_id == case.id, Evidence.marking.in_(allowed), Source.marking.in_(allowed))
            .order_by(Evidence.id)
        ):
            evidence.setdefault(e.claim_id, []).append(e)
        totals = {
            claim_id: int(n)
            for claim_id, n in uow.session.execute(
                select(Evidence.claim_id, func.count())
                .join(Claim, Claim.id == Evidence.claim_id)
                .where(Claim.case_id == case.id)
                .group_by(Evidence.claim_id)
            )
        }
        keys = {c.id: c.key for c in case.claims}
        withheld = {
            keys[cid]: n - len(evidence.get(cid, [])) for cid, n in totals.items() if n > len(evidence.get(cid, []))
        }
        history: dict[str, list[dict[str, Any]]] = {}
        for ev in uow.history.stage_events(case.key):
            entry: dict[str, Any] = {
                "stage": ev.to_stage,
                "at": ev.payload.get("at") or ev.at.isoformat(),
                "by": ev.payload.get("by") or ev.actor,
            }
            if ev.payload.get("approved_by"):
                entry["approved_by"] = ev.payload["approved_by"]
            if ev.rationale:
                entry["rationale"] = ev.rationale
            history.setdefault(ev.claim_key or "", []).append(entry)
        reviews: dict[int, list[dict[str, Any]]] = {}
        for r in uow.reviews.for_case(case.id):
            reviews.setdefault(r.claim_id, []).append(_review_out(r))
        header: dict[str, Any] = {"key": case.key, "title": case.title, "marking": case.marking}
        if case.caveat:
            header["caveat"] = case.caveat
        inside = [case.marking, *(s.marking for s in sources), *(e.marking for es in evidence.values() for e in es)]
        data = {
            "marking": scale.highest(inside),
            "case": header,
            "sources": [_source_out(s, parents) for s in sources],
            "claims": [
                _claim_out(c, history.get(c.key, []), reviews.get(c.id, []), evidence.get(c.id, []))
                for c in case.claims
            ],
            "policy_actions": [
                {
                    "key": a.key,
                    "title": a.title,
                    "severity": a.severity,
                    "requires": [{"claim": r.claim.key, "stage": r.stage} for r in a.requirements],
                }
                for a in case.actions
            ],
        }
        return data, withheld


def export_markings(
    scale: Scale, clearance: str, readable: tuple[str, ...], max_marking: str | None, name: str
) -> tuple[str, ...]:
    """The markings an export may carry: at or below `max_marking` (default: the clearance), never above it."""
    if max_marking is None:
        return readable
    cap = scale.parse(max_marking, field="max_marking")
    if cap not in readable:
        raise PermissionDenied(f"max_marking: {cap} is above the clearance of {name!r} ({clearance})")
    return scale.allowed(cap)


def _marking_out(out: dict[str, Any], item: Source | Evidence) -> None:
    out["marking"] = item.marking
    if item.caveat:
        out["caveat"] = item.caveat


def _shown_lineage(every: list[Source], shown: set[int]) -> dict[int, str | None]:
    """Source id -> the `derived_from` an export shows: lineage through a source left out stays one line.

    A shown source repeating a left-out one repeats its nearest shown ancestor instead; when the whole
    line above it is left out, the line's first shown source stands in for its root. The receiver then
    counts the same independent lines as the full case, and no left-out source is named.
    """
    by_id = {s.id: s for s in every}
    roots = lineage_roots(every)
    stand_in: dict[str, Source] = {}
    for s in every:  # in id order: the first shown source of each line
        if s.id in shown:
            stand_in.setdefault(roots[s.id], s)
    out: dict[int, str | None] = {}
    for sid in shown:
        node = by_id[sid].derived_from_id
        while node is not None and node not in shown:
            node = by_id[node].derived_from_id if node in by_id else None
        if node is not None:
            out[sid] = by_id[node].key
        else:
            first = stand_in[roots[sid]]
            out[sid] = None if first.id == sid or by_id[sid].derived_from_id is None else first.key
    return out


def _source_out(s: Source, parents: dict[int, str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {"key": s.key, "name": s.name, "kind": s.kind, "reliability": s.reliability}
    if parents.get(s.id):
        out["derived_from"] = parents[s.id]
    _marking_out(out, s)
    if s.withdrawn_at is not None:
        out["withdrawn"] = _withdrawal_out(s.withdrawn_by, s.withdrawn_at, s.withdrawal_reason)
    return out


def _withdrawal_out(by: str | None, at: Any, reason: str | None) -> dict[str, Any]:
    return {"by": by, "at": at.isoformat(), "reason": reason}


def _review_out(r: ReviewRequest) -> dict[str, Any]:
    out: dict[str, Any] = {
        "from_stage": r.from_stage,
        "to_stage": r.to_stage,
        "status": r.status,
        "requested_by": r.requested_by,
        "requested_at": r.requested_at.isoformat(),
        "policy_version": r.policy_version,
    }
    if r.reason:
        out["reason"] = r.reason
    if r.decided_by:
        out.update(decided_by=r.decided_by, decided_at=r.decided_at.isoformat() if r.decided_at else None)
    if r.rationale:
        out["rationale"] = r.rationale
    return out


def _claim_out(
    c: Claim, history: list[dict[str, Any]], reviews: list[dict[str, Any]], evidence: list[Evidence]
) -> dict[str, Any]:
    out: dict[str, Any] = {"key": c.key, "statement": c.statement, "stage": c.stage}
    if c.assignee:
        out["assignee"] = c.assignee
    if c.withdrawn_at is not None:
        out["withdrawn"] = _withdrawal_out(c.withdrawn_by, c.withdrawn_at, c.withdrawal_reason)
    out["history"] = history
    out["evidence"] = []
    for e in evidence:
        item: dict[str, Any] = {
            "source": e.source.key,
            "stance": e.stance,
            "credibility": e.credibility,
            "summary": e.summary,
        }
        if e.locator:
            item["locator"] = e.locator
        if e.observed_at:
            item["observed_at"] = e.observed_at.isoformat()
        item["added_by"] = e.added_by
        item["added_at"] = e.added_at.isoformat()
        if e.retracted:
            item.update(
                retracted=True,
                retracted_by=e.retracted_by,
                retracted_at=e.retracted_at.isoformat() if e.retracted_at else None,
                retraction_reason=e.retraction_reason,
            )
        _marking_out(item, e)
        out["evidence"].append(item)
    if reviews:
        out["reviews"] = reviews
    return out
