"""Each event's hash covers the event before it (`prev_hash`) and every field that says what happened."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from claims.domain.events import EventKind
from claims.store.events import GENESIS, event_hash
from claims.store.models import Event

FIELDS = {
    "at": datetime(2024, 9, 25, 12, 0, tzinfo=UTC),
    "actor": "alice",
    "kind": EventKind.CLAIM_STAGE_CHANGED.value,
    "case_key": "eu-drones-2024",
    "claim_key": "factory-exists",
    "from_stage": "corroborated",
    "to_stage": "confirmed",
    "rationale": "three lines",
    "policy_version": "v1",
    "payload": {"via": "review", "by": "alice", "approved_by": "bob"},
    "prev_hash": GENESIS,
}


def event(**changes: object) -> Event:
    return Event(**{**FIELDS, **changes})


def test_relinking_an_event_to_another_predecessor_changes_its_hash():
    assert event_hash(event(prev_hash="a" * 64)) != event_hash(event())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "mallory"),
        ("kind", EventKind.CLAIM_AT_RISK.value),
        ("to_stage", "refuted"),
        ("rationale", "nothing to see"),
        ("payload", {"via": "review", "by": "alice", "approved_by": "alice"}),
        ("at", datetime(2024, 9, 25, 12, 0, 1, tzinfo=UTC)),
    ],
)
def test_every_field_is_covered(field: str, value: object):
    assert event_hash(event(**{field: value})) != event_hash(event())


# Computed by the code before EventKind existed (commit 4f19652): existing databases keep verifying.
BEFORE_THE_ENUM = "68719637353eaa912c3ae7a5615ddbb14f3b729c4b6586e75a86d5ab99417f3f"


def test_the_hashed_bytes_are_those_of_existing_databases():
    assert event_hash(event()) == BEFORE_THE_ENUM
    assert event_hash(event(kind=EventKind.CLAIM_STAGE_CHANGED)) == BEFORE_THE_ENUM
