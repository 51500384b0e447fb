"""Use cases: manage users and their roles."""

from __future__ import annotations

from dataclasses import dataclass

from claims.domain.events import EventKind
from claims.services.errors import InvalidInput, RuleViolation
from claims.services.runtime import Role, Runtime, authorize
from claims.services.transitions import now
from claims.store.models import User


@dataclass(frozen=True)
class UserInfo:
    """A user as the callers see it: plain data that outlives the unit of work."""

    name: str
    role: str

    @classmethod
    def of(cls, user: User) -> UserInfo:
        return cls(user.name, user.role)


def add_user(rt: Runtime, actor: str | None, name: str, role: str) -> UserInfo:
    """Admins add users; while no admin exists yet, the first admin may be added by anyone (bootstrap)."""
    try:
        role_v = Role(role.strip().lower())
    except ValueError:
        raise InvalidInput(f"role: {role!r} is not one of {', '.join(r.value for r in Role)}") from None
    if not name or not name.strip():
        raise InvalidInput("name: a user needs a name")
    with rt.uow() as uow:
        bootstrap = not any(u.role == Role.ADMIN for u in uow.users.list())
        if not (bootstrap and role_v is Role.ADMIN):
            authorize(uow, actor, "manage_users")
        if uow.users.get(name) is not None:
            raise RuleViolation(f"name: user {name!r} already exists")
        user = User(name=name.strip(), role=role_v.value, created_at=now())
        uow.users.add(user)
        uow.record(EventKind.USER_ADDED, actor=actor or name, payload={"user": user.name, "role": user.role})
        info = UserInfo.of(user)
        uow.commit()
        return info


def ensure_users(rt: Runtime, users: dict[str, str]) -> list[str]:
    """Create any of `users` (name -> role) that do not exist yet; returns the names created."""
    with rt.uow(write=False) as uow:
        existing = {u.name for u in uow.users.list()}
    admin = next((n for n, r in users.items() if r == Role.ADMIN), None)
    created = []
    for name, role in sorted(users.items(), key=lambda item: item[1] != Role.ADMIN):
        if name not in existing:
            add_user(rt, admin, name, role)
            created.append(name)
    return created


def list_users(rt: Runtime) -> list[UserInfo]:
    with rt.uow(write=False) as uow:
        return [UserInfo.of(u) for u in uow.users.list()]
