"""Clocks: the one reading of this computer's clock, and the database server's.

Security decisions (lockouts, token and code expiry) and event times must not trust the client's
clock (issue 21.4: a clock set an hour ahead passed a lockout, three years ahead issued a
three-year token). PostgreSQL has a clock of its own, read in the statement's transaction;
SQLite has none, so there the client's clock is used, and the event log refuses a time before
its last event's (`claims.store.events`).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

# The clock reading of the write transaction in progress (set by the unit of work once it holds the
# writers' lock): the stage times a use case stamps and its events' times are then one reading.
_transaction_time: ContextVar[datetime | None] = ContextVar("transaction_time", default=None)


def client_now() -> datetime:
    """This computer's clock, in UTC: the only place the project reads it (tests shift it here)."""
    return datetime.now(UTC)


def server_now(session: Session) -> datetime:
    """The database server's clock (PostgreSQL `clock_timestamp()`), or the client's on SQLite; whole seconds, UTC."""
    if session.get_bind().dialect.name == "postgresql":
        at = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        return at.astimezone(UTC).replace(microsecond=0)
    return client_now().replace(microsecond=0)


def transaction_time() -> datetime | None:
    """The running write transaction's clock reading, if one is running here."""
    return _transaction_time.get()


def now() -> datetime:
    """The time a change is stamped with: the write transaction's reading, else this computer's clock."""
    return _transaction_time.get() or client_now().replace(microsecond=0)
