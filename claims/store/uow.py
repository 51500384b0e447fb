"""Unit of work: one transaction per use case, holding the only Session of the write side."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from claims.store.db import session_factory
from claims.store.events import EventLog
from claims.store.repositories import (
    ActionRepository,
    CaseRepository,
    ClaimRepository,
    EvidenceRepository,
    ReviewRepository,
    SourceRepository,
    UserRepository,
)

_STALE = "claim: changed by someone else meanwhile; reload and try again"


class ConcurrencyConflict(Exception):
    """Someone else changed the same thing first; the change was not applied."""


class UnitOfWork:
    """`with UnitOfWork(url) as uow: ...; uow.commit()` - anything not committed is rolled back."""

    session: Session

    def __init__(self, url: str, *, write: bool = True) -> None:
        self.url = url
        self.write = write

    def __enter__(self) -> Self:
        self.session = session_factory(self.url, write=self.write)()
        self.users = UserRepository(self.session)
        self.cases = CaseRepository(self.session)
        self.sources = SourceRepository(self.session)
        self.claims = ClaimRepository(self.session)
        self.evidence = EvidenceRepository(self.session)
        self.reviews = ReviewRepository(self.session)
        self.actions = ActionRepository(self.session)
        self.events = EventLog(self.session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            # Detach what was loaded before the rollback below would expire it: a use case may
            # return the objects it read (e.g. the users it listed) and their loaded values
            # must stay readable after the unit of work ends.
            self.session.expunge_all()
        self.session.rollback()
        self.session.close()
        if isinstance(exc, StaleDataError):
            raise ConcurrencyConflict(_STALE) from exc
        if isinstance(exc, IntegrityError):
            raise ConcurrencyConflict(f"another change was recorded at the same time; try again ({exc.orig})") from exc

    def flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError as err:
            self.session.rollback()
            raise ConcurrencyConflict(_STALE) from err

    def commit(self) -> None:
        try:
            self.session.commit()
        except StaleDataError as err:
            self.session.rollback()
            raise ConcurrencyConflict(_STALE) from err
        except IntegrityError as err:
            self.session.rollback()
            raise ConcurrencyConflict(f"another change was recorded at the same time; try again ({err.orig})") from err
