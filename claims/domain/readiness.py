"""Policy-action readiness: which claims gate an action and what would close each gap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from claims.domain.assessment import Assessment
from claims.domain.stages import Stage


@dataclass(frozen=True, slots=True)
class Requirement:
    claim: str
    stage: Stage


@dataclass(frozen=True, slots=True)
class RequirementStatus:
    claim: str
    required_stage: Stage
    stage: Stage | None
    met: bool
    gaps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ActionReadiness:
    key: str
    title: str
    ready: bool
    requirements: tuple[RequirementStatus, ...]


def requirement_status(requirement: Requirement, assessment: Assessment | None) -> RequirementStatus:
    """Whether one claim is at or beyond its required stage, and if not, why not yet."""
    required = requirement.stage
    if assessment is None:
        return RequirementStatus(requirement.claim, required, None, False, (f"claim {requirement.claim!r} is unknown",))
    stage = assessment.stage
    if stage.satisfies(required):
        if assessment.at_risk:  # at the stage on paper, but its evidence no longer carries it: not solid ground
            gaps = tuple(f"at risk: no longer meets {stage}: {g}" for g in assessment.current_gaps)
            return RequirementStatus(requirement.claim, required, stage, False, gaps or (f"at risk: {stage}",))
        return RequirementStatus(requirement.claim, required, stage, True, ())
    if stage is Stage.REFUTED:
        gaps = ("claim is refuted; it blocks this action unless reopened with new evidence",)
    elif required is Stage.REFUTED and stage is Stage.CONFIRMED:
        gaps = ("claim is confirmed; it can only be refuted after a reopen",)
    else:
        target = assessment.for_stage(required)
        gaps = tuple(target.gaps)
        if required is Stage.CONFIRMED and stage is Stage.REPORTED:
            gaps = ("must be corroborated first", *gaps)
        if not gaps:
            gaps = (f"criteria for {required} hold; awaiting the next assessment run",)
    return RequirementStatus(requirement.claim, required, stage, False, gaps)


def survivor_status(requirement: Requirement, survivor: str, assessment: Assessment | None) -> RequirementStatus:
    """A required claim marked a duplicate is judged on the claim it duplicates (its survivor)."""
    judged = requirement_status(Requirement(survivor, requirement.stage), assessment)
    gaps = tuple(f"duplicate of {survivor!r}: {g}" for g in judged.gaps)
    return RequirementStatus(requirement.claim, judged.required_stage, judged.stage, judged.met, gaps)


def readiness(
    key: str,
    title: str,
    requirements: list[Requirement],
    assessments: Mapping[str, Assessment],
    survivors: Mapping[str, str] | None = None,
) -> ActionReadiness:
    """An action is ready when every required claim is at or beyond its required stage and still meets it.

    `survivors` maps a required claim marked a duplicate to the claim that stands for it: the
    evidence gathers on the survivor, so that is the claim judged.
    """
    survivors = survivors or {}
    statuses = tuple(
        survivor_status(r, survivors[r.claim], assessments.get(survivors[r.claim]))
        if r.claim in survivors
        else requirement_status(r, assessments.get(r.claim))
        for r in requirements
    )
    return ActionReadiness(key, title, bool(statuses) and all(s.met for s in statuses), statuses)
