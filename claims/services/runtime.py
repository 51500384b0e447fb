"""What every use case needs: where the database is, which policy applies, who acts."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from claims.domain.markings import Scale
from claims.domain.policy import Policy, default_policy
from claims.services.errors import NotFound, PermissionDenied
from claims.settings import get_settings
from claims.store.models import User
from claims.store.uow import PolicyId, UnitOfWork

if TYPE_CHECKING:
    from claims.services.identity import Identity


class Role(StrEnum):
    MANAGER = "manager"
    ANALYST = "analyst"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    SYSTEM = "system"


# Collection tasks (issue 18): managers and analysts assign them, the people who collect take them.
_ANALYST = {
    "read",
    "import",
    "add_evidence",
    "retract_evidence",
    "request",
    "assess",
    "link",
    "assign_task",
    "take_task",
}
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.MANAGER: frozenset({"read", "assign_task"}),
    Role.ANALYST: frozenset(_ANALYST | {"author"}),  # authoring: analysts and admins only (issue 17)
    Role.REVIEWER: frozenset(_ANALYST | {"approve", "reopen"}),
    Role.ADMIN: frozenset(_ANALYST | {"approve", "reopen", "manage_users", "author"}),
    Role.SYSTEM: frozenset({"read", "import", "assess"}),
}

SYSTEM_USER = "system"


@dataclass(frozen=True)
class Runtime:
    database_url: str
    policy: Policy = field(default_factory=default_policy)
    markings: Scale = field(default_factory=Scale)  # the deployment's marking scale (issue 20)
    default_marking: str | None = None  # a new case's marking (CLAIMS_DEFAULT_MARKING; claims.services.markings)

    @classmethod
    def from_settings(cls) -> Runtime:
        settings = get_settings()
        return cls(settings.database_url, settings.policy(), settings.scale(), settings.new_case_marking())

    def uow(self, *, write: bool = True) -> UnitOfWork:
        """A unit of work; a write one signs an audit checkpoint after it commits (issue 21.9)."""
        if not write:
            return UnitOfWork(self.database_url, write=False)
        pinned = PolicyId(self.policy.version, self.policy.digest, self.policy.origin) if self.policy.digest else None
        return UnitOfWork(self.database_url, after_commit=_checkpoint, policy=pinned)


def _checkpoint(url: str) -> None:
    from claims.services.audit import checkpoint_after_write  # cryptography: only once something was written

    checkpoint_after_write(url)


def authorize(uow: UnitOfWork, who: Identity | None, permission: str) -> User:
    """Check that the proven `who` may do `permission` now: the user is re-read from the database, so an
    account disabled, or a role changed, since the token or password was checked counts, not the proof's."""
    from claims.services.identity import Identity  # identity imports this module

    if who is None:
        raise PermissionDenied("user: no acting user; run claims login NAME")
    if not isinstance(who, Identity):
        raise TypeError(f"authorize: expected a proven Identity, got {type(who).__name__}")
    return authorize_name(uow, who.name, permission)


def authorize_name(uow: UnitOfWork, actor: str | None, permission: str) -> User:
    """`authorize` for a bare name: only for trusted setup with no proof to give (`ensure_users`: demo, fixtures)."""
    if not actor:
        raise PermissionDenied("user: no acting user; run claims login NAME")
    user = uow.users.get(actor)
    if user is None:
        raise NotFound(f"user: unknown user {actor!r}")
    if user.disabled_at is not None:
        raise PermissionDenied(f"user: account {actor!r} is disabled")
    if permission not in PERMISSIONS[Role(user.role)]:
        raise PermissionDenied(f"user: {actor!r} has role {user.role}, which may not {permission.replace('_', ' ')}")
    return user
