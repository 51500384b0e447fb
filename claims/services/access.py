"""Need to know (issue 20): what one person may read, as SQL predicates every read path applies.

A `Reader` is loaded once per unit of work from the acting user's row: their clearance (the markings
at or below it, `claims.domain.markings.Scale.allowed`), whether they read every case
(`users.all_cases`) and, if not, the cases they are a member of with their role there. Reads add
`reader.cases(col)` and `reader.marked(*cols)` to their WHERE clauses, so nothing a person may not
read is ever loaded (decision 0015). The system reads everything: it judges every claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy import ColumnElement, and_, select, true

from claims.domain.markings import Scale
from claims.services.errors import NotFound
from claims.services.runtime import SYSTEM_USER
from claims.store.models import CaseMember, User
from claims.store.uow import UnitOfWork

CASE_ROLES = ("analyst", "reviewer", "manager")


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

    def cases(self, case_id: ColumnElement[int]) -> ColumnElement[bool]:
        """WHERE clause: the row's case is one this person sees."""
        return true() if self.all_cases else case_id.in_(sorted(self.roles))

    def marked(self, *markings: ColumnElement[str]) -> ColumnElement[bool]:
        """WHERE clause: every marking on the row's path (its own, its source's, its case's) is allowed."""
        allowed = self.allowed
        return and_(true(), *(m.in_(allowed) for m in markings))


def reader(uow: UnitOfWork, name: str, scale: Scale) -> Reader:
    """The reach of the user `name` now (memberships and clearance read in this unit of work)."""
    if name == SYSTEM_USER:
        return Reader(SYSTEM_USER, scale, scale.top, all_cases=True)
    user = uow.session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user: unknown user {name!r}")
    rows = uow.session.execute(select(CaseMember.case_id, CaseMember.role).where(CaseMember.user_id == user.id))
    roles = {case_id: role for case_id, role in rows}  # dict(result) would take a Result for a mapping
    return Reader(user.name, scale, user.clearance, bool(user.all_cases), MappingProxyType(roles))
