"""Errors a use case raises for the user; each message is one line naming field and value."""

from claims.domain.errors import DomainError, RuleViolation
from claims.store.uow import ConcurrencyConflict

__all__ = [
    "AlreadyDone",
    "ConcurrencyConflict",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "RuleViolation",
    "refuse_nul",
]


class NotFound(DomainError):
    """An unknown claim, source, case, review, action or user."""


class PermissionDenied(DomainError):
    """The acting user's role does not allow the use case."""


class InvalidInput(DomainError):
    """A value the user gave that no rule accepts (a malformed case file, an empty rationale)."""


def refuse_nul(field: str, value: str | None) -> None:
    """PostgreSQL refuses a NUL in text and SQLite would keep it silently: refuse it in every free-text field."""
    if value and "\x00" in value:
        raise InvalidInput(f"{field}: {value!r} contains a NUL character, which no text field may hold")


class AlreadyDone(RuleViolation, ConcurrencyConflict):
    """A review already decided, an item already retracted: someone else acted first.

    A rule violation (flows and pages treat it as a refusal, never retry it) and a concurrency
    conflict (the CLI exits 5): when two people act at once, the loser learns who won.
    """
