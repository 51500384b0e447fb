"""Pure domain rules: stages, grades, lineage, threshold policy, assessment, readiness.

Nothing here touches a database, a flow engine or a UI, so every rule can be unit-tested
in microseconds and reused by the CLI, the flows and the dashboard alike.
"""

from claims.domain.assessment import (
    Assessment,
    ClaimFacts,
    CriterionResult,
    EvidenceFacts,
    NextStep,
    StageAssessment,
    assess,
)
from claims.domain.errors import DomainError, IllegalTransition, InvalidGrade, LineageCycle, ParseError, RuleViolation
from claims.domain.events import EventKind
from claims.domain.grades import Credibility, Grade, Reliability
from claims.domain.lineage import independent_roots, resolve_roots
from claims.domain.policy import Policy, default_policy, load_policy, parse_policy
from claims.domain.readiness import ActionReadiness, Requirement, RequirementStatus, readiness
from claims.domain.stages import ReviewStatus, Stage, Stance, TransitionKind, transition_kind

__all__ = [
    "ActionReadiness",
    "Assessment",
    "ClaimFacts",
    "Credibility",
    "CriterionResult",
    "DomainError",
    "EventKind",
    "EvidenceFacts",
    "Grade",
    "IllegalTransition",
    "InvalidGrade",
    "LineageCycle",
    "NextStep",
    "ParseError",
    "Policy",
    "Reliability",
    "Requirement",
    "RequirementStatus",
    "ReviewStatus",
    "RuleViolation",
    "Stage",
    "StageAssessment",
    "Stance",
    "TransitionKind",
    "assess",
    "default_policy",
    "independent_roots",
    "load_policy",
    "parse_policy",
    "readiness",
    "resolve_roots",
    "transition_kind",
]
