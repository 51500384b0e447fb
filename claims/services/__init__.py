"""Use cases. Each write is one unit of work: the change and its audit event commit together."""

from claims.services.assessment import AdvanceResult, Outcome, advance, assess_claims, open_claim_keys
from claims.services.bulk_import import import_path
from claims.services.casefile import CaseFile, read_case_file, validate_case
from claims.services.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from claims.services.evidence import add_evidence, retract_evidence
from claims.services.identity import Identity, verify_token
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
    "validate_case",
    "verify_token",
]
