"""Use cases: manage users and their roles."""

from __future__ import annotations

from dataclasses import dataclass

from claims.domain.events import EventKind
from claims.services.errors import InvalidInput, RuleViolation
from claims.services.identity import Identity, hash_password, valid_email, valid_name
from claims.services.runtime import SYSTEM_USER, Role, Runtime, authorize_name
from claims.services.transitions import now
from claims.store.models import User
from claims.store.uow import UnitOfWork


@dataclass(frozen=True)
class UserInfo:
    """A user as the callers see it: plain data that outlives the unit of work."""

    name: str
    role: str
    email: str | None = None
    disabled: bool = False
    clearance: str | None = None
    all_cases: bool = False

    @classmethod
    def of(cls, user: User) -> UserInfo:
        return cls(user.name, user.role, user.email, user.disabled_at is not None, user.clearance, bool(user.all_cases))


def check_new_user(name: str, role: str) -> Role:
    """The name and role of a new user, checked before anyone is asked for a password."""
    people_roles = [r.value for r in Role if r is not Role.SYSTEM]
    try:
        role_v = Role(role.strip().lower())
    except ValueError:
        raise InvalidInput(f"role: {role!r} is not one of {', '.join(people_roles)}") from None
    if role_v is Role.SYSTEM:
        raise InvalidInput(f"role: {role!r} is built in; pick one of {', '.join(people_roles)}")
    valid_name(name)
    return role_v


def _refuse_taken(uow: UnitOfWork, typed: str) -> None:
    """One person, one name: `Bob` is refused where `bob` exists (issue 21, point 5)."""
    existing = uow.users.get(valid_name(typed))
    if existing is None:
        return
    if existing.name == typed:
        raise RuleViolation(f"name: user {typed!r} already exists")
    raise RuleViolation(f"name: {typed!r} is the existing user {existing.name!r} (names ignore case and width)")


def check_name_free(rt: Runtime, name: str) -> None:
    """Refuse a taken name before anyone is asked for a password."""
    with rt.uow(write=False) as uow:
        _refuse_taken(uow, name)


def add_user(
    rt: Runtime,
    who: Identity | None,
    name: str,
    role: str,
    *,
    password: str | None = None,
    email: str | None = None,
    clearance: str | None = None,
    all_cases: bool = False,
) -> UserInfo:
    """Admins add users; while the database has no people yet, the first admin may be added unsigned (bootstrap).

    The password is kept only as an argon2 hash; a user without one cannot sign in with a password.
    Need to know (issue 20): a new person reads nothing until an admin says so: the scale's lowest
    marking and no case, unless `clearance` / `all_cases` are given.
    """
    return _add_user(
        rt,
        who.name if who else None,
        name,
        role,
        password=password,
        email=email,
        clearance=clearance,
        all_cases=all_cases,
    )


def _add_user(
    rt: Runtime,
    actor: str | None,
    name: str,
    role: str,
    *,
    password: str | None,
    email: str | None,
    clearance: str | None = None,
    all_cases: bool = False,
) -> UserInfo:
    """`add_user` for a name: the proven caller's, or trusted setup's (`ensure_users`: the demo, fixtures)."""
    clearance = rt.markings.parse(clearance, field="clearance") if clearance else rt.markings.bottom
    role_v = check_new_user(name, role)
    typed, name = name, valid_name(name)
    email = valid_email(email)
    hashed = hash_password(password) if password is not None else None
    with rt.uow() as uow:
        bootstrap = not any(u.name != SYSTEM_USER for u in uow.users.list())
        if not (bootstrap and role_v is Role.ADMIN):
            authorize_name(uow, actor, "manage_users")
        _refuse_taken(uow, typed)
        user = User(
            name=name,
            role=role_v.value,
            created_at=now(),
            password_hash=hashed,
            email=email,
            clearance=clearance,
            all_cases=all_cases,
        )
        uow.users.add(user)
        uow.record(
            EventKind.USER_ADDED,
            actor=actor or name,
            payload={
                "user": user.name,
                "role": user.role,
                "bootstrap": bootstrap and role_v is Role.ADMIN,
                "clearance": clearance,
                "all_cases": all_cases,
            },
        )
        info = UserInfo.of(user)
        uow.commit()
        return info


def ensure_users(rt: Runtime, users: dict[str, str], passwords: dict[str, str] | None = None) -> list[str]:
    """Create any of `users` (name -> role) that do not exist yet, with `passwords` if given; returns those created.

    Seeding for the demo and the tests: the people made here read every case at the scale's top
    marking (a real deployment adds people with `claims user add` and grants them cases).
    """
    with rt.uow(write=False) as uow:
        existing = {u.name for u in uow.users.list()}
    admin = next((n for n, r in users.items() if r == Role.ADMIN), None)
    created = []
    for name, role in sorted(users.items(), key=lambda item: item[1] != Role.ADMIN):
        if name not in existing:
            _add_user(
                rt,
                admin,
                name,
                role,
                password=(passwords or {}).get(name),
                email=None,
                clearance=rt.markings.top,
                all_cases=True,
            )
            created.append(name)
    return created


def list_users(rt: Runtime) -> list[UserInfo]:
    with rt.uow(write=False) as uow:
        return [UserInfo.of(u) for u in uow.users.list()]
