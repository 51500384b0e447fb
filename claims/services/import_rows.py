"""The import's middle step: validated case-file claims become typed rows, with the events they will leave.

Every import (a small file or a 100k-claim one, with or without history, signed, from STIX) reads its
file (casefile.py, bulk_import.py), turns each chunk of claims into rows here (`claim_rows`), and hands
them to the one writer (intake.py `write_rows`). `claim_rows` reads nothing and writes nothing: what
the database already holds of the chunk comes in as `Known`, so every refusal (a key of another case,
an unknown source, a history no rule allows) is raised before the chunk is written.

A history is replayed here step by step through the transition rule (`transitions.stage_change`, the
same question `move` asks): when a trusted key vouches for the file, the claim's row gets the stage
and times the history reached and the writer chains the steps' `claim.stage_changed` events; when
nobody does, the history is kept as provenance in `claim.reported` and the claim lands where its
evidence puts it under this instance's policy (`_land_unvouched`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from claims.domain import changes
from claims.domain.assessment import ClaimFacts, EvidenceFacts, assess
from claims.domain.changes import Change
from claims.domain.errors import DomainError
from claims.domain.grades import Credibility, Grade, Reliability
from claims.domain.policy import Policy
from claims.domain.stages import ReviewStatus, Stage, Stance
from claims.domain.transitions import TransitionRequest, Via, decide_transition
from claims.services.casefile import ClaimEntry, ReviewEntry, history_error
from claims.services.errors import InvalidInput
from claims.services.evidence import fingerprint
from claims.services.transitions import stage_change
from claims.store.repositories import ClaimRow, EvidenceRow, ReviewRow
from claims.store.types import to_utc

_STANCE = {s: s.value for s in Stance}
NEW = 0  # the claim id in the rows of a new claim's items and reviews, until the writer knows it


@dataclass(frozen=True, slots=True)
class Voucher:
    """Who vouches for a file's confirm/refute history: a trusted key that signed it, or nobody."""

    signature: str  # none, untrusted, trusted
    key_id: str | None = None
    key_name: str | None = None

    @property
    def trusted(self) -> bool:
        return self.signature == "trusted"


UNVOUCHED = Voucher("none")


@dataclass(frozen=True, slots=True)
class Source:
    """A source of the case as the rows need it: its id, grade letter, name and lineage root."""

    id: int
    reliability: str
    name: str
    root: str


@dataclass(frozen=True, slots=True)
class ImportContext:
    """What every claim of one import is written against."""

    case_id: int
    case_key: str
    origin: str  # names the file in every refusal
    actor: str
    stamp: datetime  # the transaction's clock
    voucher: Voucher
    policy: Policy  # judges where an unvouched claim lands
    sources: dict[str, Source]


@dataclass(frozen=True, slots=True)
class Known:
    """What the database holds of one chunk's claims: key -> (id, case id), the case keys of other cases'
    claims among them, and the item fingerprints of each claim of this case."""

    claims: dict[str, tuple[int, int]]
    case_keys: dict[int, str]
    fingerprints: dict[int, set[str]]


@dataclass(slots=True)
class ClaimRows:
    """One claim of the file as rows: a new claim (`row`) or a known one (`claim_id`), its new items, the
    review requests it brings and the events they leave (in the order the writer chains them)."""

    key: str
    claim_id: int | None = None  # a known claim
    row: ClaimRow | None = None  # a new claim
    reported: dict[str, Any] | None = None  # a new claim's `claim.reported` payload, less its items
    items: list[EvidenceRow] = field(default_factory=list)  # claim_id NEW for a new claim
    listed: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (source, stance, grade, retracted)
    moves: list[Change] = field(default_factory=list)  # `claim.stage_changed`, after `claim.reported`
    reviews: list[tuple[ReviewRow, Change]] = field(default_factory=list)  # event without its review id


def claim_rows(
    ctx: ImportContext, chunk: Sequence[tuple[int, ClaimEntry]], known: Known, marks: Mapping[str, list[str]]
) -> list[ClaimRows]:
    """The rows of a chunk of validated claims (with their index in the file), in file order; refuses with
    one line naming the field, before anything of the chunk is written. `marks`: each claim's evidence
    markings, checked against the importer's clearance (`ImportMarks.evidence`, issue 20)."""
    out = []
    sources, trusted = ctx.sources, ctx.voucher.trusted
    for i, entry in chunk:
        found = known.claims.get(entry.key)
        if found is not None and found[1] != ctx.case_id:
            other = known.case_keys.get(found[1])
            raise InvalidInput(f"{ctx.origin}: claims[{i}].key: {entry.key!r} already belongs to case {other!r}")
        rows = _new_claim(ctx, entry, i) if found is None else ClaimRows(entry.key, claim_id=found[0])
        for j, ev in enumerate(entry.evidence):
            if ev.source not in sources:
                where = f"{ctx.origin}: claims[{i}].evidence[{j}].source"
                raise InvalidInput(f"{where}: unknown source {ev.source!r}")
        _items(ctx, entry, rows, known.fingerprints.get(found[0], set()) if found else set(), marks[entry.key])
        if rows.row is not None and not trusted and (entry.history or entry.reviews) and _claims_more(entry):
            _land_unvouched(ctx, entry, rows)
        out.append(rows)
    return out


def _claims_more(entry: ClaimEntry) -> bool:
    """A history beyond `reported`, or reviews: what only a trusted key's signature lets stand."""
    return bool(entry.reviews) or any(step.stage is not Stage.REPORTED for step in entry.history)


def _new_claim(ctx: ImportContext, entry: ClaimEntry, index: int) -> ClaimRows:
    """The claim at `reported`, its history replayed through the transition rule (applied when vouched for)."""
    history = entry.history
    first = history[0] if history and history[0].stage is Stage.REPORTED else None
    times: dict[str, datetime | None] = {"reported": to_utc(first.at) if first else ctx.stamp}
    payload: dict[str, Any] = {"by": first.by if first else ctx.actor}
    if first:
        payload["at"] = to_utc(first.at).isoformat()
    voucher = ctx.voucher
    if voucher.trusted:
        payload["attested_by"] = voucher.key_id
    elif history or entry.reviews:
        payload["provenance"] = {
            "signature": voucher.signature,
            **({"key_id": voucher.key_id} if voucher.key_id is not None else {}),
            "stage": entry.stage.value,
            "history": [h.model_dump(mode="json", exclude_none=True) for h in history],
            "reviews": [r.model_dump(mode="json", exclude_none=True) for r in entry.reviews],
        }
    rows = ClaimRows(entry.key, reported=payload)
    replayed = Stage.REPORTED.value
    extra = {"attested_by": voucher.key_id}
    # Each step is asked even when it is not applied: a history no rule allows is refused either way.
    for step_index, step in entry.replayed_history():
        at = to_utc(step.at)
        try:
            change = stage_change(
                ctx.case_key, entry.key, replayed, step.stage, actor=ctx.actor, via=Via.IMPORT, policy_version=None,
                criteria_met=None,  # history happened under the evidence and policy of its day
                rationale=step.rationale, requested_by=step.by, approved_by=step.approved_by, at=at, extra=extra,
            )  # fmt: skip
        except DomainError as err:
            raise history_error(f"{ctx.origin}: claims[{index}]", step_index, err) from None
        replayed = step.stage.value
        if voucher.trusted:
            rows.moves.append(change)
            times[replayed] = at
    stage = replayed if voucher.trusted else Stage.REPORTED.value
    if voucher.trusted:
        rows.reviews += [_review(ctx, entry.key, review) for review in entry.reviews]
    w = entry.withdrawn
    rows.row = ClaimRow(
        ctx.case_id, entry.key, entry.statement, stage, False, entry.assignee, 1, ctx.stamp, ctx.stamp,
        times["reported"] or ctx.stamp, times.get("corroborated"), times.get("confirmed"), times.get("refuted"),
        to_utc(w.at) if w else None, w.by if w else None, w.reason if w else None,
    )  # fmt: skip
    return rows


def _review(ctx: ImportContext, key: str, entry: ReviewEntry) -> tuple[ReviewRow, Change]:
    """A review the vouched-for file brings, as it was decided there."""
    row = ReviewRow(
        NEW, entry.from_stage.value, entry.to_stage.value, entry.status.value, entry.requested_by,
        to_utc(entry.requested_at), entry.reason, entry.policy_version, entry.decided_by,
        to_utc(entry.decided_at), entry.rationale,
    )  # fmt: skip
    change = changes.review_imported(
        ctx.case_key, key, row.from_stage, row.to_stage, status=row.status, requested_by=row.requested_by,
        decided_by=row.decided_by, rationale=row.rationale, policy=row.policy_version,
    )  # fmt: skip
    return row, change


def _items(ctx: ImportContext, entry: ClaimEntry, rows: ClaimRows, have: set[str], markings: list[str]) -> None:
    """The claim's items not already on it (by fingerprint), with what its event lists of each."""
    claim_id = NEW if rows.claim_id is None else rows.claim_id
    actor, stamp, sources = ctx.actor, ctx.stamp, ctx.sources
    add, listed = rows.items.append, rows.listed.append
    for ev, marking in zip(entry.evidence, markings, strict=True):
        stance = _STANCE[ev.stance]
        credibility = int(ev.credibility)
        fp = fingerprint(ev.source, stance, credibility, ev.summary, ev.locator, ev.observed_at)
        if fp in have:
            continue
        have.add(fp)
        retracted = ev.retracted
        source = sources[ev.source]
        row = EvidenceRow(
            claim_id, source.id, stance, credibility, ev.summary, ev.locator, ev.observed_at,
            ev.added_by or actor, to_utc(ev.added_at) or stamp, fp, retracted,
            ev.retracted_by if retracted else None,
            (to_utc(ev.retracted_at) or stamp) if retracted else None,
            ev.retraction_reason if retracted else None, marking, ev.caveat,
        )  # fmt: skip
        add(row)
        listed((ev.source, stance, f"{source.reliability}{credibility}", retracted))


def _facts(ctx: ImportContext, key: str, rows: ClaimRows) -> ClaimFacts:
    """A new claim's facts: exactly the items it comes with."""
    evidence = []
    for item, (key_of_source, *_) in zip(rows.items, rows.listed, strict=True):
        source = ctx.sources[key_of_source]
        grade = Grade(Reliability(source.reliability), Credibility(item.credibility))
        stance = Stance(item.stance)
        evidence.append(EvidenceFacts(key_of_source, source.root, stance, grade, item.retracted, source.name))
    return ClaimFacts(key=key, stage=Stage.REPORTED, evidence=tuple(evidence))


def _land_unvouched(ctx: ImportContext, entry: ClaimEntry, rows: ClaimRows) -> None:
    """Place a claim from an unsigned or untrusted file where its evidence puts it, never further.

    Corroborated if the criteria hold (an automatic step), else reported. A confirm or refute the
    file claims becomes a review request here, carrying the imported rationale, for a reviewer
    other than the importer.
    """
    assert rows.row is not None
    stage = Stage.REPORTED
    policy = ctx.policy
    if assess(_facts(ctx, entry.key, rows), policy).for_stage(Stage.CORROBORATED).evidence_met:
        move = stage_change(
            ctx.case_key, entry.key, stage.value, Stage.CORROBORATED, actor=ctx.actor, via=Via.ASSESSMENT,
            policy_version=policy.version,
            criteria_met=True,  # just assessed under this instance's policy
            rationale="corroboration criteria hold", extra={"imported": True},
        )  # fmt: skip
        rows.moves.append(move)
        stage = Stage.CORROBORATED
        rows.row = rows.row._replace(stage=stage.value, corroborated_at=ctx.stamp)
    claimed = next((h for h in reversed(entry.history) if h.stage.is_final), None)
    pending = next((r for r in entry.reviews if r.status is ReviewStatus.PENDING), None)
    if entry.stage.is_final and claimed is not None:
        target = claimed.stage
        said = f"{claimed.stage} by {claimed.by}, approved by {claimed.approved_by}"
        said += f": {claimed.rationale}" if claimed.rationale else ""
    elif pending is not None:
        target = pending.to_stage
        said = f"review to {pending.to_stage} requested by {pending.requested_by}"
        said += f": {pending.reason}" if pending.reason else ""
    else:
        return
    # The same rule as every other path: only a transition that needs a sign-off becomes a request.
    request = TransitionRequest(
        claim=entry.key, from_stage=stage, to_stage=target, via=Via.ADVANCE, requested_by=ctx.actor
    )
    try:
        decision = decide_transition(request)
    except DomainError:
        return
    if decision.apply:
        return
    voucher = ctx.voucher
    how = "unsigned" if voucher.signature == "none" else f"signed by untrusted key {voucher.key_id}"
    reason = f"imported from {ctx.origin} ({how}): {said}"
    row = ReviewRow(
        NEW, stage.value, target.value, ReviewStatus.PENDING.value, ctx.actor, ctx.stamp, reason, policy.version,
        None, None, None,
    )  # fmt: skip
    change = changes.review_requested(
        ctx.case_key, entry.key, row.from_stage, row.to_stage, reason=reason, policy=policy.version, review=None,
        via="import",
    )  # fmt: skip
    rows.reviews.append((row, change))
