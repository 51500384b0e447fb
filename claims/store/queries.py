"""Read-side queries for the CLI list and the dashboard: aggregates computed in SQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import exists, func, literal, or_, select, text, true, union_all
from sqlalchemy.orm import Session, aliased

from claims.domain.events import STAGE_EVENTS, EventKind
from claims.domain.grades import Credibility
from claims.domain.stages import ReviewStatus, Stage, Stance
from claims.store.db import session_factory
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
from claims.store.reach import Reach
from claims.store.types import to_utc

# --- dashboard read side -----------------------------------------------------------------
# Every function below returns plain dicts built from one or two aggregate queries; none of
# them loads a whole table to aggregate it in Python or pandas.

STAGES = tuple(s.value for s in Stage)
AGE_BUCKETS = ("under 7 days", "7-30 days", "30-90 days", "over 90 days")
MOVE_KINDS = tuple(k.value for k in STAGE_EVENTS)
PAGE_CHUNK = 1000  # claims per statement when the claims table is read in runs

# The claims table (`claims list`, the dashboard's claims page) reads the tables themselves, not
# the mapped classes: a statement naming a mapped class makes SQLAlchemy configure every mapper
# first (50 ms of each `claims list`), and these rows are plain tuples anyway.
_claims, _cases, _evidence, _sources, _reviews = (m.__table__ for m in (Claim, Case, Evidence, Source, ReviewRequest))


def _now(now: datetime | None) -> datetime:
    return to_utc(now or datetime.now(UTC))  # type: ignore[return-value]


def _as_datetime(value: Any) -> datetime | None:
    """A timestamp from an aggregate: SQLite may hand the stored text back unconverted."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _entered_current_stage() -> Any:
    """When the claim entered the stage it is in now (the stage's own timestamp)."""
    return func.coalesce(
        when(*((_claims.c.stage == s.value, _claims.c[f"{s.value}_at"]) for s in Stage)),
        _claims.c.created_at,
    )


def data_version(url: str) -> int:
    """The id of the newest audit event. Every change writes one, so this is a cheap cache key."""
    with session_factory(url)() as session:
        return int(session.scalar(select(func.max(Event.id))) or 0)


def seen_cases(reach: Reach) -> Any:
    """The ids of the cases `reach` reads (seen, and marked within their clearance), as a subquery."""
    return select(Case.id).where(reach.cases(Case.id), reach.marked(Case.marking))


def _seen_claim(reach: Reach) -> Any:
    """WHERE clause on Claim: its case is one `reach` reads."""
    return Claim.case_id.in_(seen_cases(reach))


def case_rows(url: str, *, reach: Reach) -> list[dict[str, Any]]:
    """Every case `reach` reads with its number of claims."""
    stmt = (
        select(Case.key, Case.title, func.count(Claim.id).label("claims"))
        .outerjoin(Claim, Claim.case_id == Case.id)
        .where(reach.cases(Case.id), reach.marked(Case.marking))
        .group_by(Case.id)
        .order_by(Case.key)
    )
    with session_factory(url)() as session:
        return [dict(row._mapping) for row in session.execute(stmt)]


def user_rows(url: str) -> list[dict[str, Any]]:
    """Users and roles, for the acting-user picker."""
    with session_factory(url)() as session:
        return [dict(row._mapping) for row in session.execute(select(User.name, User.role).order_by(User.name))]


def stage_counts(url: str, case: str | None = None, *, reach: Reach) -> list[dict[str, Any]]:
    """Claims per stage (every stage listed, zero included) and how many of them are at risk."""
    stmt = (
        select(
            Claim.stage,
            func.count(Claim.id).label("claims"),
            func.count(when((Claim.at_risk.is_(True), Claim.id))).label("at_risk"),
        )
        .where(_seen_claim(reach))
        .group_by(Claim.stage)
    )
    if case:
        stmt = stmt.join(Case, Case.id == Claim.case_id).where(Case.key == case)
    with session_factory(url)() as session:
        found = {row.stage: row for row in session.execute(stmt)}
    return [
        {"stage": s, "claims": found[s].claims if s in found else 0, "at_risk": found[s].at_risk if s in found else 0}
        for s in STAGES
    ]


# The condition of migration 0008's partial index, word for word (SQLite uses a partial index only
# when the query repeats its condition): an event whose payload carries its original date.
DATED_PAYLOAD = {
    "sqlite": "json_extract(payload, '$.at') IS NOT NULL",
    "postgresql": "(payload ->> 'at') IS NOT NULL",
}


def movements(url: str, case: str | None = None, *, reach: Reach, now: datetime | None = None) -> list[dict[str, Any]]:
    """Stage changes (and newly reported claims) in the last 7 and 30 days, from the event log.

    Imported history carries its original date in the payload (`at`); such a move counts on
    that date, not on the day it was imported. Two index reads: the window's moves per (from,
    to) from a covering index, less those whose original date is earlier, from a partial index
    of the few dated events (migration 0008); no event row is read for its payload otherwise.
    """
    now = _now(now)
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    effective = Event.payload["at"].as_string()
    counted = (
        select(
            Event.from_stage,
            Event.to_stage,
            func.count(when((Event.at >= week, Event.id))).label("week"),
            func.count().label("month"),
        )
        .where(Event.kind.in_(MOVE_KINDS), Event.at >= month)
        .group_by(Event.from_stage, Event.to_stage)
    )
    with session_factory(url)() as session:
        dated = (
            select(
                Event.from_stage,
                Event.to_stage,
                func.count(when(((Event.at >= week) & (effective < week.isoformat()), Event.id))).label("week"),
                func.count(when((effective < month.isoformat(), Event.id))).label("month"),
            )
            .where(Event.kind.in_(MOVE_KINDS), Event.at >= month, text(DATED_PAYLOAD[session.get_bind().dialect.name]))
            .group_by(Event.from_stage, Event.to_stage)
        )
        seen = Event.case_key.in_(select(Case.key).where(Case.id.in_(seen_cases(reach))))
        counted, dated = counted.where(seen), dated.where(seen)
        if case:
            counted, dated = counted.where(Event.case_key == case), dated.where(Event.case_key == case)
        late = {(r.from_stage, r.to_stage): (r.week, r.month) for r in session.execute(dated)}
        rows = []
        for r in session.execute(counted):
            week_late, month_late = late.get((r.from_stage, r.to_stage), (0, 0))
            if r.month - month_late:
                rows.append(
                    {
                        "from_stage": r.from_stage or "new",
                        "to_stage": r.to_stage,
                        "last_7_days": r.week - week_late,
                        "last_30_days": r.month - month_late,
                    }
                )
    order = {s: i for i, s in enumerate(("new", *STAGES))}
    return sorted(rows, key=lambda r: (order.get(r["from_stage"], 9), order.get(r["to_stage"], 9)))


def ageing(url: str, case: str | None = None, *, reach: Reach, now: datetime | None = None) -> list[dict[str, Any]]:
    """How long claims have sat in their current stage: counts per stage and age bucket, with the oldest entry.

    One statement, a part per stage: each reads its stage's range of the (stage, case, ..., stage
    timestamps) index alone and compares that stage's own timestamp, so no claim row is read.
    """
    now = _now(now)
    cutoffs = (now - timedelta(days=7), now - timedelta(days=30), now - timedelta(days=90))
    in_case = select(Case.id).where(Case.key == case).scalar_subquery() if case else None
    parts = []
    for s in Stage:
        entered = func.coalesce(getattr(Claim, f"{s.value}_at"), Claim.created_at)
        buckets = (
            entered >= cutoffs[0],
            (entered < cutoffs[0]) & (entered >= cutoffs[1]),
            (entered < cutoffs[1]) & (entered >= cutoffs[2]),
            entered < cutoffs[2],
        )
        columns: list[Any] = [literal(s.value).label("stage")]
        for i, inside in enumerate(buckets):
            columns += [
                func.count(when((inside, Claim.id))).label(f"n{i}"),
                func.min(when((inside, entered))).label(f"oldest{i}"),
            ]
        part = select(*columns).where(Claim.stage == s.value, _seen_claim(reach))
        if in_case is not None:
            part = part.where(Claim.case_id == in_case)
        parts.append(part)
    with session_factory(url)() as session:
        found = list(session.execute(union_all(*parts)))
    rows = []
    for row in (r._mapping for r in found):
        for i, bucket in enumerate(AGE_BUCKETS):
            if not row[f"n{i}"]:
                continue
            oldest = to_utc(_as_datetime(row[f"oldest{i}"]))
            rows.append(
                {
                    "stage": row["stage"],
                    "bucket": bucket,
                    "claims": row[f"n{i}"],
                    "oldest": oldest,
                    "oldest_days": (now - oldest).days if oldest else None,
                }
            )
    order = {s: i for i, s in enumerate(STAGES)}
    return sorted(rows, key=lambda r: (order.get(r["stage"], 9), AGE_BUCKETS.index(r["bucket"])))


def at_risk_claims(url: str, case: str | None = None, *, reach: Reach) -> list[dict[str, Any]]:
    """Confirmed or refuted claims that no longer meet their stage, with the reason last recorded."""
    latest = (
        select(Event.rationale, Event.at)
        .where(Event.claim_key == Claim.key, Event.kind == EventKind.CLAIM_AT_RISK.value)
        .order_by(Event.id.desc())
        .limit(1)
    )
    stmt = (
        select(
            Claim.key,
            Case.key.label("case"),
            Claim.stage,
            Claim.statement,
            latest.with_only_columns(Event.rationale).scalar_subquery().label("reason"),
            latest.with_only_columns(Event.at).scalar_subquery().label("flagged_at"),
        )
        .join(Case, Case.id == Claim.case_id)
        # `=` (not IS) and no ORDER BY: SQLite then reads the partial index of at-risk claims instead
        # of walking every claim in key order; the few rows are sorted here.
        .where(Claim.at_risk == true(), reach.cases(Claim.case_id), reach.marked(Case.marking))
    )
    if case:
        stmt = stmt.where(Case.key == case)
    with session_factory(url)() as session:
        rows = [dict(row._mapping) for row in session.execute(stmt)]
    return sorted(rows, key=lambda r: (r["case"], r["key"]))


def pending_review_count(url: str, case: str | None = None, *, reach: Reach) -> int:
    stmt = (
        select(func.count(ReviewRequest.id))
        .join(Claim, Claim.id == ReviewRequest.claim_id)
        .join(Case, Case.id == Claim.case_id)
        .where(ReviewRequest.status == ReviewStatus.PENDING.value)
        .where(reach.cases(Claim.case_id), reach.marked(Case.marking))
    )
    if case:
        stmt = stmt.where(Case.key == case)
    with session_factory(url)() as session:
        return int(session.scalar(stmt) or 0)


def filter_options(url: str, case: str | None = None, *, reach: Reach) -> dict[str, list[str]]:
    """Values the claims table can be filtered by: sources, grades and assignees in use.

    Asked per source (an evidence item's source belongs to its claim's case), each an index probe:
    "does any evidence come from it", and per credibility "with this credibility"; never a walk
    over every evidence item.
    """
    credibility = union_all(*(select(literal(int(c)).label("n")) for c in Credibility)).subquery()
    readable = reach.marked(Evidence.marking)
    seen_source = (Source.case_id.in_(seen_cases(reach)), reach.marked(Source.marking))
    used = exists().where(Evidence.source_id == Source.id, readable)
    sources = select(Source.key).where(used, *seen_source).distinct().order_by(Source.key)
    grades = (
        select(Source.reliability, credibility.c.n)
        .join(credibility, true())
        .where(exists().where(Evidence.source_id == Source.id, Evidence.credibility == credibility.c.n, readable))
        .where(*seen_source)
        .distinct()
        .order_by(Source.reliability, credibility.c.n)
    )
    assignees = (
        select(Claim.assignee)
        .where(Claim.assignee.is_not(None), _seen_claim(reach))
        .distinct()
        .order_by(Claim.assignee)
    )
    if case:
        in_case = select(Case.id).where(Case.key == case).scalar_subquery()
        sources = sources.where(Source.case_id == in_case)
        grades = grades.where(Source.case_id == in_case)
        assignees = assignees.where(Claim.case_id == in_case)
    with session_factory(url)() as session:
        return {
            "stages": list(STAGES),
            "sources": list(session.scalars(sources)),
            "grades": [f"{r}{c}" for r, c in session.execute(grades)],
            "assignees": list(session.scalars(assignees)),
        }


def like_pattern(search: str) -> str:
    """A LIKE pattern that matches `search` literally anywhere (``%`` and ``_`` are text, not wildcards)."""
    text = search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{text}%"


def _claim_filters(
    stmt: Any,
    *,
    reach: Reach,
    case: str | None,
    stages: list[str] | tuple[str, ...] | None,
    source: str | None,
    grade: str | None,
    assignee: str | None,
    search: str | None,
) -> Any:
    """The claims-table filters, shared by the rows and their total so both count the same claims.

    Returns None when the filter can match nothing (a malformed grade). Need to know (issue 20):
    only the claims of cases the reader sees, marked within their clearance, and the source and
    grade filters look only at evidence they may read.
    """
    stmt = stmt.where(reach.cases(_claims.c.case_id), reach.marked(_cases.c.marking))
    if case:
        stmt = stmt.where(_cases.c.key == case)
    if stages:
        stmt = stmt.where(_claims.c.stage.in_(list(stages)))
    if assignee:
        stmt = stmt.where(_claims.c.assignee == assignee)
    if search and search.strip():
        pattern = like_pattern(search)
        stmt = stmt.where(
            or_(
                func.lower(_claims.c.key).like(pattern, escape="\\"),
                func.lower(_claims.c.statement).like(pattern, escape="\\"),
            )
        )
    # The filters look at a claim's evidence through their own aliases: correlated to the outer
    # Evidence they would drop the other items from the counts. `claims.id IN (the claims with such
    # evidence)`, not a correlated EXISTS: SQLite reads the source's (or grade's) evidence once
    # instead of probing every candidate claim's items (at 100k, 0.03 s against 0.3 s of CPU for
    # `--source`); PostgreSQL plans both as the same semi-join.
    item, by = _evidence.alias(), _sources.alias()
    if source:
        stmt = stmt.where(
            _claims.c.id.in_(
                select(item.c.claim_id)
                .join(by, item.c.source_id == by.c.id)
                .where(by.c.key == source, reach.marked(item.c.marking, by.c.marking))
            )
        )
    if grade:
        g = grade.strip().upper()
        if len(g) != 2 or not g[1].isdigit():
            return None
        graded = (
            select(item.c.claim_id)
            .join(by, item.c.source_id == by.c.id)
            .where(
                item.c.retracted.is_(False),
                by.c.reliability == g[0],
                item.c.credibility == int(g[1]),
                reach.marked(item.c.marking, by.c.marking),
            )
        )
        stmt = stmt.where(_claims.c.id.in_(graded))
    return stmt


@dataclass(frozen=True)
class ClaimFilters:
    """The claims-table filters (None: no filter). Shared by the rows and their total.

    `reach` is whose table it is (issue 20): claim_page and claim_count refuse filters without one.
    """

    case: str | None = None
    stages: list[str] | tuple[str, ...] | None = None
    source: str | None = None
    grade: str | None = None
    assignee: str | None = None
    search: str | None = None
    reach: Reach | None = None

    def apply(self, stmt: Any) -> Any:
        if self.reach is None:
            raise TypeError("ClaimFilters.reach: a read of the claims table names its reader (issue 20)")
        return _claim_filters(
            stmt,
            reach=self.reach,
            case=self.case,
            stages=self.stages,
            source=self.source,
            grade=self.grade,
            assignee=self.assignee,
            search=self.search,
        )


def _case_counts(session: Session, filters: ClaimFilters) -> list[tuple[int, int]]:
    """(case id, matching claims) per case with a match, in case-key order: the total and where each page lies."""
    stmt = filters.apply(
        select(_claims.c.case_id, func.count(_claims.c.id))
        .join(_cases, _cases.c.id == _claims.c.case_id)
        .group_by(_claims.c.case_id, _cases.c.key)
        .order_by(_cases.c.key)
    )
    return [] if stmt is None else [(case_id, int(n)) for case_id, n in session.execute(stmt)]


def claim_count(
    url: str,
    *,
    case: str | None = None,
    stages: list[str] | tuple[str, ...] | None = None,
    source: str | None = None,
    grade: str | None = None,
    assignee: str | None = None,
    search: str | None = None,
    reach: Reach,
) -> int:
    """How many claims the claims table would list with these filters (the true total, never capped)."""
    filters = ClaimFilters(case, stages, source, grade, assignee, search, reach)
    stmt = filters.apply(
        select(func.count(_claims.c.id)).select_from(_claims).join(_cases, _cases.c.id == _claims.c.case_id)
    )
    if stmt is None:
        return 0
    with session_factory(url)() as session:
        return int(session.scalar(stmt) or 0)


def _id_ranges(
    session: Session, filters: ClaimFilters, counts: list[tuple[int, int]], offset: int, limit: int | None
) -> Iterator[tuple[int, int, int]]:
    """The rows [offset, offset + limit) of the table as (case id, first claim id, last claim id) runs.

    The table is ordered by case key, then claim id. Within one case the matching claims of a page
    are a run of ids, so each run is found by an indexed walk of that case's claims in id order
    (`ix_claims_case_id_id`), at most PAGE_CHUNK claims at a time; no statement sorts every claim,
    and none binds more than a handful of values, however many rows are asked for.
    """
    skip, left = max(0, offset), limit
    for case_id, n in counts:
        if skip >= n:
            skip -= n
            continue
        take = n - skip if left is None else min(n - skip, left)
        after: int | None = None
        while take > 0:
            k = min(take, PAGE_CHUNK)
            ids = filters.apply(
                select(_claims.c.id).join(_cases, _cases.c.id == _claims.c.case_id).where(_claims.c.case_id == case_id)
            )
            if after is not None:
                ids = ids.where(_claims.c.id > after)
            window = ids.order_by(_claims.c.id).offset(skip).limit(k).subquery()
            lo, hi = session.execute(select(func.min(window.c.id), func.max(window.c.id))).one()
            if hi is None:  # changed since counted: nothing more in this case
                break
            yield case_id, lo, hi
            after, skip, take = hi, 0, take - k
            if left is not None:
                left -= k
        if left is not None and left <= 0:
            return


def _rows_in(filters: ClaimFilters, case_id: int, lo: int, hi: int) -> Any:
    """The table rows of one run: the run's claims with evidence counts, sources and pending review.

    Counts and sources are of the evidence the reader may read (its own and its source's marking).
    """
    assert filters.reach is not None
    reach = filters.reach
    live = _evidence.c.retracted.is_(False)
    # Sources as a correlated subquery of each listed claim, so only the run's matching claims are read.
    sources = (
        select(func.aggregate_strings(_sources.c.key, ","))
        .join(_evidence, _evidence.c.source_id == _sources.c.id)
        .where(_evidence.c.claim_id == _claims.c.id, reach.marked(_evidence.c.marking, _sources.c.marking))
        .scalar_subquery()
    )
    # An item counts if the reader may read it and its source (a primary-key probe per item): an outer
    # join to (evidence JOIN sources) made SQLite materialise every evidence item first (0.04 s -> 0.7 s at 10k).
    its_source = _sources.alias("its_source")
    readable = (
        (_evidence.c.claim_id == _claims.c.id)
        & reach.marked(_evidence.c.marking)
        & exists().where(its_source.c.id == _evidence.c.source_id, reach.marked(its_source.c.marking))
    )
    pending = _reviews.alias()
    return filters.apply(
        select(
            _claims.c.key,
            _cases.c.key.label("case"),
            _claims.c.statement,
            _claims.c.stage,
            _claims.c.at_risk,
            _claims.c.assignee,
            _entered_current_stage().label("in_stage_since"),
            _claims.c.updated_at,
            func.count(when((live & (_evidence.c.stance == Stance.SUPPORTS.value), _evidence.c.id))).label(
                "supporting"
            ),
            func.count(when((live & (_evidence.c.stance == Stance.CONTRADICTS.value), _evidence.c.id))).label(
                "contradicting"
            ),
            func.count(when((_evidence.c.retracted.is_(True), _evidence.c.id))).label("retracted"),
            sources.label("sources"),
            pending.c.to_stage.label("pending_review"),
        )
        .join(_cases, _cases.c.id == _claims.c.case_id)
        .outerjoin(_evidence, readable)
        .outerjoin(pending, (pending.c.claim_id == _claims.c.id) & (pending.c.status == ReviewStatus.PENDING.value))
        .where(_claims.c.case_id == case_id, _claims.c.id.between(lo, hi))
        .group_by(_claims.c.id, _cases.c.key, pending.c.to_stage)
        .order_by(_claims.c.id)
    )  # the filters look at evidence through their own aliases, so the counts stay whole


def _row(row: Any) -> dict[str, Any]:
    item = dict(row._mapping)
    item["sources"] = ", ".join(sorted(set(filter(None, (item["sources"] or "").split(",")))))
    return item


def claim_page(
    url: str, filters: ClaimFilters, *, limit: int | None = None, offset: int = 0
) -> tuple[int, Iterator[dict[str, Any]]]:
    """(total matching, the rows [offset, offset + limit) as they are read): limit None streams every match.

    The rows come PAGE_CHUNK claims per statement, so memory stays flat however many are asked
    for; the total is the true count of matches, never capped.
    """
    session = session_factory(url)()
    try:
        counts = _case_counts(session, filters)
    except BaseException:
        session.close()
        raise
    total = sum(n for _, n in counts)

    def rows() -> Iterator[dict[str, Any]]:
        try:
            for case_id, lo, hi in _id_ranges(session, filters, counts, offset, limit):
                for row in session.execute(_rows_in(filters, case_id, lo, hi)):
                    yield _row(row)
        finally:
            session.close()

    return total, rows()


def claim_table(
    url: str,
    *,
    case: str | None = None,
    stages: list[str] | tuple[str, ...] | None = None,
    source: str | None = None,
    grade: str | None = None,
    assignee: str | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    reach: Reach,
) -> list[dict[str, Any]]:
    """The claims table: one row per claim with evidence counts, sources, pending review; filtered in SQL.

    `source` keeps claims with evidence from that source; `grade` (e.g. "B2") keeps claims with
    live evidence of exactly that grade. `limit`/`offset` page in SQL (None: every matching row);
    `claim_count` gives the total for the same filters, `claim_page` both at once.
    """
    filters = ClaimFilters(case, stages, source, grade, assignee, search, reach)
    _, rows = claim_page(url, filters, limit=limit, offset=offset)
    return list(rows)


def lineage_edges(url: str, case: str, *, reach: Reach) -> list[dict[str, Any]]:
    """Every source of a case `reach` may read with the source it repeats (`derived_from`), for the lineage picture.

    A source they may not read is left out; a readable source repeating one shows `derived_from` None.
    """
    parent = aliased(Source)
    stmt = (
        select(
            Source.key,
            Source.name,
            Source.kind,
            Source.reliability,
            parent.key.label("derived_from"),
        )
        .join(Case, Case.id == Source.case_id)
        .outerjoin(parent, (parent.id == Source.derived_from_id) & reach.marked(parent.marking))
        .where(Case.key == case, reach.cases(Case.id), reach.marked(Case.marking, Source.marking))
        .order_by(Source.id)
    )
    with session_factory(url)() as session:
        return [dict(row._mapping) for row in session.execute(stmt)]


def recent_decisions(url: str, case: str | None = None, limit: int = 20, *, reach: Reach) -> list[dict[str, Any]]:
    """The latest decided (approved, rejected, withdrawn) review requests, newest first."""
    stmt = (
        select(
            ReviewRequest.id,
            Claim.key.label("claim"),
            ReviewRequest.to_stage,
            ReviewRequest.status,
            ReviewRequest.requested_by,
            ReviewRequest.decided_by,
            ReviewRequest.decided_at,
            ReviewRequest.rationale,
        )
        .join(Claim, Claim.id == ReviewRequest.claim_id)
        .join(Case, Case.id == Claim.case_id)
        .where(ReviewRequest.status != ReviewStatus.PENDING.value)
        .where(reach.cases(Claim.case_id), reach.marked(Case.marking))
        .order_by(ReviewRequest.id.desc())
        .limit(limit)
    )
    if case:
        stmt = stmt.where(Case.key == case)
    with session_factory(url)() as session:
        return [dict(row._mapping) for row in session.execute(stmt)]


def claim_keys(
    url: str, case: str | None = None, search: str | None = None, limit: int | None = None, *, reach: Reach
) -> list[str]:
    """Claim keys for pickers: claims that gate the most policy actions first, then in case order.

    `search` keeps keys or statements containing the text; `limit` cuts the list (a picker of
    100,000 keys would send them all to the browser). The gating claims are few and come from
    the action requirements; the rest are read in (case, id) order and stop at the limit.
    """
    n_gates = func.count(ActionRequirement.id)
    gating = (
        select(Claim.key, n_gates.label("gates"))
        .join(ActionRequirement, ActionRequirement.claim_id == Claim.id)
        .join(Case, Case.id == Claim.case_id)
        .group_by(Claim.id, Claim.key, Case.key)
        .order_by(n_gates.desc(), Case.key, Claim.id)
    )
    rest = (
        select(Claim.key)
        .join(Case, Case.id == Claim.case_id)
        .where(~exists().where(ActionRequirement.claim_id == Claim.id))
        .order_by(Case.key, Claim.id)
    )
    readable = (reach.cases(Claim.case_id), reach.marked(Case.marking))
    gating, rest = gating.where(*readable), rest.where(*readable)
    if case:
        gating, rest = gating.where(Case.key == case), rest.where(Case.key == case)
    if search and search.strip():
        pattern = like_pattern(search)
        found = or_(
            func.lower(Claim.key).like(pattern, escape="\\"), func.lower(Claim.statement).like(pattern, escape="\\")
        )
        gating, rest = gating.where(found), rest.where(found)
    with session_factory(url)() as session:
        keys = [key for key, _ in session.execute(gating)]
        if limit is not None and len(keys) >= limit:
            return keys[:limit]
        if limit is not None:
            rest = rest.limit(limit - len(keys))
        return keys + list(session.scalars(rest))


def claim_gates(url: str, case: str | None = None, *, reach: Reach) -> dict[str, int]:
    """Claim key -> how many policy actions require it (claims that gate nothing are absent)."""
    stmt = (
        select(Claim.key, func.count(ActionRequirement.id))
        .join(ActionRequirement, ActionRequirement.claim_id == Claim.id)
        .join(Case, Case.id == Claim.case_id)
        .where(reach.cases(Claim.case_id), reach.marked(Case.marking))
        .group_by(Claim.key)
    )
    if case:
        stmt = stmt.where(Case.key == case)
    with session_factory(url)() as session:
        return {key: int(n) for key, n in session.execute(stmt)}


def action_claims(url: str, case: str | None = None, *, reach: Reach) -> dict[str, list[str]]:
    """Policy action key -> the claim keys it requires (for filtering the review queue by action)."""
    stmt = (
        select(PolicyAction.key, Claim.key.label("claim"))
        .join(ActionRequirement, ActionRequirement.action_id == PolicyAction.id)
        .join(Claim, Claim.id == ActionRequirement.claim_id)
        .join(Case, Case.id == PolicyAction.case_id)
        .where(reach.cases(PolicyAction.case_id), reach.marked(Case.marking))
        .order_by(PolicyAction.key, Claim.key)
    )
    if case:
        stmt = stmt.where(Case.key == case)
    out: dict[str, list[str]] = {}
    with session_factory(url)() as session:
        for action, claim in session.execute(stmt):
            out.setdefault(action, []).append(claim)
    return out
