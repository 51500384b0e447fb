"""Column types shared by every table: one UTC datetime instead of a helper per reader."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def to_utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime in whole seconds; a naive one is taken to be UTC already.

    Used on the way in (bind) and by code that normalises times from outside (a case file)
    before it hashes or stores them, so both paths agree to the second.
    """
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back aware in UTC.

    SQLite keeps no offset and hands datetimes back naive; PostgreSQL hands them back in the
    session's time zone. Readers used to patch this up in four places; now the column does.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime):
            return to_utc(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime):
            return to_utc(value)
        return value
