"""Use cases: assess claims in batches, and request a transition by hand (`claims advance`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from claims.domain import changes
from claims.domain.assessment import Assessment, FlagAtRisk, Move, Request, Step, Withdraw, assess, plan
from claims.domain.changes import Change
from claims.domain.stages import ReviewStatus, Stage
from claims.domain.transitions import TransitionRequest, Via, decide_transition
from claims.services.errors import NotFound, RuleViolation, refuse_nul
from claims.services.facts import STAGES, batch_facts, load_facts
from claims.services.identity import Identity
from claims.services.loading import load_claim_as
from claims.services.runtime import Runtime, authorize
from claims.services.tasks import replan_claims
from claims.services.transitions import decide, move, now, touch
from claims.store.models import Claim, ReviewRequest
from claims.store.uow import _STALE, ConcurrencyConflict, UnitOfWork


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


# A run that changed at least this many claims refreshes the planner's statistics, as a bulk import
# does: stage counts shift, and PostgreSQL once chose a 10-minute plan from stale ones.
STATISTICS_AFTER = 5000


def after_run(rt: Runtime, changed: int) -> bool:
    """Called once when an assessment run ends; whether it refreshed the statistics."""
    if changed < STATISTICS_AFTER:
        return False
    from claims.services.intake import refresh_statistics

    refresh_statistics(rt)
    return True


def assess_claims(rt: Runtime, who: Identity, keys: Sequence[str]) -> list[Outcome]:
    """Assess a batch of claims in one transaction and apply what the policy says.

    Set-based: three queries read the batch as plain rows, the domain plans each claim's steps
    (`claims.domain.assessment.plan`), and one executemany per table writes them, with their
    hash-chained events. Re-running it is harmless: every step is decided from the stored
    state, so a claim that already moved is not moved again and no event is written twice.
    """
    actor = who.name
    with rt.uow() as uow:
        authorize(uow, who, "assess")
        uow.judges()
        heads = uow.claims.heads(keys)
        missing = set(keys) - {h.key for h in heads}
        if missing:
            raise NotFound(f"claim: unknown claim {sorted(missing)[0]!r}")
        facts, pending = batch_facts(uow, heads)
        batch = _Batch(actor, rt.policy.version, now())
        outcomes = [
            batch.take(h, plan(facts[h.id], rt.policy, at_risk=bool(h.at_risk)), pending.get(h.id)) for h in heads
        ]
        batch.write(uow)
        replan_claims(uow, rt.policy, keys, actor)  # the collection tasks of the judged claims (issue 18)
        uow.commit()
    return [o.outcome() for o in outcomes]


@dataclass
class _Judged:
    """One claim's outcome while its batch is written (review ids are known only after the insert)."""

    key: str
    start: Stage
    stage: Stage
    at_risk: bool
    requested: Stage | None = None
    changes: list[str] = field(default_factory=list)
    review_change: int | None = None  # index in `changes` of the "review #? requested" line

    def outcome(self) -> Outcome:
        return Outcome(self.key, self.start, self.stage, self.requested, self.at_risk, tuple(self.changes))


@dataclass
class _Batch:
    """The writes and events of one batch, collected claim by claim, then written in bulk."""

    actor: str
    policy: str
    at: datetime
    changed: list[dict[str, Any]] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    withdrawals: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    # changes in claim order; a review.requested one waits for its review id (index into `reviews`)
    events: list[tuple[Change, int | None]] = field(default_factory=list)
    opened: list[_Judged] = field(default_factory=list)

    def take(self, head: Row[Any], steps: tuple[Step, ...], pending: Row[Any] | None) -> _Judged:
        stage = STAGES[head.stage]
        judged = _Judged(head.key, stage, stage, bool(head.at_risk))
        if not steps:
            if head.assessed_version != head.version or head.assessed_policy != self.policy:  # else already stamped
                self.seen.append({"cid": head.id, "seen": head.version, "policy": self.policy})
            return judged
        stamps: dict[str, datetime] = {}
        case, key = head[6], head.key
        for step in steps:
            match step:
                case Withdraw(to=to, gaps=gaps):
                    assert pending is not None  # a withdrawal is planned only for a pending request
                    rationale = f"criteria no longer hold: {'; '.join(gaps)}"
                    self.withdrawals.append(
                        {"rid": pending.id, "by": self.actor, "at": self.at, "rationale": rationale}
                    )
                    change = changes.review_decided(
                        case,
                        key,
                        ReviewStatus.WITHDRAWN,
                        pending.from_stage,
                        pending.to_stage,
                        review=pending.id,
                        rationale=rationale,
                        policy=self.policy,
                    )
                    judged.changes.append(f"withdrew review #{pending.id} to {to}: criteria no longer hold")
                    self.events.append((change, None))
                case Move(from_stage=from_stage, to=to, reason=reason):
                    _check_move(head.key, from_stage, to, self.actor, reason, self.policy)
                    stamps[f"{to.value}_at"] = self.at
                    judged.stage, judged.at_risk = to, False
                    change = changes.stage_changed(
                        case, key, from_stage.value, to, via=Via.ASSESSMENT, by=self.actor, rationale=reason,
                        policy=self.policy,
                    )  # fmt: skip
                    judged.changes.append(f"{from_stage} -> {to}: {reason}")
                    self.events.append((change, None))
                case Request(from_stage=from_stage, to=to, reason=reason):
                    self.reviews.append(
                        {
                            "claim_id": head.id,
                            "from_stage": from_stage.value,
                            "to_stage": to.value,
                            "status": ReviewStatus.PENDING.value,
                            "requested_by": self.actor,
                            "requested_at": self.at,
                            "reason": reason,
                            "policy_version": self.policy,
                        }
                    )
                    change = changes.review_requested(
                        case, key, from_stage.value, to.value, reason=reason, policy=self.policy, review=None
                    )
                    judged.requested = to
                    judged.review_change = len(judged.changes)
                    judged.changes.append(f"review #? requested: {from_stage} -> {to} ({reason})")
                    self.events.append((change, len(self.reviews) - 1))
                    self.opened.append(judged)
                case FlagAtRisk(at_risk=flag, reason=reason, gaps=gaps):
                    judged.at_risk = flag
                    change = changes.at_risk_changed(case, key, flag=flag, reason=reason, gaps=gaps, policy=self.policy)
                    judged.changes.append(("at risk: " if flag else "no longer at risk: ") + reason)
                    self.events.append((change, None))
        self.changed.append(
            {
                "cid": head.id,
                "seen": head.version,
                "stage": judged.stage.value,
                "at_risk": judged.at_risk,
                "now": self.at,
                "reported_at": stamps.get("reported_at"),
                "corroborated_at": stamps.get("corroborated_at"),
                "policy": self.policy,
            }
        )
        return judged

    def write(self, uow: UnitOfWork) -> None:
        """Claims, withdrawals, new requests, then the events in claim order, one executemany each."""
        if uow.claims.apply_judgements(self.changed, self.seen) != len(self.changed):
            raise ConcurrencyConflict(_STALE)
        if uow.reviews.withdraw_many(self.withdrawals) != len(self.withdrawals):
            raise ConcurrencyConflict(_STALE)
        review_ids = uow.reviews.open_many(self.reviews)
        for judged, review_id in zip(self.opened, review_ids, strict=True):
            assert judged.review_change is not None
            line = judged.changes[judged.review_change]
            judged.changes[judged.review_change] = line.replace("review #? ", f"review #{review_id} ", 1)
        events = [(c if review is None else c.for_review(review_ids[review])).row() for c, review in self.events]
        uow.events.append_many(self.actor, events)


def _check_move(key: str, from_stage: Stage, to: Stage, actor: str, reason: str, policy: str) -> None:
    """An automatic move asks the one transition rule, as `move()` does for every other path."""
    decision = decide_transition(
        TransitionRequest(
            claim=key,
            from_stage=from_stage,
            to_stage=to,
            via=Via.ASSESSMENT,
            requested_by=actor,
            criteria_met=True,  # the assessment just found them to hold (or, demoting, to fail)
            rationale=reason,
            policy_version=policy,
        )
    )
    if not decision.apply:
        raise RuleViolation(f"stage: {from_stage} -> {to} of {key!r} needs a reviewer's sign-off first")


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
    change = changes.review_requested(
        claim.case.key, claim.key, review.from_stage, review.to_stage, reason=review.reason,
        policy=rt.policy.version, review=review.id,
    )  # fmt: skip
    uow.record_change(change, actor=actor)


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
    rt: Runtime, who: Identity, key: str, to: Stage, *, expect_version: int | None = None, reason: str | None = None
) -> AdvanceResult:
    """Request a transition: automatic ones apply now if the criteria hold; confirm/refute open a review."""
    actor = who.name
    refuse_nul("reason", reason)
    with rt.uow() as uow:
        claim = load_claim_as(uow, who, key, "request", rt.markings, expect_version=expect_version)
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
