"""Unit of work: one transaction per use case, holding the only Session of the write side."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from claims.domain.changes import Change
from claims.domain.errors import ConcurrencyConflict, PolicyChanged  # raised here, defined with the other errors
from claims.domain.events import EventKind
from claims.store import clock
from claims.store.clock import _transaction_time as _TIME
from claims.store.clock import server_now
from claims.store.db import session_factory, write_wait_seconds, wrote
from claims.store.events import WRITERS_LOCK, EventLog
from claims.store.models import Claim, PolicyContent
from claims.store.repositories import (
    ActionRepository,
    CaseRepository,
    ClaimRepository,
    EvidenceRepository,
    HistoryRepository,
    ReviewRepository,
    SourceRepository,
    TaskRepository,
    UserRepository,
)

_STALE = "claim: changed by someone else meanwhile; reload and try again"


@dataclass(frozen=True)
class PolicyId:
    """A policy as the store knows it: its version and the sha256 of its content."""

    version: str
    sha256: str
    origin: str


# PostgreSQL: deadlock detected, serialization failure. Both mean another writer got there first.
_CONFLICT_SQLSTATES = {"40P01", "40001"}
# PostgreSQL lock_not_available, SQLite's busy timeout: another writer held the database too long.
# The message says how long this unit of work really waited (it said "30 s" after 58 s: the limit
# applies per lock wait, and a unit of work may wait more than once), and what the limit is.


def _busy(waited: float | None) -> str:
    took = f"gave up after {waited:.0f} s" if waited is not None else "gave up"
    limit = f"{write_wait_seconds():g}"
    return f"another change held the database; {took} (each lock wait is limited to {limit} s); try again"


def _first_line(err: BaseException) -> str:
    """The driver's message without PostgreSQL's DETAIL lines: the CLI prints one line."""
    return (str(getattr(err, "orig", None) or err).strip().splitlines() or [""])[0]


def _conflict(err: BaseException, waited: float | None = None) -> ConcurrencyConflict | None:
    """The conflict a database error stands for, if it stands for one."""
    if isinstance(err, StaleDataError):
        return ConcurrencyConflict(_STALE)
    if isinstance(err, IntegrityError):
        return ConcurrencyConflict(f"another change was recorded at the same time; try again ({_first_line(err)})")
    if isinstance(err, OperationalError) and getattr(err.orig, "sqlstate", None) == "55P03":
        return ConcurrencyConflict(_busy(waited))
    if isinstance(err, OperationalError) and "database is locked" in str(err.orig):
        return ConcurrencyConflict(_busy(waited))
    if isinstance(err, OperationalError) and getattr(err.orig, "sqlstate", None) in _CONFLICT_SQLSTATES:
        return ConcurrencyConflict(f"another change was in progress at the same time; try again ({_first_line(err)})")
    return None


def _take_writers_lock(_session: Session, _transaction: object, connection: Connection) -> None:
    """Queue behind other writers before this transaction reads anything (PostgreSQL).

    A write unit of work reads, checks, then writes: "the review is pending, so decide it";
    "the item is live, so retract it". Under READ COMMITTED two such transactions both saw
    "pending" and both decided (issue 9: four rejects of one review, all exit 0). Taking the
    event log's advisory lock when the transaction begins makes PostgreSQL writers queue as
    SQLite's BEGIN IMMEDIATE does: the second one reads what the first committed, and finds
    the review decided. It also gives every writer one lock order (this lock, then rows), so
    writers on the same claim cannot deadlock. Readers (`write=False`) never take it.

    A writer waits at most CLAIMS_WRITE_WAIT_SECONDS (SQLite's busy timeout too), then gets a
    ConcurrencyConflict instead of hanging behind a stuck one.
    """
    connection.execute(text(f"SET LOCAL lock_timeout = '{int(write_wait_seconds() * 1000)}ms'"))
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITERS_LOCK})
    _TIME.set(connection.execute(text("SELECT clock_timestamp()")).scalar_one().astimezone(UTC).replace(microsecond=0))


def _sqlite_time(_session: Session, _transaction: object, _connection: Connection) -> None:
    """SQLite has no server clock: the client's, read once the write lock is held (BEGIN IMMEDIATE)."""
    _TIME.set(clock.client_now().replace(microsecond=0))


class UnitOfWork:
    """`with UnitOfWork(url) as uow: ...; uow.commit()` - anything not committed is rolled back."""

    session: Session

    def __init__(
        self,
        url: str,
        *,
        write: bool = True,
        after_commit: Callable[[str], None] | None = None,
        policy: PolicyId | None = None,
    ) -> None:
        """`after_commit(url)` runs after each successful commit (the services sign an audit checkpoint there);
        `policy` is the policy this unit of work judges under (checked against the ones that judged before)."""
        self.url = url
        self.write = write
        self.after_commit = after_commit
        self.policy = policy

    def __enter__(self) -> Self:
        self._started = time.monotonic()
        self.session = session_factory(self.url, write=self.write)()
        self._time_token = _TIME.set(None) if self.write else None
        if self.write and self.session.get_bind().dialect.name == "postgresql":
            event.listen(self.session, "after_begin", _take_writers_lock)
        elif self.write:
            event.listen(self.session, "after_begin", _sqlite_time)
        self.users = UserRepository(self.session)
        self.cases = CaseRepository(self.session)
        self.sources = SourceRepository(self.session)
        self.claims = ClaimRepository(self.session)
        self.evidence = EvidenceRepository(self.session)
        self.reviews = ReviewRepository(self.session)
        self.actions = ActionRepository(self.session)
        self.events = EventLog(self.session)
        if self.policy is not None:
            self.events.policy_digests[self.policy.version] = self.policy.sha256
        self.history = HistoryRepository(self.session)
        self.tasks = TaskRepository(self.session)
        self._recorded: list[tuple[Change, str]] = []  # events (and their actors) waiting for the commit
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Use cases return plain data built inside the unit of work, never rows, so nothing
        # loaded here needs to stay readable once the session closes.
        self.session.rollback()
        self.session.close()
        if self._time_token is not None:
            _TIME.reset(self._time_token)
        conflict = _conflict(exc, time.monotonic() - self._started) if exc is not None else None
        if conflict is not None:
            raise conflict from exc

    def record(
        self,
        kind: EventKind,
        *,
        actor: str,
        claim: Claim | None = None,
        case_key: str | None = None,
        from_stage: str | None = None,
        to_stage: str | None = None,
        rationale: str | None = None,
        policy_version: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Note the audit event of a change; `commit` appends it in the same transaction.

        Use cases record what happened instead of writing to the log by hand, so a change
        can never commit without its event, nor an event without its change. `claim` fills in
        the claim and case keys. Its time is the transaction's clock (claims.store.events.EventLog).
        """
        if claim is not None:
            case_key = case_key or claim.case.key
        claim_key = claim.key if claim is not None else None
        change = Change(EventKind(kind), case_key, claim_key, from_stage, to_stage, rationale, policy_version)
        self.record_change(replace(change, payload=dict(payload or {})), actor=actor)

    def record_change(self, change: Change, *, actor: str) -> None:
        """Note the event of a change made by `claims.domain.changes` (the shape the bulk writer takes
        too); its time is the transaction's clock, as for `record`."""
        self._recorded.append((change, actor))

    def judges(self) -> None:
        """This unit of work judges under its policy even if it writes no event (an assessment that moves nothing
        still stamps `assessed_policy`): pin or check the policy's content at commit."""
        if self.policy is not None:
            self.events.policies_used.add(self.policy.version)

    def _pin_policies(self) -> None:
        """A policy version judges with one content only: the first use pins it, a changed file is refused.

        A policy file edited in place but still saying `version = "v1"` re-judged claims as v1, and
        later runs never noticed (issue 21.3). The pin needs no event of its own: the judging events
        of the same transaction carry the content's hash (`policy_sha256`). Versions this instance has
        no content for (history imported from a case file) are left alone.
        """
        if self.policy is None or self.policy.version not in self.events.policies_used:
            return
        pinned = self.session.get(PolicyContent, self.policy.version)
        if pinned is None:
            self.session.add(
                PolicyContent(
                    version=self.policy.version,
                    sha256=self.policy.sha256,
                    origin=self.policy.origin[:500],
                    first_used_at=server_now(self.session),
                )
            )
        elif pinned.sha256 != self.policy.sha256:
            raise PolicyChanged(
                f"policy: {self.policy.version!r} in {self.policy.origin} "
                f"has content sha256:{self.policy.sha256[:12]}, "
                f"but {self.policy.version!r} judged here as sha256:{pinned.sha256[:12]} ({pinned.origin}); "
                "a changed policy needs a new version"
            )

    def _append_recorded(self) -> None:
        """Append the recorded events in the order their changes were made."""
        recorded, self._recorded = self._recorded, []
        for change, actor in recorded:
            self.events.append(
                actor=actor,
                kind=change.kind,
                case_key=change.case_key,
                claim_key=change.claim_key,
                from_stage=change.from_stage,
                to_stage=change.to_stage,
                rationale=change.rationale,
                policy_version=change.policy_version,
                payload=dict(change.payload),
            )

    @contextmanager
    def bulk_write(self, cache_mib: int = 64) -> Iterator[None]:
        """SQLite: a larger page cache while one bulk write runs, then the usual one again.

        The events' unique hash indexes are written in random order; with SQLite's default 2 MiB
        cache their pages were written out and read back again and again during a large import.
        """
        if self.session.get_bind().dialect.name != "sqlite":
            yield
            return
        connection = self.session.connection()
        before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        connection.exec_driver_sql(f"PRAGMA cache_size=-{cache_mib * 1024}")
        try:
            yield
        finally:
            connection.exec_driver_sql(f"PRAGMA cache_size={int(before or -2000)}")

    def refresh_statistics(self) -> None:
        """Fresh planner statistics after a bulk write (PostgreSQL chose a 10-minute plan without them)."""
        if self.session.get_bind().dialect.name == "postgresql":
            for table in ("claims", "evidence", "events", "sources", "review_requests"):
                self.session.execute(text(f"ANALYZE {table}"))
        else:
            self.session.execute(text("PRAGMA optimize"))

    def clock(self) -> datetime:
        """The database server's time now (PostgreSQL; the client's on SQLite): for lockouts and expiry."""
        return server_now(self.session)

    def flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError as err:
            self.session.rollback()
            raise ConcurrencyConflict(_STALE) from err

    def commit(self) -> None:
        """Append the recorded events, then commit the change and its events as one."""
        try:
            self._append_recorded()
            self._pin_policies()
            bind = self.session.get_bind()
            self.session.commit()
            if bind.dialect.name == "sqlite":
                wrote(str(bind.url))
        except (StaleDataError, IntegrityError, OperationalError) as err:
            conflict = _conflict(err, time.monotonic() - self._started)
            if conflict is None:
                raise
            self.session.rollback()
            raise conflict from err
        if self.after_commit is not None:
            self.after_commit(self.url)
