"""Every failure a user can cause or meet, in one hierarchy: its message, its CLI exit code, its HTTP problem.

Each class says once what it means at each edge: `exit_code` for the command line
(claims.cli.common maps it, and only there), `status`, `slug` and `title` for the HTTP API
(claims.api.problems renders RFC 9457 application/problem+json with type, title, status and
detail, and only there). The message is one line naming the field and the value; it is the
problem's `detail` and the CLI's `error:` line alike. Callers match classes, never names or text.

Exit codes: 0 success; 1 a rule or input problem; 2 usage; 3 not found; 4 permission denied
(or not signed in); 5 a concurrent change won.
"""

from __future__ import annotations

from typing import ClassVar

PROBLEM_BASE = "urn:claims:problem:"


class ClaimsError(Exception):
    """Base of every expected failure: one line for a person, one problem for a client."""

    exit_code: ClassVar[int] = 1
    status: ClassVar[int] = 422
    slug: ClassVar[str] = "refused"
    title: ClassVar[str] = "The request was refused"

    @classmethod
    def problem_type(cls) -> str:
        return PROBLEM_BASE + cls.slug


class DomainError(ClaimsError, ValueError):
    """Base for every rule violation the user can cause; the CLI prints it as one line."""

    slug = "invalid"
    title = "The request breaks a rule"


class InvalidGrade(DomainError):
    """A reliability, credibility or grade string outside the Admiralty scales."""

    slug = "invalid-grade"
    title = "Not an Admiralty grade"


class LineageCycle(DomainError):
    """`derived_from` links that loop back on themselves have no root."""

    slug = "lineage-cycle"
    title = "Source lineage loops"


class IllegalTransition(DomainError):
    """A stage change that docs/design.md section 3 does not allow."""

    slug = "illegal-transition"
    title = "Stage change not allowed"


class RuleViolation(DomainError):
    """The request is well-formed but the policy or four eyes forbid it now."""

    slug = "rule-violation"
    title = "The policy or four eyes forbid it"


class ParseError(DomainError):
    """A word (stage, stance) outside the domain's vocabulary."""

    slug = "unknown-word"
    title = "A word outside the vocabulary"


class InvalidPolicy(DomainError):
    """A threshold policy file that cannot be understood."""

    slug = "invalid-policy"
    title = "Policy file not understood"


class InvalidInput(DomainError):
    """A value the user gave that no rule accepts (a malformed case file, an empty rationale)."""

    slug = "invalid-input"
    title = "Invalid input"


class NotFound(DomainError):
    """An unknown claim, source, case, review, action or user."""

    exit_code = 3
    status = 404
    slug = "not-found"
    title = "Not found"


class PermissionDenied(DomainError):
    """The acting user's role does not allow the use case (or the sign-in proves no one)."""

    exit_code = 4
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class NotAuthenticated(PermissionDenied):
    """No token, or one that proves no one now (unknown, expired, revoked, its account disabled)."""

    status = 401
    slug = "unauthenticated"
    title = "Not signed in"


class CodeSpent(PermissionDenied):
    """A one-time sign-off code used already (a retried decision finds it so)."""

    slug = "code-spent"
    title = "Sign-off code already used"


class ConcurrencyConflict(ClaimsError):
    """Someone else changed the same thing first; the change was not applied."""

    exit_code = 5
    status = 409
    slug = "conflict"
    title = "Someone else changed it first"


class AlreadyDone(RuleViolation, ConcurrencyConflict):
    """A review already decided, an item already retracted: someone else acted first.

    A rule violation (flows and pages treat it as a refusal, never retry it) and a concurrency
    conflict (the CLI exits 5, the API answers 409): when two people act at once, the loser learns who won.
    """

    exit_code = 5
    status = 409
    slug = "already-done"
    title = "Someone else acted first"


class PolicyChanged(DomainError):
    """A policy file's content differs from what its version judged with before (issue 21.3)."""

    slug = "policy-changed"
    title = "Policy changed under its old version"


class ClockBehind(DomainError):
    """This writer's clock is earlier than the newest event's time: an event would be backdated."""

    slug = "clock-behind"
    title = "Clock earlier than the audit log"


class DatabaseNotReady(DomainError):
    """The database is missing or not migrated to this version's head."""

    status = 503
    slug = "database-not-ready"
    title = "Database not ready"


class BackupRefused(DomainError):
    """A backup or restore that would lose or mix data."""

    slug = "backup-refused"
    title = "Backup refused"


class RunFailed(ClaimsError):
    """A flow run failed on I/O after its retries, or found no Prefect API to run on."""

    status = 502
    slug = "run-failed"
    title = "The flow run failed"


class ServeFailed(ClaimsError):
    """A server `claims serve` runs could not start (a port taken, an address not this machine's)."""

    status = 503
    slug = "serve-failed"
    title = "Server did not start"


class ApiUnavailable(ClaimsError):
    """The configured claims API did not answer, or could not prove it is the server the certificate names."""

    status = 503
    slug = "api-unavailable"
    title = "Claims API unavailable"


class BodyTooLarge(ClaimsError):
    """A request body beyond the API's limit (refused before it is read)."""

    status = 413
    slug = "body-too-large"
    title = "Request body too large"


class BodyTimeout(ClaimsError):
    """A request body that did not arrive within the API's read timeout."""

    status = 408
    slug = "body-timeout"
    title = "Request body too slow"


class Busy(ClaimsError):
    """Every API worker slot stayed taken for the whole wait; try again."""

    status = 503
    slug = "busy"
    title = "Server busy"
