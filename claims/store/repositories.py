"""Repositories: the only code that builds queries for the write side."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from claims.domain.events import STAGE_EVENTS
from claims.domain.stages import ReviewStatus, Stage
from claims.store.events import ChainReport, verify_chain
from claims.store.models import (
    ActionRequirement,
    Case,
    Claim,
    Event,
    Evidence,
    PolicyAction,
    ReviewRequest,
    Source,
    User,
)

KEY_SLICE = 500  # keys bound per statement (selectinload uses the same size for its IN lists)


def _storable_id(value: int) -> bool:
    """An id no row can have (beyond 64 bits, or not positive) is simply unknown, not a driver overflow."""
    return 0 < value < 2**63


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, obj: object) -> None:
        self.session.add(obj)


class UserRepository(Repository):
    def get(self, name: str) -> User | None:
        return self.session.scalar(select(User).where(User.name == name))

    def list(self) -> Sequence[User]:
        return self.session.scalars(select(User).order_by(User.name)).all()

    def count(self) -> int:
        return len(self.list())


class CaseRepository(Repository):
    def get(self, key: str) -> Case | None:
        return self.session.scalar(select(Case).where(Case.key == key))

    def list(self) -> Sequence[Case]:
        return self.session.scalars(select(Case).order_by(Case.key)).all()


class SourceRepository(Repository):
    def for_case(self, case_id: int) -> Sequence[Source]:
        return self.session.scalars(select(Source).where(Source.case_id == case_id).order_by(Source.id)).all()

    def for_cases(self, case_ids: Iterable[int]) -> Sequence[Source]:
        return self.session.scalars(select(Source).where(Source.case_id.in_(list(case_ids))).order_by(Source.id)).all()

    def get(self, case_id: int, key: str) -> Source | None:
        return self.session.scalar(select(Source).where(Source.case_id == case_id, Source.key == key))


class ClaimRepository(Repository):
    def get(self, key: str) -> Claim | None:
        return self.session.scalar(
            select(Claim)
            .where(Claim.key == key)
            .options(selectinload(Claim.evidence).selectinload(Evidence.source), selectinload(Claim.case))
        )

    def keys(self, *, open_only: bool = False, case_key: str | None = None) -> list[str]:
        stmt = select(Claim.key).order_by(Claim.id)
        if open_only:
            stmt = stmt.where(Claim.stage.in_([s.value for s in Stage if not s.is_final]))
        if case_key:
            stmt = stmt.join(Case).where(Case.key == case_key)
        return list(self.session.scalars(stmt))

    def stale_keys(self, policy_version: str, *, case_key: str | None = None) -> list[str]:
        """Keys of claims changed since their last assessment, or last judged under another policy.

        Every change to a claim's aggregate bumps its `version` (evidence added or retracted, a
        move, a review opened or decided), so one comparison on the claims table finds them.
        """
        stmt = (
            select(Claim.key)
            .where(
                or_(
                    Claim.assessed_version.is_(None),
                    Claim.assessed_version != Claim.version,
                    Claim.assessed_policy.is_(None),
                    Claim.assessed_policy != policy_version,
                )
            )
            .order_by(Claim.id)
        )
        if case_key:
            stmt = stmt.join(Case).where(Case.key == case_key)
        return list(self.session.scalars(stmt))

    def mark_assessed(self, claims: Iterable[Claim], policy_version: str) -> None:
        """Record the version each claim was judged at (call after the flush that wrote its changes).

        A Core UPDATE, one executemany: the ORM would bump `version` for this bookkeeping too.
        Stamping the version the assessment saw (not `version` in SQL) keeps a change committed
        meanwhile by someone else visible to the next run.
        """
        rows = [{"cid": c.id, "v": c.version, "p": policy_version} for c in claims]
        if rows:
            table = Claim.__table__
            self.session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("cid"))
                .values(assessed_version=bindparam("v"), assessed_policy=bindparam("p")),
                rows,
            )

    def many(self, keys: Iterable[str]) -> Sequence[Claim]:
        """Claims with their evidence and sources, in id order: three queries per 500 keys.

        The keys are bound in slices, so no statement grows with the caller's list (PostgreSQL
        refuses more than 65,535 parameters; a what-if once bound every key of a 100k case).
        """
        wanted = list(dict.fromkeys(keys))
        found: list[Claim] = []
        for i in range(0, len(wanted), KEY_SLICE):
            found += self.session.scalars(
                select(Claim)
                .where(Claim.key.in_(wanted[i : i + KEY_SLICE]))
                .options(selectinload(Claim.evidence).selectinload(Evidence.source), selectinload(Claim.case))
            ).all()
        return sorted(found, key=lambda c: c.id)

    def for_case(self, case_id: int) -> Sequence[Claim]:
        return self.session.scalars(select(Claim).where(Claim.case_id == case_id).order_by(Claim.id)).all()


class EvidenceRepository(Repository):
    def get(self, evidence_id: int) -> Evidence | None:
        return self.session.get(Evidence, evidence_id) if _storable_id(evidence_id) else None


class ReviewRepository(Repository):
    def get(self, review_id: int) -> ReviewRequest | None:
        return self.session.get(ReviewRequest, review_id) if _storable_id(review_id) else None

    def pending_for(self, claim_id: int) -> ReviewRequest | None:
        return self.session.scalar(
            select(ReviewRequest).where(
                ReviewRequest.claim_id == claim_id, ReviewRequest.status == ReviewStatus.PENDING
            )
        )

    def pending_for_claims(self, claim_ids: Iterable[int]) -> dict[int, ReviewRequest]:
        rows = self.session.scalars(
            select(ReviewRequest).where(
                ReviewRequest.claim_id.in_(list(claim_ids)), ReviewRequest.status == ReviewStatus.PENDING
            )
        )
        return {r.claim_id: r for r in rows}

    def list(self, status: str | None = ReviewStatus.PENDING) -> Sequence[ReviewRequest]:
        stmt = select(ReviewRequest).options(selectinload(ReviewRequest.claim)).order_by(ReviewRequest.id)
        if status:
            stmt = stmt.where(ReviewRequest.status == status)
        return self.session.scalars(stmt).all()

    def queue(
        self,
        status: str | None = ReviewStatus.PENDING,
        *,
        case_key: str | None = None,
        action_key: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[int, Sequence[tuple[ReviewRequest, int]]]:
        """(true total, one page of (request, actions its claim gates)), ordered by impact.

        Impact: requests whose claim gates the most policy actions first, then the oldest, then by
        id. Filtered, counted, ordered and cut in SQL; only the page's rows (and their claims and
        cases) are loaded, so the cost follows the page, not the length of the queue.
        """
        # Gate counts from the (small) requirements table, aggregated once and joined: a correlated
        # count per request made PostgreSQL scan the requirements once for each pending request.
        per_claim = (
            select(ActionRequirement.claim_id, func.count(ActionRequirement.id).label("n"))
            .group_by(ActionRequirement.claim_id)
            .subquery()
        )
        gates = func.coalesce(per_claim.c.n, 0)
        where = []
        if status:
            where.append(ReviewRequest.status == status)
        if case_key:
            where.append(
                ReviewRequest.claim_id.in_(
                    select(Claim.id).join(Case, Case.id == Claim.case_id).where(Case.key == case_key)
                )
            )
        if action_key:
            where.append(
                ReviewRequest.claim_id.in_(
                    select(ActionRequirement.claim_id)
                    .join(PolicyAction, PolicyAction.id == ActionRequirement.action_id)
                    .where(PolicyAction.key == action_key)
                )
            )
        total = int(self.session.scalar(select(func.count(ReviewRequest.id)).where(*where)) or 0)
        stmt = (
            select(ReviewRequest, gates.label("gates"))
            .outerjoin(per_claim, per_claim.c.claim_id == ReviewRequest.claim_id)
            .where(*where)
            .options(selectinload(ReviewRequest.claim).selectinload(Claim.case))
            .order_by(gates.desc(), ReviewRequest.requested_at, ReviewRequest.id)
            .offset(max(0, offset))
        )
        if limit is not None:
            stmt = stmt.limit(max(0, limit))
        return total, [(r, int(n)) for r, n in self.session.execute(stmt).all()]

    def for_claim(self, claim_id: int) -> Sequence[ReviewRequest]:
        return self.session.scalars(
            select(ReviewRequest).where(ReviewRequest.claim_id == claim_id).order_by(ReviewRequest.id)
        ).all()

    def for_case(self, case_id: int) -> Sequence[ReviewRequest]:
        return self.session.scalars(
            select(ReviewRequest)
            .join(Claim, Claim.id == ReviewRequest.claim_id)
            .where(Claim.case_id == case_id)
            .order_by(ReviewRequest.id)
        ).all()


class ActionRepository(Repository):
    def get(self, key: str) -> PolicyAction | None:
        return self.session.scalar(select(PolicyAction).where(PolicyAction.key == key))

    def list(self, case_key: str | None = None) -> Sequence[PolicyAction]:
        stmt = (
            select(PolicyAction)
            .options(selectinload(PolicyAction.requirements).selectinload(ActionRequirement.claim))
            .order_by(PolicyAction.case_id, PolicyAction.severity, PolicyAction.id)
        )
        if case_key:
            stmt = stmt.join(Case).where(Case.key == case_key)
        return self.session.scalars(stmt).all()


class HistoryRepository(Repository):
    """Reads of the audit log for the use cases; appending is the EventLog's job alone."""

    def verify(self) -> ChainReport:
        """Walk the whole hash chain (see `verify_chain`)."""
        return verify_chain(self.session)

    def stage_events(self, case_key: str) -> Sequence[Event]:
        """Every event that put a claim of the case into a stage, oldest first."""
        return self.session.scalars(
            select(Event)
            .where(
                Event.case_key == case_key,
                Event.to_stage.is_not(None),
                Event.kind.in_([k.value for k in STAGE_EVENTS]),
            )
            .order_by(Event.id)
        ).all()

    def for_claim(self, claim_key: str) -> Sequence[Event]:
        return self.session.scalars(select(Event).where(Event.claim_key == claim_key).order_by(Event.id)).all()
