"""What a read query needs of a reader (issue 20): two SQL predicates, so the store filters in SQL.

`claims.services.access.Reader` is the one implementation; the store names only this shape, never
the services.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import ColumnElement


class Reach(Protocol):
    """One person's reach as WHERE clauses: the cases they see, and the markings they may read."""

    def cases(self, case_id: ColumnElement[int]) -> ColumnElement[bool]: ...

    def marked(self, *markings: ColumnElement[str]) -> ColumnElement[bool]: ...
