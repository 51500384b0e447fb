"""One event shape per fact: the change a use case or an assessment step makes, before it is chained.

A stage change, a review requested, decided or imported, an at-risk flag, a claim reported, an import's
items and the import itself are written on two paths: one claim at a time through the unit of work
(`UnitOfWork.record_change`) and a batch at a time through the bulk writer (`EventLog.append_many`: the
assessment's batches, every case-file import). Both take a `Change` made by the functions here, so the
event a fact leaves in the hash chain is spelled once, whatever the path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from claims.domain.events import EventKind
from claims.domain.stages import ReviewStatus, Stage
from claims.domain.transitions import Via


@dataclass(frozen=True, slots=True)
class Change:
    """An audit event without its actor, time and chain links (the writer adds those)."""

    kind: EventKind
    case_key: str | None = None
    claim_key: str | None = None
    from_stage: str | None = None
    to_stage: str | None = None
    rationale: str | None = None
    policy_version: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The dict the bulk writer takes."""
        return {
            "kind": self.kind.value,
            "case_key": self.case_key,
            "claim_key": self.claim_key,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "rationale": self.rationale,
            "policy_version": self.policy_version,
            "payload": dict(self.payload),
        }

    def for_review(self, review: int) -> Change:
        """The same change naming its review, once the review's id is known (after a bulk insert)."""
        return replace(self, payload={**self.payload, "review": review})


def stage_changed(
    case: str,
    claim: str,
    from_stage: str,
    to: Stage,
    *,
    via: Via,
    by: str,
    rationale: str | None,
    policy: str | None,
    approved_by: str | None = None,
    at: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Change:
    """`claim.stage_changed`: who asked (`by`), who signed off, and the historical time of a replayed move."""
    payload: dict[str, Any] = {"via": via.value, "by": by}
    if approved_by:
        payload["approved_by"] = approved_by
    if at is not None:
        payload["at"] = at.isoformat()
    payload.update(extra or {})
    return Change(
        EventKind.CLAIM_STAGE_CHANGED, case, claim, from_stage, to.value, rationale, policy, payload
    )  # fmt: skip


def review_requested(
    case: str,
    claim: str,
    from_stage: str,
    to: str,
    *,
    reason: str | None,
    policy: str | None,
    review: int | None,
    via: str | None = None,
) -> Change:
    """`review.requested`; a batch makes it before the review has an id (`for_review` adds it)."""
    payload: dict[str, Any] = {} if review is None else {"review": review}
    if via is not None:
        payload["via"] = via
    return Change(EventKind.REVIEW_REQUESTED, case, claim, from_stage, to, reason, policy, payload)


def review_decided(
    case: str,
    claim: str,
    status: ReviewStatus,
    from_stage: str,
    to: str,
    *,
    review: int,
    rationale: str | None,
    policy: str | None,
) -> Change:
    """`review.approved|rejected|withdrawn`."""
    return Change(
        EventKind.review_decided(status), case, claim, from_stage, to, rationale, policy, {"review": review}
    )  # fmt: skip


def at_risk_changed(case: str, claim: str, *, flag: bool, reason: str, gaps: Sequence[str], policy: str) -> Change:
    """`claim.at_risk` (a settled claim no longer meets its stage) or `claim.at_risk_cleared`."""
    kind = EventKind.CLAIM_AT_RISK if flag else EventKind.CLAIM_AT_RISK_CLEARED
    return Change(kind, case, claim, rationale=reason, policy_version=policy, payload={"gaps": list(gaps)})


def claim_reported(case: str, claim: str, payload: Mapping[str, Any]) -> Change:
    """`claim.reported`: a new claim enters at `reported` (with the items it came with, on an import)."""
    return Change(EventKind.CLAIM_REPORTED, case, claim, to_stage=Stage.REPORTED.value, payload=payload)


def evidence_imported(case: str, claim: str, items: Sequence[Mapping[str, Any]]) -> Change:
    """`evidence.imported`: an import's new items on a known claim, each as `evidence.added` carries it."""
    return Change(EventKind.EVIDENCE_IMPORTED, case, claim, payload={"via": "import", "items": list(items)})


def review_imported(
    case: str,
    claim: str,
    from_stage: str,
    to: str,
    *,
    status: str,
    requested_by: str,
    decided_by: str | None,
    rationale: str | None,
    policy: str,
) -> Change:
    """`review.imported`: a review a vouched-for case file brings, decided or not; made before the review
    has an id (`for_review` adds it)."""
    payload = {"status": status, "requested_by": requested_by, "decided_by": decided_by}
    return Change(EventKind.REVIEW_IMPORTED, case, claim, from_stage, to, rationale, policy, payload)


def case_imported(case: str, created: Mapping[str, int], *, signature: str, attested_by: str | None) -> Change:
    """`case.imported`: what an import created, and who vouched for the file (`signature`: none, untrusted,
    trusted; `attested_by`: the signing key)."""
    payload = {**created, "attested_by": attested_by, "signature": signature}
    return Change(EventKind.CASE_IMPORTED, case, payload=payload)
