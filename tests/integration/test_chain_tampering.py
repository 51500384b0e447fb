"""Cutting one event out of the audit log is always caught, however the hole is papered over.

The hash of each event covers its `prev_hash`: relinking the next event to the one before
the hole breaks that event's own hash; recomputing it breaks the link of the event after.
Only rewriting every later hash would hide a hole - signed checkpoints cover that case.
"""

from __future__ import annotations

from audit_helpers import delete_and_relink, middle_event_ids

from claims import services
from claims.services import Runtime


def test_untouched_log_verifies(demo: Runtime):
    report = services.audit_verify(demo)
    assert report.ok, report.problem
    assert report.events > 5


def test_deleted_event_with_the_next_relinked_is_caught_at_the_relinked_event(demo: Runtime, db_url: str):
    _, target, _ = middle_event_ids(db_url)
    relinked = delete_and_relink(db_url, target, recompute=False)
    report = services.audit_verify(demo)
    assert not report.ok
    assert report.first_bad_id == relinked
    assert report.problem == f"event {relinked}: content does not match its hash"


def test_deleted_event_with_the_next_relinked_and_rehashed_is_caught_one_event_later(demo: Runtime, db_url: str):
    _, target, _ = middle_event_ids(db_url)
    relinked = delete_and_relink(db_url, target, recompute=True)
    report = services.audit_verify(demo)
    assert not report.ok
    assert report.first_bad_id is not None and report.first_bad_id > relinked
    assert report.problem == f"event {report.first_bad_id}: prev_hash does not match event before it"
