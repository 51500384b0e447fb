"""One import pipeline (issue 19 section 3): whichever way a case file comes in (validated whole by
`import_case`, streamed by `import_path`, signed, in chunks), its claims become the same rows and leave
the same events. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from identity_helpers import as_user
from sqlalchemy import select

from claims import services
from claims.demo import DEMO_USERS
from claims.domain import Stage
from claims.services import Runtime, bulk_import, intake
from claims.services.casefile import dump_case
from claims.services.provenance import sign_case
from claims.store.models import Event

IDS = ("evidence", "review", "policy_sha256")  # differ between databases, or name this instance's policy file


def _plain(value: Any) -> Any:
    """An event payload without the ids the two databases give differently."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in IDS}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def timeless(value: Any, since: datetime) -> Any:
    """An export with the times of the importing transaction (each database its own) left out."""
    if isinstance(value, dict):
        return {k: timeless(v, since) for k, v in value.items()}
    if isinstance(value, list):
        return [timeless(v, since) for v in value]
    if isinstance(value, str) and value[:2] == "20" and value[4:5] == "-":
        try:
            return "(the import's)" if datetime.fromisoformat(value) >= since else value
        except ValueError:
            return value
    return value


def events(rt: Runtime) -> list[tuple[Any, ...]]:
    """The import's events (after those of the users' set-up), oldest first."""
    with rt.uow(write=False) as uow:
        rows = uow.session.scalars(select(Event).where(Event.case_key.is_not(None)).order_by(Event.id)).all()
        return [
            (e.actor, e.kind, e.case_key, e.claim_key, e.from_stage, e.to_stage, e.rationale, e.policy_version,
             _plain(e.payload))
            for e in rows
        ]  # fmt: skip


def two_claims() -> dict[str, Any]:
    """An unsigned file: one claim whose history claims `confirmed` (it lands where its three lines put it,
    and a review waits for a reviewer here), one plain claim with a rumour."""
    history = [
        {"stage": "reported", "at": "2024-09-01T09:00:00Z", "by": "alice"},
        {"stage": "corroborated", "at": "2024-09-02T09:00:00Z", "by": "system"},
        {"stage": "confirmed", "at": "2024-09-03T09:00:00Z", "by": "alice", "approved_by": "bob", "rationale": "ok"},
    ]
    three = [
        {"source": "reuters", "stance": "supports", "credibility": 2, "summary": "Reuters saw it"},
        {"source": "afp", "stance": "supports", "credibility": 3, "summary": "AFP saw it"},
        {"source": "osint", "stance": "supports", "credibility": 3, "summary": "satellite images"},
    ]
    rumour = [{"source": "rumour", "stance": "supports", "credibility": 6, "summary": "someone said so"}]
    return {
        "case": {"key": "forged", "title": "A forged case"},
        "sources": [
            {"key": "rumour", "name": "A rumour", "kind": "other", "reliability": "F"},
            {"key": "reuters", "name": "Reuters", "kind": "media", "reliability": "B"},
            {"key": "afp", "name": "AFP", "kind": "media", "reliability": "C"},
            {"key": "osint", "name": "OSINT", "kind": "osint", "reliability": "C"},
        ],
        "claims": [
            {
                "key": "factory",
                "statement": "There is a factory.",
                "stage": "confirmed",
                "history": history,
                "evidence": three,
            },
            {"key": "rumoured", "statement": "A rumour says so.", "evidence": rumour},
        ],
    }


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_the_whole_file_import_and_the_streamed_one_leave_the_same_rows_and_events(
    rt: Runtime, fresh_database: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
):
    path = tmp_path / f"case.{fmt}"
    path.write_text(dump_case(two_claims(), fmt), encoding="utf-8")
    since = datetime.now(UTC) - timedelta(seconds=2)
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(path))
    streamed = Runtime(fresh_database())
    services.ensure_users(streamed, DEMO_USERS)

    def unreachable(*_: object) -> None:
        raise AssertionError("an unsigned file with a history is streamed like any other")

    monkeypatch.setattr(bulk_import, "_whole_file", unreachable)
    services.import_path(streamed, as_user(streamed, "alice"), path)

    assert timeless(services.export_case(streamed, "forged"), since) == timeless(
        services.export_case(rt, "forged"), since
    )
    assert events(streamed) == events(rt)
    kinds = [e[1] for e in events(rt)]
    # Each claim one `claim.reported` listing its items, whatever the file's size: no event per item.
    assert kinds == ["claim.reported", "claim.stage_changed", "review.requested", "claim.reported", "case.imported"]
    (reported, *_) = (e[8] for e in events(rt) if e[1] == "claim.reported")
    assert [i["source"] for i in reported["items"]] == ["reuters", "afp", "osint"]
    assert services.claim_detail(rt, "factory")["stage"] == "corroborated"
    assert services.audit_verify(rt).ok and services.audit_verify(streamed).ok


def test_a_vouched_history_with_reviews_replays_the_same_across_chunks(
    demo: Runtime, fresh_database: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The signed export of a case with stage history and decided reviews, written two claims per chunk."""
    services.add_evidence(
        demo,
        as_user(demo, "alice"),
        "factory-exists",
        "us-treasury",
        "supports",
        credibility=2,
        summary="OFAC designates them.",
    )
    rejected = services.advance(demo, as_user(demo, "alice"), "factory-exists", Stage.CONFIRMED).review_id
    assert rejected is not None
    services.reject(demo, as_user(demo, "carol"), rejected, "wait for the press release")
    pending = services.advance(demo, as_user(demo, "alice"), "factory-exists", Stage.CONFIRMED).review_id
    assert pending is not None
    first = services.export_case(demo, "eu-drones-2024")
    assert len(first["claims"]) > 2
    path = tmp_path / "signed.json"
    path.write_text(dump_case(sign_case(first), "json"), encoding="utf-8")  # this instance's key: trusted

    monkeypatch.setattr(intake, "CHUNK", 2)
    fresh = Runtime(fresh_database())
    services.ensure_users(fresh, DEMO_USERS)
    report = services.import_path(fresh, as_user(fresh, "alice"), path)
    assert report.created["claims"] == len(first["claims"])
    assert services.export_case(fresh, "eu-drones-2024") == first
    imported = [e for e in events(fresh) if e[1] == "review.imported"]
    assert [(e[3], e[8]["status"]) for e in imported] == [
        ("factory-exists", "rejected"),
        ("factory-exists", "pending"),
    ]
    (waiting,) = services.review_queue(fresh)
    assert (waiting["claim"], waiting["requested_by"]) == ("factory-exists", "alice")
    assert services.audit_verify(fresh).ok
