"""Plain helpers shared by the integration tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

from click.testing import Result
from sqlalchemy import create_engine, func, select, text

from claims import services
from claims.services import Runtime
from claims.store.models import Base, Event


def error_line(result: Result) -> str:
    """The single stderr line of a failed command (asserts there is exactly one)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def event_count(rt: Runtime) -> int:
    with rt.uow(write=False) as uow:
        return uow.session.scalar(select(func.count()).select_from(Event)) or 0


def events_after(rt: Runtime, count: int) -> list[dict[str, Any]]:
    """Events appended after the first `count`, as plain values."""
    with rt.uow(write=False) as uow:
        rows = uow.session.scalars(select(Event).order_by(Event.id).offset(count)).all()
        return [
            {
                "kind": e.kind,
                "actor": e.actor,
                "claim": e.claim_key,
                "from": e.from_stage,
                "to": e.to_stage,
                "rationale": e.rationale,
                "policy_version": e.policy_version,
                "payload": e.payload,
            }
            for e in rows
        ]


def small_case(sources: dict[str, str], claims: dict[str, list[tuple[str, str, int]]]) -> services.CaseFile:
    """A case file: sources {key: reliability}; claims {key: [(source, stance, credibility)]}."""
    return services.validate_case(
        {
            "case": {"key": "small", "title": "A small case"},
            "sources": [
                {"key": key, "name": f"Source {key}", "kind": "other", "reliability": reliability}
                for key, reliability in sources.items()
            ],
            "claims": [
                {
                    "key": key,
                    "statement": f"Statement {key}",
                    "evidence": [
                        {"source": s, "stance": st, "credibility": c, "summary": f"{s} says {st} ({c})"}
                        for s, st, c in items
                    ],
                }
                for key, items in claims.items()
            ],
        }
    )


def empty_postgres(url: str) -> None:
    """Empty every table of a migrated PostgreSQL database, keeping the built-in system user."""
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO users (name, role, created_at) VALUES ('system', 'system', now())"))
    engine.dispose()


def sign_in(rt: Runtime, *names: str) -> None:
    """Sign `names` in as `claims login` would (the last one current): a read names its reader (issue 20)."""
    from claims.cli.tokenstore import TokenStore
    from claims.services.identity import issue_token_unchecked

    store = TokenStore()
    for name in names:
        store.put(rt.database_url, name, issue_token_unchecked(rt, name, reason="test fixture").token)
    store.save()
