"""Judge one claim against a threshold policy: every criterion met or unmet, with the gap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from claims.domain.grades import AT_LEAST, Grade
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


class _Claim:
    """One claim's live evidence, each line count worked out at most once per assessment.

    An assessment asks the same few questions for every stage (how many independent supporting
    lines graded C3 or better?), and it runs for every claim of a 100k case.
    """

    __slots__ = ("counts", "facts", "live")

    def __init__(self, facts: ClaimFacts, counts: dict[int, int] | None = None) -> None:
        self.facts = facts
        self.live = [e for e in facts.evidence if not e.retracted]
        # the counts depend on the evidence only: `plan` shares them across its re-judgements
        self.counts: dict[int, int] = {} if counts is None else counts

    def lines(self, slot: int, stance: Stance, grade: Grade) -> int:
        """Independent lines (distinct roots) of `stance` graded `grade` or better."""
        have = self.counts.get(slot)
        if have is None:
            ok = AT_LEAST[grade.code]
            roots = {e.root for e in self.live if e.stance is stance and ok[e.grade.code]}
            have = self.counts[slot] = len(roots)
        return have


Evaluator = Callable[[_Claim, Stage], "CriterionResult"]
_SLOTS: dict[tuple[Stance, str], int] = {}


def _slot(stance: Stance, grade: Grade) -> int:
    """A small number per (stance, threshold), so a claim remembers its counts by int."""
    return _SLOTS.setdefault((stance, str(grade)), len(_SLOTS))


def _adj(stance: Stance) -> str:
    return "supporting" if stance is Stance.SUPPORTS else "contradicting"


def _blocking(claim: _Claim, grade: Grade) -> tuple[EvidenceFacts, ...]:
    """Live contradicting items graded `grade` or better: what a no-contradiction criterion names."""
    ok = AT_LEAST[grade.code]
    return tuple(e for e in claim.live if e.stance is Stance.CONTRADICTS and ok[e.grade.code])


def _compile(criterion: Criterion, inputs: _Inputs) -> Evaluator:
    """An evaluator for one criterion. Results depend only on the counts, so each distinct result
    is built once and shared (they are immutable): no formatting per claim. `inputs` collects
    what of a claim the evaluator reads (line counts, blocking items), for `plan`'s memo."""
    desc = criterion.describe()
    memo: dict[object, CriterionResult] = {}
    match criterion:
        case Lines(stance=stance, count=count, grade=grade):
            slot = inputs.lines(stance, grade)

            def lines(claim: _Claim, stage: Stage) -> CriterionResult:
                have = claim.lines(slot, stance, grade)
                found = memo.get(have)
                if found is None:
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
                    found = memo[have] = CriterionResult(desc, have >= count, gap, have, count)
                return found

            return lines
        case NoContradiction(grade=grade):
            clear = CriterionResult(desc, True, None, 0, 0)
            inputs.blocking(grade)

            def no_contradiction(claim: _Claim, stage: Stage) -> CriterionResult:
                blocking = _blocking(claim, grade)
                if not blocking:
                    return clear
                gap = "; ".join(
                    f"a contradicting {e.grade} item from {e.source_name or e.source} is unresolved" for e in blocking
                )
                return CriterionResult(desc, False, gap, len(blocking), 0)

            return no_contradiction
        case Outweighs(stance=stance, grade=grade):
            other = Stance.SUPPORTS if stance is Stance.CONTRADICTS else Stance.CONTRADICTS
            mine_slot, theirs_slot = inputs.lines(stance, grade), inputs.lines(other, grade)

            def outweighs(claim: _Claim, stage: Stage) -> CriterionResult:
                mine, theirs = claim.lines(mine_slot, stance, grade), claim.lines(theirs_slot, other, grade)
                found = memo.get((mine, theirs))
                if found is None:
                    gap = None
                    if mine <= theirs:
                        gap = (
                            f"needs more independent {_adj(stance)} lines than {_adj(other)} ones "
                            f"graded {grade} or better (has {mine} vs {theirs})"
                        )
                    found = memo[(mine, theirs)] = CriterionResult(desc, mine > theirs, gap, mine, theirs + 1)
                return found

            return outweighs
        case SignOff():
            unrequested = CriterionResult(
                desc, False, "needs a review request and sign-off by a reviewer other than the requester", sign_off=True
            )

            def sign_off(claim: _Claim, stage: Stage) -> CriterionResult:
                pending = claim.facts.pending_review
                if pending is None or pending.to_stage is not stage:
                    return unrequested
                found = memo.get(pending.requested_by)
                if found is None:
                    gap = f"awaiting sign-off by a reviewer other than {pending.requested_by}"
                    found = memo[pending.requested_by] = CriterionResult(desc, False, gap, sign_off=True)
                return found

            return sign_off
    raise TypeError(f"unknown criterion {criterion!r}")  # pragma: no cover - Criterion is closed


class _Inputs:
    """What the compiled criteria of one policy read of a claim: line counts and blocking items."""

    def __init__(self) -> None:
        self.slots: list[tuple[int, Stance, list[bool]]] = []  # (slot, stance, AT_LEAST row of its grade)
        self.blockers: list[list[bool]] = []  # AT_LEAST rows of the no-contradiction grades

    def lines(self, stance: Stance, grade: Grade) -> int:
        slot = _slot(stance, grade)
        if all(s != slot for s, _, _ in self.slots):
            self.slots.append((slot, stance, AT_LEAST[grade.code]))
        return slot

    def blocking(self, grade: Grade) -> None:
        if AT_LEAST[grade.code] not in self.blockers:
            self.blockers.append(AT_LEAST[grade.code])

    def of(self, claim: _Claim) -> list[object]:
        """Everything the criteria can see of `claim`'s evidence (each count noted in `claim.counts`
        too), as the items of a key. Written out, not through `_Claim.lines`: it runs per claim."""
        live, counts = claim.live, claim.counts
        key: list[object] = []
        for slot, stance, ok in self.slots:
            counts[slot] = have = len({e.root for e in live if e.stance is stance and ok[e.grade.code]})
            key.append(have)
        for ok in self.blockers:
            key.append(
                tuple(
                    (e.grade, e.source_name or e.source) for e in live if e.stance is _CONTRADICTS and ok[e.grade.code]
                )
            )
        return key


_CONTRADICTS = Stance.CONTRADICTS


@dataclass(slots=True)
class _Compiled:
    policy: Policy  # kept alive with the entry, so its id is not reused
    stages: dict[Stage, tuple[Evaluator, ...]]
    inputs: _Inputs
    plans: dict[tuple[object, ...], tuple[Step, ...]] = field(default_factory=dict)


_COMPILED: dict[int, _Compiled] = {}
PLAN_MEMO = 100_000  # distinct plans kept per policy (a claim's key, with blocking items, can be unique)


def _compiled(policy: Policy) -> _Compiled:
    """The policy's criteria compiled once per policy object."""
    cached = _COMPILED.get(id(policy))
    if cached is None or cached.policy is not policy:
        inputs = _Inputs()
        stages = {stage: tuple(_compile(c, inputs) for c in policy.criteria(stage)) for stage in _TARGETS}
        cached = _COMPILED[id(policy)] = _Compiled(policy, stages, inputs)
    return cached


def _evaluators(policy: Policy) -> dict[Stage, tuple[Evaluator, ...]]:
    return _compiled(policy).stages


_TARGETS = (Stage.CORROBORATED, Stage.CONFIRMED, Stage.REFUTED)


def assess(facts: ClaimFacts, policy: Policy) -> Assessment:
    """Evaluate every target stage and decide the one next step the pipeline should take."""
    return _judge(_Claim(facts), policy)


def _judge(claim: _Claim, policy: Policy) -> Assessment:
    facts = claim.facts
    reachable = next_stages(facts.stage)
    stages = {
        stage: StageAssessment(
            stage=stage, reachable=stage in reachable, criteria=tuple(ev(claim, stage) for ev in evaluators)
        )
        for stage, evaluators in _evaluators(policy).items()
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


# --- what an assessment run does to one claim --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Withdraw the pending review request: its target's evidence criteria no longer hold."""

    to: Stage
    gaps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Move:
    """An automatic move (reported <-> corroborated)."""

    from_stage: Stage
    to: Stage
    reason: str


@dataclass(frozen=True, slots=True)
class Request:
    """Open a review request: confirm/refute criteria hold and a reviewer must sign off."""

    from_stage: Stage
    to: Stage
    reason: str


@dataclass(frozen=True, slots=True)
class FlagAtRisk:
    """Flag (or clear) a confirmed/refuted claim that no longer meets its stage; never a demotion."""

    at_risk: bool
    reason: str
    gaps: tuple[str, ...]


Step = Withdraw | Move | Request | FlagAtRisk


def plan(facts: ClaimFacts, policy: Policy, *, at_risk: bool = False) -> tuple[Step, ...]:
    """The steps one assessment run takes on a claim, in order; none when nothing is due.

    A withdrawal or an automatic move changes the facts and can make another step due in the
    same run (reported -> corroborated, then a confirmation request), so the claim is judged
    again after each, at most three times.

    The steps depend only on the stage, the pending request, the flag and what the criteria read
    of the evidence (line counts, blocking items), so they are memoised on those (steps are
    immutable): most claims of a large case share a plan with another.
    """
    compiled = _compiled(policy)
    counts: dict[int, int] = {}  # the evidence does not change between the re-judgements
    key = (facts.stage, facts.pending_review, at_risk, *compiled.inputs.of(_Claim(facts, counts)))
    found = compiled.plans.get(key)
    if found is None:
        if len(compiled.plans) >= PLAN_MEMO:
            compiled.plans.clear()
        found = compiled.plans[key] = _plan(facts, policy, at_risk, counts)
    return found


def _plan(facts: ClaimFacts, policy: Policy, at_risk: bool, counts: dict[int, int]) -> tuple[Step, ...]:
    steps: list[Step] = []
    for _ in range(3):
        result = _judge(_Claim(facts, counts), policy)
        pending = facts.pending_review
        if pending is not None and not result.for_stage(pending.to_stage).evidence_met:
            steps.append(Withdraw(pending.to_stage, tuple(result.for_stage(pending.to_stage).evidence_gaps)))
            facts = replace(facts, pending_review=None)
            continue
        step = result.next_step
        if step.kind in (StepKind.ADVANCE, StepKind.DEMOTE) and step.to is not None:
            steps.append(Move(facts.stage, step.to, step.reason))
            facts = replace(facts, stage=step.to)
            at_risk = False  # a move clears the flag
            continue
        if step.kind is StepKind.REQUEST_REVIEW and step.to is not None:
            steps.append(Request(facts.stage, step.to, step.reason))
        if result.at_risk != at_risk:
            reason = step.reason if result.at_risk else f"meets {facts.stage} again"
            steps.append(FlagAtRisk(result.at_risk, reason, tuple(result.current_gaps)))
        break
    return tuple(steps)
