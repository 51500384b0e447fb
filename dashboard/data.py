"""Cached loaders: every page reads through these, never through a Session of its own.

Aggregates come from `claims.store.queries` (computed in SQL); judgements (assessment,
readiness, the review queue, what-if) come from the read functions of `claims.services`,
which apply the domain rules. Every loader is wrapped in `st.cache_data` and keyed on a
`Db` value that carries the newest audit-event id: each change anywhere (dashboard, CLI,
flows) appends an event, so a change moves the key and the next run reads fresh data.
After a decision taken on a page, `clear()` also drops the caches outright.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import streamlit as st

from claims import services
from claims.domain.readiness import ActionReadiness
from claims.services import access
from claims.services.access import Reader
from claims.services.identity import Identity
from claims.services.whatif import Hypothesis, WhatIfResult, what_if
from claims.settings import get_settings
from claims.store import queries

TTL = 300  # seconds; ages and "last 7 days" drift with the clock even when nothing is written


SESSION = "signed_in"  # {"name", "role", "method", "last"} in st.session_state (dashboard.auth)


class Db(NamedTuple):
    """What a cached result depends on: where the data is, which policy judges it, its version, and who reads.

    `reader` is the signed-in person (issue 20: every loader reads what they may read, no more);
    "" before sign-in, who reads nothing. A change of membership or clearance writes an event, so
    it moves `version` and the next run reads afresh.
    """

    url: str
    policy_file: str
    version: int
    reader: str = ""


def db() -> Db:
    """The current database (CLAIMS_DATABASE_URL), its data version and the signed-in person: one tiny query."""
    settings = get_settings()
    url = settings.database_url
    session = st.session_state.get(SESSION) or {}
    return Db(url, str(settings.policy_file or ""), queries.data_version(url), str(session.get("name") or ""))


def runtime(d: Db) -> services.Runtime:
    """The same runtime as the CLI and the flows: database, policy and marking scale from settings."""
    settings = get_settings()
    return services.Runtime(d.url, settings.policy(), settings.scale())


def proven(d: Db) -> Identity:
    """The proven identity of this session, the person `d.reader` names (the cache key); never the system's.

    A loader without a signed-in person reads nothing: it is refused, not widened to everything.
    """
    session = st.session_state.get(SESSION) or {}
    proven = session.get("who")
    if not isinstance(proven, Identity) or proven.name != d.reader:
        raise services.PermissionDenied("user: no acting user; sign in first")
    return proven


def reach(d: Db) -> Reader:
    """What the signed-in person may read (issue 20), read afresh for each loader that is not cached."""
    return access.reach(runtime(d), proven(d))


def clear() -> None:
    """Drop every cached result, e.g. right after a review decision."""
    st.cache_data.clear()


_cache = st.cache_data(ttl=TTL, max_entries=256, show_spinner=False)


@_cache
def cases(d: Db) -> list[dict[str, Any]]:
    return queries.case_rows(d.url, reach=reach(d))


@_cache
def users(d: Db) -> list[dict[str, Any]]:
    return queries.user_rows(d.url)


def role_of(d: Db, name: str | None) -> str | None:
    """The role of a user (None for nobody or an unknown name): decides which controls a page offers."""
    return {u["name"]: u["role"] for u in users(d)}.get(name or "")


@_cache
def policy_version(d: Db) -> str:
    return runtime(d).policy.version


@_cache
def stage_counts(d: Db, case: str | None) -> list[dict[str, Any]]:
    return queries.stage_counts(d.url, case, reach=reach(d))


@_cache
def movements(d: Db, case: str | None) -> list[dict[str, Any]]:
    return queries.movements(d.url, case, reach=reach(d))


@_cache
def ageing(d: Db, case: str | None) -> list[dict[str, Any]]:
    return queries.ageing(d.url, case, reach=reach(d))


@_cache
def at_risk(d: Db, case: str | None) -> list[dict[str, Any]]:
    return queries.at_risk_claims(d.url, case, reach=reach(d))


@_cache
def pending_count(d: Db, case: str | None) -> int:
    return queries.pending_review_count(d.url, case, reach=reach(d))


@_cache
def filter_options(d: Db, case: str | None) -> dict[str, list[str]]:
    return queries.filter_options(d.url, case, reach=reach(d))


class ClaimFilters(NamedTuple):
    """The claims table's filters (hashable, so a cache key)."""

    case: str | None = None
    stages: tuple[str, ...] = ()
    source: str | None = None
    grade: str | None = None
    assignee: str | None = None
    search: str | None = None

    def query(self) -> dict[str, Any]:
        return {**self._asdict(), "stages": self.stages or None}


@_cache
def claim_page(d: Db, filters: ClaimFilters, limit: int | None, offset: int = 0) -> list[dict[str, Any]]:
    """One page of the claims table, cut in SQL (limit None: every matching row, e.g. for CSV)."""
    return queries.claim_table(d.url, **filters.query(), limit=limit, offset=offset, reach=reach(d))


@_cache
def claim_total(d: Db, filters: ClaimFilters) -> int:
    return queries.claim_count(d.url, **filters.query(), reach=reach(d))


@_cache
def claim_gates(d: Db, case: str | None) -> dict[str, int]:
    return queries.claim_gates(d.url, case, reach=reach(d))


@_cache
def action_claims(d: Db, case: str | None) -> dict[str, list[str]]:
    return queries.action_claims(d.url, case, reach=reach(d))


PICK = 200  # a picker lists at most this many claims; a search field finds the others


@_cache
def claim_keys(d: Db, case: str | None, search: str | None = None) -> list[str]:
    """Keys for a claim picker: the claims gating most actions first, at most PICK (search for the rest)."""
    return queries.claim_keys(d.url, case, search, PICK, reach=reach(d))


@_cache
def lineage(d: Db, case: str) -> list[dict[str, Any]]:
    return queries.lineage_edges(d.url, case, reach=reach(d))


@_cache
def claim_detail(d: Db, key: str) -> dict[str, Any]:
    return services.claim_detail(runtime(d), key, who=proven(d))


@_cache
def readiness(d: Db, case: str | None) -> list[ActionReadiness]:
    return services.action_readiness(runtime(d), case, who=proven(d))


@_cache
def review_page(d: Db, case: str | None, action: str | None, limit: int, offset: int = 0) -> services.ReviewPage:
    """One page of the pending review queue by impact, with the true total; only the page is assessed."""
    return services.review_page(runtime(d), case=case, action=action, limit=limit, offset=offset, who=proven(d))


@_cache
def recent_decisions(d: Db, case: str | None) -> list[dict[str, Any]]:
    return queries.recent_decisions(d.url, case, reach=reach(d))


@_cache
def whatif(d: Db, case: str, hypotheses: tuple[tuple[str, str, int, str | None, str | None], ...]) -> WhatIfResult:
    """Hypotheses as plain tuples (claim, stance, credibility, source, reliability) so they hash."""
    return what_if(runtime(d), case, [Hypothesis(*h) for h in hypotheses], who=proven(d))


def similar(d: Db, who: Identity | None, statement: str, exclude: str) -> list[dict[str, Any]]:
    """Known claims like this one (not cached: the service's in-process index is the cache)."""
    from claims.services.similar import similar_claims, similar_json

    if who is None:
        return []
    return similar_json(similar_claims(runtime(d), who, statement, exclude_claim=exclude))


@_cache
def links(d: Db, key: str) -> list[dict[str, Any]]:
    from claims.services.links import links_of

    return [
        {"claim": x.claim, "other": x.other, "kind": x.kind, "rationale": x.rationale, "by": x.created_by}
        for x in links_of(runtime(d), key, who=proven(d))
    ]


@_cache
def tasks(d: Db, case: str | None, who: Identity | None) -> list[dict[str, Any]]:
    """Open collection tasks in work order (issue 18)."""
    from claims.services.tasks import list_tasks

    return list_tasks(runtime(d), who, case=case) if who else []


@_cache
def action_plans(d: Db, case: str | None) -> dict[str, dict[str, Any]]:
    """Per action: the smallest set of tasks to ready, and the claims resting on one line."""
    from claims.services.tasks import action_plans as plans

    return plans(runtime(d), case, who=proven(d))


@_cache
def rests_on(d: Db, key: str) -> list[str]:
    from claims.services.tasks import rests_on as roots

    return roots(runtime(d), key, who=proven(d))


@_cache
def notes(d: Db, claim_key: str, who: Identity | None) -> list[Any]:
    """The notes on a claim and on its evidence and reviews (the service checks the reader's role)."""
    from claims.services.notes import list_notes

    return list_notes(runtime(d), who, "claim", claim_key, with_items=True) if who else []


def unread(d: Db, who: Identity) -> int:
    """Unread notices of the signed-in person (not cached: it is one indexed count, and marking read moves it)."""
    from claims.services.notify import unread_count

    return unread_count(runtime(d), who)
