"""Steps shared by every feature. They drive the real services on a real (SQLite) database.

State passes between steps only through fixtures (`target_fixture`) and the database itself.
"""

from __future__ import annotations

from typing import Any

import pytest
from identity_helpers import as_user, system_identity
from pytest_bdd import given, parsers, then, when
from sqlalchemy import select

from claims import services
from claims.domain import DomainError, Stage
from claims.services import Runtime
from claims.store.models import Event

CASE = "feature-case"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """Features run on SQLite only; the integration tests cover PostgreSQL."""
    return sqlite_url


# --- helpers -------------------------------------------------------------------------------


def detail(rt: Runtime, claim: str) -> dict[str, Any]:
    return services.claim_detail(rt, claim)


def last_stage_change(rt: Runtime, claim: str) -> dict[str, Any]:
    """The newest `claim.stage_changed` event of a claim, as plain values."""
    with rt.uow(write=False) as uow:
        event = uow.session.scalars(
            select(Event)
            .where(Event.claim_key == claim, Event.kind == "claim.stage_changed")
            .order_by(Event.id.desc())
            .limit(1)
        ).one()
        return {
            "from": event.from_stage,
            "to": event.to_stage,
            "actor": event.actor,
            "rationale": event.rationale,
            "policy_version": event.policy_version,
            **event.payload,
        }


def attempt(fn, *args: Any, **kwargs: Any) -> Any:
    """Run a use case; a refusal is an outcome to check, not a crash."""
    try:
        return fn(*args, **kwargs)
    except DomainError as exc:  # every refusal a user can cause
        return exc


# --- given ---------------------------------------------------------------------------------


@given("a case with the sources", target_fixture="case_key")
def a_case_with_sources(rt: Runtime, datatable: list[list[str]]) -> str:
    header, *rows = datatable
    sources = []
    for row in rows:
        cell = dict(zip(header, row, strict=True))
        entry = {
            "key": cell["key"],
            "name": f"Source {cell['key']}",
            "kind": "other",
            "reliability": cell["reliability"],
        }
        if cell.get("derived_from"):
            entry["derived_from"] = cell["derived_from"]
        sources.append(entry)
    case = {"case": {"key": CASE, "title": "A feature's case"}, "sources": sources}
    services.import_case(rt, as_user(rt, "alice"), services.validate_case(case))
    return CASE


@given(parsers.parse('a reported claim "{claim}"'))
def a_reported_claim(rt: Runtime, case_key: str, claim: str) -> None:
    case = {"case": {"key": case_key, "title": "A feature's case"}, "claims": [{"key": claim, "statement": claim}]}
    services.import_case(rt, as_user(rt, "alice"), services.validate_case(case))
    assert detail(rt, claim)["stage"] == "reported"


@given(parsers.parse('"{source}" {stance} "{claim}" with credibility {credibility:d}'))
@when(parsers.parse('"{source}" {stance} "{claim}" with credibility {credibility:d}'))
def evidence_from(rt: Runtime, source: str, stance: str, claim: str, credibility: int) -> None:
    services.add_evidence(
        rt,
        as_user(rt, "alice"),
        claim,
        source,
        stance,
        credibility=credibility,
        summary=f"{source} on {claim} ({credibility})",
    )


@given("the EU drones case has been imported and assessed")
def eu_drones(demo: Runtime) -> None:
    """The `demo` fixture imports examples/eu-drones-2024.yaml and runs the assessment."""


@given("the assessment has run")
@when("the assessment runs")
def run_assessment(rt: Runtime) -> None:
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))


@given(parsers.parse('"{claim}" has been corroborated by "{user}"'))
def corroborated_by(rt: Runtime, claim: str, user: str) -> None:
    assert services.advance(rt, as_user(rt, user), claim, Stage.CORROBORATED).stage is Stage.CORROBORATED


@given(parsers.parse('"{user}" has requested confirmation of "{claim}"'), target_fixture="review_id")
def requested_confirmation(rt: Runtime, user: str, claim: str) -> int:
    result = services.advance(rt, as_user(rt, user), claim, Stage.CONFIRMED)
    assert result.review_id is not None
    assert result.stage is Stage.CORROBORATED  # a request, not yet a move
    return result.review_id


@given(parsers.parse('"{user}" has approved the review'))
def approved(rt: Runtime, user: str, review_id: int) -> None:
    assert services.approve(rt, as_user(rt, user), review_id).status == "approved"


# --- when ----------------------------------------------------------------------------------


@when(parsers.parse('the evidence from "{source}" on "{claim}" is retracted'))
def retract(rt: Runtime, source: str, claim: str) -> None:
    (item,) = [e for e in detail(rt, claim)["evidence"] if e["source"] == source and not e["retracted"]]
    services.retract_evidence(rt, as_user(rt, "alice"), item["id"], f"{source} withdrew it")


@when(parsers.parse('"{user}" asks to move "{claim}" to {stage}'), target_fixture="outcome")
def ask_to_move(rt: Runtime, user: str, claim: str, stage: str) -> Any:
    return attempt(services.advance, rt, as_user(rt, user), claim, Stage(stage))


@when(
    parsers.re(r'"(?P<user>[^"]+)" reopens "(?P<claim>[^"]+)" to (?P<stage>\w+) with the rationale "(?P<why>[^"]*)"'),
    target_fixture="outcome",
)
def reopen(rt: Runtime, user: str, claim: str, stage: str, why: str) -> Any:
    return attempt(services.reopen, rt, as_user(rt, user), claim, Stage(stage), why)


@when(parsers.parse('"{user}" approves the review'), target_fixture="outcome")
def approve(rt: Runtime, user: str, review_id: int) -> Any:
    return attempt(services.approve, rt, as_user(rt, user), review_id)


@when(parsers.parse('"{user}" rejects the review because "{why}"'), target_fixture="outcome")
def reject(rt: Runtime, user: str, review_id: int, why: str) -> Any:
    return attempt(services.reject, rt, as_user(rt, user), review_id, why)


# --- then ----------------------------------------------------------------------------------


@then(parsers.parse('"{claim}" is {stage:w}'))
def is_at_stage(rt: Runtime, claim: str, stage: str) -> None:
    assert detail(rt, claim)["stage"] == Stage(stage).value


@then(parsers.parse('"{claim}" is flagged at risk'))
def flagged_at_risk(rt: Runtime, claim: str) -> None:
    claim_detail = detail(rt, claim)
    assert claim_detail["at_risk"] is True
    assert any(h["kind"] == "claim.at_risk" for h in claim_detail["history"])


@then(parsers.parse('"{claim}" shows the gap "{gap}"'))
def shows_gap(rt: Runtime, claim: str, gap: str) -> None:
    gaps = [g for stage in detail(rt, claim)["assessment"].values() for g in stage["gaps"]]
    assert gap in gaps


@then(parsers.parse('the evidence from "{source}" on "{claim}" has the independent root "{root}"'))
def independent_root(rt: Runtime, source: str, claim: str, root: str) -> None:
    roots = {e["independent_root"] for e in detail(rt, claim)["evidence"] if e["source"] == source}
    assert roots == {root}


@then(parsers.parse('the request is refused as {error} with "{why}"'))
def refused(outcome: Any, error: str, why: str) -> None:
    assert type(outcome).__name__ == error, outcome
    assert why in str(outcome)


@then(
    parsers.parse(
        'the last stage change of "{claim}" went from {from_stage:w} to {to_stage:w} '
        'via the assessment under policy "{version}"'
    )
)
def last_change_by_assessment(rt: Runtime, claim: str, from_stage: str, to_stage: str, version: str) -> None:
    last = last_stage_change(rt, claim)
    assert (last["from"], last["to"], last["policy_version"]) == (from_stage, to_stage, version)
    assert (last["actor"], last["via"]) == ("system", "assessment")


@then(
    parsers.parse(
        'the last stage change of "{claim}" went from {from_stage:w} to {to_stage:w} via a reopen by "{user}" '
        'because "{why}"'
    )
)
def last_change_by_reopen(rt: Runtime, claim: str, from_stage: str, to_stage: str, user: str, why: str) -> None:
    last = last_stage_change(rt, claim)
    assert (last["from"], last["to"], last["actor"], last["rationale"]) == (from_stage, to_stage, user, why)
    assert last["via"] == "reopen"


@then(parsers.parse('the last stage change of "{claim}" names "{requester}" as requester and "{approver}" as approver'))
def names_requester_and_approver(rt: Runtime, claim: str, requester: str, approver: str) -> None:
    last = last_stage_change(rt, claim)
    assert (last["by"], last["approved_by"], last["actor"], last["via"]) == (requester, approver, approver, "review")


@then(parsers.parse('the review is still pending, awaiting sign-off by a reviewer other than "{requester}"'))
def still_pending(rt: Runtime, review_id: int, requester: str) -> None:
    (review,) = [r for r in services.review_queue(rt, None) if r["id"] == review_id]
    assert (review["status"], review["requested_by"]) == ("pending", requester)
    assert review["gaps"] == [f"awaiting sign-off by a reviewer other than {requester}"]
