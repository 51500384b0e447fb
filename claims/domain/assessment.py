"""Judge one claim against a threshold policy: every criterion met or unmet, with the gap."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from claims.domain.grades import Grade
from claims.domain.policy import Criterion, Lines, NoContradiction, Outweighs, Policy, SignOff
from claims.domain.stages import Stage, Stance, next_stages


@dataclass(frozen=True, slots=True)
class EvidenceFacts:
    """What the assessment needs to know about one evidence item."""

    source: str
    root: str
    stance: Stance
    grade: Grade
    retracted: bool = False
    source_name: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class PendingReview:
    to_stage: Stage
    requested_by: str


@dataclass(frozen=True, slots=True)
class ClaimFacts:
    key: str
    stage: Stage
    evidence: tuple[EvidenceFacts, ...] = ()
    pending_review: PendingReview | None = None


@dataclass(frozen=True, slots=True)
class CriterionResult:
    criterion: str
    met: bool
    gap: str | None = None
    have: int | None = None
    need: int | None = None
    sign_off: bool = False


@dataclass(frozen=True, slots=True)
class StageAssessment:
    stage: Stage
    reachable: bool
    criteria: tuple[CriterionResult, ...]

    @property
    def evidence_met(self) -> bool:
        """Every criterion but the human sign-off holds."""
        return all(c.met for c in self.criteria if not c.sign_off)

    @property
    def met(self) -> bool:
        return all(c.met for c in self.criteria)

    @property
    def gaps(self) -> list[str]:
        return [c.gap for c in self.criteria if not c.met and c.gap]

    @property
    def evidence_gaps(self) -> list[str]:
        """What evidence is missing, leaving the sign-off aside."""
        return [c.gap for c in self.criteria if not c.met and not c.sign_off and c.gap]


class StepKind(StrEnum):
    NONE = "none"
    ADVANCE = "advance"  # automatic reported -> corroborated
    DEMOTE = "demote"  # automatic corroborated -> reported
    REQUEST_REVIEW = "request_review"  # confirm/refute criteria hold; a reviewer must sign off
    AWAITING_REVIEW = "awaiting_review"
    AT_RISK = "at_risk"  # confirmed/refuted no longer meets its stage; never demoted silently


@dataclass(frozen=True, slots=True)
class NextStep:
    kind: StepKind
    to: Stage | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Assessment:
    claim: str
    stage: Stage
    policy_version: str
    stages: dict[Stage, StageAssessment]
    holds: bool
    next_step: NextStep
    current_gaps: list[str] = field(default_factory=list)

    @property
    def at_risk(self) -> bool:
        return self.stage.is_final and not self.holds

    def for_stage(self, stage: Stage) -> StageAssessment:
        return self.stages[stage]


def _lines(evidence: Iterable[EvidenceFacts], stance: Stance, grade: Grade) -> set[str]:
    return {e.root for e in evidence if not e.retracted and e.stance is stance and e.grade.at_least(grade)}


def _adj(stance: Stance) -> str:
    return "supporting" if stance is Stance.SUPPORTS else "contradicting"


def _evaluate(criterion: Criterion, facts: ClaimFacts, stage: Stage) -> CriterionResult:
    live = facts.evidence
    match criterion:
        case Lines(stance=stance, count=count, grade=grade):
            have = len(_lines(live, stance, grade))
            gap = None
            if have < count:
                missing = count - have
                if count == 1:
                    gap = f"needs a {_adj(stance)} source graded {grade} or better"
                else:
                    plural = "s" if missing > 1 else ""
                    gap = (
                        f"needs {missing} more independent {_adj(stance)} source{plural} "
                        f"graded {grade} or better (has {have} of {count})"
                    )
            return CriterionResult(criterion.describe(), have >= count, gap, have, count)
        case NoContradiction(grade=grade):
            blocking = [
                e for e in live if not e.retracted and e.stance is Stance.CONTRADICTS and e.grade.at_least(grade)
            ]
            gap = "; ".join(
                f"a contradicting {e.grade} item from {e.source_name or e.source} is unresolved" for e in blocking
            )
            return CriterionResult(criterion.describe(), not blocking, gap or None, len(blocking), 0)
        case Outweighs(stance=stance, grade=grade):
            other = Stance.SUPPORTS if stance is Stance.CONTRADICTS else Stance.CONTRADICTS
            mine, theirs = len(_lines(live, stance, grade)), len(_lines(live, other, grade))
            gap = None
            if mine <= theirs:
                gap = (
                    f"needs more independent {_adj(stance)} lines than {_adj(other)} ones "
                    f"graded {grade} or better (has {mine} vs {theirs})"
                )
            return CriterionResult(criterion.describe(), mine > theirs, gap, mine, theirs + 1)
        case SignOff():
            pending = facts.pending_review
            if pending is not None and pending.to_stage is stage:
                gap = f"awaiting sign-off by a reviewer other than {pending.requested_by}"
            else:
                gap = "needs a review request and sign-off by a reviewer other than the requester"
            return CriterionResult(criterion.describe(), False, gap, sign_off=True)
    raise TypeError(f"unknown criterion {criterion!r}")  # pragma: no cover - Criterion is closed


def assess(facts: ClaimFacts, policy: Policy) -> Assessment:
    """Evaluate every target stage and decide the one next step the pipeline should take."""
    reachable = next_stages(facts.stage)
    stages = {
        stage: StageAssessment(
            stage=stage,
            reachable=stage in reachable,
            criteria=tuple(_evaluate(c, facts, stage) for c in policy.criteria(stage)),
        )
        for stage in (Stage.CORROBORATED, Stage.CONFIRMED, Stage.REFUTED)
    }
    current = stages.get(facts.stage)
    holds = current is None or current.evidence_met
    current_gaps = (
        [] if current is None else [g for c in current.criteria if not c.met and not c.sign_off and (g := c.gap)]
    )
    return Assessment(
        claim=facts.key,
        stage=facts.stage,
        policy_version=policy.version,
        stages=stages,
        holds=holds,
        next_step=_next_step(facts, stages, holds, current_gaps),
        current_gaps=current_gaps,
    )


def _next_step(
    facts: ClaimFacts, stages: dict[Stage, StageAssessment], holds: bool, current_gaps: list[str]
) -> NextStep:
    stage = facts.stage
    if stage.is_final:
        if holds:
            return NextStep(StepKind.NONE)
        return NextStep(StepKind.AT_RISK, reason=f"no longer meets {stage}: " + "; ".join(current_gaps))
    if stage is Stage.CORROBORATED and not holds:
        return NextStep(StepKind.DEMOTE, Stage.REPORTED, "no longer corroborated: " + "; ".join(current_gaps))
    if facts.pending_review is not None and stages[facts.pending_review.to_stage].evidence_met:
        return NextStep(
            StepKind.AWAITING_REVIEW, facts.pending_review.to_stage, stages[facts.pending_review.to_stage].gaps[0]
        )
    if stages[Stage.REFUTED].evidence_met:
        return NextStep(StepKind.REQUEST_REVIEW, Stage.REFUTED, "refutation criteria hold")
    if stage is Stage.REPORTED and stages[Stage.CORROBORATED].evidence_met:
        return NextStep(StepKind.ADVANCE, Stage.CORROBORATED, "corroboration criteria hold")
    if stage is Stage.CORROBORATED and stages[Stage.CONFIRMED].evidence_met:
        return NextStep(StepKind.REQUEST_REVIEW, Stage.CONFIRMED, "confirmation criteria hold")
    return NextStep(StepKind.NONE)
