"""The sign-off flow: the pause form, decisions through the services, decisions taken elsewhere while it waits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from flow_helpers import event_counts
from identity_helpers import as_user, system_identity
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.flow_runs import resume_flow_run
from prefect.states import Failed
from prefect_support import BackgroundRun
from sqlalchemy import select, update
from typer.testing import CliRunner

from claims import services
from claims.cli import app
from claims.domain.errors import DomainError
from claims.domain.stages import Stage
from claims.services import PermissionDenied, Runtime
from claims.services.identity import digest, issue_signoff_code
from claims.services.review import decide_with_code
from claims.services.signoff import review_state
from claims.store.models import Event, SignoffCode
from flows.review import ReviewDecision, apply_decision, describe, signoff_flow
from flows.runner import assess
from flows.serve import SIGNOFF

POLL = 0.2


@pytest.fixture
def review_id(loaded: Runtime) -> int:
    """factory-exists meets the confirm criteria once a third independent line (B2) arrives; bob asks to confirm."""
    assess(loaded, system_identity(), None)
    services.add_evidence(
        loaded,
        as_user(loaded, "alice"),
        "factory-exists",
        "eu-official",
        "supports",
        credibility=2,
        summary="An EU official confirms the factory's location from separate reporting.",
    )
    result = services.advance(
        loaded, as_user(loaded, "bob"), "factory-exists", Stage.CONFIRMED, reason="three independent lines"
    )
    assert result.review_id is not None
    return result.review_id


def test_description_shows_the_request_the_assessment_and_the_gaps(review_id: int, loaded: Runtime):
    review = review_state(loaded, review_id)
    text = describe(review, services.claim_detail(loaded, review.claim), ["approve refused: four eyes"])
    assert f"## Review #{review_id}: factory-exists corroborated -> confirmed" in text
    assert "Requested by **bob**" in text and "three independent lines" in text
    assert "- [x]" in text and "- [ ]" in text and "**gap:** awaiting sign-off" in text
    assert "| B2 | supports | reuters | reuters |" in text
    assert "### Refused so far" in text and "must not be bob" in text


def code_for(rt: Runtime, reviewer: str, review_id: int) -> str:
    return issue_signoff_code(rt, as_user(rt, reviewer), review_id)[0]


@pytest.mark.parametrize(
    ("code", "decision", "rationale", "refusal"),
    [
        ("", "approve", "", "code: not a sign-off code for review"),
        ("carol", "approve", "", "code: not a sign-off code for review"),  # a name is not a code
        ("forged-000000-000000", "approve", "", "code: not a sign-off code for review"),
        (None, "reject", " ", "needs a rationale"),
    ],
)
def test_apply_decision_fn_refuses_anything_but_a_valid_code(
    review_id: int, loaded: Runtime, code: str | None, decision: str, rationale: str, refusal: str
):
    answer = ReviewDecision(
        decision=decision, code=code if code is not None else code_for(loaded, "carol", review_id), rationale=rationale
    )
    verdict = apply_decision.fn(loaded, review_id, answer)
    assert not verdict.applied and refusal in verdict.message
    assert review_state(loaded, review_id).pending


@pytest.mark.parametrize(
    ("reviewer", "refusal"),
    [("bob", "cannot also decide it"), ("mia", "has role manager"), ("alice", "has role analyst")],
)
def test_only_a_reviewer_other_than_the_requester_gets_a_code(
    review_id: int, loaded: Runtime, reviewer: str, refusal: str
):
    with pytest.raises(DomainError, match=refusal):
        issue_signoff_code(loaded, as_user(loaded, reviewer), review_id)


def test_a_code_decides_once_as_its_owner_and_is_stored_only_as_a_hash(review_id: int, loaded: Runtime):
    code = code_for(loaded, "carol", review_id)
    verdict = apply_decision.fn(loaded, review_id, ReviewDecision(decision="approve", code=code))
    assert verdict.applied and "by carol: factory-exists is confirmed" in verdict.message
    assert review_state(loaded, review_id).decided_by == "carol"
    with loaded.uow(write=False) as uow:
        rows = [(r.code_hash, r.used_at is not None) for r in uow.session.scalars(select(SignoffCode))]
        events = json.dumps([e.payload for e in uow.session.scalars(select(Event))])
    assert rows == [(digest(code), True)]
    assert code not in events
    with pytest.raises(PermissionDenied, match="code: already used"):
        decide_with_code(loaded, review_id, code, "reject", "again")


def test_an_expired_code_or_one_for_another_review_decides_nothing(review_id: int, loaded: Runtime):
    code = code_for(loaded, "carol", review_id)
    with pytest.raises(PermissionDenied, match="not a sign-off code for review"):
        decide_with_code(loaded, review_id + 1, code, "approve")
    with loaded.uow() as uow:
        uow.session.execute(update(SignoffCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        uow.commit()
    with pytest.raises(PermissionDenied, match="code: expired"):
        decide_with_code(loaded, review_id, code, "approve")
    assert review_state(loaded, review_id).pending
    with loaded.uow(write=False) as uow:
        refused = uow.session.scalars(select(Event).where(Event.kind == "signoff_code.refused")).all()
    assert len(refused) == 2


def test_the_cli_gives_a_signed_in_reviewer_a_code(review_id: int, loaded: Runtime, env_db: str):
    result = CliRunner().invoke(app, ["review", "code", str(review_id), "--as", "carol"])
    assert result.exit_code == 0, result.output
    code = result.stdout.strip()
    assert decide_with_code(loaded, review_id, code, "approve")[0] == "carol"
    refused = CliRunner().invoke(app, ["review", "code", str(review_id), "--as", "nobody"])
    assert refused.exit_code == 4


def test_a_review_decided_already_ends_the_run_at_once(review_id: int, loaded: Runtime):
    services.reject(loaded, as_user(loaded, "carol"), review_id, "the official repeats the EEAS")
    result = signoff_flow(review_id=review_id, poll_seconds=POLL)
    assert (result.status, result.decided_by, result.decided_here) == ("rejected", "carol", False)


@pytest.fixture
def waiting(review_id: int, loaded: Runtime) -> Iterator[BackgroundRun]:
    """The sign-off run for the review, paused and waiting for input."""
    run = BackgroundRun(signoff_flow, review_id=review_id, poll_seconds=POLL)
    run.wait_paused(1)
    yield run
    if run.thread.is_alive():  # a failed test must not leave the run waiting
        services.reject(loaded, as_user(loaded, "carol"), review_id, "test cleanup")
        run.thread.join(10)


def test_the_form_believes_no_typed_name_only_a_code(waiting: BackgroundRun, review_id: int, loaded: Runtime):
    waiting.resume(decision="approve", code="carol", rationale="I am carol, honest")
    waiting.wait_paused(2)
    assert review_state(loaded, review_id).pending
    assert "code: not a sign-off code" in (waiting.description(2) or "")
    waiting.resume(decision="approve", code=code_for(loaded, "carol", review_id), rationale="three lines, one B2")
    result = waiting.join(30)
    assert (result.status, result.decided_by, result.decided_here) == ("approved", "carol", True)


def test_a_decision_taken_through_the_cli_while_the_run_waits_is_applied_once(
    waiting: BackgroundRun, review_id: int, loaded: Runtime, env_db: str
):
    before = event_counts(env_db)
    cli = CliRunner().invoke(app, ["review", "approve", str(review_id), "--as", "carol", "--json"])
    assert cli.exit_code == 0, cli.output

    result = waiting.join(30)

    assert (result.status, result.decided_by, result.decided_here) == ("approved", "carol", False)
    assert waiting.flow_run().state.is_completed()
    assert event_counts(env_db) - before == {
        ("review.approved", "factory-exists"): 1,
        ("claim.stage_changed", "factory-exists"): 1,
    }
    assert services.claim_detail(loaded, "factory-exists")["stage"] == "confirmed"


def test_a_review_withdrawn_by_the_assessment_ends_the_waiting_run(
    waiting: BackgroundRun, review_id: int, loaded: Runtime
):
    detail = services.claim_detail(loaded, "factory-exists")
    official = next(e["id"] for e in detail["evidence"] if e["source"] == "eu-official")
    services.retract_evidence(loaded, as_user(loaded, "alice"), official, "the official repeated the EEAS briefing")
    assess(loaded, system_identity(), ["factory-exists"])

    result = waiting.join(30)
    assert (result.status, result.decided_by, result.decided_here) == ("withdrawn", "system", False)
    assert services.claim_detail(loaded, "factory-exists")["stage"] == "corroborated"


def test_the_assessment_starts_one_signoff_run_per_pending_review(review_id: int, loaded: Runtime):
    from flows.review import signoff_flow as flow_

    flow_.to_deployment(name=SIGNOFF.split("/")[1]).apply()
    from flows.assessment import assessment_flow

    first = assessment_flow(signoff_deployment=SIGNOFF)
    second = assessment_flow(signoff_deployment=SIGNOFF)

    assert list(first.signoff_runs) == [review_id]
    assert second.signoff_runs == first.signoff_runs  # the idempotency key: one run per review request
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(first.signoff_runs[review_id]))
    assert run.parameters == {"review_id": review_id}
    assert run.name == f"review-{review_id}"
    assert run.state.is_scheduled()  # nobody serves the deployment in this test

    # The waiting run ends without a decision (its pause timed out): the next assessment starts
    # one replacement, and only one, however often it runs.
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Failed(message="pause timed out"), force=True)
    third = assessment_flow(signoff_deployment=SIGNOFF)
    fourth = assessment_flow(signoff_deployment=SIGNOFF)
    assert third.signoff_runs[review_id] != first.signoff_runs[review_id]
    assert fourth.signoff_runs == third.signoff_runs
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(UUID(third.signoff_runs[review_id])).state.is_scheduled()


def test_user_text_in_the_description_is_literal_markdown(review_id: int, loaded: Runtime):
    review = review_state(loaded, review_id)
    detail = services.claim_detail(loaded, review.claim)
    detail["statement"] = "<script>alert(1)</script> see [this](http://example.invalid)"
    detail["evidence"][0]["summary"] = "a | b\nnext line"
    text = describe(review, detail, [])
    assert re.search(r"(?<!\\)<", text) is None and "[this](" not in text  # no tag, no link survives
    assert r"> \<script>alert(1)\</script> see \[this\](http://example.invalid)" in text
    assert r"a \| b next line" in text


def execute_as_a_worker_would(flow_run_id: UUID, rt: Runtime, home: str, timeout: float = 240) -> int:
    """`python -m prefect.engine` for one flow run, as a process worker starts it: its own process, the flow
    loaded from the deployment's entrypoint; returns its exit code once it ends."""
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT__FLOW_RUN_ID": str(flow_run_id),
        "PREFECT_HOME": home,  # where the persisted results live, the same for every execution of the run
        "CLAIMS_DATABASE_URL": rt.database_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "prefect.engine"], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert "Traceback" not in done.stderr or done.returncode == 0, done.stderr[-3000:]
    return done.returncode


def test_a_deployed_signoff_run_suspends_holds_no_process_and_replays_its_persisted_verdicts(
    review_id: int, loaded: Runtime, tmp_path
):
    """Run from a deployment, the sign-off run suspends: its process ENDS while the review waits. Each resume
    starts it again from the top; the verdict of an earlier wait comes from its persisted result (a Cached
    task run), and the valid decision is applied exactly once."""
    from prefect.deployments import run_deployment
    from prefect.types.entrypoint import EntrypointType

    signoff_flow.to_deployment(name="suspending", entrypoint_type=EntrypointType.MODULE_PATH).apply()
    run = run_deployment("claims-signoff/suspending", parameters={"review_id": review_id}, timeout=0, as_subflow=False)
    home = str(tmp_path / "prefect-home")
    before = event_counts(loaded.database_url)

    def state() -> Any:
        with get_client(sync_client=True) as client:
            return client.read_flow_run(run.id).state

    # 1. the run waits for a reviewer: suspended, and its process has ended (no worker slot held)
    assert execute_as_a_worker_would(run.id, loaded, home) == 0
    waiting = state()
    assert (waiting.type.value, waiting.name, waiting.state_details.pause_key) == ("PAUSED", "Suspended", "1")

    # 2. a typed name instead of a code: refused, the run suspends again for a second decision
    resume_flow_run(run.id, run_input={"decision": "approve", "code": "carol", "rationale": "I am carol"})
    assert state().is_scheduled()  # resumed: back in the queue for a worker, not running anywhere
    assert execute_as_a_worker_would(run.id, loaded, home) == 0
    again = state()
    assert (again.name, again.state_details.pause_key) == ("Suspended", "2")
    assert review_state(loaded, review_id).pending

    # 3. a valid code: the replay returns wait 1's verdict from its persisted result, then applies wait 2's
    resume_flow_run(run.id, run_input={"decision": "approve", "code": code_for(loaded, "carol", review_id)})
    assert execute_as_a_worker_would(run.id, loaded, home) == 0
    assert state().is_completed()
    assert review_state(loaded, review_id).status == "approved"
    # the typed name was refused ONCE: the replays took its verdict from the persisted result, not from a new try
    assert event_counts(loaded.database_url) - before == {
        ("signoff_code.issued", "factory-exists"): 1,
        ("signoff_code.refused", None): 1,
        ("review.approved", "factory-exists"): 1,
        ("claim.stage_changed", "factory-exists"): 1,
    }
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    decisions = sorted(t.state.name for t in tasks if t.name.startswith("apply-decision"))
    assert "Cached" in decisions, decisions  # the first verdict was not decided again on replay
