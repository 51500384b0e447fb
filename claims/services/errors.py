"""Errors a use case raises for the user; each message is one line naming field and value."""

from datetime import UTC, date, datetime, timedelta

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


def latest_observable() -> date:
    """Today where it is latest on Earth (UTC+14): evidence observed after it has not been observed yet."""
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def refuse_future(field: str, value: date | None) -> None:
    """Evidence observed in 2100 was accepted; an observation date may not be later than today."""
    if value is not None and value > latest_observable():
        raise InvalidInput(f"{field}: {value.isoformat()!r} is in the future (today is {datetime.now(UTC):%Y-%m-%d})")


class AlreadyDone(RuleViolation, ConcurrencyConflict):
    """A review already decided, an item already retracted: someone else acted first.

    A rule violation (flows and pages treat it as a refusal, never retry it) and a concurrency
    conflict (the CLI exits 5): when two people act at once, the loser learns who won.
    """
