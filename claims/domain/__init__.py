"""Pure domain rules: stages, grades, lineage, threshold policy, assessment, readiness.

Nothing here touches a database, a flow engine or a UI, so every rule can be unit-tested
in microseconds and reused by the CLI, the flows and the dashboard alike.

The names below are loaded on first use (PEP 562), as in `claims.services`: importing one
module (`claims.domain.stages`) does not run them all (issue 11: `claims --help` and `claims
list` need stages and grades, not the assessment, the policy file or the readiness rules).
`claims.domain.readiness` is the module (its function: `claims.domain.readiness.readiness`):
loaded lazily, a function of the same name would be hidden by the module once imported.
"""

from typing import TYPE_CHECKING

from claims.lazy import lazy_names

_WHERE = {
    "claims.domain.assessment": (
        "Assessment",
        "ClaimFacts",
        "CriterionResult",
        "EvidenceFacts",
        "NextStep",
        "StageAssessment",
        "assess",
    ),
    "claims.domain.errors": (
        "DomainError",
        "IllegalTransition",
        "InvalidGrade",
        "LineageCycle",
        "ParseError",
        "RuleViolation",
    ),
    "claims.domain.events": ("EventKind",),
    "claims.domain.grades": (
        "Credibility",
        "Grade",
        "Reliability",
    ),
    "claims.domain.lineage": (
        "independent_roots",
        "resolve_roots",
    ),
    "claims.domain.policy": (
        "Policy",
        "default_policy",
        "load_policy",
        "parse_policy",
    ),
    "claims.domain.readiness": (
        "ActionReadiness",
        "Requirement",
        "RequirementStatus",
    ),
    "claims.domain.stages": (
        "ReviewStatus",
        "Stage",
        "Stance",
        "TransitionKind",
        "transition_kind",
    ),
}

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
    "resolve_roots",
    "transition_kind",
]


__getattr__, __dir__ = lazy_names("claims.domain", _WHERE, globals())


if TYPE_CHECKING:  # the same names, eagerly, for type checkers and import-linter
    from claims.domain.assessment import (
        Assessment,
        ClaimFacts,
        CriterionResult,
        EvidenceFacts,
        NextStep,
        StageAssessment,
        assess,
    )
    from claims.domain.errors import (
        DomainError,
        IllegalTransition,
        InvalidGrade,
        LineageCycle,
        ParseError,
        RuleViolation,
    )
    from claims.domain.events import EventKind
    from claims.domain.grades import Credibility, Grade, Reliability
    from claims.domain.lineage import independent_roots, resolve_roots
    from claims.domain.policy import Policy, default_policy, load_policy, parse_policy
    from claims.domain.readiness import ActionReadiness, Requirement, RequirementStatus
    from claims.domain.stages import ReviewStatus, Stage, Stance, TransitionKind, transition_kind
