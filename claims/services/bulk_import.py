"""Bulk import: one case file of any size, streamed, written in chunks of plain rows.

`import_case` (intake.py) builds ORM objects per row and suits small files. This path reads a
JSON case file once, item by item (jsonstream.py: json's C decoder over a window of the file, with
the strict loader's checks; YAML is parsed whole, so very large files should be JSON), validates
each claim with the same pydantic models, and writes claims, evidence and their audit events in
chunks with one executemany (COPY on PostgreSQL) per table, all in ONE transaction: a bad item
anywhere leaves the database exactly as before. Claims that carry a stage history or review
requests are replayed through the ORM path, which checks every transition. Same result, fewer
events: a row per item in the events table cost more than all the other rows of an import
together, so a claim's new items are listed in one event, each as `evidence.added` would carry
it (evidence id, source, stance, grade, retracted) under the payload's `items`: in the
`claim.reported` event of a new claim, in one `evidence.imported` event for a known claim. Then
one `case.imported`. The audit replay reads both (services/audit.py).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from claims.domain import changes
from claims.domain.events import EventKind
from claims.domain.stages import Stage, Stance
from claims.services.casefile import (
    CaseFile,
    ClaimEntry,
    _first_nul,
    check_history,
    load_case_data,
    validate_case,
    validation_message,
)
from claims.services.errors import InvalidInput
from claims.services.evidence import fingerprint
from claims.services.intake import ImportReport, _import_actions, _import_sources, _new_case, import_case
from claims.services.jsonstream import Broken, Items, ObjectReader
from claims.services.markings import ImportMarks
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import now
from claims.store.models import Case
from claims.store.repositories import ClaimRow, EvidenceRow
from claims.store.types import to_utc
from claims.store.uow import UnitOfWork

CHUNK = 1000  # claims per round of inserts: bounded parameters, bounded memory
HEADER = ("case", "sources")  # what claims need before they can be written
WHOLE_FILE = ("signature", "type")  # a signed file, a STIX bundle: read whole (`_whole_file`)

Progress = Callable[[int, int], None]  # (claims read, evidence items written)
Claims = Iterator[tuple[Any, bool]]  # (item, may hold a NUL character)
_STANCE = {s: s.value for s in Stance}


class _NeedsWholeFile(Exception):
    """The file carries stage history or reviews for new claims: import it through `import_case`."""


def _no_progress(claims: int, evidence: int) -> None:
    return None


def import_path(rt: Runtime, actor: str, path: str | Path, progress: Progress | None = None) -> ImportReport:
    """Import a case file (JSON streamed, YAML read whole) in one transaction; idempotent."""
    path = Path(path)
    origin = f"case file {path.name}"
    try:
        try:
            if path.suffix.lower() == ".json":
                return _import_json(rt, actor, path, origin, progress or _no_progress)
        except Broken:
            pass  # the whole-file loader below says what is wrong, in its words
        data = load_case_data(path)
    except OSError as exc:
        raise InvalidInput(f"case file: cannot read {str(path)!r} ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        first = (str(exc).strip().splitlines() or ["syntax error"])[0]
        raise InvalidInput(f"case file: {str(path)!r} is not valid YAML/JSON ({first})") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{origin}: expected a mapping with case, sources, claims, policy_actions")
    if any(key in data for key in WHOLE_FILE):
        return _whole_file(rt, actor, path)
    claims = data.pop("claims", None) or []
    if not isinstance(claims, list):
        raise InvalidInput(f"{origin}: claims: expected a list")
    header = validate_case(data, origin)
    try:
        return _run(rt, actor, header, ((c, False) for c in claims), progress or _no_progress)
    except _NeedsWholeFile:
        return _whole_file(rt, actor, path)


def _import_json(rt: Runtime, actor: str, path: Path, origin: str, progress: Progress) -> ImportReport:
    """One pass when the case and its sources come before the claims (as `claims export` writes them)."""
    with path.open("rb") as fh:
        members = ObjectReader(fh, "claims").members()
        top: dict[str, Any] = {}
        for key, value in members:
            if key in WHOLE_FILE:
                return _whole_file(rt, actor, path)
            if not isinstance(value, Items):
                top[key] = value
            elif all(k in top for k in HEADER):
                header = validate_case(top, origin)

                def rest() -> CaseFile:
                    """The entries after the claims (policy actions), once the claims are read."""
                    for later, more in members:
                        if later in WHOLE_FILE:
                            raise _NeedsWholeFile
                        top[later] = more
                    return validate_case(top, origin)

                try:
                    return _run(rt, actor, header, value, progress, rest)
                except _NeedsWholeFile:
                    return _whole_file(rt, actor, path)
            else:
                for _ in value:  # the claims come first: read past them, take them on a second pass
                    pass
                top["claims"] = None
    if "claims" in top and top.pop("claims") is not None:
        raise InvalidInput(f"{origin}: claims: expected a list")
    header = validate_case(top, origin)
    try:
        return _run(rt, actor, header, _claims_again(path), progress)
    except _NeedsWholeFile:
        return _whole_file(rt, actor, path)


def _claims_again(path: Path) -> Claims:
    with path.open("rb") as fh:
        for _, value in ObjectReader(fh, "claims").members():
            if isinstance(value, Items):
                yield from value
                return


def _whole_file(rt: Runtime, actor: str, path: Path) -> ImportReport:
    """Signed files, STIX bundles, files with stage history: read whole, signature checked, history replayed."""
    from claims.services.exports import read_import_file

    return import_case(rt, actor, read_import_file(path))


def _validated(items: Claims, origin: str) -> Iterator[tuple[int, ClaimEntry]]:
    validate = ClaimEntry.model_validate
    for i, (item, may_hold_nul) in enumerate(items):
        if may_hold_nul:
            nul = _first_nul(item, f"claims[{i}]")
            if nul is not None:
                raise InvalidInput(f"{origin}: {nul}: contains a NUL character, which no text field may hold")
        try:
            entry = validate(item)
        except ValidationError as exc:
            raise InvalidInput(validation_message(exc, origin, ("claims", i))) from None
        if entry.history:
            check_history(entry, f"{origin}: claims[{i}]")  # the transition rule, as validate_case applies it
        yield i, entry


def _chunks(items: Iterator[tuple[int, ClaimEntry]]) -> Iterator[list[tuple[int, ClaimEntry]]]:
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
    """Pause the cyclic garbage collector while the rows stream through (an eighth of an import).

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


def _run(
    rt: Runtime,
    actor: str,
    header: CaseFile,
    claims: Claims,
    progress: Progress,
    rest: Callable[[], CaseFile] | None = None,
) -> ImportReport:
    """Case and sources first, then the claims chunk by chunk, then the policy actions: one transaction."""
    cf = header
    created: Counter[str] = Counter()
    with _no_cycle_collection(), rt.uow() as uow:
        with uow.bulk_write():
            authorize(uow, actor, "import")
            case = uow.cases.get(cf.case.key)
            marks = ImportMarks(rt, uow, actor, cf.origin, cf.case.marking, case)
            source_marks = marks.sources(cf.sources)
            if case is None:
                case = _new_case(cf, marks)
                uow.cases.add(case)
                uow.flush()
                created["cases"] += 1
            sources = _import_sources(uow, case, cf, created, source_marks)
            source_ids = {k: s.id for k, s in sources.items()}
            reliability = {k: s.reliability for k, s in sources.items()}
            seen: set[str] = set()
            read = 0
            for chunk in _chunks(_validated(claims, cf.origin)):
                _write_chunk(uow, actor, case, cf.origin, chunk, source_ids, reliability, seen, created, marks)
                read += len(chunk)
                progress(read, created["evidence"])
            if rest is not None:
                cf = rest()
            marks.finish(header.marking)  # a refusal here rolls the whole transaction back
            required = {r.claim for a in cf.policy_actions for r in a.requires}
            by_key = {c.key: c for c in uow.claims.in_case(case.id, required)}
            _import_actions(uow, case, cf, by_key, created)
            kinds = ("cases", "sources", "claims", "evidence", "actions")
            report = ImportReport(case.key, {k: created[k] for k in kinds})
            if report.changed:
                uow.record(EventKind.CASE_IMPORTED, actor=actor, case_key=case.key, payload=report.created)
        uow.commit()
    if created["claims"] + created["evidence"] >= CHUNK:
        refresh_statistics(rt)
    return report


def refresh_statistics(rt: Runtime) -> None:
    """After a bulk write: fresh planner statistics (PostgreSQL chose a 10-minute plan without them)."""
    with rt.uow() as uow:
        uow.refresh_statistics()
        uow.commit()


def _needs_replay(entry: ClaimEntry) -> bool:
    """A stage history beyond `reported`, or reviews: only the whole-file path may land those."""
    return bool(entry.reviews) or any(step.stage is not Stage.REPORTED for step in entry.history)


def _write_chunk(
    uow: UnitOfWork,
    actor: str,
    case: Case,
    origin: str,
    chunk: list[tuple[int, ClaimEntry]],
    source_ids: dict[str, int],
    reliability: dict[str, str],
    seen: set[str],
    created: Counter[str],
    marks: ImportMarks,
) -> None:
    """One chunk of claims: look up what exists (bounded IN lists), insert what is new, chain its events."""
    evidence_marks = {entry.key: marks.evidence(i, entry) for i, entry in chunk}  # before this chunk writes
    for i, entry in chunk:
        if entry.key in seen:
            raise InvalidInput(f"{origin}: claims[{i}].key: duplicate key {entry.key!r}")
        seen.add(entry.key)
        for j, ev in enumerate(entry.evidence):
            if ev.source not in source_ids:
                raise InvalidInput(f"{origin}: claims[{i}].evidence[{j}].source: unknown source {ev.source!r}")
    existing = uow.claims.ids_and_cases([entry.key for _, entry in chunk])
    for i, entry in chunk:
        found = existing.get(entry.key)
        if found is not None and found[1] != case.id:
            other = uow.cases.key_of(found[1])
            raise InvalidInput(f"{origin}: claims[{i}].key: {entry.key!r} already belongs to case {other!r}")
    new = [entry for _, entry in chunk if entry.key not in existing]
    if any(_needs_replay(entry) for entry in new):
        # A new claim with a history or reviews: only the whole-file path can check who vouches for it
        # (the file's signature) and replay it through the transition rule, so start over there.
        raise _NeedsWholeFile
    stamp = now()
    ids = {key: claim_id for key, (claim_id, _) in existing.items()}
    reported: dict[str, dict[str, Any]] = {}  # key -> payload of `claim.reported`, for each new claim
    if new:
        rows: list[ClaimRow] = []
        for entry in new:
            first = entry.history[0] if entry.history else None  # `reported`, with who and when
            at = (to_utc(first.at) if first else None) or stamp
            rows.append(
                ClaimRow(case.id, entry.key, entry.statement, "reported", False, entry.assignee, 1, stamp, stamp, at)
            )
            reported[entry.key] = {"by": first.by, "at": at.isoformat()} if first else {"by": actor}
        uow.claims.insert_rows(rows)
        for entry in new:  # withdrawn ones are few: one UPDATE each (issue 17)
            if entry.withdrawn is not None:
                w = entry.withdrawn
                uow.claims.mark_withdrawn(entry.key, to_utc(w.at), w.by, w.reason)
        ids.update((key, claim_id) for key, (claim_id, _) in uow.claims.ids_and_cases(list(reported)).items())
        created["claims"] += len(rows)
    known: dict[int, set[str]] = {}
    if existing:
        for claim_id, fp in uow.evidence.ids_by_fingerprint(sorted(ids[k] for k in existing)):
            known.setdefault(claim_id, set()).add(fp)
    evidence_rows: list[EvidenceRow] = []
    payloads = []
    grown: set[int] = set()
    for _, entry in chunk:
        claim_id = ids[entry.key]
        have = known.setdefault(claim_id, set())
        for ev, marking in zip(entry.evidence, evidence_marks[entry.key], strict=True):
            stance = _STANCE[ev.stance]
            credibility = int(ev.credibility)
            fp = fingerprint(ev.source, stance, credibility, ev.summary, ev.locator, ev.observed_at)
            if fp in have:
                continue
            have.add(fp)
            if entry.key in existing:
                grown.add(claim_id)
            retracted = ev.retracted
            evidence_rows.append(
                EvidenceRow(
                    claim_id=claim_id,
                    source_id=source_ids[ev.source],
                    stance=stance,
                    credibility=credibility,
                    summary=ev.summary,
                    locator=ev.locator,
                    observed_at=ev.observed_at,
                    added_by=ev.added_by or actor,
                    added_at=to_utc(ev.added_at) or stamp,
                    fingerprint=fp,
                    retracted=retracted,
                    retracted_by=ev.retracted_by if retracted else None,
                    retracted_at=(to_utc(ev.retracted_at) or stamp) if retracted else None,
                    retraction_reason=ev.retraction_reason if retracted else None,
                    marking=marking,
                    caveat=ev.caveat,
                )
            )
            payloads.append((entry.key, ev.source, stance, f"{reliability[ev.source]}{credibility}", retracted))
    items: dict[str, list[dict[str, Any]]] = {}
    if evidence_rows:
        uow.evidence.insert_rows(evidence_rows)
        new_ids = uow.evidence.ids_by_fingerprint(sorted({row.claim_id for row in evidence_rows}))
        for row, (claim_key, source, stance, grade, retracted) in zip(evidence_rows, payloads, strict=True):
            items.setdefault(claim_key, []).append(
                {
                    "evidence": new_ids[(row.claim_id, row.fingerprint)],
                    "source": source,
                    "stance": stance,
                    "grade": grade,
                    "retracted": retracted,
                }
            )
        created["evidence"] += len(evidence_rows)
        if grown:  # known claims that gained evidence: a new version, as one change each
            uow.claims.bump_versions(grown, stamp)
    events = []
    for key, payload in reported.items():  # a new claim: reported with the items it came with
        if key in items:
            payload.update(via="import", items=items.pop(key))
        events.append(changes.claim_reported(case.key, key, payload).row())
    for key, added in items.items():  # a known claim that gained items
        events.append(changes.evidence_imported(case.key, key, added).row())
    uow.events.append_many(actor, events)
