"""Use cases: import a case file (idempotent) and export one (lossless).

The import is one pipeline for every file (decision 0018): read and validated (casefile.py, or
streamed claim by claim by bulk_import.py), each chunk of claims turned into typed rows
(`import_rows.claim_rows`), the rows written by one writer (`write_rows`: bulk inserts, then the
events through `EventLog.append_many`), all in one transaction (`run_import`).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from claims.domain import changes
from claims.domain.lineage import resolve_roots
from claims.domain.markings import Scale
from claims.services.casefile import CaseFile, ClaimEntry, LeftOut
from claims.services.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from claims.services.facts import lineage_roots
from claims.services.identity import Identity
from claims.services.import_rows import (
    UNVOUCHED,
    ClaimRows,
    ImportContext,
    Known,
    Voucher,
    claim_rows,
)
from claims.services.import_rows import Source as SourceRow
from claims.services.markings import ImportMarks
from claims.services.provenance import trusted_name
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import now
from claims.store.models import ActionRequirement, Case, Claim, Evidence, PolicyAction, ReviewRequest, Source
from claims.store.repositories import EvidenceRow, ReviewRow
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


CHUNK = 1000  # claims per round of inserts: bounded parameters, bounded memory
KINDS = ("cases", "sources", "claims", "evidence", "actions")

Progress = Callable[[int, int], None]  # (claims read, evidence items written)


def _no_progress(claims: int, evidence: int) -> None:
    return None


def import_case(rt: Runtime, who: Identity, case_file: CaseFile) -> ImportReport:
    """Create what is new in a validated case file; what is already known by key is left as it is.

    One transaction: a file that fails half-way (an unknown source key, a lineage cycle)
    leaves the database exactly as before.
    """
    return run_import(rt, who, case_file, enumerate(case_file.claims))


def run_import(
    rt: Runtime,
    who: Identity,
    header: CaseFile,
    claims: Iterable[tuple[int, ClaimEntry]],
    progress: Progress | None = None,
    rest: Callable[[], CaseFile] | None = None,
) -> ImportReport:
    """The one import: case and sources, then the claims chunk by chunk as rows, then the policy actions.

    `header` is the validated file (its claims may come separately, validated one by one as a large
    file is read: `claims`, each with its index in the file); `rest` gives the policy actions once the
    claims are read, when the file lists them after the claims. One transaction.
    """
    cf = header
    progress = progress or _no_progress
    created: Counter[str] = Counter()
    with _no_cycle_collection(), rt.uow() as uow:
        with uow.bulk_write():
            actor = authorize(uow, who, "import").name
            voucher = _voucher(uow, cf)
            case = uow.cases.get(cf.case.key)
            marks = ImportMarks(rt, uow, actor, cf.origin, cf.case.marking, case)  # issue 20: checked first
            source_marks = marks.sources(cf.sources)
            if case is None:
                case = _new_case(cf, marks)
                uow.cases.add(case)
                uow.flush()
                created["cases"] += 1
            sources = _import_sources(uow, case, cf, created, source_marks)
            ctx = ImportContext(case.id, case.key, cf.origin, actor, now(), voucher, rt.policy, _sources(sources))
            seen: set[str] = set()
            read = 0
            for chunk in _chunks(claims):
                for i, entry in chunk:
                    if entry.key in seen:
                        raise InvalidInput(f"{cf.origin}: claims[{i}].key: duplicate key {entry.key!r}")
                    seen.add(entry.key)
                evidence_marks = {entry.key: marks.evidence(i, entry) for i, entry in chunk}
                write_rows(uow, ctx, claim_rows(ctx, chunk, _known(uow, ctx, chunk), evidence_marks), created)
                read += len(chunk)
                progress(read, created["evidence"])
            if rest is not None:
                cf = rest()
            marks.finish(header.marking)  # a file's declared highest marking; a refusal rolls everything back
            required = {r.claim for a in cf.policy_actions for r in a.requires}
            _import_actions(uow, case, cf, {c.key: c for c in uow.claims.in_case(case.id, required)}, created)
            report = ImportReport(case.key, {k: created[k] for k in KINDS}, header.left_out)
            if report.changed:
                change = changes.case_imported(
                    case.key, report.created, signature=voucher.signature, attested_by=voucher.key_id
                )
                uow.record_change(change, actor=actor)
        uow.commit()
    if created["claims"] + created["evidence"] >= CHUNK:
        refresh_statistics(rt)
    return report


def refresh_statistics(rt: Runtime) -> None:
    """After a bulk write: fresh planner statistics (PostgreSQL chose a 10-minute plan without them)."""
    with rt.uow() as uow:
        uow.refresh_statistics()
        uow.commit()


def _chunks(items: Iterable[tuple[int, ClaimEntry]]) -> Iterator[list[tuple[int, ClaimEntry]]]:
    chunk: list[tuple[int, ClaimEntry]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector while the rows stream through (an eighth of a large import).

    Every few thousand new containers the collector ran, and its full passes walked the whole
    long-lived heap again; the rows, entries and payloads of an import hold no reference cycles,
    so plain reference counting frees them chunk by chunk anyway.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _new_case(cf: CaseFile, marks: ImportMarks) -> Case:
    return Case(key=cf.case.key, title=cf.case.title, created_at=now(), marking=marks.case, caveat=cf.case.caveat)


def _voucher(uow: UnitOfWork, cf: CaseFile) -> Voucher:
    """Who vouches for the file's confirm/refute history: a trusted key that signed it, or nobody."""
    att = cf.attestation
    if att is None:
        return UNVOUCHED
    name = trusted_name(uow, att)
    if name is None:
        return Voucher("untrusted", att.key_id)
    return Voucher("trusted", att.key_id, name)


def _sources(known: dict[str, Source]) -> dict[str, SourceRow]:
    """The case's sources as the rows need them, each with its lineage root."""
    roots = resolve_roots({k: (s.derived_from.key if s.derived_from else None) for k, s in known.items()})
    return {k: SourceRow(s.id, s.reliability, s.name, roots[k]) for k, s in known.items()}


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


def _known(uow: UnitOfWork, ctx: ImportContext, chunk: list[tuple[int, ClaimEntry]]) -> Known:
    """What the database already holds of the chunk's claims (bounded IN lists)."""
    existing = uow.claims.ids_and_cases([entry.key for _, entry in chunk])
    case_keys = {case_id: uow.cases.key_of(case_id) or "" for _, case_id in existing.values() if case_id != ctx.case_id}
    ours = sorted(claim_id for claim_id, case_id in existing.values() if case_id == ctx.case_id)
    fingerprints: dict[int, set[str]] = {}
    if ours:
        for claim_id, fp in uow.evidence.ids_by_fingerprint(ours):
            fingerprints.setdefault(claim_id, set()).add(fp)
    return Known(existing, case_keys, fingerprints)


def write_rows(uow: UnitOfWork, ctx: ImportContext, rows: list[ClaimRows], created: Counter[str]) -> None:
    """The one writer of an import's rows: claims, evidence, reviews in bulk, then their events, chained in
    file order (per claim: `claim.reported` listing its items, its stage steps, its reviews; a known claim
    that gained items: one `evidence.imported`)."""
    ids = {r.key: r.claim_id for r in rows if r.claim_id is not None}
    new = [r.row for r in rows if r.row is not None]
    if new:
        uow.claims.insert_rows(new)
        ids.update((key, claim_id) for key, (claim_id, _) in uow.claims.ids_and_cases([c.key for c in new]).items())
        created["claims"] += len(new)
    evidence: list[EvidenceRow] = []
    grown: list[int] = []
    for r in rows:
        if r.claim_id is None:
            claim_id = ids[r.key]
            evidence += [EvidenceRow._make((claim_id, *item[1:])) for item in r.items]
        elif r.items:
            evidence += r.items
            grown.append(r.claim_id)
    item_ids: dict[tuple[int, str], int] = {}
    if evidence:
        uow.evidence.insert_rows(evidence)
        item_ids = uow.evidence.ids_by_fingerprint(sorted({row.claim_id for row in evidence}))
        created["evidence"] += len(evidence)
        if grown:  # known claims that gained evidence: a new version, as one change each
            uow.claims.bump_versions(grown, ctx.stamp)
    reviews = [ReviewRow(ids[r.key], *row[1:]) for r in rows for row, _ in r.reviews]
    review_ids = iter(uow.reviews.insert_rows(reviews))
    events = []
    for r in rows:
        claim_id = ids[r.key]
        items = [
            {"evidence": item_ids[(claim_id, row.fingerprint)], "source": source, "stance": stance, "grade": grade,
             "retracted": retracted}
            for row, (source, stance, grade, retracted) in zip(r.items, r.listed, strict=True)
        ]  # fmt: skip
        if r.reported is not None:  # a new claim: reported with the items it came with
            payload = {**r.reported, "via": "import", "items": items} if items else r.reported
            events.append(changes.claim_reported(ctx.case_key, r.key, payload).row())
            events += [move.row() for move in r.moves]
            events += [change.for_review(next(review_ids)).row() for _, change in r.reviews]
        elif items:  # a known claim that gained items
            events.append(changes.evidence_imported(ctx.case_key, r.key, items).row())
    uow.events.append_many(ctx.actor, events)


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
    rt: Runtime, case_key: str | None = None, *, who: Identity | None = None, max_marking: str | None = None
) -> dict[str, Any]:
    """The case as a case file: sources, claims with full evidence and stage history, actions.

    Need to know (issue 20): only what `who` may read (their cases, their clearance; no actor: the
    system, which reads everything) and whose effective marking is at or below `max_marking`
    (default: the actor's clearance; never above it), selected in SQL. `marking` says the highest
    marking inside. Lineage through a source left out stays one line (`_shown_lineage`).
    """
    return export_view(rt, case_key, who=who, max_marking=max_marking)[0]


def export_view(
    rt: Runtime, case_key: str | None = None, *, who: Identity | None = None, max_marking: str | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """`export_case`, and per claim how many of its evidence items it left out (for the exports that need it)."""
    from claims.services.access import reader
    from claims.services.runtime import SYSTEM_USER

    scale = rt.markings
    with rt.uow(write=False) as uow:
        if who is not None:
            authorize(uow, who, "read")
        seen = reader(uow, who.name if who is not None else SYSTEM_USER, scale)
        allowed = export_markings(scale, seen.clearance, seen.allowed, max_marking, seen.name)
        if case_key is None:
            keys = uow.session.scalars(
                select(Case.key).where(seen.cases(Case.id), Case.marking.in_(seen.allowed)).order_by(Case.key)
            ).all()
            if len(keys) != 1:
                raise InvalidInput(f"case: choose one with --case (cases: {', '.join(keys) or 'none'})")
            case_key = keys[0]
        case = uow.cases.get(case_key)
        if case is None or not seen.sees_case(case.id) or case.marking not in seen.allowed:
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
