"""Helpers the API tests share (a module of its own: `conftest` names clash across test folders)."""

from __future__ import annotations


def auth(secret: str) -> dict[str, str]:
    """The header a client sends with a person's token."""
    return {"Authorization": f"Bearer {secret}"}
