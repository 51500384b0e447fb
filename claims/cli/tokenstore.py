"""The person's own sign-ins: `$CLAIMS_CONFIG_DIR` (default `$XDG_CONFIG_HOME/claims`)/tokens.json, mode 0600.

Keyed by database (its URL without a password, SQLite paths made absolute), so one person can be
signed in to several deployments. Holds personal tokens (the database keeps only their sha256) and,
for databases `claims demo` made, the generated demo passwords.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from claims.cli.safefile import UnsafeFile, read_regular, write_private
from claims.domain.names import same_person
from claims.settings import config_dir
from claims.store.db import database_key

FILE = "tokens.json"


class TokenStore:
    """Read-modify-write of the config file; written atomically with owner-only permissions."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / FILE
        self.data: dict[str, Any] = {}
        try:
            raw = read_regular(self.path, "tokens")
        except UnsafeFile as exc:
            _fail(str(exc))
        if raw is None:
            return
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            data = None
        if isinstance(data, dict):
            self.data = data
        else:
            self._keep_aside()

    def _keep_aside(self) -> None:
        """A corrupt file is kept (the other sign-ins may be recoverable by hand), never silently replaced."""
        from claims.cli.common import err

        aside = self.path.with_name(f"{self.path.name}.corrupt-{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}")
        os.replace(self.path, aside)
        err.print(f"tokens: {str(self.path)!r} was not valid; kept it as {str(aside)!r}, started afresh", markup=False)

    def entry(self, url: str) -> dict[str, Any]:
        entry = self.data.setdefault(database_key(url), {})
        entry.setdefault("tokens", {})
        return entry

    def token(self, url: str, name: str) -> str | None:
        """The stored token of `name`, however it is spelt (`--as BOB` finds bob's sign-in)."""
        tokens = self.entry(url)["tokens"]
        return tokens.get(name) or next((t for n, t in tokens.items() if same_person(n, name)), None)

    def current(self, url: str) -> str | None:
        return self.entry(url).get("current")

    def put(self, url: str, name: str, token: str, *, current: bool = True) -> None:
        entry = self.entry(url)
        entry["tokens"][name] = token
        if current or not entry.get("current"):
            entry["current"] = name

    def drop(self, url: str, name: str) -> str | None:
        entry = self.entry(url)
        token = entry["tokens"].pop(name, None)
        if entry.get("current") == name:
            entry["current"] = next(iter(entry["tokens"]), None)
        return token

    def save(self) -> None:
        """Atomically, owner-only, in a 0700 folder, never through a link (see claims.cli.safefile)."""
        data = json.dumps(self.data, indent=2, sort_keys=True).encode("utf-8")
        try:
            write_private(self.path, data, "tokens")
        except UnsafeFile as exc:
            _fail(str(exc))


def _fail(message: str) -> NoReturn:
    from claims.cli.common import fail

    fail(message, 1)
