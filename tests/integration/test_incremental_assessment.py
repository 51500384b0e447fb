"""Incremental assessment: only claims changed since they were last judged (or judged under
another policy version) are picked up; the assessment's own changes do not make a claim stale."""

from __future__ import annotations

import dataclasses

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
        demo, "alice", "factory-exists", "us-treasury", "supports", grade="B2", summary="OFAC designation"
    )
    assert changed(demo) == ["factory-exists"]
    services.assess_claims(demo, "system", changed(demo))
    assert changed(demo) == []
    services.retract_evidence(demo, "alice", added.id, "designation withdrawn")
    assert changed(demo) == ["factory-exists"]


def test_a_new_policy_version_makes_every_claim_stale(demo: Runtime):
    v2 = Runtime(demo.database_url, dataclasses.replace(demo.policy, version="v2-test"))
    assert changed(v2) == services.open_claim_keys(v2)
    services.assess_claims(v2, "system", changed(v2))
    assert changed(v2) == []
    assert len(changed(demo)) == len(services.open_claim_keys(demo))  # back to v1: judged under v2
