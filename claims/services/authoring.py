"""Use cases: create, edit and withdraw cases, sources, claims and policy actions by hand (issue 17).

Before this, those only entered through a case file. Every change here is one unit of work that
writes the change and its audit event (who, when, the old and the new value) together.

- Optimistic concurrency: an edit or withdrawal names the version the editor read
  (`expected_version`); if the item moved on meanwhile, ConcurrencyConflict and nothing is written.
  PostgreSQL writers queue behind the event log's lock, so the second of two editors reads the
  first one's version and is refused.
- A rationale is required where an edit changes meaning: a claim's statement, a source's
  reliability (or lineage), an action's requirements.
- Nothing is deleted. A withdrawn claim stays readable and can no longer be edited or receive
  evidence. A withdrawn source's live evidence is retracted in the same transaction (who, when,
  "source withdrawn: <reason>"): the assessment, readiness and every count already ignore
  retracted items, so no reader has to learn a second rule.
- Re-assessment: a claim whose statement changes gets a new version (the ORM's version counter);
  a re-graded, re-parented or withdrawn source bumps the version of every claim it has evidence on,
  in one set-based UPDATE. The incremental assessment re-judges claims whose version moved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import date
from typing import Any, get_args

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import flag_modified

from claims.domain import changes
from claims.domain.events import EventKind
from claims.domain.grades import Reliability
from claims.domain.lineage import resolve_roots
from claims.domain.stages import Stage
from claims.services.access import CASE_ROLES, authorize_case, case_for, reader
from claims.services.casefile import SourceEntry
from claims.services.errors import AlreadyDone, InvalidInput, NotFound, RuleViolation, refuse_nul
from claims.services.identity import Identity
from claims.services.loading import check_version, load_claim, load_claim_as
from claims.services.markings import change as change_marking
from claims.services.markings import chosen, new_case_marking
from claims.services.runtime import Runtime, authorize
from claims.services.tasks import replan
from claims.services.transitions import now, touch
from claims.store.models import ActionRequirement, Case, CaseMember, Claim, Evidence, PolicyAction, Source, User
from claims.store.uow import ConcurrencyConflict, UnitOfWork

KEY = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
KEY_MAX = 120
SLUG_MAX = 60
KINDS: tuple[str, ...] = get_args(SourceEntry.model_fields["kind"].annotation)  # as a case file has them


# --- checks shared by the use cases -------------------------------------------------------------


def _text(field: str, value: str | None) -> str:
    """A required free-text value, stripped; empty or NUL-bearing is refused."""
    if value is None or not value.strip():
        raise InvalidInput(f"{field}: must not be empty")
    refuse_nul(field, value)
    return value.strip()


def _key(field: str, value: str) -> str:
    if not KEY.match(value or "") or len(value) > KEY_MAX:
        raise InvalidInput(f"{field}: {value!r} is not a key (lowercase letters, digits, . _ -; at most {KEY_MAX})")
    return value


def _kind(value: str) -> str:
    kind = (value or "").strip().lower()
    if kind not in KINDS:
        raise InvalidInput(f"kind: {value!r} is not a source kind ({', '.join(KINDS)})")
    return kind


def _rationale(rationale: str | None, what: str) -> str:
    """Edits that change meaning say why; the message is the one line the user sees."""
    if rationale is None or not rationale.strip():
        raise InvalidInput(f"rationale: changing {what} needs a rationale (--rationale)")
    refuse_nul("rationale", rationale)
    return rationale.strip()


def _expect(kind: str, key: str, version: int, expected: int) -> None:
    if version != expected:
        raise ConcurrencyConflict(
            f"version: {kind} {key!r} is at version {version}, not {expected}; someone changed it meanwhile"
        )


def slug(statement: str) -> str:
    """A claim key from its statement: ASCII, lowercase, words joined by '-', cut at a word boundary."""
    ascii_text = unicodedata.normalize("NFKD", statement).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > SLUG_MAX:
            break
        out = candidate
    return out or (words[0][:SLUG_MAX] if words else "claim")


def _case(uow: UnitOfWork, key: str) -> Case:
    case = uow.cases.get(key)
    if case is None:
        raise NotFound(f"case: unknown case {key!r}")
    return case


def _authoring(uow: UnitOfWork, rt: Runtime, who: Identity, case: Case | None, unknown: str) -> User:
    """The author, allowed to author on `case` by their role there (issue 20); a case they do not read is
    NotFound with `unknown`, as if it did not exist."""
    if case is None:
        authorize(uow, who, "author")
        raise NotFound(unknown)
    return authorize_case(uow, who, "author", case, rt.markings, unknown=unknown)


def _case_to_author(uow: UnitOfWork, rt: Runtime, who: Identity, key: str) -> tuple[Case, User]:
    case = uow.cases.get(key)
    return case, _authoring(uow, rt, who, case, f"case: unknown case {key!r}")  # type: ignore[return-value]


def _source(uow: UnitOfWork, case: Case, key: str, field: str = "source") -> Source:
    source = uow.sources.get(case.id, key)
    if source is None:
        raise NotFound(f"{field}: unknown source {key!r} in case {case.key!r}")
    return source


def _action(uow: UnitOfWork, key: str) -> PolicyAction:
    action = uow.actions.get(key)
    if action is None:
        raise NotFound(f"action: unknown policy action {key!r}")
    return action


def _check_lineage(uow: UnitOfWork, case: Case, key: str, parent: str | None) -> None:
    """The domain's cycle check on the case's lineage as it would be after the change."""
    sources = uow.sources.for_case(case.id)
    by_id = {s.id: s.key for s in sources}
    mapping: dict[str, str | None] = {
        s.key: by_id.get(s.derived_from_id) if s.derived_from_id else None for s in sources
    }
    mapping[key] = parent
    resolve_roots(mapping)  # raises LineageCycle (a rule violation, exit 1)


def _bump_claims_of(uow: UnitOfWork, source_id: int) -> int:
    """New versions, in one UPDATE, for every claim the source has evidence on: they are re-judged."""
    touched = select(Evidence.claim_id).where(Evidence.source_id == source_id)
    result = uow.session.execute(
        update(Claim)
        .where(Claim.id.in_(touched))
        .values(version=Claim.version + 1, updated_at=now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _requirements(uow: UnitOfWork, case: Case, requires: Iterable[tuple[str, str]]) -> list[tuple[Claim, str]]:
    out: list[tuple[Claim, str]] = []
    seen: set[str] = set()
    for claim_key, stage in requires:
        claim = load_claim(uow, claim_key)
        if claim.case_id != case.id:
            raise InvalidInput(f"requires: claim {claim_key!r} belongs to case {claim.case.key!r}, not {case.key!r}")
        if claim_key in seen:
            raise InvalidInput(f"requires: claim {claim_key!r} is named twice")
        seen.add(claim_key)
        out.append((claim, Stage.parse(stage, "requires").value))
    return out


def parse_requires(values: Sequence[str]) -> list[tuple[str, str]]:
    """`claim:stage` pairs as the CLI and the page take them (stage defaults to confirmed)."""
    pairs = []
    for value in values:
        claim, _, stage = value.partition(":")
        if not claim.strip():
            raise InvalidInput(f"requires: {value!r} is not CLAIM[:STAGE]")
        pairs.append((claim.strip(), (stage or Stage.CONFIRMED.value).strip()))
    return pairs


# --- views (plain data, built inside the unit of work) -----------------------------------------


def _case_row(c: Case) -> dict[str, Any]:
    return {"key": c.key, "title": c.title, "version": c.version, "marking": c.marking, "caveat": c.caveat}


def _source_row(s: Source) -> dict[str, Any]:
    return {
        "case": s.case.key,
        "key": s.key,
        "name": s.name,
        "kind": s.kind,
        "reliability": s.reliability,
        "derived_from": s.derived_from.key if s.derived_from else None,
        "marking": s.marking,
        "caveat": s.caveat,
        "version": s.version,
        "withdrawn": s.withdrawn_at is not None,
        "withdrawn_by": s.withdrawn_by,
        "withdrawal_reason": s.withdrawal_reason,
    }


def _claim_row(c: Claim) -> dict[str, Any]:
    return {
        "case": c.case.key,
        "key": c.key,
        "statement": c.statement,
        "stage": c.stage,
        "version": c.version,
        "withdrawn": c.withdrawn_at is not None,
        "withdrawn_by": c.withdrawn_by,
        "withdrawal_reason": c.withdrawal_reason,
    }


def _requires_of(a: PolicyAction) -> list[dict[str, str]]:
    return [{"claim": r.claim.key, "stage": r.stage} for r in a.requirements]


def parse_due(value: date | str | None) -> date | None:
    """An action's due date (issue 18): YYYY-MM-DD; collection tasks are due by the earliest action they unblock."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"due: {value!r} is not a date (YYYY-MM-DD)") from None


def _action_row(a: PolicyAction) -> dict[str, Any]:
    return {
        "case": a.case.key,
        "key": a.key,
        "title": a.title,
        "severity": a.severity,
        "due": a.due_on.isoformat() if a.due_on else None,
        "requires": _requires_of(a),
        "version": a.version,
    }


# --- cases ---------------------------------------------------------------------------------------


def add_case(
    rt: Runtime, who: Identity, key: str, title: str, *, marking: str | None = None, caveat: str | None = None
) -> dict[str, Any]:
    """Open a new case to hold sources, claims and actions, marked `marking` (default: the deployment's)."""
    actor = who.name
    key, title = _key("key", key), _text("title", title)
    mark, cav = chosen(rt, marking, caveat, default=new_case_marking(rt))
    with rt.uow() as uow:
        user = authorize(uow, who, "author")
        if uow.cases.get(key) is not None:
            raise RuleViolation(f"key: case {key!r} already exists")
        case = Case(key=key, title=title, created_at=now(), marking=mark, caveat=cav)
        uow.cases.add(case)
        uow.flush()
        new = {"title": title, "marking": mark, "caveat": cav}
        uow.record(EventKind.CASE_CREATED, actor=actor, case_key=key, payload={"new": new})
        if not user.all_cases:  # need to know: whoever opens a case reads it, as a member with their role
            role = user.role if user.role in CASE_ROLES else "analyst"
            uow.session.add(CaseMember(case_id=case.id, user_id=user.id, role=role, added_by=actor, added_at=now()))
            payload = {"user": user.name, "role": role, "old_role": None}
            uow.record(EventKind.CASE_MEMBER_ADDED, actor=actor, case_key=key, payload=payload)
        row = _case_row(case)
        uow.commit()
        return row


def edit_case(
    rt: Runtime,
    who: Identity,
    key: str,
    *,
    expected_version: int,
    title: str | None = None,
    marking: str | None = None,
    caveat: str | None = None,
    rationale: str | None = None,
) -> dict[str, Any]:
    """Retitle or re-mark a case (a title carries no meaning the assessment reads: no rationale needed;
    lowering the marking is a declassification: a reviewer's, with a rationale)."""
    actor = who.name
    title = _text("title", title) if title is not None else None
    with rt.uow() as uow:
        case, user = _case_to_author(uow, rt, who, key)
        _expect("case", key, case.version, expected_version)
        marked = change_marking(
            rt, uow, user, case, what=f"case {key!r}", case_key=key, marking=marking, caveat=caveat, rationale=rationale
        )
        old = case.title
        if title is None or title == old:
            if marked is None:
                raise InvalidInput(f"case: nothing to change on {key!r}")
        else:
            case.title = title
        flag_modified(case, "title")
        uow.flush()
        if title is not None and title != old:
            uow.record(
                EventKind.CASE_EDITED,
                actor=actor,
                case_key=key,
                payload={"old": {"title": old}, "new": {"title": title}, "version": case.version},
            )
        row = _case_row(case)
        uow.commit()
        return row


def list_cases(rt: Runtime, who: Identity) -> list[dict[str, Any]]:
    with rt.uow(write=False) as uow:
        authorize(uow, who, "read")
        seen = reader(uow, who.name, rt.markings)
        rows = uow.session.scalars(
            select(Case).where(seen.cases(Case.id), seen.marked(Case.marking)).order_by(Case.key)
        ).all()
        return [_case_row(c) for c in rows]


# --- sources -------------------------------------------------------------------------------------


def add_source(
    rt: Runtime,
    who: Identity,
    case_key: str,
    key: str,
    name: str,
    *,
    kind: str,
    reliability: str,
    derived_from: str | None = None,
    marking: str | None = None,
    caveat: str | None = None,
) -> dict[str, Any]:
    """Add a source with its Admiralty reliability (A-F), kind and, if it repeats another, its lineage;
    marked `marking` (default: its case's)."""
    actor = who.name
    key, name, kind = _key("key", key), _text("name", name), _kind(kind)
    grade = Reliability.parse(reliability).value
    chosen(rt, marking, caveat, default="")  # an unknown marking is refused before anything is read
    with rt.uow() as uow:
        case, _ = _case_to_author(uow, rt, who, case_key)
        if uow.sources.get(case.id, key) is not None:
            raise RuleViolation(f"key: source {key!r} already exists in case {case_key!r}")
        parent = _source(uow, case, derived_from, "derived_from") if derived_from else None
        _check_lineage(uow, case, key, derived_from)
        mark, cav = chosen(rt, marking, caveat, default=case.marking)
        source = Source(
            case=case,
            key=key,
            name=name,
            kind=kind,
            reliability=grade,
            derived_from=parent,
            marking=mark,
            caveat=cav,
        )
        uow.sources.add(source)
        uow.flush()
        new = {"name": name, "kind": kind, "reliability": grade, "derived_from": derived_from, "marking": mark}
        if cav:
            new["caveat"] = cav
        uow.record(EventKind.SOURCE_ADDED, actor=actor, case_key=case.key, payload={"source": key, "new": new})
        row = _source_row(source)
        uow.commit()
        return row


_UNCHANGED: Any = object()


def edit_source(
    rt: Runtime,
    who: Identity,
    case_key: str,
    key: str,
    *,
    expected_version: int,
    name: str | None = None,
    kind: str | None = None,
    reliability: str | None = None,
    derived_from: str | None = _UNCHANGED,
    rationale: str | None = None,
    marking: str | None = None,
    caveat: str | None = None,
) -> dict[str, Any]:
    """Correct a source. A new reliability or lineage changes meaning: it needs a rationale, and
    every claim the source speaks to is re-assessed. `derived_from=""` clears the lineage.
    A new marking is its own `marking.changed` event (lowering one: a reviewer's, with a rationale)."""
    actor = who.name
    with rt.uow() as uow:
        case, user = _case_to_author(uow, rt, who, case_key)
        source = _source(uow, case, key)
        _expect("source", key, source.version, expected_version)
        if source.withdrawn_at is not None:
            raise RuleViolation(f"source: {key!r} was withdrawn by {source.withdrawn_by}; it is no longer edited")
        marked = change_marking(
            rt,
            uow,
            user,
            source,
            what=f"source {case.key}/{key}",
            case_key=case.key,
            marking=marking,
            caveat=caveat,
            rationale=rationale,
        )
        old = _source_row(source)
        changes: dict[str, Any] = {}
        if name is not None and _text("name", name) != source.name:
            changes["name"] = source.name = name.strip()
        if kind is not None and _kind(kind) != source.kind:
            changes["kind"] = source.kind = _kind(kind)
        if reliability is not None and Reliability.parse(reliability).value != source.reliability:
            changes["reliability"] = source.reliability = Reliability.parse(reliability).value
        if derived_from is not _UNCHANGED:
            parent_key = derived_from or None
            if parent_key != old["derived_from"]:
                parent = _source(uow, case, parent_key, "derived_from") if parent_key else None
                _check_lineage(uow, case, key, parent_key)
                source.derived_from = parent
                changes["derived_from"] = parent_key
        if not changes:
            if marked is None:
                raise InvalidInput(f"source: nothing to change on {key!r}")
            flag_modified(source, "name")  # a new version: the marking changed
            uow.flush()
            row = _source_row(source)
            uow.commit()
            return row
        meaning = {"reliability", "derived_from"} & set(changes)
        why = _rationale(rationale, f"a source's {' and '.join(sorted(meaning))}") if meaning else rationale
        uow.flush()  # the version check on the row itself (stale: ConcurrencyConflict)
        reassessed = _bump_claims_of(uow, source.id) if meaning else 0
        uow.record(
            EventKind.SOURCE_EDITED,
            actor=actor,
            case_key=case.key,
            rationale=why,
            payload={
                "source": key,
                "old": {f: old[f] for f in changes},
                "new": changes,
                "version": source.version,
                "reassessed": reassessed,
            },
        )
        row = _source_row(source)
        uow.commit()
        return row


def withdraw_source(
    rt: Runtime, who: Identity, case_key: str, key: str, reason: str, *, expected_version: int
) -> dict[str, Any]:
    """Withdraw a source: it stays on record, its live evidence is retracted and its claims re-assessed."""
    actor = who.name
    reason = _text("reason", reason)
    with rt.uow() as uow:
        case, _ = _case_to_author(uow, rt, who, case_key)
        source = _source(uow, case, key)
        if source.withdrawn_at is not None:
            raise AlreadyDone(f"source: {key!r} was already withdrawn by {source.withdrawn_by}")
        _expect("source", key, source.version, expected_version)
        when = now()
        source.withdrawn_at, source.withdrawn_by, source.withdrawal_reason = when, actor, reason
        uow.flush()
        reassessed = _bump_claims_of(uow, source.id)
        retracted = sorted(
            uow.session.scalars(
                update(Evidence)
                .where(Evidence.source_id == source.id, Evidence.retracted.is_(False))
                .values(
                    retracted=True,
                    retracted_by=actor,
                    retracted_at=when,
                    retraction_reason=f"source {key} withdrawn: {reason}",
                )
                .returning(Evidence.id)
                .execution_options(synchronize_session=False)
            )
        )
        uow.record(
            EventKind.SOURCE_WITHDRAWN,
            actor=actor,
            case_key=case.key,
            rationale=reason,
            payload={
                "source": key,
                "old": {"withdrawn": False},
                "new": {"withdrawn": True},
                "version": source.version,
                "evidence_retracted": len(retracted),
                "retracted": retracted,  # the items' ids: the audit replays their retraction from this event
                "reassessed": reassessed,
            },
        )
        row = _source_row(source)
        uow.commit()
        return row


def list_sources(rt: Runtime, who: Identity, case_key: str) -> list[dict[str, Any]]:
    with rt.uow(write=False) as uow:
        authorize(uow, who, "read")
        seen = reader(uow, who.name, rt.markings)
        case = case_for(uow, seen, case_key)
        rows = uow.session.scalars(
            select(Source).where(Source.case_id == case.id, seen.marked(Source.marking)).order_by(Source.id)
        ).all()
        return [_source_row(s) for s in rows]


# --- claims --------------------------------------------------------------------------------------


def add_claim(
    rt: Runtime,
    who: Identity,
    case_key: str,
    statement: str,
    *,
    key: str | None = None,
    within: UnitOfWork | None = None,
) -> str:
    """Report a new claim in a case; its key is a slug of the statement unless given. Returns the key.

    Called by report intake too (issue 17, section 2), `within` its unit of work, which commits.
    """
    actor = who.name
    statement = _text("statement", statement)
    if key is not None:
        _key("key", key)
    with nullcontext(within) if within is not None else rt.uow() as uow:
        case, _ = _case_to_author(uow, rt, who, case_key)
        if key is not None:
            if uow.claims.get(key) is not None:
                raise RuleViolation(f"key: claim {key!r} already exists")
        else:
            base = slug(statement)
            key, n = base, 2
            while uow.session.scalar(select(Claim.id).where(Claim.key == key)) is not None:
                key, n = f"{base}-{n}", n + 1
        stamp = now()
        claim = Claim(
            case=case,
            key=key,
            statement=statement,
            stage=Stage.REPORTED.value,
            created_at=stamp,
            updated_at=stamp,
            reported_at=stamp,
        )
        uow.claims.add(claim)
        uow.flush()
        payload = {"by": actor, "via": "authoring", "new": {"statement": statement}}
        uow.record_change(changes.claim_reported(case.key, key, payload), actor=actor)
        if within is None:
            uow.commit()
        return key


def edit_claim(
    rt: Runtime, who: Identity, key: str, *, expected_version: int, statement: str, rationale: str | None
) -> dict[str, Any]:
    """Reword a claim: it keeps its evidence, gets a new version and is re-judged by the next assessment."""
    actor = who.name
    statement = _text("statement", statement)
    why = _rationale(rationale, "a claim's statement")
    with rt.uow() as uow:
        claim = load_claim_as(uow, who, key, "author", rt.markings)
        check_version(claim, expected_version)
        if claim.withdrawn_at is not None:
            raise RuleViolation(f"claim: {key!r} was withdrawn by {claim.withdrawn_by}; it is no longer edited")
        if statement == claim.statement:
            raise InvalidInput(f"statement: claim {key!r} already says that")
        old = claim.statement
        claim.statement = statement
        touch(claim)
        uow.flush()
        uow.record(
            EventKind.CLAIM_EDITED,
            actor=actor,
            claim=claim,
            rationale=why,
            payload={"old": {"statement": old}, "new": {"statement": statement}, "version": claim.version},
        )
        row = _claim_row(claim)
        uow.commit()
        return row


def withdraw_claim(rt: Runtime, who: Identity, key: str, reason: str, *, expected_version: int) -> dict[str, Any]:
    """Withdraw a claim: it stays readable (shown as withdrawn) and is no longer edited or given evidence."""
    actor = who.name
    reason = _text("reason", reason)
    with rt.uow() as uow:
        claim = load_claim_as(uow, who, key, "author", rt.markings)
        if claim.withdrawn_at is not None:
            raise AlreadyDone(f"claim: {key!r} was already withdrawn by {claim.withdrawn_by}")
        check_version(claim, expected_version)
        claim.withdrawn_at, claim.withdrawn_by, claim.withdrawal_reason = now(), actor, reason
        touch(claim)
        uow.flush()
        uow.record(
            EventKind.CLAIM_WITHDRAWN,
            actor=actor,
            claim=claim,
            rationale=reason,
            payload={"old": {"withdrawn": False}, "new": {"withdrawn": True}, "version": claim.version},
        )
        row = _claim_row(claim)
        uow.commit()
        return row


def list_claims(rt: Runtime, who: Identity, case_key: str) -> list[dict[str, Any]]:
    """The case's claims, withdrawn ones included (and marked)."""
    with rt.uow(write=False) as uow:
        authorize(uow, who, "read")
        case = case_for(uow, reader(uow, who.name, rt.markings), case_key)
        rows = uow.session.scalars(select(Claim).where(Claim.case_id == case.id).order_by(Claim.id)).all()
        return [_claim_row(c) for c in rows]


# --- policy actions ------------------------------------------------------------------------------


def add_action(
    rt: Runtime,
    who: Identity,
    case_key: str,
    key: str,
    title: str,
    *,
    requires: Iterable[tuple[str, str]] = (),
    severity: int = 1,
    due: date | str | None = None,
) -> dict[str, Any]:
    """A policy action gated on claims reaching stages (`requires`: (claim key, stage) pairs), due by `due`."""
    actor = who.name
    key, title, due_on = _key("key", key), _text("title", title), parse_due(due)
    if not 1 <= severity <= 5:
        raise InvalidInput(f"severity: {severity!r} is not 1-5")
    with rt.uow() as uow:
        case, _ = _case_to_author(uow, rt, who, case_key)
        if uow.actions.get(key) is not None:
            raise RuleViolation(f"key: policy action {key!r} already exists")
        reqs = _requirements(uow, case, requires)
        action = PolicyAction(case=case, key=key, title=title, severity=severity, due_on=due_on)
        action.requirements = [ActionRequirement(claim=c, stage=s) for c, s in reqs]
        uow.actions.add(action)
        uow.flush()
        new = {"title": title, "severity": severity, "requires": _requires_of(action)}
        if due_on is not None:
            new["due"] = due_on.isoformat()
        uow.record(EventKind.ACTION_ADDED, actor=actor, case_key=case.key, payload={"action": key, "new": new})
        replan(uow, rt.policy, [c.key for c, _ in reqs], actor)  # its collection tasks (issue 18)
        row = _action_row(action)
        uow.commit()
        return row


def edit_action(
    rt: Runtime,
    who: Identity,
    key: str,
    *,
    expected_version: int,
    title: str | None = None,
    requires: Iterable[tuple[str, str]] | None = None,
    rationale: str | None = None,
    due: date | str | None = None,
) -> dict[str, Any]:
    """Retitle an action, move its due date or replace its requirements (which changes meaning: a rationale
    is required)."""
    actor = who.name
    due_on = parse_due(due)
    with rt.uow() as uow:
        found = uow.actions.get(key)
        _authoring(uow, rt, who, found.case if found else None, f"action: unknown policy action {key!r}")
        action = _action(uow, key)
        _expect("policy action", key, action.version, expected_version)
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        touched = {r.claim.key for r in action.requirements}
        if due_on is not None and due_on != action.due_on:
            old["due"], new["due"] = action.due_on.isoformat() if action.due_on else None, due_on.isoformat()
            action.due_on = due_on
        if title is not None and _text("title", title) != action.title:
            old["title"], new["title"] = action.title, title.strip()
            action.title = title.strip()
        why = rationale
        if requires is not None:
            reqs = _requirements(uow, action.case, requires)
            before = _requires_of(action)
            after = [{"claim": c.key, "stage": s} for c, s in reqs]
            if after != before:
                why = _rationale(rationale, "an action's requirements")
                old["requires"], new["requires"] = before, after
                for req in list(action.requirements):
                    uow.session.delete(req)
                action.requirements.clear()
                uow.flush()
                action.requirements.extend(ActionRequirement(claim=c, stage=s) for c, s in reqs)
                touched |= {c.key for c, _ in reqs}
        if not new:
            raise InvalidInput(f"action: nothing to change on {key!r}")
        flag_modified(action, "title")  # a new version even when only the requirements changed
        uow.flush()
        uow.record(
            EventKind.ACTION_EDITED,
            actor=actor,
            case_key=action.case.key,
            rationale=why,
            payload={"action": key, "old": old, "new": new, "version": action.version},
        )
        replan(uow, rt.policy, touched, actor)  # tasks follow the requirements and the due date (issue 18)
        row = _action_row(action)
        uow.commit()
        return row


def list_actions(rt: Runtime, who: Identity, case_key: str) -> list[dict[str, Any]]:
    with rt.uow(write=False) as uow:
        authorize(uow, who, "read")
        case = case_for(uow, reader(uow, who.name, rt.markings), case_key)
        return [_action_row(a) for a in case.actions]


__all__ = [
    "KINDS",
    "add_action",
    "add_case",
    "add_claim",
    "add_source",
    "edit_action",
    "edit_case",
    "edit_claim",
    "edit_source",
    "list_actions",
    "list_cases",
    "list_claims",
    "list_sources",
    "parse_requires",
    "slug",
    "withdraw_claim",
    "withdraw_source",
]
