"""Use cases. Each write is one unit of work: the change and its audit event commit together.

The names below are loaded on first use (PEP 562), so a command pays only for the use cases it
calls: `claims --help` and the reading commands never import the import pipeline, argon2 or the
assessment batch code (issue 11: reading commands answer within half a second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from claims.lazy import lazy_names

_WHERE = {
    "claims.services.assessment": (
        "AdvanceResult",
        "Outcome",
        "advance",
        "after_run",
        "assess_claims",
        "open_claim_keys",
    ),
    "claims.services.bulk_import": ("import_path",),
    "claims.services.casefile": ("CaseFile", "read_case_file", "validate_case"),
    "claims.services.errors": ("InvalidInput", "NotFound", "PermissionDenied", "RuleViolation"),
    "claims.services.evidence": ("add_evidence", "retract_evidence"),
    "claims.services.identity": ("Identity", "system_identity", "verify_token"),
    "claims.services.intake": ("ImportReport", "export_case", "import_case"),
    "claims.services.review": ("Decision", "approve", "reject", "reopen"),
    "claims.services.runtime": ("Role", "Runtime"),
    "claims.services.users": ("add_user", "ensure_users", "list_users"),
    "claims.services.views": (
        "ReviewPage",
        "action_readiness",
        "audit_verify",
        "claim_detail",
        "readiness_json",
        "review_page",
        "review_queue",
    ),
}

__all__ = [
    "AdvanceResult",
    "CaseFile",
    "Decision",
    "Identity",
    "ImportReport",
    "InvalidInput",
    "NotFound",
    "Outcome",
    "PermissionDenied",
    "ReviewPage",
    "Role",
    "RuleViolation",
    "Runtime",
    "action_readiness",
    "add_evidence",
    "add_user",
    "advance",
    "after_run",
    "approve",
    "assess_claims",
    "audit_verify",
    "claim_detail",
    "ensure_users",
    "export_case",
    "import_case",
    "import_path",
    "list_users",
    "open_claim_keys",
    "read_case_file",
    "readiness_json",
    "reject",
    "reopen",
    "retract_evidence",
    "review_page",
    "review_queue",
    "system_identity",
    "validate_case",
    "verify_token",
]


__getattr__, __dir__ = lazy_names("claims.services", _WHERE, globals())


if TYPE_CHECKING:  # the same names, eagerly, for type checkers and import-linter
    from claims.services.assessment import AdvanceResult, Outcome, advance, after_run, assess_claims, open_claim_keys
    from claims.services.bulk_import import import_path
    from claims.services.casefile import CaseFile, read_case_file, validate_case
    from claims.services.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
    from claims.services.evidence import add_evidence, retract_evidence
    from claims.services.identity import Identity, system_identity, verify_token
    from claims.services.intake import ImportReport, export_case, import_case
    from claims.services.review import Decision, approve, reject, reopen
    from claims.services.runtime import Role, Runtime
    from claims.services.users import add_user, ensure_users, list_users
    from claims.services.views import (
        ReviewPage,
        action_readiness,
        audit_verify,
        claim_detail,
        readiness_json,
        review_page,
        review_queue,
    )
