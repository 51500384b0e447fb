"""Need to know (issue 20): what one person may read, as SQL predicates every read path applies.

A `Reader` is loaded once per unit of work from the acting user's row: their clearance (the markings
at or below it, `claims.domain.markings.Scale.allowed`), whether they read every case
(`users.all_cases`) and, if not, the cases they are a member of with their role there. Reads add
`reader.cases(col)` and `reader.marked(*cols)` to their WHERE clauses, so nothing a person may not
read is ever loaded (decision 0015). The system reads everything: it judges every claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, func, select, true

from claims.domain.markings import Scale
from claims.services.errors import NotFound, PermissionDenied
from claims.services.runtime import PERMISSIONS, SYSTEM_USER, Role, Runtime, authorize
from claims.store.models import Case, CaseMember, Claim, Evidence, Source, User
from claims.store.uow import UnitOfWork

if TYPE_CHECKING:
    from claims.services.identity import Identity

CASE_ROLES = ("analyst", "reviewer", "manager")


def _inline(values: Sequence[object]) -> BindParameter[Any]:
    """A list written into the statement, not bound: the reads bind a handful of values whatever the
    reader's reach (the scale's names and case ids, never user text)."""
    return bindparam("reach", list(values), unique=True, expanding=True, literal_execute=True)


@dataclass(frozen=True)
class Reader:
    """One person's reach: the markings they may read and the cases they see (all, or their memberships)."""

    name: str
    scale: Scale
    clearance: str
    all_cases: bool
    roles: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))  # case id -> role there

    @property
    def allowed(self) -> tuple[str, ...]:
        """The marking names this person may read; a name the scale does not know is in none (fail closed)."""
        try:
            return self.scale.allowed(self.clearance)
        except ValueError:  # a clearance the scale no longer knows: the lowest, not the highest
            return (self.scale.bottom,)

    def sees_case(self, case_id: int) -> bool:
        return self.all_cases or case_id in self.roles

    def may_read(self, *markings: str) -> bool:
        return all(m in self.allowed for m in markings)

    def sees(self, case_id: int, case_marking: str) -> bool:
        """This person reads the case itself: they see it, and its marking is within their clearance."""
        return self.sees_case(case_id) and self.may_read(case_marking)

    def cases(self, case_id: ColumnElement[int]) -> ColumnElement[bool]:
        """WHERE clause: the row's case is one this person sees."""
        return true() if self.all_cases else case_id.in_(_inline(sorted(self.roles)))

    def marked(self, *markings: ColumnElement[str]) -> ColumnElement[bool]:
        """WHERE clause: every marking on the row's path (its own, its source's, its case's) is allowed."""
        allowed = self.allowed
        return and_(true(), *(m.in_(_inline(allowed)) for m in markings))


def system_reader(scale: Scale) -> Reader:
    """The system's reach: every case at the top marking (it judges every claim)."""
    return Reader(SYSTEM_USER, scale, scale.top, all_cases=True)


def reach(rt: Runtime, who: Identity | None) -> Reader:
    """`reader` in its own read-only unit of work, for read paths that open their own session (queries)."""
    with rt.uow(write=False) as uow:
        return reader_of(uow, who, rt.markings)


def authorize_case(
    uow: UnitOfWork, who: Identity | None, permission: str, case: Case, scale: Scale, *, unknown: str
) -> User:
    """The acting user, allowed `permission` on `case` by the role they hold there.

    A member acts with their case role; a person with deployment-wide access (all_cases) with their
    global role. A case the person does not read (not theirs, or marked above their clearance) is
    NotFound with `unknown`, the very message of an unknown key, so a write never reveals it exists.
    """
    user = authorize(uow, who, "read")  # the proven person, re-read: disabled or unknown refused
    actor = user.name
    seen = reader(uow, user.name, scale)
    if not seen.sees(case.id, case.marking):
        raise NotFound(unknown)
    role = user.role if seen.all_cases or user.role == Role.SYSTEM else seen.roles[case.id]
    if permission not in PERMISSIONS[Role(role)]:
        where = "" if role == user.role and seen.all_cases else f" on case {case.key!r}"
        raise PermissionDenied(f"user: {actor!r} has role {role}{where}, which may not {permission.replace('_', ' ')}")
    return user


def reader(uow: UnitOfWork, name: str, scale: Scale) -> Reader:
    """The reach of the user `name` now (memberships and clearance read in this unit of work).

    Nobody (an empty name: a page before sign-in) reads nothing.
    """
    if not name:
        return Reader("", scale, scale.bottom, all_cases=False)
    if name == SYSTEM_USER:
        return system_reader(scale)
    user = uow.session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user: unknown user {name!r}")
    rows = uow.session.execute(select(CaseMember.case_id, CaseMember.role).where(CaseMember.user_id == user.id))
    roles = {case_id: role for case_id, role in rows}  # dict(result) would take a Result for a mapping
    return Reader(user.name, scale, user.clearance, bool(user.all_cases), MappingProxyType(roles))


def case_for(uow: UnitOfWork, who: Reader, key: str) -> Case:
    """The case `key` if `who` reads it; else NotFound with the message of an unknown key."""
    case = uow.cases.get(key)
    if case is None or not who.sees(case.id, case.marking):
        raise NotFound(f"case: unknown case {key!r}")
    return case


def claim_for(uow: UnitOfWork, who: Reader, key: str) -> Claim:
    """The claim `key` if `who` reads it (its case seen, the case's marking allowed), selected so in SQL.

    A claim they may not read is NotFound with the message of an unknown key: its existence is not revealed.
    """
    claim = uow.session.scalar(
        select(Claim)
        .join(Case, Case.id == Claim.case_id)
        .where(Claim.key == key, who.cases(Claim.case_id), who.marked(Case.marking))
    )
    if claim is None:
        raise NotFound(f"claim: unknown claim {key!r}")
    return claim


def readable_evidence(uow: UnitOfWork, who: Reader, claim_id: int) -> list[Evidence]:
    """The claim's evidence items `who` may read (their own and their source's marking), in id order."""
    return list(
        uow.session.scalars(
            select(Evidence)
            .join(Source, Source.id == Evidence.source_id)
            .where(Evidence.claim_id == claim_id, who.marked(Evidence.marking, Source.marking))
            .order_by(Evidence.id)
        )
    )


def unread_lines(uow: UnitOfWork, who: Reader, claim_id: int) -> int:
    """How many live evidence items of the claim count in its assessment but `who` may not read."""
    return int(
        uow.session.scalar(
            select(func.count(Evidence.id))
            .join(Source, Source.id == Evidence.source_id)
            .where(
                Evidence.claim_id == claim_id,
                Evidence.retracted.is_(False),
                ~who.marked(Evidence.marking, Source.marking),
            )
        )
        or 0
    )


def readable_source_ids(uow: UnitOfWork, who: Reader, case_id: int) -> set[int]:
    """The ids of the case's sources `who` may read."""
    return set(uow.session.scalars(select(Source.id).where(Source.case_id == case_id, who.marked(Source.marking))))


def reader_of(uow: UnitOfWork, who: Identity | None, scale: Scale) -> Reader:
    """The reach of a proven identity; None is the system's own reading (flows, the assessment)."""
    return reader(uow, who.name if who is not None else SYSTEM_USER, scale)
