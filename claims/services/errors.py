"""Errors a use case raises for the user (defined once, in claims.domain.errors), and the checks that raise them."""

from datetime import UTC, date, datetime, timedelta

from claims.domain.errors import (
    AlreadyDone,
    CodeSpent,
    ConcurrencyConflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RuleViolation,
)

__all__ = [
    "AlreadyDone",
    "CodeSpent",
    "ConcurrencyConflict",
    "InvalidInput",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "RuleViolation",
    "refuse_nul",
]


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
