"""The collection plan: what work would close each gap between a claim and the action it gates.

Pure: from a claim's facts, the stage an action needs and the policy, the smallest set of needs
(collection tasks) that would make the requirement met, each saying what is needed. Whether a
need can be left out is asked of the assessment itself (`assess` on the facts with the other
needs imagined done), so there is one rule for what meets a stage, never a second one here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

from claims.domain.assessment import Assessment, ClaimFacts, CriterionResult, EvidenceFacts, _Claim, _compiled, assess
from claims.domain.grades import AT_LEAST, Grade
from claims.domain.policy import Criterion, Lines, NoContradiction, Outweighs, Policy, SignOff
from claims.domain.stages import Stage, Stance


class NeedKind(StrEnum):
    LINES = "lines"  # more independent lines of a stance at a grade
    RESOLVE = "resolve"  # a contradicting item to be resolved (retracted or re-graded)
    OUTWEIGH = "outweigh"  # more lines of one stance than of the other
    SIGN_OFF = "sign_off"  # a review request and a reviewer other than the requester
    REOPEN = "reopen"  # the claim is final the other way: only a reopen with new evidence helps


@dataclass(frozen=True, slots=True)
class Need:
    """One unmet criterion of a claim, as work a person can do."""

    claim: str
    stage: Stage  # the stage whose criterion this is
    criterion: str  # the criterion's description: with claim and stage, the need's identity
    kind: NeedKind
    items: int  # how many items (lines, resolutions, sign-offs) would meet it
    detail: str  # what is needed, without the roots to avoid (those are per claim; see `text`)
    stance: Stance | None = None
    grade: Grade | None = None
    independent_of: tuple[str, ...] = ()  # lineage roots already counted: a new line must not repeat them
    not_by: str | None = None  # a sign-off: the requester, who may not give it

    @property
    def key(self) -> str:
        return f"{self.claim}|{self.stage.value}|{self.criterion}"

    @property
    def text(self) -> str:
        """What a person reads: e.g. "1 more independent supporting source(s) graded B2 or better,
        independent of isw, reuters (for confirmed)"."""
        avoid = f", independent of {', '.join(self.independent_of)}" if self.independent_of else ""
        return f"{self.detail}{avoid} (for {self.stage})" if self.kind is not NeedKind.REOPEN else self.detail


def _adj(stance: Stance) -> str:
    return "supporting" if stance is Stance.SUPPORTS else "contradicting"


def _counted(facts: ClaimFacts, stance: Stance, grade: Grade) -> tuple[str, ...]:
    ok = AT_LEAST[grade.code]
    return tuple(
        sorted({e.root for e in facts.evidence if not e.retracted and e.stance is stance and ok[e.grade.code]})
    )


def _need(facts: ClaimFacts, stage: Stage, criterion: Criterion, result: CriterionResult) -> Need:
    base = {"claim": facts.key, "stage": stage, "criterion": result.criterion}
    match criterion:
        case Lines(stance=stance, count=count, grade=grade):
            missing = count - (result.have or 0)
            detail = f"{missing} more independent {_adj(stance)} source(s) graded {grade} or better"
            return Need(**base, kind=NeedKind.LINES, items=missing, detail=detail, stance=stance, grade=grade)
        case NoContradiction(grade=grade):
            detail = f"resolve: {result.gap}"
            return Need(**base, kind=NeedKind.RESOLVE, items=result.have or 1, detail=detail, grade=grade)
        case Outweighs(stance=stance, grade=grade):
            missing = max(1, (result.need or 0) - (result.have or 0))
            detail = f"{missing} more independent {_adj(stance)} source(s) graded {grade} or better, to outweigh"
            return Need(**base, kind=NeedKind.OUTWEIGH, items=missing, detail=detail, stance=stance, grade=grade)
        case SignOff():
            pending = facts.pending_review
            if pending is not None and pending.to_stage is stage:
                detail = f"a sign-off by a reviewer other than {pending.requested_by}"
                return Need(**base, kind=NeedKind.SIGN_OFF, items=1, detail=detail, not_by=pending.requested_by)
            detail = "a review request, then a sign-off by a reviewer other than the requester"
            return Need(**base, kind=NeedKind.SIGN_OFF, items=1, detail=detail)
    raise TypeError(f"unknown criterion {criterion!r}")  # pragma: no cover - Criterion is closed


def _with_roots(need: Need, facts: ClaimFacts) -> Need:
    """The need for this claim: its key, and the roots a new line must not repeat (built directly:
    `dataclasses.replace` was most of a 100k plan's time)."""
    roots = _counted(facts, need.stance, need.grade) if need.kind in _LINE_KINDS and need.stance and need.grade else ()
    return Need(
        facts.key,
        need.stage,
        need.criterion,
        need.kind,
        need.items,
        need.detail,
        need.stance,
        need.grade,
        roots,
        need.not_by,
    )


_LINE_KINDS = (NeedKind.LINES, NeedKind.OUTWEIGH)


def _path(stage: Stage, required: Stage) -> tuple[Stage, ...]:
    """The stages whose criteria stand between `stage` and `required` (empty: no path by evidence)."""
    if required is Stage.CONFIRMED and stage is Stage.REPORTED:
        return (Stage.CORROBORATED, Stage.CONFIRMED)
    if stage.is_final:
        return ()
    return (required,) if required is not Stage.REPORTED else ()


def _imagined(facts: ClaimFacts, needs: Iterable[Need]) -> ClaimFacts:
    """The facts as they would be with `needs` done: fresh independent lines, contradictions resolved."""
    evidence = list(facts.evidence)
    for n, need in enumerate(needs):
        if need.kind in _LINE_KINDS and need.stance and need.grade:
            evidence += [EvidenceFacts(f"~{n}.{i}", f"~{n}.{i}", need.stance, need.grade) for i in range(need.items)]
        elif need.kind is NeedKind.RESOLVE and need.grade:
            ok = AT_LEAST[need.grade.code]
            evidence = [
                replace(e, retracted=True) if e.stance is Stance.CONTRADICTS and ok[e.grade.code] else e
                for e in evidence
            ]
    return replace(facts, evidence=tuple(evidence))


def _meets(facts: ClaimFacts, path: tuple[Stage, ...], needs: Iterable[Need], policy: Policy) -> bool:
    judged = assess(_imagined(facts, needs), policy)
    return all(judged.for_stage(s).evidence_met for s in path)


def needs_for(facts: ClaimFacts, required: Stage, policy: Policy, judged: Assessment | None = None) -> tuple[Need, ...]:
    """The smallest set of needs that would bring the claim to `required` (none when it is there and holds).

    Every unmet criterion on the way is a candidate; one is left out when the others, imagined
    done, already meet every stage on the way (a confirmation's three C3 lines make the two of
    corroboration): the assessment decides, on the imagined facts.
    """
    judged = judged or assess(facts, policy)
    stage = facts.stage
    if stage.satisfies(required):
        if not judged.at_risk:
            return ()
        path: tuple[Stage, ...] = (stage,)
    else:
        path = _path(stage, required)
        if not path or (required is Stage.REFUTED and stage is Stage.CONFIRMED):
            detail = f"claim is {stage}: a reviewer must reopen it, with new evidence, before it can be {required}"
            return (Need(facts.key, required, "reopen", NeedKind.REOPEN, 1, detail),)
    candidates: list[Need] = []
    for s in path:
        for criterion, result in zip(policy.criteria(s), judged.for_stage(s).criteria, strict=True):
            if not result.met and not (s is stage and result.sign_off):
                candidates.append(_with_roots(_need(facts, s, criterion, result), facts))
    kept = list(candidates)
    for need in candidates:  # earlier stages first: those the later stage's needs most often cover
        if need.kind is NeedKind.SIGN_OFF:
            continue  # no evidence stands in for a second person
        rest = [n for n in kept if n is not need]
        if _meets(facts, path, rest, policy):
            kept = rest
    for i, need in enumerate(kept):  # a B2 line is a C3 line too: fewer C3 ones may do beside it
        while need.kind in _LINE_KINDS and need.items > 1:
            fewer = _fewer(need, need.items - 1)
            if not _meets(facts, path, [*kept[:i], fewer, *kept[i + 1 :]], policy):
                break
            need = kept[i] = fewer
    return tuple(kept)


def _fewer(need: Need, items: int) -> Need:
    return replace(need, items=items, detail=f"{items}{need.detail[len(str(need.items)) :]}")


_MEMO: dict[int, tuple[Policy, dict[tuple[object, ...], tuple[Need, ...]]]] = {}
MEMO_SIZE = 100_000


def planned_needs(facts: ClaimFacts, required: Stage, policy: Policy) -> tuple[Need, ...]:
    """`needs_for`, memoised as `assessment.plan` is: the needs depend only on the stage, the pending
    request and what the criteria read of the evidence (line counts, blocking items), so most claims
    of a large case share their needs' shape with another; only the claim key and roots are per claim."""
    held = _MEMO.get(id(policy))
    if held is None or held[0] is not policy:
        held = _MEMO[id(policy)] = (policy, {})
    memo = held[1]
    key = (facts.stage, facts.pending_review, required, *_compiled(policy).inputs.of(_Claim(facts, {})))
    shape = memo.get(key)
    if shape is None:
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        shape = memo[key] = tuple(replace(n, claim="", independent_of=()) for n in needs_for(facts, required, policy))
    return tuple(_with_roots(n, facts) for n in shape)


# --- the plan across actions --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gate:
    """An action's requirement as the plan sees it: which claim (its survivor) must reach which stage."""

    action: str
    claim: str
    stage: Stage
    due: date | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """A need with the actions it unblocks and the earliest of their due dates."""

    need: Need
    actions: tuple[str, ...]
    due: date | None

    @property
    def key(self) -> str:
        return self.need.key


@dataclass(frozen=True, slots=True)
class ActionPlan:
    """The smallest set of tasks that would make one action ready, and how many items that is."""

    action: str
    tasks: tuple[Need, ...]

    @property
    def items(self) -> int:
        return sum(n.items for n in self.tasks)

    @property
    def ready(self) -> bool:
        return not self.tasks


@dataclass(slots=True)
class Plan:
    tasks: dict[str, Task] = field(default_factory=dict)
    actions: dict[str, ActionPlan] = field(default_factory=dict)


def plan_tasks(
    gates: Iterable[Gate],
    facts: Mapping[str, ClaimFacts],
    policy: Policy,
) -> Plan:
    """Tasks from every gate's needs, one per need however many actions share it; each action's plan.

    A claim required by several actions at one stage is planned once. An unknown claim gives no
    task (readiness names it; there is nothing to collect for a claim that does not exist).
    """
    by_need: dict[tuple[str, Stage], tuple[Need, ...]] = {}
    action_needs: dict[str, dict[str, Need]] = {}
    unblocks: dict[str, dict[str, date | None]] = {}
    needs: dict[str, Need] = {}
    for gate in gates:
        per_action = action_needs.setdefault(gate.action, {})
        claim = facts.get(gate.claim)
        if claim is None:
            continue
        found = by_need.get((gate.claim, gate.stage))
        if found is None:
            found = by_need[(gate.claim, gate.stage)] = planned_needs(claim, gate.stage, policy)
        for need in found:
            key = need.key
            per_action[key] = needs[key] = need
            got = unblocks.get(key)
            if got is None:
                unblocks[key] = {gate.action: gate.due}
            else:
                got[gate.action] = gate.due
    plan = Plan()
    for key, need in needs.items():
        dues = [d for d in unblocks[key].values() if d is not None]
        plan.tasks[key] = Task(need, tuple(sorted(unblocks[key])), min(dues) if dues else None)
    plan.actions = {a: ActionPlan(a, tuple(ns.values())) for a, ns in action_needs.items()}
    return plan


@dataclass(frozen=True, slots=True)
class Rank:
    """Why a task stands where it does in the work list."""

    unblocks: int  # open actions that need it
    closest: int  # items the nearest of those actions still needs (1: this is the last one)


def rank_key(unblocks: int, closest: int, due: date | None, key: str) -> tuple[object, ...]:
    """Most actions unblocked first; among equals the task of the action nearest to ready, then the earliest due."""
    return (-unblocks, closest, due or date.max, key)


def rank(tasks: Iterable[tuple[str, tuple[str, ...], date | None]], items_left: Mapping[str, int]) -> list[str]:
    """Task keys in work order; `tasks` is (key, actions, due), `items_left` each action's items to ready."""

    def order(t: tuple[str, tuple[str, ...], date | None]) -> tuple[object, ...]:
        key, actions, due = t
        closest = min((items_left.get(a, 0) for a in actions), default=0)
        return rank_key(len(actions), closest, due, key)

    return [t[0] for t in sorted(tasks, key=order)]


# --- the single-source stress test --------------------------------------------------------------


def carrying_roots(facts: ClaimFacts, policy: Policy) -> tuple[str, ...]:
    """Lineage roots each of which, removed alone, drops a corroborated or confirmed claim below its stage.

    Asked of the assessment (`holds` on the facts without that root's items); empty when the claim
    survives the loss of any one line, or is at no such stage, or does not hold its stage already.
    """
    if facts.stage not in (Stage.CORROBORATED, Stage.CONFIRMED) or not assess(facts, policy).holds:
        return ()
    roots = sorted({e.root for e in facts.evidence if not e.retracted})
    carrying = []
    for root in roots:
        without = replace(facts, evidence=tuple(e for e in facts.evidence if e.root != root))
        if not assess(without, policy).holds:
            carrying.append(root)
    return tuple(carrying)
