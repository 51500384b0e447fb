"""Each event's hash covers the event before it (`prev_hash`) and every field that says what happened."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims.domain.events import EventKind
from claims.domain.grades import Credibility
from claims.domain.stages import Stage
from claims.store.events import GENESIS, _row_hash, event_hash, payload_json
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


# --- the hashed text is written piece by piece (events.canonical); it must be json.dumps' text -------------


def reference_hash(**changes: object) -> str:
    """`_row_hash`: json.dumps over the whole body, the plain statement of what is hashed."""
    fields = {**FIELDS, **changes}
    return _row_hash({**fields, "at": fields["at"]})


PAYLOADS = [
    {},
    {
        "via": "import",
        "items": [{"evidence": 7, "source": "s0", "stance": "supports", "grade": "B2", "retracted": False}],
    },
    {"text": 'café ☕ \u2028 "quoted" \\ back\nslash \x00 \ud800', "n": -(10**30), "none": None, "t": True, "f": False},
    {"float": 1.5, "nan": float("nan"), "inf": float("inf"), "big": 1e16, "small": 5e-324},
    {"nested": {"b": [1, [2, {"c": None}]], "a": (1, "x")}, "list": []},
    {1: "int keys", 10: "sort as numbers", 2: "then become text"},
    {"enum": EventKind.CLAIM_REPORTED, "stage": Stage.CONFIRMED, "credibility": Credibility.PROBABLY_TRUE},
    {"when": datetime(2024, 9, 25, 12, 0, tzinfo=UTC), "day": date(2024, 9, 25)},
    {"z": 1, "a": 2, "É": 3, "é": 4, "_": 5, "A": 6, "": 7},
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_each_payload_is_hashed_as_json_dumps_writes_it(payload: object):
    assert event_hash(event(payload=payload)) == reference_hash(payload=payload)


@pytest.mark.parametrize(
    "changes",
    [
        {"actor": None, "rationale": "naïve — “quotes”", "policy_version": None},
        {"kind": EventKind.CLAIM_STAGE_CHANGED, "case_key": None, "claim_key": None},
        {"from_stage": Stage.CORROBORATED, "to_stage": "confirmed"},  # a str subclass where a str is usual
        {"actor": 42, "rationale": 1.25},
    ],
)
def test_every_field_is_written_as_json_dumps_writes_it(changes: dict[str, object]):
    assert event_hash(event(**changes)) == reference_hash(**changes)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6), st.text(max_size=10))
def test_any_json_payload_is_hashed_as_json_dumps_writes_it(payload: dict[str, object], actor: str):
    assert event_hash(event(payload=payload, actor=actor)) == reference_hash(payload=payload, actor=actor)
    assert payload_json(payload) == json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
