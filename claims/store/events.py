"""The hash-chained audit log: append and verify."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from claims.domain.errors import ClockBehind  # raised here, defined with the other errors
from claims.domain.events import EventKind
from claims.store import clock
from claims.store.bulk import BulkInsert
from claims.store.models import Event

GENESIS = "0" * 64
WRITERS_LOCK = 7201  # PostgreSQL advisory lock that queues writers (see UnitOfWork)


def _canonical(event: Event) -> str:
    at = event.at.astimezone(UTC) if event.at.tzinfo else event.at.replace(tzinfo=UTC)
    return canonical(
        at.isoformat(),
        event.actor,
        event.kind,
        event.case_key,
        event.claim_key,
        event.from_stage,
        event.to_stage,
        event.rationale,
        event.policy_version,
        event.payload,
        event.prev_hash,
    )


def event_hash(event: Event) -> str:
    return hashlib.sha256(_canonical(event).encode()).hexdigest()


def _row_hash(row: dict[str, Any]) -> str:
    """`event_hash` of a plain row, with json.dumps over the whole body: the reference form.

    `canonical` below writes the same text faster (the tests compare the two); this one stays
    as the plain statement of what is hashed, and as the benchmark baselines' hash.
    """
    body = {
        "at": row["at"].astimezone(UTC).isoformat(),
        "actor": row["actor"],
        "kind": row["kind"],
        "case": row["case_key"],
        "claim": row["claim_key"],
        "from": row["from_stage"],
        "to": row["to_stage"],
        "rationale": row["rationale"],
        "policy_version": row["policy_version"],
        "payload": row["payload"],
        "prev": row["prev_hash"],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


# The hashed text is json.dumps(body, sort_keys=True, separators=(",", ":"), default=str) of the
# body in `_row_hash`. Building it with one json.dumps per event was a third of a bulk import,
# so `canonical` writes the same text piece by piece: keys in sorted order, and each value that
# is a plain str, int, bool or None, or a dict or list of those, as json.dumps writes it (the
# same C string encoder). Anything else (floats, tuples, str subclasses, ...) goes through
# json.dumps itself, so the bytes cannot differ; tests/unit/test_event_hash.py pins them and
# compares both ways.
_string = encode_basestring_ascii


_PLAIN: dict[type, Callable[[Any], str]] = {
    str: _string,
    int: int.__repr__,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _text(value: Any) -> str:
    """json.dumps' text of plain values, dicts with str keys and lists of them; KeyError/TypeError otherwise."""
    kind = type(value)
    if kind is dict:
        # sorted(items()) is how json.dumps orders keys; _string refuses a key that is not a str
        return "{" + ",".join([f"{_string(k)}:{_text(v)}" for k, v in sorted(value.items())]) + "}"
    if kind is list:
        return "[" + ",".join([_text(v) for v in value]) + "]"
    return _PLAIN[kind](value)


def payload_json(payload: Any) -> str:
    """The payload's part of the hashed text (also valid JSON to store it as)."""
    try:
        return _text(payload)
    except (KeyError, TypeError, RecursionError):
        return _dumps(payload)


def canonical(
    at: str,
    actor: Any,
    kind: Any,
    case_key: Any,
    claim_key: Any,
    from_stage: Any,
    to_stage: Any,
    rationale: Any,
    policy_version: Any,
    payload: Any,
    prev_hash: Any,
    payload_text: str | None = None,
) -> str:
    """The hashed text of one event; `at` is its ISO time in UTC, `payload_text` its `payload_json` if known."""
    try:
        plain = _PLAIN
        t_actor, t_at, t_case, t_claim, t_from, t_kind, t_pv, t_prev, t_rat, t_to = [
            plain[type(v)](v)
            for v in (actor, at, case_key, claim_key, from_stage, kind, policy_version, prev_hash, rationale, to_stage)
        ]
    except KeyError:
        return _dumps(
            {
                "at": at,
                "actor": actor,
                "kind": kind,
                "case": case_key,
                "claim": claim_key,
                "from": from_stage,
                "to": to_stage,
                "rationale": rationale,
                "policy_version": policy_version,
                "payload": payload,
                "prev": prev_hash,
            }
        )
    t_payload = payload_json(payload) if payload_text is None else payload_text
    return (
        f'{{"actor":{t_actor},"at":{t_at},"case":{t_case},"claim":{t_claim},"from":{t_from},"kind":{t_kind},'
        f'"payload":{t_payload},"policy_version":{t_pv},"prev":{t_prev},"rationale":{t_rat},"to":{t_to}}}'
    )


EVENT_FIELDS = ("case_key", "claim_key", "from_stage", "to_stage", "rationale", "policy_version")


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


class EventLog:
    """Appends events to the chain inside the caller's transaction.

    Every event of one transaction gets the time read once, after the writers' lock: the database
    server's clock on PostgreSQL, this computer's on SQLite (claims.store.clock). Writers queue on
    the lock, so times follow the chain; a time before the newest event's is refused (issue 21.4:
    a clock set back wrote backdated events that verified), and `verify_chain` checks the order.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._head: str | None = None
        self._at: datetime | None = None
        self._bulk: BulkInsert | None = None
        # Policy version -> sha256 of its content, set by the unit of work: a judgement's event records
        # the content it was judged under (issue 21.3), and `used` the versions this transaction judged with.
        self.policy_digests: dict[str, str] = {}
        self.policies_used: set[str] = set()

    def _with_policy(self, policy_version: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        if policy_version is None:
            return payload
        self.policies_used.add(policy_version)
        digest = self.policy_digests.get(policy_version)
        return {**payload, "policy_sha256": digest} if digest else payload

    def _current_head(self) -> str:
        if self._head is None:
            if self.session.get_bind().dialect.name == "postgresql":
                # Serialise appenders so concurrent transactions queue instead of conflicting.
                self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITERS_LOCK})
            last = self.session.execute(select(Event.hash, Event.at).order_by(Event.id.desc()).limit(1)).first()
            at = clock.transaction_time() or clock.server_now(self.session)
            if last is not None and at < _utc(last.at):
                raise ClockBehind(
                    f"clock: this writer's clock says {at:%Y-%m-%d %H:%M:%S} UTC, earlier than the last event's "
                    f"time {_utc(last.at):%Y-%m-%d %H:%M:%S} UTC; refusing to write an event back in time "
                    "(set the clock right)"
                )
            self._head, self._at = (last.hash if last else GENESIS), at
        return self._head

    def append(
        self,
        *,
        actor: str,
        kind: EventKind,
        case_key: str | None = None,
        claim_key: str | None = None,
        from_stage: str | None = None,
        to_stage: str | None = None,
        rationale: str | None = None,
        policy_version: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Event:
        prev_hash = self._current_head()
        assert self._at is not None
        ev = Event(
            at=self._at,
            actor=actor,
            kind=EventKind(kind).value,  # the plain value: it is what the hash covers
            case_key=case_key,
            claim_key=claim_key,
            from_stage=from_stage,
            to_stage=to_stage,
            rationale=rationale,
            policy_version=policy_version,
            payload=self._with_policy(policy_version, payload or {}),
            prev_hash=prev_hash,
        )
        ev.hash = event_hash(ev)
        # No flush here: the chain is computed in Python, so the rows can wait for the
        # transaction's next flush and go in as one batched INSERT (a flush per event was
        # 44% of an assessment). The session inserts them in the order they were added.
        self.session.add(ev)
        self._head = ev.hash
        return ev

    def append_many(self, actor: str, events: list[dict[str, Any]]) -> None:
        """Chain and insert many events at once (bulk import), as `append` would one by one.

        Each dict holds `kind`, `payload` and any of EVENT_FIELDS. Events already added to the
        session are flushed first, so ids keep following the chain. The payload is stored as the
        very JSON text its hash covers (the same object when read back).
        """
        if not events:
            return
        self.session.flush()
        head = self._current_head()
        assert self._at is not None
        stamp = self._at
        when = stamp.astimezone(UTC).isoformat()
        rows = []
        for ev in events:
            payload = self._with_policy(ev.get("policy_version"), ev.get("payload") or {})
            text = payload_json(payload)
            fields = [ev.get(name) for name in EVENT_FIELDS]
            case_key, claim_key, from_stage, to_stage, rationale, policy_version = fields
            body = canonical(
                when,
                actor,
                ev["kind"],
                case_key,
                claim_key,
                from_stage,
                to_stage,
                rationale,
                policy_version,
                payload,
                head,
                text,
            )
            digest = hashlib.sha256(body.encode()).hexdigest()
            rows.append((stamp, actor, ev["kind"], *fields, text, head, digest))
            head = digest
        if self._bulk is None:
            columns = ("at", "actor", "kind", *EVENT_FIELDS, "payload", "prev_hash", "hash")
            self._bulk = BulkInsert(self.session, Event.__table__, columns, prepared=("payload",))
        self._bulk(rows)
        self._head = head


@dataclass(frozen=True)
class ChainReport:
    events: int
    ok: bool
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the log in id order and recompute every hash."""
    prev = GENESIS
    count = 0
    last_id = 0
    last_at: datetime | None = None
    while True:
        rows = session.scalars(select(Event).where(Event.id > last_id).order_by(Event.id).limit(batch)).all()
        if not rows:
            return ChainReport(count, True)
        for ev in rows:
            count += 1
            if ev.prev_hash != prev:
                return ChainReport(count, False, ev.id, f"event {ev.id}: prev_hash does not match event before it")
            if event_hash(ev) != ev.hash:
                return ChainReport(count, False, ev.id, f"event {ev.id}: content does not match its hash")
            at = _utc(ev.at)
            if last_at is not None and at < last_at:
                return ChainReport(
                    count,
                    False,
                    ev.id,
                    f"event {ev.id}: dated {at:%Y-%m-%d %H:%M:%S}, earlier than event {last_id} "
                    f"({last_at:%Y-%m-%d %H:%M:%S}): backdated",
                )
            prev, last_at = ev.hash, at
            last_id = ev.id
        session.expunge_all()
