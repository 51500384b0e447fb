"""Incremental assessment: only claims changed since they were last judged (or judged under
another policy version) are picked up; the assessment's own changes do not make a claim stale."""

from __future__ import annotations

import dataclasses

from identity_helpers import as_user, system_identity

from claims import services
from claims.services import Runtime


def changed(rt: Runtime) -> list[str]:
    return services.open_claim_keys(rt, changed_only=True)


def test_nothing_changed_after_an_assessment(demo: Runtime):
    # The demo assessment moved claims and opened reviews (version bumps): still nothing to redo.
    assert changed(demo) == []
    assert len(services.open_claim_keys(demo)) > 1  # a full run still lists every claim


def test_new_and_retracted_evidence_make_only_that_claim_stale(demo: Runtime):
    added = services.add_evidence(
        demo,
        as_user(demo, "alice"),
        "factory-exists",
        "us-treasury",
        "supports",
        grade="B2",
        summary="OFAC designation",
    )
    assert changed(demo) == ["factory-exists"]
    services.assess_claims(demo, system_identity(), changed(demo))
    assert changed(demo) == []
    services.retract_evidence(demo, as_user(demo, "alice"), added.id, "designation withdrawn")
    assert changed(demo) == ["factory-exists"]


def test_a_new_policy_version_makes_every_claim_stale(demo: Runtime):
    v2 = Runtime(demo.database_url, dataclasses.replace(demo.policy, version="v2-test"))
    assert changed(v2) == services.open_claim_keys(v2)
    services.assess_claims(v2, system_identity(), changed(v2))
    assert changed(v2) == []
    assert len(changed(demo)) == len(services.open_claim_keys(demo))  # back to v1: judged under v2


def test_the_batch_write_matches_only_the_version_it_read(demo: Runtime):
    """The bulk UPDATE (unnest on PostgreSQL, executemany on SQLite) is guarded by the version the
    assessment read: a row changed meanwhile is not overwritten and the count says so."""
    from datetime import UTC, datetime

    from claims.store.uow import UnitOfWork

    with UnitOfWork(demo.database_url) as uow:
        head = uow.claims.heads(["factory-exists"])[0]
        row = {
            "cid": head.id,
            "stage": head.stage,
            "at_risk": True,
            "now": datetime.now(UTC).replace(microsecond=0),
            "reported_at": None,
            "corroborated_at": None,
            "policy": "v1",
        }
        assert uow.claims.apply_judgements([{**row, "seen": head.version - 1}], []) == 0
        assert uow.claims.apply_judgements([{**row, "seen": head.version}], []) == 1
        again = uow.claims.heads(["factory-exists"])[0]
        assert (again.version, again.at_risk) == (head.version + 1, True)
        uow.session.rollback()


def test_a_move_in_a_batch_is_stamped_and_judged_at_its_new_version(rt: Runtime):
    """Stage timestamp, version bump and assessed_version all come from the one bulk UPDATE."""
    from claims.store.uow import UnitOfWork

    services.ensure_users(rt, {"alice": "analyst"})
    services.import_case(
        rt,
        as_user(rt, "alice"),
        services.validate_case(
            {
                "case": {"key": "t", "title": "T"},
                "sources": [
                    {"key": "a", "name": "A", "kind": "media", "reliability": "B"},
                    {"key": "b", "name": "B", "kind": "media", "reliability": "C"},
                ],
                "claims": [
                    {
                        "key": "t-1",
                        "statement": "S",
                        "evidence": [
                            {"source": "a", "stance": "supports", "credibility": 2, "summary": "x"},
                            {"source": "b", "stance": "supports", "credibility": 3, "summary": "y"},
                        ],
                    }
                ],
            }
        ),
    )
    with UnitOfWork(rt.database_url, write=False) as uow:
        before = uow.claims.get("t-1")
        assert before is not None and before.corroborated_at is None
        version = before.version
    [outcome] = services.assess_claims(rt, system_identity(), ["t-1"])
    assert outcome.moved and outcome.stage.value == "corroborated"
    with UnitOfWork(rt.database_url, write=False) as uow:
        after = uow.claims.get("t-1")
        assert after is not None
        assert after.stage == "corroborated" and after.corroborated_at is not None
        assert after.version == version + 1 and after.assessed_version == after.version
    assert changed(rt) == []


def test_a_run_that_changed_many_claims_leaves_fresh_planner_statistics(demo: Runtime, monkeypatch):
    """After a big assessment run the planner sees the new stage counts (PostgreSQL: ANALYZE ran)."""
    from sqlalchemy import create_engine, text

    from claims.services import assessment

    assert services.after_run(demo, assessment.STATISTICS_AFTER - 1) is False
    monkeypatch.setattr(assessment, "STATISTICS_AFTER", 3)
    assert services.after_run(demo, 3) is True
    if demo.database_url.startswith("postgresql"):
        engine = create_engine(demo.database_url)
        with engine.connect() as conn:
            analysed = conn.execute(
                text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'claims'")
            ).scalar_one()
        engine.dispose()
        assert analysed is not None


def test_an_empty_batch_assesses_nothing(demo: Runtime):
    """No keys: no statement with an empty id array (PostgreSQL cannot type `= ANY('{}')`), no outcome."""
    assert services.assess_claims(demo, system_identity(), []) == []
