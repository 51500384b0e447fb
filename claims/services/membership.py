"""Use cases: who reads what (issue 20). Case membership, clearance and deployment-wide access.

Admins only, each change one audited event in the hash-chained log. Reads filter on what is set
here (claims.services.access), so narrowing a person takes effect on their next read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from claims.domain.events import EventKind
from claims.services.access import CASE_ROLES
from claims.services.errors import InvalidInput, NotFound, RuleViolation
from claims.services.identity import Identity
from claims.services.runtime import SYSTEM_USER, Runtime, authorize
from claims.services.transitions import now
from claims.store.models import Case, CaseMember, User
from claims.store.uow import UnitOfWork


@dataclass(frozen=True)
class Member:
    """A person's role on one case, as the callers see it."""

    case: str
    user: str
    role: str
    added_by: str
    added_at: datetime


def valid_case_role(role: str) -> str:
    value = str(role).strip().lower()
    if value not in CASE_ROLES:
        raise InvalidInput(f"role: {role!r} is not a case role (one of {', '.join(CASE_ROLES)})")
    return value


def _case(uow: UnitOfWork, key: str) -> Case:
    case = uow.cases.get(key)
    if case is None:
        raise NotFound(f"case: unknown case {key!r}")
    return case


def _person(uow: UnitOfWork, name: str) -> User:
    user = uow.users.get(name)
    if user is None:
        raise NotFound(f"user: unknown user {name!r}")
    if user.name == SYSTEM_USER:
        raise RuleViolation(f"user: {name!r} is the system user; it reads every case already")
    return user


def add_member(rt: Runtime, who: Identity, case_key: str, name: str, role: str) -> Member:
    """Make `name` a member of the case with `role` there (or change their role)."""
    role = valid_case_role(role)
    with rt.uow() as uow:
        actor = authorize(uow, who, "manage_users").name
        case, user = _case(uow, case_key), _person(uow, name)
        row = uow.session.get(CaseMember, (case.id, user.id))
        old = row.role if row is not None else None
        if old == role:
            raise RuleViolation(f"role: {user.name!r} is already {role} on case {case.key!r}")
        if row is None:
            row = CaseMember(case_id=case.id, user_id=user.id, role=role, added_by=actor, added_at=now())
            uow.session.add(row)
        else:
            row.role = role
        uow.record(
            EventKind.CASE_MEMBER_ADDED,
            actor=actor,
            case_key=case.key,
            payload={"user": user.name, "role": role, "old_role": old},
        )
        member = Member(case.key, user.name, role, row.added_by, row.added_at)
        uow.commit()
        return member


def remove_member(rt: Runtime, who: Identity, case_key: str, name: str) -> None:
    """`name` no longer reads the case (unless they have deployment-wide access)."""
    with rt.uow() as uow:
        actor = authorize(uow, who, "manage_users").name
        case, user = _case(uow, case_key), _person(uow, name)
        row = uow.session.get(CaseMember, (case.id, user.id))
        if row is None:
            raise RuleViolation(f"user: {user.name!r} is not a member of case {case.key!r}")
        uow.session.delete(row)
        uow.record(
            EventKind.CASE_MEMBER_REMOVED, actor=actor, case_key=case.key, payload={"user": user.name, "role": row.role}
        )
        uow.commit()


def list_members(rt: Runtime, who: Identity, case_key: str) -> list[Member]:
    """The members of a case and their roles, by name (admins)."""
    with rt.uow(write=False) as uow:
        authorize(uow, who, "manage_users")
        case = _case(uow, case_key)
        rows = uow.session.execute(
            select(User.name, CaseMember.role, CaseMember.added_by, CaseMember.added_at)
            .join(User, User.id == CaseMember.user_id)
            .where(CaseMember.case_id == case.id)
            .order_by(User.name)
        )
        return [Member(case.key, n, r, by, at) for n, r, by, at in rows]


def set_clearance(rt: Runtime, who: Identity, name: str, marking: str) -> str:
    """The highest marking `name` may read (a level of the deployment's scale); returns it as the scale spells it."""
    clearance = rt.markings.parse(marking, field="clearance")
    with rt.uow() as uow:
        actor = authorize(uow, who, "manage_users").name
        user = _person(uow, name)
        old = user.clearance
        if old == clearance:
            raise RuleViolation(f"clearance: {user.name!r} is cleared to {clearance} already")
        user.clearance = clearance
        uow.record(EventKind.USER_CLEARANCE_SET, actor=actor, payload={"user": user.name, "old": old, "new": clearance})
        uow.commit()
        return clearance


def set_all_cases(rt: Runtime, who: Identity, name: str, on: bool) -> None:
    """Deployment-wide access on (reads every case, acts with the global role) or off (member cases only)."""
    with rt.uow() as uow:
        actor = authorize(uow, who, "manage_users").name
        user = _person(uow, name)
        old = bool(user.all_cases)
        if old == on:
            raise RuleViolation(f"all cases: {user.name!r} has deployment-wide access {'on' if on else 'off'} already")
        user.all_cases = on
        uow.record(EventKind.USER_ALL_CASES_SET, actor=actor, payload={"user": user.name, "old": old, "new": on})
        uow.commit()
