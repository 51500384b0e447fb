"""Who a benchmark acts as: the services take a proven Identity, never a name."""

from __future__ import annotations

from claims.services import Identity, Runtime, system_identity, verify_token
from claims.services.identity import issue_token_unchecked
from claims.services.runtime import SYSTEM_USER


def proven(rt: Runtime, name: str) -> Identity:
    """`name`'s identity through the real proof: a short setup token (audited as such), verified; the system's
    is `system_identity()`. Call it before the timed part: it writes the token and its events."""
    if name == SYSTEM_USER:
        return system_identity()
    return verify_token(rt, issue_token_unchecked(rt, name, hours=1, reason="bench").token)
