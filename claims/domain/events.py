"""The kinds of audit event: one vocabulary for the writers and the read queries.

The values are what the hash chain covers, so they never change: renaming one would make
every existing database fail `claims audit verify`.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    CLAIM_REPORTED = "claim.reported"
    CLAIM_LINKED = "claim.linked"  # payload {"kind": "duplicate"|"related", "other": KEY}
    CLAIM_STAGE_CHANGED = "claim.stage_changed"
    CLAIM_AT_RISK = "claim.at_risk"
    CLAIM_AT_RISK_CLEARED = "claim.at_risk_cleared"
    REVIEW_REQUESTED = "review.requested"
    REVIEW_APPROVED = "review.approved"
    REVIEW_REJECTED = "review.rejected"
    REVIEW_WITHDRAWN = "review.withdrawn"
    REVIEW_IMPORTED = "review.imported"
    EVIDENCE_ADDED = "evidence.added"
    # A bulk import's new items on a known claim, in one event: payload {"via": "import", "items": [...]},
    # each item what `evidence.added` would carry (evidence id, source, stance, grade, retracted). A new
    # claim's items are listed the same way in its `claim.reported` event.
    EVIDENCE_IMPORTED = "evidence.imported"
    EVIDENCE_RETRACTED = "evidence.retracted"
    CASE_IMPORTED = "case.imported"
    # Authoring by hand (issue 17): payload {"old": {...}, "new": {...}, "version": n, ...}.
    CASE_CREATED = "case.created"
    CASE_EDITED = "case.edited"
    SOURCE_ADDED = "source.added"
    SOURCE_EDITED = "source.edited"
    SOURCE_WITHDRAWN = "source.withdrawn"
    CLAIM_EDITED = "claim.edited"
    CLAIM_WITHDRAWN = "claim.withdrawn"
    ACTION_ADDED = "action.added"
    ACTION_EDITED = "action.edited"
    USER_ADDED = "user.added"
    USER_PASSWORD_SET = "user.password_set"
    USER_EMAIL_SET = "user.email_set"
    USER_DISABLED = "user.disabled"
    USER_LOCKED = "user.locked"  # after too many failed sign-ins
    # Need to know (issue 20): an admin's changes to who reads what.
    USER_CLEARANCE_SET = "user.clearance_set"  # {"user", "old", "new"}
    USER_ALL_CASES_SET = "user.all_cases_set"  # {"user", "old", "new"}: deployment-wide access on or off
    CASE_MEMBER_ADDED = "case.member_added"  # {"user", "role", "old_role"}: added, or their role changed
    CASE_MEMBER_REMOVED = "case.member_removed"  # {"user", "role"}
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in.failed"
    TOKEN_ISSUED = "token.issued"
    TOKEN_SETUP = "token.setup"  # issued without a password by trusted setup code (demo, tests)
    TOKEN_REVOKED = "token.revoked"
    SIGNOFF_CODE_ISSUED = "signoff_code.issued"
    SIGNOFF_CODE_REFUSED = "signoff_code.refused"
    REPORT_ADDED = "report.added"  # a report stored whole with its SHA-256 (issue 17)
    REPORT_SENTENCE_ACCEPTED = "report.sentence_accepted"  # a sentence became a claim or evidence
    # Collection tasks (issue 18): payload {"task": id, "need": text, "actions": [...], ...}.
    TASK_OPENED = "task.opened"
    TASK_UPDATED = "task.updated"  # the need changed (fewer items missing, other actions, due date)
    TASK_ASSIGNED = "task.assigned"  # payload {"task": id, "assignee": NAME, "by": NAME}: the hook for notifications
    TASK_TAKEN = "task.taken"  # someone took the task themselves ("I'm on it")
    TASK_CLOSED = "task.closed"  # evidence or a decision met it
    TASK_WITHDRAWN = "task.withdrawn"  # the claim moved on, or no action needs it any more
    TRUST_ADDED = "trust.added"  # a key whose signed case files may carry confirm/refute history
    # Notes and notifications (issue 18): payload names the note / subscription / channel.
    NOTE_ADDED = "note.added"  # {"note": id, "target": "claim:KEY", "reply_to": id|None, "text": ...}
    NOTE_WITHDRAWN = "note.withdrawn"  # {"note": id, "target": ...}; the reason is the rationale
    SUBSCRIPTION_ADDED = "subscription.added"  # {"id", "person", "kind", "scope"}
    SUBSCRIPTION_REMOVED = "subscription.removed"
    CHANNEL_ADDED = "channel.added"  # {"person", "name", "secret", "digest"}: the secret's NAME, never its URL
    CHANNEL_REMOVED = "channel.removed"
    INBOX_READ = "inbox.read"  # {"person", "notifications": [ids]}
    DELIVERY_RETRIED = "delivery.retried"  # an admin put a dead delivery back in the queue: {"delivery": id}
    # Need to know (issue 20): {"item": "evidence #12", "old": {marking, caveat}, "new": {...}, "lowered": bool}
    MARKING_CHANGED = "marking.changed"

    @classmethod
    def review_decided(cls, status: str) -> EventKind:
        """The event that closes a review with `status` (approved, rejected, withdrawn)."""
        return cls(f"review.{status}")


#: Events that put a claim into a stage: its stage history.
STAGE_EVENTS = (EventKind.CLAIM_REPORTED, EventKind.CLAIM_STAGE_CHANGED)
