"""Use case: create a claim in a case (minimal stand-in; issue 17 section 1 replaces this module at merge)."""

from __future__ import annotations

import re
import unicodedata

from claims.domain.events import EventKind
from claims.domain.stages import Stage
from claims.services.errors import InvalidInput, NotFound, RuleViolation, refuse_nul
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import now
from claims.store.models import Claim


def _slug(statement: str) -> str:
    folded = unicodedata.normalize("NFKD", statement).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", folded)[:8])[:80].strip("-")


def add_claim(rt: Runtime, actor: str, case_key: str, statement: str, *, key: str | None = None) -> str:
    """Create the claim, reported, with its `claim.reported` event as an import does; return its key."""
    statement = (statement or "").strip()
    if not statement:
        raise InvalidInput("statement: a claim needs a statement")
    refuse_nul("statement", statement)
    claim_key = (key or "").strip() or _slug(statement)
    if not claim_key:
        raise InvalidInput(f"statement: {statement!r} gives no key; pass --key")
    with rt.uow() as uow:
        authorize(uow, actor, "import")
        case = uow.cases.get(case_key)
        if case is None:
            raise NotFound(f"case: unknown case {case_key!r}")
        if uow.claims.get(claim_key) is not None:
            raise RuleViolation(f"key: claim {claim_key!r} already exists; pass another --key")
        stamp = now()
        claim = Claim(
            case=case,
            key=claim_key,
            statement=statement,
            stage=Stage.REPORTED.value,
            created_at=stamp,
            updated_at=stamp,
            reported_at=stamp,
        )
        uow.claims.add(claim)
        uow.flush()
        uow.record(
            EventKind.CLAIM_REPORTED,
            at=stamp,
            actor=actor,
            claim=claim,
            to_stage=Stage.REPORTED.value,
            payload={"by": actor},
        )
        uow.commit()
        return claim_key
