"""Use cases: assess claims in batches, and request a transition by hand (`claims advance`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from claims.domain.assessment import Assessment, ClaimFacts, StepKind, assess
from claims.domain.events import EventKind
from claims.domain.stages import ReviewStatus, Stage
from claims.domain.transitions import TransitionRequest, Via, decide_transition
from claims.services.errors import NotFound, RuleViolation, refuse_nul
from claims.services.facts import load_facts
from claims.services.loading import load_claim
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import decide, move, now, touch
from claims.store.models import Claim, ReviewRequest
from claims.store.uow import UnitOfWork


@dataclass(frozen=True)
class Outcome:
    """What one assessment did to one claim."""

    claim: str
    from_stage: Stage
    stage: Stage
    review_requested: Stage | None = None
    at_risk: bool = False
    changes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def moved(self) -> bool:
        return self.from_stage is not self.stage


def open_claim_keys(rt: Runtime, case_key: str | None = None, *, changed_only: bool = False) -> list[str]:
    """Keys of the claims the assessment should look at: every one, or (`changed_only`) those
    changed since their last assessment or judged under another policy version."""
    with rt.uow(write=False) as uow:
        if changed_only:
            return uow.claims.stale_keys(rt.policy.version, case_key=case_key)
        return uow.claims.keys(case_key=case_key)


def assess_claims(rt: Runtime, actor: str, keys: Sequence[str]) -> list[Outcome]:
    """Assess a batch of claims in one transaction and apply what the policy says.

    Re-running it is harmless: every step is decided from the stored state, so a claim that
    already moved is not moved again and no event is written twice.
    """
    with rt.uow() as uow:
        authorize(uow, actor, "assess")
        claims = uow.claims.many(keys)
        missing = set(keys) - {c.key for c in claims}
        if missing:
            raise NotFound(f"claim: unknown claim {sorted(missing)[0]!r}")
        facts = load_facts(uow, claims)
        opened: list[_Opened] = []
        results = [_apply(uow, rt, claim, facts[claim.key], actor, opened) for claim in claims]
        # One flush for the whole batch (a flush per review request was a third of the time):
        # it gives the new reviews their ids and the moves their versions, then the
        # review.requested events are recorded and the claims stamped as judged.
        uow.flush()
        for o in opened:
            _record_review(uow, o.review, o.claim, actor, rt)
            o.changes[o.index] = o.changes[o.index].replace("review #? ", f"review #{o.review.id} ")
        uow.claims.mark_assessed(claims, rt.policy.version)
        uow.commit()
    return [
        Outcome(claim.key, start, Stage(claim.stage), requested, bool(claim.at_risk), tuple(changes))
        for claim, start, requested, changes in results
    ]


@dataclass(frozen=True)
class _Opened:
    """A review request opened in a batch, waiting for the batch's flush to get its id."""

    review: ReviewRequest
    claim: Claim
    changes: list[str]
    index: int


def _apply(
    uow: UnitOfWork, rt: Runtime, claim: Claim, facts: ClaimFacts, actor: str, opened: list[_Opened]
) -> tuple[Claim, Stage, Stage | None, list[str]]:
    start = Stage(claim.stage)
    changes: list[str] = []
    requested: Stage | None = None
    for _ in range(3):  # an automatic move can make a review request due in the same run
        result = assess(facts, rt.policy)
        step = result.next_step
        pending = uow.reviews.pending_for(claim.id) if facts.pending_review else None
        if pending and not result.for_stage(Stage(pending.to_stage)).evidence_met:
            _withdraw(uow, claim, pending, result, actor, rt)
            changes.append(f"withdrew review #{pending.id} to {pending.to_stage}: criteria no longer hold")
            facts = dataclasses.replace(facts, pending_review=None)
            continue
        if step.kind in (StepKind.ADVANCE, StepKind.DEMOTE) and step.to is not None:
            move(
                uow,
                claim,
                step.to,
                actor=actor,
                via=Via.ASSESSMENT,
                policy_version=rt.policy.version,
                criteria_met=True,  # the assessment just found them to hold (or, demoting, to fail)
                rationale=step.reason,
            )
            changes.append(f"{facts.stage} -> {step.to}: {step.reason}")
            facts = dataclasses.replace(facts, stage=step.to)
            continue
        if step.kind is StepKind.REQUEST_REVIEW and step.to is not None:
            review = _new_review(uow, claim, step.to, actor, rt, step.reason)
            changes.append(f"review #? requested: {facts.stage} -> {step.to} ({step.reason})")
            opened.append(_Opened(review, claim, changes, len(changes) - 1))
            requested = step.to
        _sync_at_risk(uow, claim, result, actor, rt, changes)
        break
    return claim, start, requested, changes


def _sync_at_risk(
    uow: UnitOfWork, claim: Claim, result: Assessment, actor: str, rt: Runtime, changes: list[str]
) -> None:
    """Flag (never demote) a confirmed/refuted claim that no longer meets its stage."""
    if result.at_risk == bool(claim.at_risk):
        return
    claim.at_risk = result.at_risk
    touch(claim)
    kind = EventKind.CLAIM_AT_RISK if result.at_risk else EventKind.CLAIM_AT_RISK_CLEARED
    reason = result.next_step.reason if result.at_risk else f"meets {claim.stage} again"
    uow.record(
        kind,
        actor=actor,
        claim=claim,
        policy_version=rt.policy.version,
        rationale=reason,
        payload={"gaps": result.current_gaps},
    )
    changes.append(("at risk: " if result.at_risk else "no longer at risk: ") + reason)


def _new_review(uow: UnitOfWork, claim: Claim, to: Stage, actor: str, rt: Runtime, reason: str) -> ReviewRequest:
    """A pending review request (not flushed yet: it has no id until the caller flushes)."""
    review = ReviewRequest(
        claim=claim,
        from_stage=claim.stage,
        to_stage=to.value,
        status=ReviewStatus.PENDING.value,
        requested_by=actor,
        requested_at=now(),
        reason=reason,
        policy_version=rt.policy.version,
    )
    uow.reviews.add(review)
    touch(claim)  # bumps the claim's version: the aggregate changed
    return review


def _record_review(uow: UnitOfWork, review: ReviewRequest, claim: Claim, actor: str, rt: Runtime) -> None:
    uow.record(
        EventKind.REVIEW_REQUESTED,
        actor=actor,
        claim=claim,
        from_stage=review.from_stage,
        to_stage=review.to_stage,
        rationale=review.reason,
        policy_version=rt.policy.version,
        payload={"review": review.id},
    )


def _open_review(uow: UnitOfWork, claim: Claim, to: Stage, actor: str, rt: Runtime, reason: str) -> ReviewRequest:
    review = _new_review(uow, claim, to, actor, rt, reason)
    uow.flush()
    _record_review(uow, review, claim, actor, rt)
    return review


def _withdraw(
    uow: UnitOfWork, claim: Claim, review: ReviewRequest, result: Assessment, actor: str, rt: Runtime
) -> None:
    gaps = "; ".join(result.for_stage(Stage(review.to_stage)).evidence_gaps)
    decide(
        uow,
        review,
        ReviewStatus.WITHDRAWN,
        actor=actor,
        rationale=f"criteria no longer hold: {gaps}",
        policy_version=rt.policy.version,
    )


@dataclass(frozen=True)
class AdvanceResult:
    claim: str
    from_stage: Stage
    stage: Stage
    review_id: int | None = None


def advance(
    rt: Runtime, actor: str, key: str, to: Stage, *, expect_version: int | None = None, reason: str | None = None
) -> AdvanceResult:
    """Request a transition: automatic ones apply now if the criteria hold; confirm/refute open a review."""
    refuse_nul("reason", reason)
    with rt.uow() as uow:
        authorize(uow, actor, "request")
        claim = load_claim(uow, key, expect_version=expect_version)
        current = Stage(claim.stage)
        result = assess(load_facts(uow, [claim])[key], rt.policy)
        # Demoting to reported needs the current stage to have stopped holding; anything else,
        # the target's evidence criteria to hold. Reopens are refused here by the same rule.
        if to is Stage.REPORTED:
            met, gaps = not result.holds, ()
        elif to in result.stages:
            met, gaps = result.for_stage(to).evidence_met, tuple(result.for_stage(to).evidence_gaps)
        else:
            met, gaps = False, ()
        request = TransitionRequest(
            claim=key,
            from_stage=current,
            to_stage=to,
            via=Via.ADVANCE,
            requested_by=actor,
            criteria_met=met,
            gaps=gaps,
            rationale=reason,
            policy_version=rt.policy.version,
        )
        decision = decide_transition(request)
        review_id = None
        if decision.apply:
            pending = uow.reviews.pending_for(claim.id)
            if pending is not None:  # the request was made from the stage the claim is leaving
                _withdraw(uow, claim, pending, result, actor, rt)
            move(
                uow,
                claim,
                to,
                actor=actor,
                via=Via.ADVANCE,
                policy_version=rt.policy.version,
                criteria_met=met,
                rationale=reason,
            )
        else:
            pending = uow.reviews.pending_for(claim.id)
            if pending is not None:
                raise RuleViolation(
                    f"review: claim {key!r} already has pending review #{pending.id} to {pending.to_stage}"
                )
            review_id = _open_review(uow, claim, to, actor, rt, reason or f"{to} criteria hold").id
        uow.commit()
        return AdvanceResult(key, current, Stage(claim.stage), review_id)
