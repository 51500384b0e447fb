"""Scenarios of tests/features/signoff.feature: the sign-off flow run waiting for a reviewer.

Background steps come from the shared conftest.py; the steps that talk to the waiting flow run are
defined here. The flow runs in a thread against the session's Prefect test harness.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from identity_helpers import as_user
from prefect_support import BackgroundRun, start_harness, stop_harness
from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from claims import services
from claims.cli import app
from claims.domain.errors import DomainError
from claims.services import Runtime
from claims.services.identity import issue_signoff_code
from flows.common import use_runtime
from flows.review import signoff_flow

scenarios("signoff.feature")

POLL = 0.2


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """The Prefect test harness, shared with tests/flows when both run in one session."""
    start_harness()
    yield
    stop_harness()


@pytest.fixture
def signoff(rt: Runtime, review_id: int) -> Iterator[dict[str, Any]]:
    """The waiting run and how many times it has paused; a run left waiting by a failed step is ended."""
    state: dict[str, Any] = {}
    yield state
    run: BackgroundRun | None = state.get("run")
    if run is not None and run.thread.is_alive():
        services.reject(rt, as_user(rt, "carol"), review_id, "scenario cleanup")
        run.thread.join(10)


@given("the sign-off run for the review waits for a decision")
def run_waits(rt: Runtime, review_id: int, signoff: dict[str, Any]) -> None:
    with use_runtime(rt):
        run = BackgroundRun(signoff_flow, review_id=review_id, poll_seconds=POLL)
    run.wait_paused(1)
    signoff.update(run=run, pauses=1)


@when(
    parsers.re(r'"(?P<user>[^"]+)" submits (?P<decision>approve|reject) in the sign-off run( because "(?P<why>.*)")?')
)
def submit(rt: Runtime, review_id: int, signoff: dict[str, Any], user: str, decision: str, why: str | None) -> None:
    """The person proves who they are with a one-time code; one the rules refuse never gets a code to type."""
    try:
        code, _ = issue_signoff_code(rt, as_user(rt, user), review_id)
    except DomainError as exc:
        signoff["refused"] = str(exc)
        return
    signoff.pop("refused", None)
    signoff["run"].resume(decision=decision, code=code, rationale=why or "")


@when(parsers.parse('"{user}" approves the review with the command line'))
def approve_with_cli(env_db: str, review_id: int, user: str) -> None:
    result = CliRunner().invoke(app, ["review", "approve", str(review_id), "--as", user])
    assert result.exit_code == 0, result.output


@then(parsers.parse('the sign-off form shows the request by "{requester}" and the gap "{gap}"'))
def form_shows(signoff: dict[str, Any], requester: str, gap: str) -> None:
    text = signoff["run"].description(signoff["pauses"])
    assert f"Requested by **{requester}**" in text
    assert f"**gap:** {gap}" in text


@then(parsers.parse('the sign-off run refuses it because "{why}" and waits again'))
def refused_and_waits(signoff: dict[str, Any], why: str) -> None:
    if "refused" in signoff:  # refused before the form: no code, so the run still waits at the same pause
        assert why in signoff["refused"]
        signoff["run"].wait_paused(signoff["pauses"])
        return
    signoff["pauses"] += 1
    signoff["run"].wait_paused(signoff["pauses"])
    refusals = signoff["run"].description(signoff["pauses"]).split("### Refused so far", 1)[1]
    assert why in refusals


@then(
    parsers.re(
        r'the sign-off run ends with the review approved by "(?P<user>[^"]+)" (?P<where>through|outside) the run'
    )
)
def run_ends(signoff: dict[str, Any], user: str, where: str) -> None:
    result = signoff["run"].join(30)
    assert (result.status, result.decided_by, result.decided_here) == ("approved", user, where == "through")
    assert signoff["run"].flow_run().state.is_completed()


@then(parsers.parse('the last events of "{claim}" are'))
def last_events(rt: Runtime, claim: str, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    expected = [{k: v or None for k, v in zip(header, row, strict=True)} for row in rows]  # empty cell: none
    history = services.claim_detail(rt, claim)["history"]
    assert [{"kind": h["kind"], "actor": h["actor"], "to": h["to"]} for h in history[-len(expected) :]] == expected


@then(parsers.parse('"{claim}" has exactly one "{first}" event and one "{second}" event to {stage:w}'))
def exactly_once(rt: Runtime, claim: str, first: str, second: str, stage: str) -> None:
    history = services.claim_detail(rt, claim)["history"]
    assert sum(h["kind"] == first for h in history) == 1
    assert [h["to"] for h in history if h["kind"] == second].count(stage) == 1
