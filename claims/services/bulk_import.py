"""Bulk import: one case file of any size, streamed, written with Core executemany.

`import_case` (intake.py) builds ORM objects per row and suits small files. This path reads a
JSON case file item by item (ijson; YAML is parsed whole, so very large files should be JSON),
validates each claim with the same pydantic models, and writes claims, evidence and their audit
events in chunks with one executemany per table, all in ONE transaction: a bad item anywhere
leaves the database exactly as before. Claims that carry a stage history or review requests are
replayed through the ORM path, which checks every transition. Same result, same events
(`claim.reported` per new claim, `evidence.added` per new item, one `case.imported`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import yaml
from pydantic import ValidationError
from sqlalchemy import bindparam, insert, select, text, update

from claims.domain.events import EventKind
from claims.domain.stages import Stage
from claims.services.casefile import (
    CaseFile,
    ClaimEntry,
    check_history,
    load_case_data,
    validate_case,
    validation_message,
)
from claims.services.errors import InvalidInput
from claims.services.evidence import fingerprint
from claims.services.intake import ImportReport, _import_actions, _import_sources, import_case
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import now
from claims.store.models import Case, Claim, Evidence
from claims.store.types import to_utc
from claims.store.uow import UnitOfWork

# JSON files up to this size are parsed whole once first, for the checks streaming cannot make.
PRECHECK_BYTES = 50_000_000
CHUNK = 1000  # claims per round of executemany: bounded parameters, bounded memory

Progress = Callable[[int, int], None]  # (claims read, evidence items written)


@dataclass(frozen=True)
class _Header:
    case_file: CaseFile  # case, sources and policy actions (no claims): small, validated whole


class _NeedsWholeFile(Exception):
    """The file carries stage history or reviews for new claims: import it through `import_case`."""


def _no_progress(claims: int, evidence: int) -> None:
    return None


def import_path(rt: Runtime, actor: str, path: str | Path, progress: Progress | None = None) -> ImportReport:
    """Import a case file (JSON streamed, YAML read whole) in one transaction; idempotent."""
    path = Path(path)
    origin = f"case file {path.name}"
    try:
        if path.suffix.lower() == ".json":
            if path.is_file() and path.stat().st_size <= PRECHECK_BYTES:
                load_case_data(path)  # UTF-8, nesting, duplicate keys: checks the stream cannot make
            with path.open("rb") as fh:
                top = _json_top(fh, origin)
            if top.get("type") == "bundle":  # a STIX bundle from `claims export --format stix`: small, read whole
                from claims.services.exports import read_import_file

                return import_case(rt, actor, read_import_file(path))
            if "signature" in top:  # a signature covers the whole document: verified on the whole-file path
                return _whole_file(rt, actor, path)
            header = _Header(validate_case(top, origin))
            try:
                return _run(rt, actor, header, lambda: _json_claims(path), progress or _no_progress)
            except _NeedsWholeFile:
                return _whole_file(rt, actor, path)
        data = load_case_data(path)
    except OSError as exc:
        raise InvalidInput(f"case file: cannot read {str(path)!r} ({exc.strerror})") from None
    except (yaml.YAMLError, ijson.JSONError) as exc:
        first = (str(exc).strip().splitlines() or ["syntax error"])[0]
        raise InvalidInput(f"case file: {str(path)!r} is not valid YAML/JSON ({first})") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{origin}: expected a mapping with case, sources, claims, policy_actions")
    claims = data.pop("claims", None) or []
    if not isinstance(claims, list):
        raise InvalidInput(f"{origin}: claims: expected a list")
    if "signature" in data:
        return _whole_file(rt, actor, path)
    header = _Header(validate_case(data, origin))
    try:
        return _run(rt, actor, header, lambda: iter(claims), progress or _no_progress)
    except _NeedsWholeFile:
        return _whole_file(rt, actor, path)


def _whole_file(rt: Runtime, actor: str, path: Path) -> ImportReport:
    """Signed files and files with stage history: read whole, signature checked, history replayed step by step."""
    from claims.services.exports import read_import_file

    return import_case(rt, actor, read_import_file(path))


def _json_top(fh: BinaryIO, origin: str) -> dict[str, Any]:
    """Every top-level entry but the claims, in one streaming pass that skips over the claims."""
    start = fh.read(4096).lstrip()[:1]
    fh.seek(0)
    if start and start in b'["-0123456789tfn':  # valid JSON, but not an object
        raise InvalidInput(f"{origin}: expected a mapping with case, sources, claims, policy_actions")
    data: dict[str, Any] = {}
    for key, value in ijson.kvitems(fh, "", use_float=True):
        if key != "claims":
            data[key] = value
    return data


def _json_claims(path: Path) -> Iterator[Any]:
    with path.open("rb") as fh:
        yield from ijson.items(fh, "claims.item", use_float=True)


def _validated(items: Iterable[Any], origin: str) -> Iterator[tuple[int, ClaimEntry]]:
    for i, item in enumerate(items):
        try:
            entry = ClaimEntry.model_validate(item)
        except ValidationError as exc:
            raise InvalidInput(validation_message(exc, origin, ("claims", i))) from None
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


def _run(
    rt: Runtime, actor: str, header: _Header, claims: Callable[[], Iterator[Any]], progress: Progress
) -> ImportReport:
    cf = header.case_file
    created: Counter[str] = Counter()
    with rt.uow() as uow:
        authorize(uow, actor, "import")
        case = uow.cases.get(cf.case.key)
        if case is None:
            case = Case(key=cf.case.key, title=cf.case.title, created_at=now())
            uow.cases.add(case)
            uow.flush()
            created["cases"] += 1
        sources = _import_sources(uow, case, cf, created)
        source_ids = {k: s.id for k, s in sources.items()}
        reliability = {k: s.reliability for k, s in sources.items()}
        seen: set[str] = set()
        read = 0
        for chunk in _chunks(_validated(claims(), cf.origin)):
            _write_chunk(uow, rt, actor, case, cf.origin, chunk, source_ids, reliability, seen, created)
            read += len(chunk)
            progress(read, created["evidence"])
        required = {r.claim for a in cf.policy_actions for r in a.requires}
        by_key = {
            c.key: c
            for c in uow.session.scalars(select(Claim).where(Claim.case_id == case.id, Claim.key.in_(sorted(required))))
        }
        _import_actions(uow, case, cf, by_key, created)
        report = ImportReport(case.key, {k: created[k] for k in ("cases", "sources", "claims", "evidence", "actions")})
        if report.changed:
            uow.record(EventKind.CASE_IMPORTED, actor=actor, case_key=case.key, payload=report.created)
        uow.commit()
    if created["claims"] + created["evidence"] >= CHUNK:
        refresh_statistics(rt)
    return report


def refresh_statistics(rt: Runtime) -> None:
    """After a bulk write: fresh planner statistics (PostgreSQL chose a 10-minute plan without them)."""
    with rt.uow() as uow:
        if uow.session.get_bind().dialect.name == "postgresql":
            for table in ("claims", "evidence", "events", "sources", "review_requests"):
                uow.session.execute(text(f"ANALYZE {table}"))
        else:
            uow.session.execute(text("PRAGMA optimize"))
        uow.commit()


def _write_chunk(
    uow: UnitOfWork,
    rt: Runtime,
    actor: str,
    case: Case,
    origin: str,
    chunk: list[tuple[int, ClaimEntry]],
    source_ids: dict[str, int],
    reliability: dict[str, str],
    seen: set[str],
    created: Counter[str],
) -> None:
    """One chunk of claims: look up what exists (bounded IN lists), insert what is new, chain its events."""
    claims_t, evidence_t = Claim.__table__, Evidence.__table__
    session = uow.session
    for i, entry in chunk:
        if entry.key in seen:
            raise InvalidInput(f"{origin}: claims[{i}].key: duplicate key {entry.key!r}")
        seen.add(entry.key)
        for j, ev in enumerate(entry.evidence):
            if ev.source not in source_ids:
                raise InvalidInput(f"{origin}: claims[{i}].evidence[{j}].source: unknown source {ev.source!r}")
    keys = [entry.key for _, entry in chunk]
    existing = {
        row.key: row
        for row in session.execute(
            select(claims_t.c.id, claims_t.c.key, claims_t.c.case_id).where(claims_t.c.key.in_(keys))
        )
    }
    for i, entry in chunk:
        row = existing.get(entry.key)
        if row is not None and row.case_id != case.id:
            other = session.scalar(select(Case.key).where(Case.id == row.case_id))
            raise InvalidInput(f"{origin}: claims[{i}].key: {entry.key!r} already belongs to case {other!r}")
    stamp = now()
    events: list[dict[str, Any]] = []
    ids: dict[str, int] = {k: r.id for k, r in existing.items()}
    simple = [e for _, e in chunk if e.key not in ids and not e.reviews and len(e.history or []) <= 1]
    if simple:
        rows = []
        for entry in simple:
            first = entry.history[0] if entry.history and entry.history[0].stage is Stage.REPORTED else None
            if entry.history and first is None:  # one history entry that is not `reported`: replay it
                continue
            rows.append(
                {
                    "case_id": case.id,
                    "key": entry.key,
                    "statement": entry.statement,
                    "stage": Stage.REPORTED.value,
                    "at_risk": False,
                    "assignee": entry.assignee,
                    "version": 1,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "reported_at": to_utc(first.at) if first else stamp,
                }
            )
            payload: dict[str, Any] = {"by": first.by if first else actor}
            if first:
                payload["at"] = to_utc(first.at).isoformat()  # type: ignore[union-attr]
            events.append(
                {
                    "kind": EventKind.CLAIM_REPORTED.value,
                    "case_key": case.key,
                    "claim_key": entry.key,
                    "to_stage": Stage.REPORTED.value,
                    "payload": payload,
                }
            )
        if rows:
            # Plain executemany, then the ids by key: RETURNING with parameter order falls back to
            # one statement per row on SQLite.
            session.execute(insert(claims_t), rows)
            new_keys = [r["key"] for r in rows]
            ids.update(
                session.execute(select(claims_t.c.key, claims_t.c.id).where(claims_t.c.key.in_(new_keys)))
                .tuples()
                .all()
            )
            created["claims"] += len(rows)
    uow.events.append_many(actor, stamp, events)
    events = []
    if any(entry.key not in ids for _, entry in chunk):
        # A new claim with a history or reviews: only the whole-file path can check who vouches for it
        # (the file's signature) and replay it through the transition rule, so start over there.
        raise _NeedsWholeFile
    known: dict[int, set[str]] = {}
    if existing:
        for claim_id, fp in session.execute(
            select(evidence_t.c.claim_id, evidence_t.c.fingerprint).where(
                evidence_t.c.claim_id.in_([r.id for r in existing.values()])
            )
        ):
            known.setdefault(claim_id, set()).add(fp)
    rows, payloads = [], []
    grown: set[int] = set()
    for _, entry in chunk:
        claim_id = ids[entry.key]
        have = known.setdefault(claim_id, set())
        for ev in entry.evidence:
            fp = fingerprint(ev.source, ev.stance.value, int(ev.credibility), ev.summary, ev.locator, ev.observed_at)
            if fp in have:
                continue
            have.add(fp)
            if entry.key in existing:
                grown.add(claim_id)
            rows.append(
                {
                    "claim_id": claim_id,
                    "source_id": source_ids[ev.source],
                    "stance": ev.stance.value,
                    "credibility": int(ev.credibility),
                    "summary": ev.summary,
                    "locator": ev.locator,
                    "observed_at": ev.observed_at,
                    "added_by": ev.added_by or actor,
                    "added_at": to_utc(ev.added_at) or stamp,
                    "fingerprint": fp,
                    "retracted": ev.retracted,
                    "retracted_by": ev.retracted_by if ev.retracted else None,
                    "retracted_at": (to_utc(ev.retracted_at) or stamp) if ev.retracted else None,
                    "retraction_reason": ev.retraction_reason if ev.retracted else None,
                }
            )
            payloads.append((entry.key, ev.source, f"{reliability[ev.source]}{int(ev.credibility)}"))
    if rows:
        session.execute(insert(evidence_t), rows)
        claim_ids = sorted({r["claim_id"] for r in rows})
        new_ids = {
            (claim_id, fp): evidence_id
            for evidence_id, claim_id, fp in session.execute(
                select(evidence_t.c.id, evidence_t.c.claim_id, evidence_t.c.fingerprint).where(
                    evidence_t.c.claim_id.in_(claim_ids)
                )
            ).tuples()
        }
        for row, (claim_key, source, grade) in zip(rows, payloads, strict=True):
            evidence_id = new_ids[(row["claim_id"], row["fingerprint"])]
            events.append(
                {
                    "kind": EventKind.EVIDENCE_ADDED.value,
                    "case_key": case.key,
                    "claim_key": claim_key,
                    "payload": {
                        "evidence": evidence_id,
                        "source": source,
                        "stance": row["stance"],
                        "grade": grade,
                        "via": "import",
                        "retracted": row["retracted"],
                    },
                }
            )
        created["evidence"] += len(rows)
    if grown:  # known claims that gained evidence: a new version, as one change each
        session.execute(
            update(claims_t)
            .where(claims_t.c.id == bindparam("cid"))
            .values(version=claims_t.c.version + 1, updated_at=bindparam("at")),
            [{"cid": cid, "at": stamp} for cid in sorted(grown)],
        )
    uow.events.append_many(actor, stamp, events)
