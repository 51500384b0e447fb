"""Need to know on writes (issue 20): the marking an item is given, and who may change it.

- A new case is marked as its author says, else the deployment's default (`CLAIMS_DEFAULT_MARKING`,
  else TLP:AMBER on the TLP scale, else the scale's lowest). An item inside a case (source,
  evidence, note, report) is marked as its author says, else as its case.
- The **effective** marking of an item is the highest of its own and its containers' (evidence:
  its own, its source's, its case's); exports and reads decide on that, never on the item's own.
- Raising a marking (or changing the caveat) is open to whoever may edit the item. Lowering one is a
  declassification: it needs the `approve` permission (a reviewer or an admin) and a rationale, or
  it is refused in one line and nothing changes. Every change is a `marking.changed` event with
  the old and the new marking and caveat.
"""

from __future__ import annotations

from typing import Any

from claims.domain.events import EventKind
from claims.domain.markings import DEFAULT_MARKING, Scale, valid_caveat
from claims.services.access import authorize_case, reader
from claims.services.errors import InvalidInput, NotFound, PermissionDenied, refuse_nul
from claims.services.identity import Identity
from claims.services.runtime import PERMISSIONS, Role, Runtime, authorize
from claims.store.models import Case, Evidence, Note, Report, Source, User
from claims.store.uow import UnitOfWork

MARKED_KINDS = ("case", "source", "evidence", "note", "report")


def new_case_marking(rt: Runtime) -> str:
    """The marking of a case whose author named none."""
    scale = rt.markings
    if rt.default_marking:
        return scale.parse(rt.default_marking, field="CLAIMS_DEFAULT_MARKING")
    return DEFAULT_MARKING if DEFAULT_MARKING in scale.levels else scale.bottom


def parse_marking(scale: Scale, value: Any, field: str = "marking") -> str:
    """The scale's spelling of a marking the user gave; anything else (a list, a number) is one line."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: {value!r} is not a marking (one of {', '.join(scale.levels)})")
    return scale.parse(value, field=field)


def parse_caveat(value: Any, field: str = "caveat") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: {value!r} is not a handling caveat (text)")
    try:
        return valid_caveat(value)
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("caveat:", f"{field}:", 1)) from None


def chosen(rt: Runtime, marking: str | None, caveat: str | None, *, default: str) -> tuple[str, str | None]:
    """(marking, caveat) for a new item: the author's, else `default` (the case's, or the deployment's)."""
    own = parse_marking(rt.markings, marking) if marking is not None else default
    return own, parse_caveat(caveat)


def effective(scale: Scale, *markings: str | None) -> str:
    """The highest of an item's own marking and its containers'."""
    return scale.highest(m for m in markings if m)


def may_declassify(user: User) -> bool:
    return "approve" in PERMISSIONS[Role(user.role)]


def change(
    rt: Runtime,
    uow: UnitOfWork,
    user: User,
    item: Case | Source | Evidence | Note | Report,
    *,
    what: str,
    case_key: str | None,
    marking: str | None,
    caveat: str | None,
    rationale: str | None,
) -> dict[str, Any] | None:
    """Re-mark `item` in this unit of work and record the `marking.changed` event; None if nothing changes.

    `caveat=""` clears the caveat; None keeps it. Lowering needs `approve` and a rationale.
    """
    scale = rt.markings
    new_marking = parse_marking(scale, marking) if marking is not None else item.marking
    new_caveat = item.caveat if caveat is None else parse_caveat(caveat)
    if (new_marking, new_caveat) == (item.marking, item.caveat):
        return None
    lowering = _is_lowering(scale, item.marking, new_marking)
    if lowering:
        if not may_declassify(user):
            raise PermissionDenied(
                f"marking: lowering {what} from {item.marking} to {new_marking} is a declassification; "
                f"{user.name!r} has role {user.role}, which may not approve it (a reviewer or an admin may)"
            )
        if rationale is None or not rationale.strip():
            raise InvalidInput(f"rationale: lowering {what} from {item.marking} to {new_marking} needs a rationale")
    refuse_nul("rationale", rationale)
    old = {"marking": item.marking, "caveat": item.caveat}
    item.marking, item.caveat = new_marking, new_caveat
    new = {"marking": new_marking, "caveat": new_caveat}
    uow.record(
        EventKind.MARKING_CHANGED,
        actor=user.name,
        case_key=case_key,
        rationale=rationale.strip() if rationale and rationale.strip() else None,
        payload={"item": what, "old": old, "new": new, "lowered": lowering},
    )
    return {"item": what, "old": old, "new": new, "lowered": lowering}


def _is_lowering(scale: Scale, old: str, new: str) -> bool:
    """A stored marking the scale no longer knows counts as the highest: any move from it is a lowering."""
    try:
        return scale.is_lowering(old, new)
    except InvalidInput:
        return True


def _target(uow: UnitOfWork, kind: str, ref: str) -> tuple[Any, str, str | None]:
    """The item `kind:ref` names, its description for messages, and its case key."""
    if kind == "case":
        case = uow.cases.get(ref)
        if case is None:
            raise NotFound(f"case: unknown case {ref!r}")
        return case, f"case {ref!r}", case.key
    if kind == "source":
        case_key, _, key = ref.partition("/")
        case = uow.cases.get(case_key)
        source = uow.sources.get(case.id, key) if case is not None and key else None
        if source is None:
            raise NotFound(f"source: unknown source {ref!r} (CASE/SOURCE)")
        return source, f"source {ref!r}", case_key
    if not ref.isdigit():
        raise InvalidInput(f"{kind}: {ref!r} is not an id")
    model = {"evidence": Evidence, "note": Note, "report": Report}.get(kind)
    if model is None:
        raise InvalidInput(f"item: {kind!r} is not one of {', '.join(MARKED_KINDS)} (KIND:REF)")
    row = uow.session.get(model, int(ref))
    if row is None:
        raise NotFound(f"{kind}: unknown {kind} {ref}")
    if isinstance(row, Evidence):
        return row, f"evidence #{ref}", row.claim.case.key
    if isinstance(row, Note):
        return row, f"note #{ref}", row.case_key
    return row, f"report #{ref}", row.case.key


def _markings_of(row: Any) -> tuple[str, ...]:
    """The markings on an item's path below its case (the case's own is checked with the case)."""
    if isinstance(row, Evidence):
        return (row.marking, row.source.marking)
    return (row.marking,)


def parse_item(text: str) -> tuple[str, str]:
    """`case:KEY`, `source:CASE/KEY`, `evidence:ID`, `note:ID` or `report:ID`."""
    kind, sep, ref = (text or "").partition(":")
    if not sep or kind not in MARKED_KINDS or not ref.strip():
        raise InvalidInput(f"item: {text!r} is not KIND:REF (KIND one of {', '.join(MARKED_KINDS)})")
    return kind, ref.strip()


def set_marking(
    rt: Runtime,
    who: Identity,
    item: str,
    *,
    marking: str | None = None,
    caveat: str | None = None,
    rationale: str | None = None,
) -> dict[str, Any]:
    """Re-mark one item (`claims mark`): its own unit of work, its `marking.changed` event.

    Raising a marking or changing a caveat: whoever may edit the item. Lowering: a reviewer or an admin."""
    kind, ref = parse_item(item)
    if marking is None and caveat is None:
        raise InvalidInput("marking: give --marking and/or --caveat")
    if marking is not None:
        parse_marking(rt.markings, marking)  # an unknown marking is refused before anything is read
    with rt.uow() as uow:
        authorize(uow, who, "read")
        row, what, case_key = _target(uow, kind, ref)
        lowering = marking is not None and _is_lowering(rt.markings, row.marking, parse_marking(rt.markings, marking))
        # the role on the item's case decides (issue 20), and an item the person may not read is unknown
        permission = "read" if lowering else "author" if kind in ("case", "source") else "add_evidence"
        unknown = f"{kind}: unknown {kind} {ref!r}"
        case = uow.cases.get(case_key or "")
        if case is None:
            raise NotFound(unknown)
        user = authorize_case(uow, who, permission, case, rt.markings, unknown=unknown)
        if not reader(uow, user.name, rt.markings).may_read(*_markings_of(row)):
            raise NotFound(unknown)
        if lowering:
            try:
                authorize_case(uow, who, "approve", case, rt.markings, unknown=unknown)
            except PermissionDenied as exc:
                raise PermissionDenied(
                    f"marking: lowering {what} from {row.marking} is a declassification; "
                    f"{str(exc).removeprefix('user: ')} it (a reviewer or an admin may)"
                ) from None
        # lowering: the reviewer's or admin's `approve` (on the case), and a rationale, checked by `change`
        done = change(
            rt, uow, user, row, what=what, case_key=case_key, marking=marking, caveat=caveat, rationale=rationale
        )
        if done is None:
            raise InvalidInput(f"marking: {what} is already {row.marking}" + (f" ({row.caveat})" if row.caveat else ""))
        uow.flush()
        uow.commit()
        return done


class ImportMarks:
    """The markings of one import (issue 20): each checked against the scale and the importer's clearance.

    An item without a marking takes its case's; a new case without one the deployment's default. A file
    holding anything above the importer's clearance is refused in one line, and the transaction
    writes nothing. A file that says its highest marking (`marking`, as `claims export` writes and
    signs it) must hold exactly that (`finish`).
    """

    def __init__(self, rt: Runtime, uow: UnitOfWork, actor: str, origin: str, own: str | None, case: Case | None):
        from claims.services.access import reader

        self.scale, self.actor, self.origin = rt.markings, actor, origin
        self.reader = reader(uow, actor, rt.markings)
        if own is not None:
            self.case = self.check(own, "case.marking")
        else:
            self.case = self.check(case.marking if case is not None else new_case_marking(rt), "case.marking")
        self.highest = self.case

    def check(self, value: str | None, field: str) -> str:
        """The scale's spelling of `value` (None: the case's), refused if unknown or above the clearance."""
        if value is None:
            return self.case
        try:
            marking = parse_marking(self.scale, value, field=field)
        except InvalidInput as exc:
            raise InvalidInput(f"{self.origin}: {exc}") from None
        if marking not in self.reader.allowed:
            raise PermissionDenied(
                f"{self.origin}: {field}: {marking} is above the clearance of {self.actor!r} "
                f"({self.reader.clearance}); nothing was imported"
            )
        if getattr(self, "highest", None) is not None and self.scale.rank(marking) > self.scale.rank(self.highest):
            self.highest = marking
        return marking

    def sources(self, entries: list[Any]) -> dict[str, str]:
        return {e.key: self.check(e.marking, f"sources[{i}].marking") for i, e in enumerate(entries)}

    def evidence(self, index: int, entry: Any) -> list[str]:
        return [self.check(ev.marking, f"claims[{index}].evidence[{j}].marking") for j, ev in enumerate(entry.evidence)]

    def finish(self, declared: str | None) -> None:
        """A declared highest marking must be the highest the file holds (a signed one was signed so)."""
        if declared is None:
            return
        said = self.check(declared, "marking")
        if said != self.highest:
            raise InvalidInput(f"{self.origin}: marking: the file says {said} but holds {self.highest}")
