"""The assessment flow: batches, idempotent re-runs, a retried batch, the artifact, the task runner choice."""

from __future__ import annotations

import json
import time
from uuid import UUID

import pytest
from flow_helpers import event_counts, event_rows
from identity_helpers import system_identity
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from claims import services
from claims.cli import app
from claims.domain.stages import Stage
from claims.services import Runtime
from flows import assessment
from flows.assessment import ARTIFACT_KEY, BatchesFailed, assess_batch, batches, report_markdown, task_runner
from flows.runner import assess

DEMO_KEYS = ["factory-exists", "lethal-production", "shipped-to-russia", "beijing-aware", "dual-use-supply"]


def test_batches_cut_keys_in_order():
    assert batches(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert batches([], 200) == []
    with pytest.raises(ValueError, match="batch_size"):
        batches(["a"], 0)


def test_assess_batch_fn_applies_the_policy_to_one_batch(loaded: Runtime):
    outcomes = assess_batch.fn(loaded, system_identity(), ["factory-exists", "beijing-aware"])
    assert [(o.claim, o.from_stage, o.stage) for o in outcomes] == [
        ("factory-exists", Stage.REPORTED, Stage.CORROBORATED),
        ("beijing-aware", Stage.REPORTED, Stage.REPORTED),
    ]


def test_flow_assesses_in_batches_and_a_rerun_changes_nothing(loaded: Runtime, db_url: str):
    before = event_counts(db_url)
    first = assess(loaded, system_identity(), None, batch_size=2)
    assert first.batches == 3
    assert sorted(o.claim for o in first.outcomes) == sorted(DEMO_KEYS)
    assert [(o.claim, o.stage) for o in first.outcomes if o.moved] == [("factory-exists", Stage.CORROBORATED)]
    after_first = event_counts(db_url)
    assert after_first - before == {("claim.stage_changed", "factory-exists"): 1}

    second = assess(loaded, system_identity(), None, batch_size=2)
    assert not any(o.moved or o.changes for o in second.outcomes)
    assert event_counts(db_url) == after_first


def test_flow_publishes_a_markdown_artifact_of_what_moved_and_why(loaded: Runtime):
    assess(loaded, system_identity(), None, case="eu-drones-2024")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY])))
    latest = max(artifacts, key=lambda a: a.created)
    assert latest.type == "markdown"
    assert "| factory-exists | reported | corroborated | reported -> corroborated: corroboration criteria hold |" in (
        latest.data
    )
    assert latest.description.startswith("5 claim(s) assessed: 1 moved")


def test_report_markdown_lists_failed_batches_and_risks():
    outcome = services.Outcome("x", Stage.CONFIRMED, Stage.CONFIRMED, at_risk=True, changes=("at risk: a | b",))
    text = report_markdown([outcome], 2, [(["y", "z"], OperationalError("SELECT", {}, Exception("locked")))], "v1")
    assert "at risk: a \\| b" in text
    assert "## At risk" in text and "- x" in text
    assert "## Failed batches" in text and "2 claim(s) from 'y'" in text


def task_run_counts(flow_run_id: str | None, expected: list[int], timeout: float = 15) -> list[int]:
    """How many times Prefect ran each assess-batch task of a flow run, once the server has recorded them
    (task run states reach the API as events, recorded a moment after the flow returns)."""
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
        counts = sorted(r.run_count for r in runs if r.name.startswith("assess-batch"))
        if counts == expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def test_a_run_of_one_batch_is_one_task_run(loaded: Runtime):
    """Listing the claims is plain code in the flow; each task run costs orchestration (issue 11)."""
    report = assess(loaded, system_identity(), None, full=True)
    assert report.batches == 1
    deadline = time.monotonic() + 15
    while True:
        with get_client(sync_client=True) as client:
            flow_run = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(report.flow_run_id)]))
            names = sorted(r.name.rsplit("-", 1)[0] for r in client.read_task_runs(flow_run_filter=flow_run))
        if names or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert names == ["assess-batch"]


class FailOnce:
    """Wraps the assessment service: the first call for the batch holding `key` fails with a lost connection,
    either before anything was written or right after the batch committed."""

    def __init__(self, real, key: str, after_commit: bool) -> None:
        self.real, self.key, self.after_commit = real, key, after_commit
        self.calls: list[list[str]] = []

    def __call__(self, rt: Runtime, actor: str, keys: list[str]):
        self.calls.append(list(keys))
        first_time = self.key in keys and sum(self.key in c for c in self.calls) == 1
        if first_time and not self.after_commit:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("server closed the connection unexpectedly"))
        outcomes = self.real(rt, actor, keys)
        if first_time:
            raise OperationalError("COMMIT", {}, Exception("connection lost after commit"))
        return outcomes


@pytest.mark.parametrize("after_commit", [False, True], ids=["fails-before-commit", "fails-after-commit"])
def test_a_batch_that_fails_once_is_retried_and_applies_each_transition_once(
    loaded: Runtime, db_url: str, monkeypatch: pytest.MonkeyPatch, after_commit: bool
):
    flaky = FailOnce(services.assess_claims, "factory-exists", after_commit)
    monkeypatch.setattr(services, "assess_claims", flaky)
    before = event_rows(db_url)

    report = assess(loaded, system_identity(), None, batch_size=2)

    assert sum("factory-exists" in c for c in flaky.calls) == 2  # the failed try and its retry
    assert len(flaky.calls) == 4  # three batches, one of them twice
    assert task_run_counts(report.flow_run_id, [1, 1, 2]) == [1, 1, 2]  # as Prefect recorded them
    moved = {o.claim: o.stage for o in report.outcomes if o.moved}
    # After a commit the retry finds the claim already corroborated: nothing moves twice.
    assert moved == ({} if after_commit else {"factory-exists": Stage.CORROBORATED})
    assert services.claim_detail(loaded, "factory-exists")["stage"] == "corroborated"
    # exactly one new claim event in the whole log: the one transition, written once
    new = event_rows(db_url)[len(before) :]
    assert [r for r in new if not r[0].startswith("task.")] == [
        ("claim.stage_changed", "factory-exists", "corroborated")
    ]
    # and each collection task opened once (issue 18), the retried batch's included
    from claims.services.tasks import list_tasks

    assert len([r for r in new if r[0] == "task.opened"]) == len(list_tasks(loaded, system_identity())) > 0
    assert services.audit_verify(loaded).ok


def test_a_batch_that_keeps_failing_fails_the_run_but_the_others_commit(
    loaded: Runtime, db_url: str, monkeypatch: pytest.MonkeyPatch
):
    real = services.assess_claims

    def broken(rt: Runtime, actor: str, keys: list[str]):
        if "dual-use-supply" in keys:
            raise RuntimeError("bug in a batch")  # not I/O: no retry
        return real(rt, actor, keys)

    monkeypatch.setattr(services, "assess_claims", broken)
    with pytest.raises(BatchesFailed, match="1 of 3 batch"):
        assess(loaded, system_identity(), None, batch_size=2)
    assert services.claim_detail(loaded, "factory-exists")["stage"] == "corroborated"


def test_an_unknown_claim_is_the_callers_error_not_an_outage(loaded: Runtime):
    with pytest.raises(services.NotFound, match="nope"):
        assess(loaded, system_identity(), ["nope"])


def test_task_runner_is_a_thread_pool_unless_dask_is_asked_for():
    assert isinstance(task_runner(), ThreadPoolTaskRunner)
    remote = task_runner("tcp://127.0.0.1:8786")
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://127.0.0.1:8786"
    local = task_runner("local", workers=3)
    assert isinstance(local, DaskTaskRunner) and local.cluster_kwargs["n_workers"] == 3
    assert isinstance(assessment.assessment_flow.task_runner, ThreadPoolTaskRunner)


@pytest.fixture
def cli_db(loaded: Runtime, env_db: str) -> str:
    return env_db


def test_cli_assess_json_keeps_its_shape_and_stdout_is_pure_json(cli_db: str):
    result = CliRunner().invoke(app, ["assess", "--json", "--batch-size", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["assessed", "moved", "review_requested", "at_risk", "changes"]
    assert data["assessed"] == 5
    assert data["moved"] == [{"claim": "factory-exists", "from": "reported", "to": "corroborated"}]
    assert data["changes"] == {"factory-exists": ["reported -> corroborated: corroboration criteria hold"]}


def test_cli_assess_unknown_claim_is_one_line_and_exit_3(cli_db: str):
    result = CliRunner().invoke(app, ["assess", "nope"])
    assert result.exit_code == 3
    assert result.stderr.strip() == "error: claim: unknown claim 'nope'"


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Prefect API configured, as on one person's machine: the runner takes the in-process path."""
    from flows import runner

    monkeypatch.setattr(runner, "prefect_api_url", lambda: None)


def flow_run_count() -> int:
    with get_client(sync_client=True) as client:
        return len(client.read_flow_runs(limit=200))


def test_in_process_the_assessment_is_the_same_batches_events_and_results_and_no_flow_run(
    loaded: Runtime, db_url: str, here: None
):
    from flows.work import on_progress

    runs, before = flow_run_count(), event_counts(db_url)
    heard: list[tuple[int, int]] = []
    with on_progress(lambda done, total: heard.append((done, total))):
        first = assess(loaded, system_identity(), None, batch_size=2)
    assert (first.batches, first.flow_run_id) == (3, None)
    assert sorted(o.claim for o in first.outcomes) == sorted(DEMO_KEYS)
    assert [(o.claim, o.stage) for o in first.outcomes if o.moved] == [("factory-exists", Stage.CORROBORATED)]
    assert event_counts(db_url) - before == {("claim.stage_changed", "factory-exists"): 1}
    assert heard[0] == (0, 5) and heard[-1] == (5, 5)  # a caller's own progress callback is heard
    second = assess(loaded, system_identity(), None, batch_size=2)
    assert not any(o.moved or o.changes for o in second.outcomes)
    assert flow_run_count() == runs  # nothing recorded on the Prefect server
    assert services.audit_verify(loaded).ok


@pytest.mark.parametrize("after_commit", [False, True], ids=["fails-before-commit", "fails-after-commit"])
def test_in_process_a_batch_that_fails_once_is_retried_and_applies_each_transition_once(
    loaded: Runtime, db_url: str, monkeypatch: pytest.MonkeyPatch, after_commit: bool, here: None
):
    flaky = FailOnce(services.assess_claims, "factory-exists", after_commit)
    monkeypatch.setattr(services, "assess_claims", flaky)
    before = event_rows(db_url)

    report = assess(loaded, system_identity(), None, batch_size=2)

    assert sum("factory-exists" in c for c in flaky.calls) == 2  # the failed try and its retry, as the task's
    assert services.claim_detail(loaded, "factory-exists")["stage"] == "corroborated"
    added = [e for e in event_rows(db_url)[len(before) :] if not e[0].startswith("task.")]  # tasks: test_tasks.py
    assert added == [("claim.stage_changed", "factory-exists", "corroborated")]
    assert {o.claim for o in report.outcomes} == set(DEMO_KEYS)


def test_in_process_a_batch_that_keeps_failing_is_batches_failed_and_an_unknown_claim_the_callers_error(
    loaded: Runtime, monkeypatch: pytest.MonkeyPatch, here: None
):
    with pytest.raises(services.NotFound, match="nope"):
        assess(loaded, system_identity(), ["nope"])
    real = services.assess_claims

    def broken(rt: Runtime, actor: str, keys: list[str]):
        if "dual-use-supply" in keys:
            raise RuntimeError("bug in a batch")  # not I/O: no retry
        return real(rt, actor, keys)

    monkeypatch.setattr(services, "assess_claims", broken)
    with pytest.raises(BatchesFailed, match="1 of 3 batch"):
        assess(loaded, system_identity(), None, batch_size=2)
    assert services.claim_detail(loaded, "factory-exists")["stage"] == "corroborated"
