"""The person's own sign-ins: `$CLAIMS_CONFIG_DIR` (default `$XDG_CONFIG_HOME/claims`)/tokens.json, mode 0600.

Keyed by database (its URL without a password, SQLite paths made absolute), so one person can be
signed in to several deployments. Holds personal tokens (the database keeps only their sha256) and,
for databases `claims demo` made, the generated demo passwords.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from claims.domain.names import same_person
from claims.settings import config_dir
from claims.store.db import database_key

FILE = "tokens.json"


class TokenStore:
    """Read-modify-write of the config file; written atomically with owner-only permissions."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / FILE
        self.data: dict[str, Any] = {}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.data = {}
            if not isinstance(self.data, dict):
                self.data = {}

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
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.data, fh, indent=2, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
