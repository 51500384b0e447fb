"""Repositories: the only code that builds queries for the write side."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from claims.domain.events import STAGE_EVENTS
from claims.domain.names import fold_name
from claims.domain.stages import ReviewStatus, Stage
from claims.store.bulk import BulkInsert, executemany
from claims.store.events import ChainReport, verify_chain
from claims.store.models import (
    ActionRequirement,
    Case,
    Claim,
    CollectionTask,
    Event,
    Evidence,
    PolicyAction,
    ReviewRequest,
    Source,
    User,
)
from claims.store.reach import Reach
from claims.store.types import UtcDateTime

KEY_SLICE = 500  # keys bound per statement (selectinload uses the same size for its IN lists)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _member_of(session: Session, column: ColumnElement[Any], values: Sequence[Any]) -> Iterator[ColumnElement[bool]]:
    """`column IN values` as one bound parameter, so the statement text never changes whatever
    the number of values: on PostgreSQL `= ANY(array)` (psycopg prepares it once), on SQLite
    `IN (SELECT value FROM json_each(:members))` (a JSON array; the planner still searches the
    column's index once per value). Expanded IN lists cost SQLAlchemy a compile per slice."""
    if not values:
        return  # nothing to match: no statement at all (an empty array would not even type-check)
    if _is_pg(session):
        from sqlalchemy.dialects.postgresql import ARRAY  # here: 80 ms to import, and only PostgreSQL needs it

        element = Integer() if isinstance(values[0], int) else String()
        yield column == any_(bindparam("members", list(values), type_=ARRAY(element)))
        return
    members = func.json_each(bindparam("members", json.dumps(list(values)), type_=String())).table_valued("value")
    yield column.in_(select(members.c.value))


def _storable_id(value: int) -> bool:
    """An id no row can have (beyond 64 bits, or not positive) is simply unknown, not a driver overflow."""
    return 0 < value < 2**63


class ClaimRow(NamedTuple):
    """A new claim for the import, its fields the `claims` columns it fills (no ORM object): the stage
    its replayed history reached, with that history's times, and its withdrawal if it came withdrawn."""

    case_id: int
    key: str
    statement: str
    stage: str
    at_risk: bool
    assignee: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    reported_at: datetime
    corroborated_at: datetime | None = None
    confirmed_at: datetime | None = None
    refuted_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None
    withdrawal_reason: str | None = None


class EvidenceRow(NamedTuple):
    """A new evidence item for the import, its fields the `evidence` columns it fills."""

    claim_id: int
    source_id: int
    stance: str
    credibility: int
    summary: str
    locator: str | None
    observed_at: date | None
    added_by: str
    added_at: datetime
    fingerprint: str
    retracted: bool
    retracted_by: str | None
    retracted_at: datetime | None
    retraction_reason: str | None
    marking: str  # need to know (issue 20): its own marking, the case's when the file gives none
    caveat: str | None


class ReviewRow(NamedTuple):
    """A review request an import writes (a vouched-for file's, or one waiting for a reviewer here),
    its fields the `review_requests` columns it fills."""

    claim_id: int
    from_stage: str
    to_stage: str
    status: str
    requested_by: str
    requested_at: datetime
    reason: str | None
    policy_version: str
    decided_by: str | None
    decided_at: datetime | None
    rationale: str | None


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._bulk: BulkInsert | None = None

    def add(self, obj: object) -> None:
        self.session.add(obj)

    def _insert_rows(self, table: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Many new rows at once, bypassing the ORM (bulk import); tuples in `columns` order."""
        if self._bulk is None:
            self._bulk = BulkInsert(self.session, table, columns)
        return self._bulk(rows)


class UserRepository(Repository):
    def get(self, name: str) -> User | None:
        """By folded name (migration 0012 keeps folded names unique); older rows may hold capitals."""
        return self.session.scalar(select(User).where(func.lower(User.name) == fold_name(name)))

    def list(self) -> Sequence[User]:
        return self.session.scalars(select(User).order_by(User.name)).all()

    def count(self) -> int:
        return len(self.list())


class CaseRepository(Repository):
    def get(self, key: str) -> Case | None:
        return self.session.scalar(select(Case).where(Case.key == key))

    def list(self) -> Sequence[Case]:
        return self.session.scalars(select(Case).order_by(Case.key)).all()

    def key_of(self, case_id: int) -> str | None:
        return self.session.scalar(select(Case.key).where(Case.id == case_id))


class SourceRepository(Repository):
    def for_case(self, case_id: int) -> Sequence[Source]:
        return self.session.scalars(select(Source).where(Source.case_id == case_id).order_by(Source.id)).all()

    def for_cases(self, case_ids: Iterable[int]) -> Sequence[Source]:
        return self.session.scalars(select(Source).where(Source.case_id.in_(list(case_ids))).order_by(Source.id)).all()

    def get(self, case_id: int, key: str) -> Source | None:
        return self.session.scalar(select(Source).where(Source.case_id == case_id, Source.key == key))

    def lineage_rows(self, case_ids: Iterable[int]) -> Sequence[Row[Any]]:
        """(id, case_id, key, derived_from_id, name, reliability) of the cases' sources, without ORM objects."""
        return (
            self.session.connection()
            .execute(
                select(Source.id, Source.case_id, Source.key, Source.derived_from_id, Source.name, Source.reliability)
                .where(Source.case_id.in_(sorted(set(case_ids))))
                .order_by(Source.id)
            )
            .all()
        )

    def for_cases_of(self, claim_ids: Select[tuple[int]]) -> Sequence[Source]:
        """The sources of every case holding one of the claims `claim_ids` selects (a subquery, never a list)."""
        cases = select(Claim.case_id).where(Claim.id.in_(claim_ids))
        return self.session.scalars(select(Source).where(Source.case_id.in_(cases)).order_by(Source.id)).all()


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

    def _apply_judgements_pg(self, changed: list[dict[str, object]], seen: list[dict[str, object]]) -> int:
        """PostgreSQL: each UPDATE is one statement over unnested arrays (one round trip, not one per row)."""
        conn = self.session.connection()
        count = 0
        if changed:
            cols = {name: [r[name] for r in changed] for name in changed[0]}
            count = conn.execute(_PG_APPLY_CHANGED, cols).rowcount
        if seen:
            conn.execute(
                _PG_APPLY_SEEN,
                {"cid": [r["cid"] for r in seen], "seen": [r["seen"] for r in seen], "policy": seen[0]["policy"]},
            )
        return count

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

    @staticmethod
    def ids_in_case(case_id: int, keys: Iterable[str]) -> Select[tuple[int]]:
        """The ids of these claims of one case, as a subquery (for keys a person typed: a handful)."""
        return select(Claim.id).where(Claim.case_id == case_id, Claim.key.in_(sorted(set(keys))))

    def matching(self, claim_ids: Select[tuple[int]]) -> Sequence[Claim]:
        """The claims `claim_ids` selects, with evidence and sources, in id order: one statement.

        The set is a subquery and the evidence comes by join, so no statement binds a value per
        claim (selectinload would bind the loaded ids, 500 at a time).
        """
        stmt = (
            select(Claim)
            .where(Claim.id.in_(claim_ids))
            .options(joinedload(Claim.evidence).joinedload(Evidence.source))
            .order_by(Claim.id)
        )
        return self.session.scalars(stmt).unique().all()

    def heads(self, keys: Iterable[str]) -> list[Row[Any]]:
        """(id, key, stage, at_risk, version, case_id, case key, assessed_version, assessed_policy)
        of each claim, in id order.

        Plain rows for the batch assessment: building ORM objects for every claim and item was
        a third of its time. Keys are bound as one parameter (`_member_of`).
        """
        wanted = list(dict.fromkeys(keys))
        found: list[Row[Any]] = []
        for member in _member_of(self.session, Claim.key, wanted):
            found += (
                self.session.connection()
                .execute(
                    select(
                        Claim.id,
                        Claim.key,
                        Claim.stage,
                        Claim.at_risk,
                        Claim.version,
                        Claim.case_id,
                        Case.key,
                        Claim.assessed_version,
                        Claim.assessed_policy,
                    )
                    .join(Case, Case.id == Claim.case_id)
                    .where(member)
                )
                .all()
            )
        return sorted(found, key=lambda r: r[0])

    def apply_judgements(self, changed: list[dict[str, object]], seen: list[dict[str, object]]) -> int:
        """Write a batch assessment's results with two executemany UPDATEs; the rows changed.

        `changed` rows (cid, seen, stage, at_risk, now, reported_at, corroborated_at, policy) bump
        the version once, as any change to the aggregate does, and are stamped as judged at the
        new version; each matches only the version the assessment read, so the count tells a
        lost race. `seen` rows (cid, seen, policy) are only stamped as judged.
        """
        if _is_pg(self.session):
            return self._apply_judgements_pg(changed, seen)
        table = Claim.__table__
        count = 0
        if changed:
            count = executemany(
                self.session,
                update(table)
                .where(table.c.id == bindparam("cid"), table.c.version == bindparam("seen"))
                .values(
                    stage=bindparam("stage"),
                    at_risk=bindparam("at_risk"),
                    updated_at=bindparam("now"),
                    reported_at=func.coalesce(bindparam("reported_at", type_=UtcDateTime()), table.c.reported_at),
                    corroborated_at=func.coalesce(
                        bindparam("corroborated_at", type_=UtcDateTime()), table.c.corroborated_at
                    ),
                    version=table.c.version + 1,
                    assessed_version=table.c.version + 1,
                    assessed_policy=bindparam("policy"),
                ),
                changed,
            )
        executemany(
            self.session,
            update(table)
            .where(table.c.id == bindparam("cid"))
            .values(assessed_version=bindparam("seen"), assessed_policy=bindparam("policy")),
            seen,
        )
        return count

    def in_case(self, case_id: int, keys: Iterable[str]) -> Sequence[Claim]:
        """The case's claims among `keys` (bound in slices of KEY_SLICE)."""
        wanted = sorted(set(keys))
        found: list[Claim] = []
        for i in range(0, len(wanted), KEY_SLICE):
            found += self.session.scalars(
                select(Claim).where(Claim.case_id == case_id, Claim.key.in_(wanted[i : i + KEY_SLICE]))
            ).all()
        return found

    # Import: plain rows, no ORM objects (claims.services.intake.write_rows).
    BULK_COLUMNS = ClaimRow._fields

    def insert_rows(self, rows: Sequence[ClaimRow]) -> int:
        """New claims as typed rows; read their ids back with `ids_and_cases`."""
        return self._insert_rows(Claim.__table__, self.BULK_COLUMNS, rows)

    def ids_and_cases(self, keys: Sequence[str]) -> dict[str, tuple[int, int]]:
        """key -> (id, case id) of the claims among `keys`, in any case."""
        table = Claim.__table__
        rows = self.session.execute(select(table.c.key, table.c.id, table.c.case_id).where(table.c.key.in_(keys)))
        return {key: (claim_id, case_id) for key, claim_id, case_id in rows}

    def bump_versions(self, claim_ids: Iterable[int], at: datetime) -> None:
        """A new version for each claim whose aggregate changed without the ORM (evidence added in bulk)."""
        rows = [{"cid": cid, "at": at} for cid in sorted(claim_ids)]
        if rows:
            table = Claim.__table__
            self.session.execute(
                update(table)
                .where(table.c.id == bindparam("cid"))
                .values(version=table.c.version + 1, updated_at=bindparam("at")),
                rows,
            )


_PG_APPLY_CHANGED = text(
    """
    UPDATE claims AS c SET
        stage = v.stage, at_risk = v.at_risk, updated_at = v.now,
        reported_at = coalesce(v.reported_at, c.reported_at),
        corroborated_at = coalesce(v.corroborated_at, c.corroborated_at),
        version = c.version + 1, assessed_version = c.version + 1, assessed_policy = v.policy
    FROM unnest(
        CAST(:cid AS integer[]), CAST(:seen AS integer[]), CAST(:stage AS varchar[]), CAST(:at_risk AS boolean[]),
        CAST(:now AS timestamptz[]), CAST(:reported_at AS timestamptz[]), CAST(:corroborated_at AS timestamptz[]),
        CAST(:policy AS varchar[])
    ) AS v(cid, seen, stage, at_risk, now, reported_at, corroborated_at, policy)
    WHERE c.id = v.cid AND c.version = v.seen
    """
)
_PG_APPLY_SEEN = text(
    """
    UPDATE claims AS c SET assessed_version = v.seen, assessed_policy = :policy
    FROM unnest(CAST(:cid AS integer[]), CAST(:seen AS integer[])) AS v(cid, seen)
    WHERE c.id = v.cid
    """
)


class EvidenceRepository(Repository):
    def get(self, evidence_id: int) -> Evidence | None:
        return self.session.get(Evidence, evidence_id) if _storable_id(evidence_id) else None

    def fact_rows(self, claim_ids: Sequence[int]) -> list[Row[tuple[int, int, str, int, bool]]]:
        """(claim_id, source_id, stance, credibility, retracted) of every item on the claims, in id
        order. No join: a case has few sources, read once (`SourceRepository.lineage_rows`)."""
        out: list[Row[tuple[int, int, str, int, bool]]] = []
        for member in _member_of(self.session, Evidence.claim_id, claim_ids):
            out += (
                self.session.connection()
                .execute(
                    select(
                        Evidence.claim_id,
                        Evidence.source_id,
                        Evidence.stance,
                        Evidence.credibility,
                        Evidence.retracted,
                    )
                    .where(member)
                    .order_by(Evidence.id)
                )
                .all()
            )
        return out

    # Import: plain rows, no ORM objects (claims.services.intake.write_rows).
    BULK_COLUMNS = EvidenceRow._fields

    def insert_rows(self, rows: Sequence[EvidenceRow]) -> int:
        """New items as typed rows; read their ids back with `ids_by_fingerprint`."""
        return self._insert_rows(Evidence.__table__, self.BULK_COLUMNS, rows)

    def ids_by_fingerprint(self, claim_ids: Sequence[int]) -> dict[tuple[int, str], int]:
        """(claim id, fingerprint) -> id of every item on these claims (a claim's fingerprints are unique)."""
        table = Evidence.__table__
        rows = self.session.execute(
            select(table.c.claim_id, table.c.fingerprint, table.c.id).where(table.c.claim_id.in_(claim_ids))
        )
        return {(claim_id, fp): evidence_id for claim_id, fp, evidence_id in rows}


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

    def pending_rows(self, claim_ids: Sequence[int]) -> dict[int, Row[tuple[int, int, str, str, str]]]:
        """claim id -> (id, claim_id, from_stage, to_stage, requested_by) of its pending request."""
        out: dict[int, Row[tuple[int, int, str, str, str]]] = {}
        for member in _member_of(self.session, ReviewRequest.claim_id, claim_ids):
            for row in self.session.connection().execute(
                select(
                    ReviewRequest.id,
                    ReviewRequest.claim_id,
                    ReviewRequest.from_stage,
                    ReviewRequest.to_stage,
                    ReviewRequest.requested_by,
                ).where(member, ReviewRequest.status == ReviewStatus.PENDING)
            ):
                out[row.claim_id] = row
        return out

    def insert_rows(self, rows: Sequence[ReviewRow]) -> list[int]:
        """An import's review requests as typed rows (a handful: a vouched-for history's); their ids, in order."""
        if not rows:
            return []
        table = ReviewRequest.__table__
        result = self.session.connection().execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), [row._asdict() for row in rows]
        )
        return list(result.scalars())

    def open_many(self, rows: list[dict[str, object]]) -> list[int]:
        """Insert pending review requests with one executemany; their ids, in the rows' order."""
        if not rows:
            return []
        table = ReviewRequest.__table__
        result = self.session.connection().execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        )
        return list(result.scalars())

    def withdraw_many(self, rows: list[dict[str, object]]) -> int:
        """Withdraw pending requests (rid, by, at, rationale); the number that were still pending."""
        if not rows:
            return 0
        table = ReviewRequest.__table__
        return (
            self.session.connection()
            .execute(
                update(table)
                .where(table.c.id == bindparam("rid"), table.c.status == ReviewStatus.PENDING.value)
                .values(
                    status=ReviewStatus.WITHDRAWN.value,
                    decided_by=bindparam("by"),
                    decided_at=bindparam("at"),
                    rationale=bindparam("rationale"),
                ),
                rows,
            )
            .rowcount
        )

    def pending_where(self, claim_ids: Select[tuple[int]]) -> dict[int, ReviewRequest]:
        """Pending requests of the claims `claim_ids` selects (a subquery), by claim id."""
        rows = self.session.scalars(
            select(ReviewRequest).where(
                ReviewRequest.claim_id.in_(claim_ids), ReviewRequest.status == ReviewStatus.PENDING
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
        reach: Reach,
    ) -> tuple[int, Sequence[tuple[ReviewRequest, int]]]:
        """(true total, one page of (request, actions its claim gates)), ordered by impact.

        Only requests on claims `reach` reads (their case seen and its marking allowed, issue 20).

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
        where = [
            ReviewRequest.claim_id.in_(
                select(Claim.id)
                .join(Case, Case.id == Claim.case_id)
                .where(reach.cases(Claim.case_id), reach.marked(Case.marking))
            )
        ]
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

    def requirement_rows(self, case_key: str | None = None, *, reach: Reach) -> list[tuple[str, str, str, str]]:
        """(action key, title, claim key, required stage) for every requirement, in the order `list` gives.

        One joined statement; actions without requirements come with claim and stage None. Only the
        actions of cases `reach` reads (issue 20).
        """
        stmt = (
            select(PolicyAction.key, PolicyAction.title, Claim.key, ActionRequirement.stage)
            .join(Case, Case.id == PolicyAction.case_id)
            .outerjoin(ActionRequirement, ActionRequirement.action_id == PolicyAction.id)
            .outerjoin(Claim, Claim.id == ActionRequirement.claim_id)
            .where(reach.cases(PolicyAction.case_id), reach.marked(Case.marking))
            .order_by(PolicyAction.case_id, PolicyAction.severity, PolicyAction.id, ActionRequirement.id)
        )
        if case_key:
            stmt = stmt.where(Case.key == case_key)
        return [tuple(row) for row in self.session.execute(stmt)]  # type: ignore[misc]

    @staticmethod
    def required_claims(case_key: str | None = None, *, reach: Reach) -> Select[tuple[int]]:
        """The ids of the claims some action (of this case, of the cases `reach` reads) requires, as a subquery."""
        stmt = (
            select(ActionRequirement.claim_id)
            .join(PolicyAction, PolicyAction.id == ActionRequirement.action_id)
            .join(Case, Case.id == PolicyAction.case_id)
            .where(reach.cases(PolicyAction.case_id), reach.marked(Case.marking))
        )
        if case_key:
            stmt = stmt.where(Case.key == case_key)
        return stmt


class TaskRepository(Repository):
    """Collection tasks (issue 18): the needs planned from the gaps, open or kept after they end."""

    def get(self, task_id: int) -> CollectionTask | None:
        return self.session.get(CollectionTask, task_id)

    def gate_rows(self, claim_keys: Iterable[str] | None = None) -> list[tuple[str, str, str, date | None]]:
        """(action key, required claim key, stage, due date) of every requirement, or of those on `claim_keys`."""
        stmt = (
            select(PolicyAction.key, Claim.key, ActionRequirement.stage, PolicyAction.due_on)
            .join(ActionRequirement, ActionRequirement.action_id == PolicyAction.id)
            .join(Claim, Claim.id == ActionRequirement.claim_id)
            .order_by(PolicyAction.id, ActionRequirement.id)
        )
        if claim_keys is None:
            return [tuple(r) for r in self.session.execute(stmt)]  # type: ignore[misc]
        wanted = sorted(set(claim_keys))
        rows: list[tuple[str, str, str, date | None]] = []
        for i in range(0, len(wanted), KEY_SLICE):
            rows += [tuple(r) for r in self.session.execute(stmt.where(Claim.key.in_(wanted[i : i + KEY_SLICE])))]  # type: ignore[misc]
        return rows

    def open_for(self, claim_keys: Iterable[str] | None = None) -> list[CollectionTask]:
        """Open tasks of these claims (all open tasks when None), with their claims."""
        stmt = (
            select(CollectionTask)
            .join(Claim, Claim.id == CollectionTask.claim_id)
            .where(CollectionTask.status == "open")
            .options(selectinload(CollectionTask.claim).selectinload(Claim.case))
            .order_by(CollectionTask.id)
        )
        if claim_keys is None:
            return list(self.session.scalars(stmt))
        wanted = sorted(set(claim_keys))
        found: list[CollectionTask] = []
        for i in range(0, len(wanted), KEY_SLICE):
            found += self.session.scalars(stmt.where(Claim.key.in_(wanted[i : i + KEY_SLICE])))
        return found

    def listing(self, status: str | None, case_key: str | None = None, *, reach: Reach) -> list[CollectionTask]:
        """Tasks on the claims `reach` reads (issue 20), of one status (None: all) and case."""
        stmt = (
            select(CollectionTask)
            .options(selectinload(CollectionTask.claim).selectinload(Claim.case))
            .where(
                CollectionTask.claim_id.in_(
                    select(Claim.id)
                    .join(Case, Case.id == Claim.case_id)
                    .where(reach.cases(Claim.case_id), reach.marked(Case.marking))
                )
            )
        )
        if status is not None:
            stmt = stmt.where(CollectionTask.status == status)
        if case_key:
            stmt = stmt.join(Claim, Claim.id == CollectionTask.claim_id).join(Case).where(Case.key == case_key)
        return list(self.session.scalars(stmt.order_by(CollectionTask.id)))


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
