"""What if: re-run the assessment and readiness with hypothetical evidence, writing nothing.

A manager asks "if one more independent B2 source supported the factory claim, which claims
would move and which actions would become ready?". This loads the stored facts of one case
read-only, adds the hypothetical items in memory, and runs the same domain rules the
pipeline runs (`assess`, `readiness`). No unit of work is committed; the session is
read-only and rolled back on exit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from claims.domain.assessment import Assessment, ClaimFacts, EvidenceFacts, StepKind, assess
from claims.domain.grades import Credibility, Grade, Reliability
from claims.domain.policy import Policy
from claims.domain.readiness import RequirementStatus, readiness
from claims.domain.stages import Stage, Stance
from claims.services.access import case_for, readable_source_ids, reader_of
from claims.services.errors import InvalidInput, NotFound
from claims.services.facts import facts_where, lineage_roots, requirements_by_action
from claims.services.identity import Identity
from claims.services.links import survivors_for
from claims.services.runtime import Runtime

NEW_SOURCE = "(new independent source)"


@dataclass(frozen=True)
class Hypothesis:
    """One evidence item that does not exist: an existing source of the case, or a new independent one."""

    claim: str
    stance: str
    credibility: int
    source: str | None = None  # None: a new source with no lineage (its own independent line)
    reliability: str | None = None  # needed for a new source; ignored for an existing one

    def label(self) -> str:
        who = self.source or f"a new independent source ({self.reliability})"
        return f"{who} {self.stance} {self.claim} (credibility {self.credibility})"


@dataclass(frozen=True)
class ClaimProjection:
    claim: str
    stage: Stage  # stored stage
    baseline: Stage  # where the pipeline would take it without the hypothetical items
    projected: Stage  # where it would go with them
    needs_sign_off: bool  # the projected stage needs a reviewer's approval (confirm/refute)
    steps: tuple[str, ...]
    affected: bool  # at least one hypothetical item speaks to this claim

    @property
    def moves(self) -> bool:
        """The hypothetical evidence changes where this claim ends up."""
        return self.projected is not self.baseline


@dataclass(frozen=True)
class ActionProjection:
    key: str
    title: str
    ready_now: bool
    ready_then: bool
    needs_sign_off: bool  # ready_then relies on a confirm/refute that still needs sign-off
    requirements: tuple[RequirementStatus, ...]  # in the hypothetical world

    @property
    def becomes_ready(self) -> bool:
        return self.ready_then and not self.ready_now


@dataclass(frozen=True)
class WhatIfResult:
    case: str
    policy_version: str
    hypotheses: tuple[Hypothesis, ...]
    claims: tuple[ClaimProjection, ...]
    actions: tuple[ActionProjection, ...]


def project(facts: ClaimFacts, policy: Policy) -> tuple[ClaimFacts, bool, list[str]]:
    """Follow the pipeline's own next steps until the claim stops moving.

    Automatic moves apply; a confirm/refute is taken as granted but flagged as needing
    sign-off. A final claim is never demoted (it would only be flagged at risk).
    """
    steps: list[str] = []
    sign_off = False
    for _ in range(4):
        step = assess(facts, policy).next_step
        if step.to is None:
            break
        if step.kind in (StepKind.ADVANCE, StepKind.DEMOTE):
            steps.append(f"{facts.stage} -> {step.to} (automatic: {step.reason})")
        elif step.kind in (StepKind.REQUEST_REVIEW, StepKind.AWAITING_REVIEW):
            steps.append(f"{facts.stage} -> {step.to} once a second reviewer signs off")
            sign_off = True
        else:
            break
        facts = dataclasses.replace(facts, stage=step.to, pending_review=None)
    return facts, sign_off, steps


def _hypothetical_item(h: Hypothesis, index: int, sources: dict[str, tuple[str, str, str]]) -> EvidenceFacts:
    stance = Stance.parse(h.stance)
    credibility = Credibility.parse(h.credibility)
    if h.source:
        if h.source not in sources:
            raise NotFound(f"source: unknown source {h.source!r} in this case")
        reliability, root, name = sources[h.source]
        return EvidenceFacts(h.source, root, stance, Grade(Reliability(reliability), credibility), source_name=name)
    if not h.reliability:
        raise InvalidInput("reliability: a new hypothetical source needs a reliability A-F")
    key = f"hypothetical-{index + 1}"
    grade = Grade(Reliability.parse(h.reliability), credibility)
    return EvidenceFacts(key, key, stance, grade, source_name=f"hypothetical source {index + 1}")


def what_if(
    rt: Runtime, case_key: str, hypotheses: Sequence[Hypothesis], *, who: Identity | None = None
) -> WhatIfResult:
    """Project the claims the hypotheses touch or the actions require, and every action; nothing is written.

    No other claim can move: without hypothetical evidence its projection is its baseline. Only a
    case `who` reads (issue 20), and a hypothetical item names only a source they may read.
    """
    with rt.uow(write=False) as uow:
        scope = reader_of(uow, who, rt.markings)
        case = case_for(uow, scope, case_key)
        # Only a claim that gains hypothetical evidence can move, and only the claims the actions
        # require decide readiness: load those, selected in the database by subquery (never every
        # claim of the case, and never a list of bound keys: 100k of them broke PostgreSQL's limit).
        action_reqs = requirements_by_action(uow, case_key, scope)
        wanted = uow.actions.required_claims(case_key, reach=scope).union(
            uow.claims.ids_in_case(case.id, (h.claim for h in hypotheses))
        )
        _, facts = facts_where(uow, wanted)  # type: ignore[arg-type]
        source_rows = uow.sources.for_case(case.id)
        roots = lineage_roots(source_rows)
        seen = readable_source_ids(uow, scope, case.id)
        sources = {s.key: (s.reliability, roots[s.id], s.name) for s in source_rows if s.id in seen}
        # A required claim marked a duplicate is judged on its survivor, as `action_readiness` does;
        # here only a survivor whose facts are loaded (one of the case's required or hypothesised claims).
        survivors = {k: v for k, v in survivors_for(uow, facts.keys()).items() if v in facts}

    added: dict[str, list[EvidenceFacts]] = {}
    for i, h in enumerate(hypotheses):
        if h.claim not in facts:
            raise NotFound(f"claim: unknown claim {h.claim!r} in case {case_key!r}")
        added.setdefault(h.claim, []).append(_hypothetical_item(h, i, sources))

    policy = rt.policy
    now: dict[str, Assessment] = {}
    then: dict[str, Assessment] = {}
    projections = []
    for key, stored in facts.items():
        now[key] = assess(stored, policy)
        baseline, _, _ = project(stored, policy)
        hypothetical = dataclasses.replace(stored, evidence=stored.evidence + tuple(added.get(key, ())))
        projected, sign_off, steps = project(hypothetical, policy)
        then[key] = assess(dataclasses.replace(projected, pending_review=None), policy)
        projections.append(
            ClaimProjection(
                claim=key,
                stage=stored.stage,
                baseline=baseline.stage,
                projected=projected.stage,
                needs_sign_off=sign_off,
                steps=tuple(steps),
                affected=key in added,
            )
        )

    signed = {p.claim for p in projections if p.needs_sign_off}
    outcomes = []
    for key, (title, reqs) in action_reqs.items():
        before = readiness(key, title, reqs, now, survivors)
        after = readiness(key, title, reqs, then, survivors)
        # Ready only thanks to a confirm/refute that a reviewer still has to sign off?
        relies = any(r.claim in signed and not now[r.claim].stage.satisfies(r.stage) for r in reqs)
        outcomes.append(
            ActionProjection(
                key=key,
                title=title,
                ready_now=before.ready,
                ready_then=after.ready,
                needs_sign_off=after.ready and relies,
                requirements=after.requirements,
            )
        )
    return WhatIfResult(case_key, policy.version, tuple(hypotheses), tuple(projections), tuple(outcomes))
