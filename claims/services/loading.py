"""Loading a claim for a use case, and the optimistic-concurrency check on its version.

Shared by every use case that acts on one claim (advance, reopen, evidence, the views), so
it lives apart from any one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from claims.domain.markings import Scale
from claims.services.access import authorize_case
from claims.services.errors import NotFound
from claims.services.runtime import authorize
from claims.store.models import Claim
from claims.store.uow import ConcurrencyConflict, UnitOfWork

if TYPE_CHECKING:
    from claims.services.identity import Identity


def load_claim(uow: UnitOfWork, key: str, *, expect_version: int | None = None) -> Claim:
    """The claim `key` with its evidence and case; NotFound, or ConcurrencyConflict if it moved on."""
    claim = uow.claims.get(key)
    if claim is None:
        raise NotFound(f"claim: unknown claim {key!r}")
    check_version(claim, expect_version)
    return claim


def load_claim_as(
    uow: UnitOfWork, who: Identity | None, key: str, permission: str, scale: Scale, *, expect_version: int | None = None
) -> Claim:
    """The claim `key` for a write by `who` with the role they hold on its case (issue 20).

    A claim on a case the actor does not read is NotFound exactly as an unknown key.
    """
    authorize(uow, who, "read")  # the proven person first: an unknown or disabled account says so, not the key
    claim = uow.claims.get(key)
    unknown = f"claim: unknown claim {key!r}"
    if claim is None:
        raise NotFound(unknown)
    authorize_case(uow, who, permission, claim.case, scale, unknown=unknown)
    check_version(claim, expect_version)
    return claim


def check_version(claim: Claim, expected: int | None) -> None:
    """Refuse to act on a claim someone changed since the caller read it (`--expect-version`)."""
    if expected is not None and claim.version != expected:
        raise ConcurrencyConflict(
            f"version: claim {claim.key!r} is at version {claim.version}, not {expected}; someone changed it meanwhile"
        )
