"""The audit log, checked three ways: its hash chain, signed checkpoints kept outside the database, and a replay.

The hash chain alone shows only that the events agree with each other: someone with database
credentials can delete the last events, or rewrite one and recompute every later hash. A
checkpoint (event count, last id, head hash, time) signed with the instance key and appended
to a file next to that key pins the chain as it was; a later rewrite can no longer match it.
Rows of `claims`, `evidence` and `review_requests` edited directly write no event at all, so
`verify` also replays the events and compares the outcome with the current tables.
See docs/decisions/0002-hash-chain-and-signed-checkpoints.md.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from claims.services.errors import RuleViolation
from claims.services.provenance import (
    key_dir,
    load_private_key,
    parse_public_key,
    require_private_key,
    sign_bytes,
)
from claims.services.runtime import Runtime
from claims.store.events import GENESIS, event_hash
from claims.store.models import Claim, Event, Evidence, ReviewRequest
from claims.store.uow import UnitOfWork

UNKNOWN = object()  # a value older events did not record
_log = logging.getLogger("claims.audit")


def database_tag(url: str) -> str:
    """Which database a checkpoint belongs to: a digest of its URL without the password."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:
        shown = url
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


def checkpoint_path(url: str) -> Path:
    return key_dir() / f"checkpoints-{database_tag(url)}.jsonl"


@dataclass(frozen=True)
class Checkpoint:
    events: int
    last_id: int
    head: str
    at: str


def _body(cp: dict[str, Any]) -> bytes:
    fields = {k: cp[k] for k in ("database", "events", "last_id", "head", "at")}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _parse(line: str, where: str, public: Any, tag: str) -> Checkpoint | str:
    """One checkpoint line, its signature checked against the instance key; or what is wrong with it."""
    try:
        cp = json.loads(line)
        sig = cp["signature"]
        public_of_line = parse_public_key(sig["public_key"])
        if public_of_line.public_bytes_raw() != public.public_bytes_raw():
            return f"{where}: signed by {sig.get('key_id')}, not this instance's key"
        public.verify(base64.b64decode(sig["value"], validate=True), _body(cp))
    except (ValueError, KeyError, TypeError, binascii.Error, InvalidSignature, RuleViolation):
        return f"{where}: not a checkpoint with a valid signature of this instance"
    if cp["database"] != tag:
        return f"{where}: belongs to another database"
    return Checkpoint(int(cp["events"]), int(cp["last_id"]), str(cp["head"]), str(cp["at"]))


def read_checkpoints(url: str) -> tuple[list[Checkpoint], str | None]:
    """Every checkpoint in the file, each signature checked against the instance key; or the first problem."""
    path = checkpoint_path(url)
    if not path.exists():
        return [], None
    public = require_private_key().public_key()
    tag = database_tag(url)
    out: list[Checkpoint] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        cp = _parse(line, f"checkpoint file {path.name} line {n}", public, tag)
        if isinstance(cp, str):
            return out, cp
        out.append(cp)
    return out, None


def _newest(url: str, public: Any) -> Checkpoint | None:
    """The checkpoint of the highest event among the file's last lines (writers append concurrently), or None.

    Reads only the file's tail: a checkpoint per write makes the file long, and a write should not pay for that.
    """
    path = checkpoint_path(url)
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 16384))
        lines = fh.read().decode("utf-8", errors="replace").splitlines()
    if size > 16384:
        lines = lines[1:]  # the first may be cut
    found = [_parse(line, path.name, public, database_tag(url)) for line in lines if line.strip()]
    good = [cp for cp in found if isinstance(cp, Checkpoint)]
    return max(good, key=lambda cp: cp.last_id) if good else None


def _check_against(session: Session, checkpoints: list[Checkpoint]) -> str | None:
    """The first checkpoint the current log no longer matches, said in one line."""
    previous = 0
    ids = list(session.scalars(select(Event.id).order_by(Event.id))) if checkpoints else []
    wanted = sorted({cp.last_id for cp in checkpoints})
    hashes: dict[int, str] = {}
    for start in range(0, len(wanted), 500):  # one query per 500 checkpoints, not one each: a write makes one
        chunk = wanted[start : start + 500]
        hashes.update((i, h) for i, h in session.execute(select(Event.id, Event.hash).where(Event.id.in_(chunk))))
    for cp in checkpoints:
        head = hashes.get(cp.last_id)
        if head is None:
            return f"checkpoint of {cp.at}: event {cp.last_id} is missing (the log was cut short or rewritten)"
        if head != cp.head:
            span = f"#{previous + 1}..#{cp.last_id}" if previous + 1 < cp.last_id else f"#{cp.last_id}"
            return (
                f"checkpoint of {cp.at}: event {cp.last_id} is not the event that was checkpointed "
                f"(an event in {span} was changed or removed and the hashes recomputed)"
            )
        count = bisect.bisect_right(ids, cp.last_id)
        if count != cp.events:
            return f"checkpoint of {cp.at}: {cp.events} events up to #{cp.last_id} were checkpointed, {count} remain"
        previous = cp.last_id
    return None


def make_checkpoint(rt: Runtime) -> Checkpoint | None:
    """Append a signed checkpoint of the chain head; None if the log is empty or unchanged since the last one.

    Refused when the chain or an earlier checkpoint no longer holds: a checkpoint must not bless a rewrite.
    """
    require_private_key()  # fail before reading anything if there is no key
    checkpoints, problem = read_checkpoints(rt.database_url)
    if problem:
        raise RuleViolation(f"audit: {problem}")
    with rt.uow(write=False) as uow:
        chain = uow.history.verify()
        if not chain.ok:
            raise RuleViolation(f"audit: will not checkpoint a broken chain: {chain.problem}")
        broken = _check_against(uow.session, checkpoints)
        if broken:
            raise RuleViolation(f"audit: will not checkpoint: {broken}")
        last = uow.session.scalar(select(Event).order_by(Event.id.desc()).limit(1))
        if last is None:
            return None
        if checkpoints and checkpoints[-1].last_id == last.id:
            return None
        cp = {
            "database": database_tag(rt.database_url),
            "events": chain.events,
            "last_id": last.id,
            "head": last.hash,
            "at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
    return _append(rt.database_url, cp)


def _append(url: str, cp: dict[str, Any]) -> Checkpoint:
    """Sign `cp` and append it as one line (O_APPEND: concurrent writers' lines do not interleave)."""
    cp["signature"] = sign_bytes(_body(cp))
    path = checkpoint_path(url)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(cp, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return Checkpoint(cp["events"], cp["last_id"], cp["head"], cp["at"])


def checkpoint_after_write(url: str) -> None:
    """Sign the new chain head after a committed write, when this instance has a key (issue 21.9).

    A checkpoint per write batch (one unit of work), not on a timer: events a timer has not yet
    covered could be cut unseen, and a command-line write has no timer running. Incremental, so
    it costs the events just written: the newest checkpoint must still match, and the events
    after it must follow on from it, else nothing is signed (a checkpoint never blesses a
    rewrite) and `audit verify` says what is wrong. The write has committed whatever happens
    here, so a problem is logged, not raised.
    """
    try:
        private = load_private_key()
        if private is None:
            return
        with UnitOfWork(url, write=False) as uow:
            newest = _newest(url, private.public_key()) if checkpoint_path(url).exists() else None
            if newest is None:
                if checkpoint_path(url).exists():
                    _log.warning("audit: the checkpoint file's last lines do not verify; run `claims audit verify`")
                    return
                prev, count, after = GENESIS, 0, 0
            else:
                if uow.session.scalar(select(Event.hash).where(Event.id == newest.last_id)) != newest.head:
                    _log.warning("audit: the newest checkpoint no longer matches the log; run `claims audit verify`")
                    return
                prev, count, after = newest.head, newest.events, newest.last_id
            last: Event | None = None
            for ev in uow.session.scalars(select(Event).where(Event.id > after).order_by(Event.id)):
                if ev.prev_hash != prev or event_hash(ev) != ev.hash:
                    _log.warning("audit: event %s does not follow the chain; not checkpointed", ev.id)
                    return
                prev, count, last = ev.hash, count + 1, ev
            if last is None:
                return
            cp = {
                "database": database_tag(url),
                "events": count,
                "last_id": last.id,
                "head": last.hash,
                "at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            }
        _append(url, cp)
    except Exception as exc:  # the change is committed; verify reports what this could not sign
        _log.warning("audit: could not checkpoint after the write (%s)", exc)


@dataclass
class Replayed:
    """What the events say the tables hold."""

    claims: dict[str, list[Any]] = field(default_factory=dict)  # key -> [stage, at_risk]
    evidence: dict[int, bool] = field(default_factory=dict)  # id -> retracted
    reviews: dict[int, tuple[str, Any]] = field(default_factory=dict)  # id -> (status, decided_by)


def replay(session: Session, batch: int = 5000) -> Replayed:
    """Fold the events, in order, into the state they describe."""
    state = Replayed()
    last_id = 0
    cols = (Event.id, Event.kind, Event.claim_key, Event.to_stage, Event.actor, Event.payload)
    while True:
        rows = session.execute(select(*cols).where(Event.id > last_id).order_by(Event.id).limit(batch)).all()
        if not rows:
            return state
        for ev_id, kind, claim, to_stage, actor, payload in rows:
            last_id = ev_id
            payload = payload or {}
            if kind in ("claim.reported", "claim.stage_changed") and claim:
                state.claims[claim] = [to_stage, False]
                for item in payload.get("items", []) if kind == "claim.reported" else ():  # a bulk import's
                    state.evidence[int(item["evidence"])] = bool(item.get("retracted", False))
            elif kind in ("claim.at_risk", "claim.at_risk_cleared") and claim in state.claims:
                state.claims[claim][1] = kind == "claim.at_risk"
            elif kind == "evidence.added" and "evidence" in payload:
                state.evidence[int(payload["evidence"])] = bool(payload.get("retracted", False))
            elif kind == "evidence.imported":  # a bulk import's new items on a known claim, in one event
                for item in payload.get("items", []):
                    state.evidence[int(item["evidence"])] = bool(item.get("retracted", False))
            elif kind == "evidence.retracted" and "evidence" in payload:
                state.evidence[int(payload["evidence"])] = True
            elif kind == "source.withdrawn":  # its live items are retracted with it, listed in the event
                for item in payload.get("retracted", []):
                    state.evidence[int(item)] = True
            elif kind == "review.requested" and "review" in payload:
                state.reviews[int(payload["review"])] = ("pending", None)
            elif kind == "review.imported" and "review" in payload:
                state.reviews[int(payload["review"])] = (payload["status"], payload.get("decided_by", UNKNOWN))
            elif kind.startswith("review.") and "review" in payload:
                state.reviews[int(payload["review"])] = (kind.removeprefix("review."), actor)


def compare(session: Session, state: Replayed) -> str | None:
    """The first way the tables differ from the replayed events, or None."""
    seen: set[Any] = set()
    for key, stage, at_risk in session.execute(select(Claim.key, Claim.stage, Claim.at_risk).order_by(Claim.id)):
        seen.add(key)
        want = state.claims.get(key)
        if want is None:
            return f"claim {key!r} is in the claims table but no event reported it"
        if stage != want[0]:
            return f"claim {key!r} is {stage} in the claims table, the events say {want[0]}"
        if bool(at_risk) != want[1]:
            return f"claim {key!r} has at_risk={bool(at_risk)} in the claims table, the events say {want[1]}"
    for key in state.claims:
        if key not in seen:
            return f"claim {key!r} was reported in the events but is missing from the claims table"
    seen = set()
    for ev_id, retracted in session.execute(select(Evidence.id, Evidence.retracted).order_by(Evidence.id)):
        seen.add(ev_id)
        if ev_id not in state.evidence:
            return f"evidence #{ev_id} is in the evidence table but no event added it"
        if bool(retracted) != state.evidence[ev_id]:
            return f"evidence #{ev_id} has retracted={bool(retracted)}, the events say {state.evidence[ev_id]}"
    for ev_id in state.evidence:
        if ev_id not in seen:
            return f"evidence #{ev_id} was added in the events but is missing from the evidence table"
    seen = set()
    rows = session.execute(
        select(ReviewRequest.id, ReviewRequest.status, ReviewRequest.decided_by).order_by(ReviewRequest.id)
    )
    for rid, status, decided_by in rows:
        seen.add(rid)
        if rid not in state.reviews:
            return f"review #{rid} is in the review_requests table but no event opened it"
        want_status, want_by = state.reviews[rid]
        if status != want_status:
            return f"review #{rid} is {status} in the review_requests table, the events say {want_status}"
        if want_by is not UNKNOWN and decided_by != want_by:
            return f"review #{rid} was decided by {decided_by!r} in the table, the events say {want_by!r}"
    for rid in state.reviews:
        if rid not in seen:
            return f"review #{rid} was opened in the events but is missing from the review_requests table"
    return None


@dataclass(frozen=True)
class AuditReport:
    events: int
    ok: bool
    checkpoints: int
    first_bad_id: int | None = None
    problem: str | None = None
    failed: str | None = None  # which check failed: chain, checkpoint or replay
    uncovered: int = 0  # events after the newest checkpoint: a cut there would not be seen

    @property
    def message(self) -> str | None:
        """The problem as one line for people."""
        if self.problem is None:
            return None
        return f"chain broken at {self.problem}" if self.failed == "chain" else self.problem


def verify(rt: Runtime) -> AuditReport:
    """Chain, then every checkpoint, then the replay; the first problem found is the one reported.

    With an instance key, events are checkpointed as they are written, so a missing checkpoint
    file is a failure (it is what would let a cut tail pass), not "no checkpoints yet".
    """
    with rt.uow(write=False) as uow:
        chain = uow.history.verify()
        if not chain.ok:
            return AuditReport(chain.events, False, 0, chain.first_bad_id, chain.problem, "chain")
        path = checkpoint_path(rt.database_url)
        if chain.events and not path.exists() and load_private_key() is not None:
            return AuditReport(
                chain.events,
                False,
                0,
                None,
                f"checkpoint file {path} is missing: none of the {chain.events} events is covered "
                "(run `claims audit checkpoint` only if it never existed)",
                "checkpoint",
                chain.events,
            )
        checkpoints, problem = read_checkpoints(rt.database_url)
        if problem:
            return AuditReport(chain.events, False, len(checkpoints), None, problem, "checkpoint")
        broken = _check_against(uow.session, checkpoints)
        if broken:
            return AuditReport(chain.events, False, len(checkpoints), None, broken, "checkpoint")
        covered = max((cp.last_id for cp in checkpoints), default=0)
        uncovered = uow.session.scalar(select(func.count()).select_from(Event).where(Event.id > covered)) or 0
        different = compare(uow.session, replay(uow.session))
        if different:
            return AuditReport(
                chain.events, False, len(checkpoints), None, f"replay differs: {different}", "replay", uncovered
            )
        return AuditReport(chain.events, True, len(checkpoints), uncovered=uncovered)
