"""Who a test acts as: the services take a proven `Identity`, never a name (issue 19, section 3).

`as_user(rt, name)` is the one way tests get a person's identity, through the real proof; the system's
is `system_identity()` (re-exported here). Neither believes a typed name.
"""

from __future__ import annotations

import os

from claims.cli.tokenstore import TokenStore
from claims.domain.errors import NotAuthenticated
from claims.services import Runtime
from claims.services.identity import Identity, issue_token_unchecked, system_identity, verify_token

__all__ = ["as_user", "system_identity"]

_ISSUED: dict[tuple[str, str, str], str] = {}  # tokens issued here, kept for the rest of their test


def as_user(rt: Runtime, name: str) -> Identity:
    """`name` proven as an edge proves it: the token this test's sign-in stored for `name` (the `rt` fixture
    signs the demo users in), else a short setup token issued now (audited), through `verify_token` - so a
    disabled or unknown account fails here as it would at any edge. Cheap: no argon2, and no write when a
    sign-in of this test (stored, or issued here before) holds."""
    if name == "system":
        return system_identity()
    key = (os.environ.get("CLAIMS_CONFIG_DIR", ""), rt.database_url, name)  # the config dir is the test's own
    for stored in (TokenStore().token(rt.database_url, name), _ISSUED.get(key)):
        if stored is not None:
            try:
                return verify_token(rt, stored)
            except NotAuthenticated:
                pass  # a database emptied since the sign-in (a fresh one at the same URL): prove anew
    _ISSUED[key] = issue_token_unchecked(rt, name, hours=1, reason="test fixture").token
    return verify_token(rt, _ISSUED[key])
