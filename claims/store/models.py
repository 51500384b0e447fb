"""SQLAlchemy 2 tables. The schema is made only by Alembic migrations (migrations/)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from claims.domain.grades import Credibility, Grade, Reliability
from claims.domain.stages import ReviewStatus
from claims.store.types import UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def partial_index(name: str, *columns: str, sqlite: str, postgresql: str, unique: bool = False) -> Index:
    """An index on the rows matching a predicate, the predicate per dialect in `info["where"]`.

    Not `sqlite_where=`/`postgresql_where=`: to check those SQLAlchemy imports the dialect's whole
    package (PostgreSQL's brings every driver module: 80 ms in every process, on SQLite too; issue
    11), and nothing here makes DDL from the models: the migrations do. tests/integration/
    test_migrations.py checks each predicate against the migrated database on both backends.
    """
    return Index(name, *columns, unique=unique, info={"where": {"sqlite": sqlite, "postgresql": postgresql}})


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Sign-in (migration 0002): an argon2 hash, never the password; NULL means no password sign-in.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    email: Mapped[str | None] = mapped_column(String(320), unique=True, default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    # Need to know (migration 0016): the highest marking this person may read, and whether they read
    # every case (deployment-wide access) or only the cases they are a member of.
    clearance: Mapped[str] = mapped_column(String(40), server_default="TLP:CLEAR")
    all_cases: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


# One person, one name (migration 0012): names are unique however they are capitalised.
Index("uq_users_folded_name", func.lower(User.name), unique=True)


class CaseMember(Base):
    """A person's role on one case (migration 0016): analyst, reviewer or manager there."""

    __tablename__ = "case_members"
    __table_args__ = (Index("ix_case_members_user_id", "user_id", "case_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    added_by: Mapped[str] = mapped_column(String(80))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SignInFailure(Base):
    """Failed sign-ins of one (folded) name from one source in the current window (migration 0015).

    Counted per source so that an attacker's failures lock the name only from the attacker's source
    (claims.services.identity says the rules). The name need not be a user's: guesses at unknown
    names are counted too.
    """

    __tablename__ = "sign_in_failures"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    source: Mapped[str] = mapped_column(String(120), primary_key=True, index=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class PolicyContent(Base):
    """A policy version that has judged here, and the sha256 of the file it was (migration 0015, issue 21.3)."""

    __tablename__ = "policies"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(500))
    first_used_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Token(Base):
    """A personal or service token: only its sha256 is kept (the token itself is 256 random bits)."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)

    user: Mapped[User] = relationship()


class SignoffCode(Base):
    """A one-time code that proves who decides a review in the Prefect form: hash only, short-lived, single-use."""

    __tablename__ = "signoff_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review_requests.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)

    user: Mapped[User] = relationship()


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, server_default="1")  # migration 0009
    # Sensitivity marking (migration 0016, claims.domain.markings): a level of the deployment's scale.
    marking: Mapped[str] = mapped_column(String(40), server_default="TLP:AMBER")
    caveat: Mapped[str | None] = mapped_column(String(200), default=None)

    sources: Mapped[list[Source]] = relationship(back_populates="case", order_by="Source.id")
    claims: Mapped[list[Claim]] = relationship(back_populates="case", order_by="Claim.id")
    actions: Mapped[list[PolicyAction]] = relationship(back_populates="case", order_by="PolicyAction.id")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_sources_case_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    key: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    reliability: Mapped[str] = mapped_column(String(1))
    derived_from_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    # Authoring (migration 0009): optimistic concurrency, and withdrawal instead of deletion.
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    withdrawn_by: Mapped[str | None] = mapped_column(String(80))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    # Sensitivity marking (migration 0016, claims.domain.markings): a level of the deployment's scale.
    marking: Mapped[str] = mapped_column(String(40), server_default="TLP:AMBER")
    caveat: Mapped[str | None] = mapped_column(String(200), default=None)

    case: Mapped[Case] = relationship(back_populates="sources")
    derived_from: Mapped[Source | None] = relationship(remote_side="Source.id")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Claim(Base):
    """A claim; `version` gives optimistic concurrency, one timestamp per stage reached."""

    __tablename__ = "claims"
    __table_args__ = (
        # The pipeline's claims per stage and time in stage read this index alone (migration 0007).
        Index(
            "ix_claims_stage_ageing",
            "stage",
            "case_id",
            "at_risk",
            "reported_at",
            "corroborated_at",
            "confirmed_at",
            "refuted_at",
            "created_at",
        ),
        # Only the few at-risk claims: a planner that cannot know how rare they are still uses it.
        partial_index("ix_claims_at_risk", "id", sqlite="at_risk = 1", postgresql="at_risk"),
        Index("ix_claims_assignee", "assignee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    statement: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(20), index=True)
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    assignee: Mapped[str | None] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    corroborated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    refuted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # What the last assessment judged: the claim's version and the policy version (migration 0005).
    # Written with a Core UPDATE, so stamping them does not bump `version` itself.
    assessed_version: Mapped[int | None] = mapped_column(Integer)
    assessed_policy: Mapped[str | None] = mapped_column(String(40))
    # Withdrawn (migration 0009): never deleted, still readable, no longer edited.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    withdrawn_by: Mapped[str | None] = mapped_column(String(80))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="claims")
    evidence: Mapped[list[Evidence]] = relationship(back_populates="claim", order_by="Evidence.id")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Evidence(Base):
    """One source speaking to one claim. Never deleted: retraction is a flag with who/when/why."""

    __tablename__ = "evidence"
    __table_args__ = (
        UniqueConstraint("claim_id", "fingerprint", name="uq_evidence_claim_fingerprint"),
        Index("ix_evidence_source_credibility", "source_id", "credibility"),  # grades in use (migration 0007)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    stance: Mapped[str] = mapped_column(String(12))
    credibility: Mapped[int] = mapped_column(SmallInteger)
    summary: Mapped[str] = mapped_column(Text)
    locator: Mapped[str | None] = mapped_column(Text)
    quote: Mapped[str | None] = mapped_column(Text)  # the source's own words (migration 0009)
    observed_at: Mapped[date | None] = mapped_column(Date)
    added_by: Mapped[str] = mapped_column(String(80))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
    fingerprint: Mapped[str] = mapped_column(String(64))
    retracted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    retracted_by: Mapped[str | None] = mapped_column(String(80))
    retracted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    retraction_reason: Mapped[str | None] = mapped_column(Text)
    # Sensitivity marking (migration 0016, claims.domain.markings): a level of the deployment's scale.
    marking: Mapped[str] = mapped_column(String(40), server_default="TLP:AMBER")
    caveat: Mapped[str | None] = mapped_column(String(200), default=None)

    claim: Mapped[Claim] = relationship(back_populates="evidence")
    source: Mapped[Source] = relationship()

    @property
    def grade(self) -> Grade:
        """The source's reliability with this item's credibility, e.g. `B2`."""
        return Grade(Reliability(self.source.reliability), Credibility(self.credibility))


class ReviewRequest(Base):
    """A proposed confirm/refute waiting for a second person's sign-off."""

    __tablename__ = "review_requests"
    __table_args__ = (
        # At most one pending request per claim, enforced by the database itself.
        partial_index(
            "uq_review_requests_one_pending",
            "claim_id",
            unique=True,
            sqlite=f"status = '{ReviewStatus.PENDING.value}'",
            postgresql=f"status = '{ReviewStatus.PENDING.value}'",
        ),
        Index("ix_review_requests_status_id", "status", "id"),  # the review queue (migration 0005)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), index=True)
    requested_by: Mapped[str] = mapped_column(String(80))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    policy_version: Mapped[str] = mapped_column(String(40))
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rationale: Mapped[str | None] = mapped_column(Text)

    claim: Mapped[Claim] = relationship()


class PolicyAction(Base):
    __tablename__ = "policy_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[int] = mapped_column(SmallInteger, default=1)
    version: Mapped[int] = mapped_column(Integer, server_default="1")  # migration 0009
    due_on: Mapped[date | None] = mapped_column(Date, default=None)  # migration 0013

    case: Mapped[Case] = relationship(back_populates="actions")
    requirements: Mapped[list[ActionRequirement]] = relationship(
        back_populates="action", order_by="ActionRequirement.id"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ActionRequirement(Base):
    __tablename__ = "action_requirements"
    __table_args__ = (UniqueConstraint("action_id", "claim_id", name="uq_action_requirements_action_claim"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("policy_actions.id"), index=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20))

    action: Mapped[PolicyAction] = relationship(back_populates="requirements")
    claim: Mapped[Claim] = relationship()


class CollectionTask(Base):
    """A need (claim, stage, criterion) as work for a person (migration 0013); never deleted.

    Open while the need stands; `closed` when evidence or a decision met it, `withdrawn` when the
    claim moved on or no action needs it any more. At most one open task per need.
    """

    __tablename__ = "collection_tasks"
    __table_args__ = (
        partial_index(
            "uq_collection_tasks_one_open", "key", unique=True, sqlite="status = 'open'", postgresql="status = 'open'"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    criterion: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    items: Mapped[int] = mapped_column(Integer)
    need: Mapped[str] = mapped_column(Text)
    stance: Mapped[str | None] = mapped_column(String(12))
    grade: Mapped[str | None] = mapped_column(String(2))
    independent_of: Mapped[list[str]] = mapped_column(JSON)
    not_by: Mapped[str | None] = mapped_column(String(80))
    actions: Mapped[list[str]] = mapped_column(JSON)
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), index=True)
    claim_stage: Mapped[str] = mapped_column(String(20))
    policy_version: Mapped[str] = mapped_column(String(40))
    assignee: Mapped[str | None] = mapped_column(String(80), index=True)
    assigned_by: Mapped[str | None] = mapped_column(String(80))
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    close_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    claim: Mapped[Claim] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TrustedKey(Base):
    """A public key whose signed case files may carry confirm/refute history (the instance's own is implicit)."""

    __tablename__ = "trusted_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str] = mapped_column(String(64))
    added_by: Mapped[str] = mapped_column(String(80))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Event(Base):
    """Append-only audit record, hash-chained: each row names the hash of the one before.

    `prev_hash` is unique, so two writers can never fork the chain; UPDATE and DELETE are
    refused by triggers made in the migration.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_kind_at", "kind", "at"),  # the pipeline's recent moves (migration 0007)
        # the moves of a window counted from the index alone, and the few dated ones (migration 0008)
        Index("ix_events_move_window", "kind", "at", "from_stage", "to_stage", "case_key"),
        partial_index(
            "ix_events_dated_payload",
            "kind",
            "at",
            sqlite="json_extract(payload, '$.at') IS NOT NULL",
            postgresql="(payload ->> 'at') IS NOT NULL",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    case_key: Mapped[str | None] = mapped_column(String(120), index=True)
    claim_key: Mapped[str | None] = mapped_column(String(120), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str | None] = mapped_column(String(20))
    rationale: Mapped[str | None] = mapped_column(Text)
    policy_version: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ClaimEmbedding(Base):
    """A claim statement's vector under one model; `statement_hash` says which text it is of (migration 0011)."""

    __tablename__ = "claim_embeddings"

    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), primary_key=True)
    model: Mapped[str] = mapped_column(String(80), primary_key=True)
    statement_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class ClaimLink(Base):
    """A claim marked a duplicate of, or related to, another claim (migration 0011)."""

    __tablename__ = "claim_links"
    __table_args__ = (
        UniqueConstraint("claim_id", "other_id", name="uq_claim_links_claim_other"),
        Index("ix_claim_links_other_id", "other_id"),
        partial_index(
            "ix_claim_links_one_survivor",
            "claim_id",
            unique=True,
            sqlite="kind = 'duplicate'",
            postgresql="kind = 'duplicate'",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"))
    other_id: Mapped[int] = mapped_column(ForeignKey("claims.id"))
    kind: Mapped[str] = mapped_column(String(20))
    rationale: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Report(Base):
    """A report stored whole (issue 17): the original bytes, the text extracted from them, their SHA-256."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("case_id", "sha256", name="uq_reports_case_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    published: Mapped[date | None] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(80))
    filename: Mapped[str | None] = mapped_column(Text)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    added_by: Mapped[str] = mapped_column(String(80))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Sensitivity marking (migration 0016, claims.domain.markings): a level of the deployment's scale.
    marking: Mapped[str] = mapped_column(String(40), server_default="TLP:AMBER")
    caveat: Mapped[str | None] = mapped_column(String(200), default=None)

    case: Mapped[Case] = relationship()
    accepted: Mapped[list[ReportSentence]] = relationship(back_populates="report", order_by="ReportSentence.id")


class ReportSentence(Base):
    """A sentence of a report an analyst accepted: its character span and the claim or evidence it became."""

    __tablename__ = "report_sentences"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"))
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id"))
    accepted_by: Mapped[str] = mapped_column(String(80))
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime())

    report: Mapped[Report] = relationship(back_populates="accepted")
    claim: Mapped[Claim | None] = relationship()


class Note(Base):
    """A note on a claim, an evidence item, a review (or a task): never deleted, withdrawn with a reason (issue 18).

    `target_ref` is the target's key (a claim) or id (the others) as text; `claim_key`/`case_key`
    say which claim and case it concerns, so a claim page lists the notes on its items too.
    """

    __tablename__ = "notes"
    __table_args__ = (
        Index("ix_notes_target", "target_kind", "target_ref"),
        Index("ix_notes_claim_key", "claim_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(20))
    target_ref: Mapped[str] = mapped_column(String(120))
    claim_key: Mapped[str | None] = mapped_column(String(120))
    case_key: Mapped[str | None] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("notes.id"))
    author: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    body: Mapped[str] = mapped_column(Text)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    withdrawn_by: Mapped[str | None] = mapped_column(String(80))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    # Sensitivity marking (migration 0016, claims.domain.markings): a level of the deployment's scale.
    marking: Mapped[str] = mapped_column(String(40), server_default="TLP:AMBER")
    caveat: Mapped[str | None] = mapped_column(String(200), default=None)


class Subscription(Base):
    """What one person wants to be told: a kind, and a scope ("action:KEY", "case:KEY" or "all")."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("person", "kind", "scope", name="uq_subscriptions_person_kind_scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(130))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Channel(Base):
    """Where a person is told besides the inbox: the NAME of a secret Apprise URL in settings, never the URL."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("person", "name", name="uq_channels_person_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(80))
    secret: Mapped[str] = mapped_column(String(80))
    digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Removed channels stay (their deliveries name them), renamed out of the way of a new one of that name.
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Notification(Base):
    """One notice to one person about one change: the inbox row and the outbox's source (UNIQUE per change)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("person", "kind", "change_key", name="uq_notifications_person_kind_change"),
        Index("ix_notifications_person_read", "person", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20))
    change_key: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[int | None] = mapped_column(Integer)
    case_key: Mapped[str | None] = mapped_column(String(120))
    claim_key: Mapped[str | None] = mapped_column(String(120))
    action_key: Mapped[str | None] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Delivery(Base):
    """One notification sent through one channel: attempts, back-off, the last error (for the admin)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel_id", name="uq_deliveries_notification_channel"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    notification: Mapped[Notification] = relationship()
    channel: Mapped[Channel] = relationship()


class NotifyCursor(Base):
    """How far the notifier has read the event log."""

    __tablename__ = "notify_cursor"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer)


class ReadinessState(Base):
    """The last readiness the notifier saw per policy action: a notice is a flip of it."""

    __tablename__ = "readiness_state"

    action_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    ready: Mapped[bool] = mapped_column(Boolean)
    gaps: Mapped[list[str]] = mapped_column(JSON)
    event_id: Mapped[int] = mapped_column(Integer)
