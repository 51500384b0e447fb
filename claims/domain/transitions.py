"""The one rule that says whether a claim may change stage, whoever asks and however.

Assessment, `claims advance`, review approval and rejection, reopen and the replay of a
case file's history all ask `decide_transition`; none of them decides on its own. It
combines the stage table (`transition_kind`), the criteria result the caller measured, and
who asked and who signed off (four eyes).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from claims.domain.errors import RuleViolation
from claims.domain.names import same_person
from claims.domain.stages import Stage, TransitionKind, transition_kind


class Via(StrEnum):
    """The path a transition takes into the system; recorded on its event as `via`."""

    ASSESSMENT = "assessment"  # the automatic pipeline
    ADVANCE = "advance"  # a person asks for it (`claims advance`)
    REVIEW = "review"  # a reviewer approves a pending request
    REOPEN = "reopen"  # a person reopens a confirmed/refuted claim
    IMPORT = "import"  # history replayed from a case file


@dataclass(frozen=True, slots=True)
class TransitionRequest:
    """Everything the rule looks at. `criteria_met` None means not judged here: a case file's
    history happened under whatever evidence and policy applied then, so only the stage
    table and four eyes are checked for it."""

    claim: str
    from_stage: Stage
    to_stage: Stage
    via: Via
    requested_by: str
    approved_by: str | None = None
    criteria_met: bool | None = None
    gaps: tuple[str, ...] = ()
    rationale: str | None = None
    policy_version: str | None = None
    review_id: int | None = None


@dataclass(frozen=True, slots=True)
class TransitionDecision:
    kind: TransitionKind
    apply: bool  # False: allowed only after a second person signs off, so a review request is opened


def check_four_eyes(requested_by: str, decided_by: str | None, review_id: int | None = None) -> None:
    """A confirm/refute is decided by someone other than the person who asked for it."""
    if not decided_by or same_person(decided_by, requested_by):
        if review_id is not None:
            raise RuleViolation(
                f"reviewer: {decided_by!r} requested review #{review_id} and cannot also decide it (four eyes)"
            )
        who = f"{decided_by!r} requested it" if decided_by else "it has no approved_by"
        raise RuleViolation(f"approved_by: needs someone other than {requested_by!r}; {who} (four eyes)")


def decide_transition(req: TransitionRequest) -> TransitionDecision:
    """Allow `req` (apply now, or only after sign-off) or raise the one-line reason it is refused.

    Raises IllegalTransition for a pair of stages the design does not allow at all, and
    RuleViolation when the pair is allowed but not this way, not now or not by this person.
    """
    frm, to = req.from_stage, req.to_stage
    kind = transition_kind(frm, to)
    if kind is TransitionKind.REOPEN:
        if req.via not in (Via.REOPEN, Via.IMPORT):
            raise RuleViolation(f"stage: {frm} -> {to} is a reopen; use `claims reopen {req.claim} --to {to}`")
        if not (req.rationale or "").strip():
            raise RuleViolation(f"rationale: reopening {frm} -> {to} needs a rationale")
        return TransitionDecision(kind, apply=True)
    if req.via is Via.REOPEN:
        raise RuleViolation(f"stage: {frm} -> {to} is not a reopen; only confirmed or refuted claims reopen")
    signed = req.approved_by is not None or req.via in (Via.REVIEW, Via.IMPORT)
    if kind is TransitionKind.SIGN_OFF and signed:
        check_four_eyes(req.requested_by, req.approved_by, req.review_id)
    if req.criteria_met is False:
        policy = f" under policy {req.policy_version}" if req.policy_version else ""
        if to is Stage.REPORTED:
            raise RuleViolation(f"stage: {req.claim!r} still meets {frm}{policy}")
        gaps = "; ".join(req.gaps)
        if req.review_id is not None:
            raise RuleViolation(
                f"review: #{req.review_id} can no longer be approved, {req.claim!r} misses {to}{policy}: {gaps}"
            )
        raise RuleViolation(f"stage: {req.claim!r} does not meet {to}{policy}: {gaps}")
    if kind is TransitionKind.SIGN_OFF:
        return TransitionDecision(kind, apply=signed)
    if req.via is Via.REVIEW:
        raise RuleViolation(f"stage: {frm} -> {to} is automatic and takes no review")
    return TransitionDecision(kind, apply=True)
