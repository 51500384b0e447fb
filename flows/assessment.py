"""Assessment flow: judge every open claim (or a given set) against the policy, one batch per task.

Claims are many and each Prefect task run costs tens of milliseconds of orchestration, so a task
assesses a whole batch (CLAIMS_BATCH_SIZE, default 5000) in one transaction. The service decides
every step from the stored state, so a retried or re-run batch never applies a transition twice.
The body is `flows.work`'s, which a command with no Prefect API runs in its own process.

Each batch's write holds a slot of the global concurrency limit `claims-database-writes` (created
with `prefect gcl create`, see prefect.yaml): however many workers run assessments, at most that
many batches write to the one database at once. Without the limit the batches run unthrottled.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext, get_run_context
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from claims import services
from claims.services import Outcome, Runtime
from claims.services.identity import Identity
from claims.services.signoff import ReviewState, pending_reviews, review_state
from claims.settings import get_settings
from flows.common import acting_identity, current_runtime, retry_on_io
from flows.work import (
    AssessmentReport,
    BatchesFailed,
    assess_in_batches,
    batches,
    list_claims,
    on_progress,
    progress_callback,
    raise_failed,
    report_markdown,
    summary_line,
    window,
)

ARTIFACT_KEY = "claims-assessment"
THREADS = 4
DB_WRITES = "claims-database-writes"  # the global concurrency limit held by each batch's write

__all__ = [
    "ARTIFACT_KEY",
    "AssessmentReport",
    "BatchesFailed",
    "assess_batch",
    "assessment_flow",
    "batches",
    "list_claims",
    "on_progress",
    "report_markdown",
    "summary_line",
    "task_runner",
]


def task_runner(dask: str | None = None, workers: int | None = None) -> TaskRunner:
    """A thread pool by default; with `dask` a Dask scheduler address, or "local" for a temporary LocalCluster."""
    if not dask:
        return ThreadPoolTaskRunner(max_workers=workers or THREADS)
    from prefect_dask import DaskTaskRunner

    if dask == "local":
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers or 2, "threads_per_worker": 1, "processes": True})
    return DaskTaskRunner(address=dask)


def default_task_runner() -> TaskRunner:
    """The runner for deployments started from the entrypoint (workers): CLAIMS_DASK_ADDRESS, else threads."""
    return task_runner(os.environ.get("CLAIMS_DASK_ADDRESS") or None)


@task(
    name="assess-batch",
    retries=3,
    retry_delay_seconds=[1, 5, 15],
    retry_condition_fn=retry_on_io,
    cache_policy=NO_CACHE,
)
def assess_batch(rt: Runtime, who: Identity, keys: list[str]) -> list[Outcome]:
    """Assess one batch of claims in one transaction and apply what the policy says, holding a database-write slot."""
    with concurrency(DB_WRITES, occupy=1, strict=False):
        return services.assess_claims(rt, who, keys)


@task(name="start-signoff", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def start_signoff(review: ReviewState, deployment: str) -> str:
    """Make sure one sign-off run waits for a reviewer on `review`.

    The idempotency key gives one run per review request. A run that ended without a decision
    (its pause timed out, it crashed or was cancelled) while the review is still pending is
    followed by a new one, keyed on the run it replaces, so re-runs still start it only once.
    """
    from prefect.deployments import run_deployment

    key = f"claims-review-{review.id}-{review.requested_at:%Y%m%dT%H%M%S}"
    while True:
        run = run_deployment(
            deployment,
            parameters={"review_id": review.id},
            flow_run_name=f"review-{review.id}",  # the name the sign-off flow gives its runs
            idempotency_key=key,
            timeout=0,
            as_subflow=False,
        )
        state = run.state
        if state is None or not state.is_final() or state.is_completed():
            return str(run.id)
        key = f"claims-review-{review.id}-after-{run.id}"


@flow(name="claims-assessment", task_runner=default_task_runner())
def assessment_flow(
    keys: list[str] | None = None,
    case: str | None = None,
    actor: str | None = None,
    batch_size: int | None = None,
    signoff_deployment: str | None = None,
    parallel: int | None = None,
    full: bool = False,
) -> AssessmentReport:
    """Assess claims in batches, publish what moved and why, and start sign-off runs for pending reviews.

    Without `keys`, only claims changed since their last assessment (or judged under another
    policy version) are assessed; `full` assesses every claim. It acts as the identity the calling
    process proved (`flows.common.acting_as`), else as the system (a deployment's run); `actor` only
    names who that is, for the run's record, and is refused if it names anyone else.
    """
    who = acting_identity(actor)
    rt = current_runtime()
    logger = get_run_logger()
    todo = list(keys) if keys else list_claims(rt, case, full, logger)
    chunks = batches(todo, batch_size or get_settings().batch_size)
    outcomes, failed = assess_in_batches(
        rt, who, todo, chunks, window(rt, len(chunks), parallel), run_batches, progress_callback()
    )
    services.after_run(rt, sum(1 for o in outcomes if o.changes))
    publish_report(outcomes, len(chunks), failed, rt.policy.version)
    signoffs: dict[int, str] = {}
    if signoff_deployment:
        resumed = resume_decided_signoffs(rt, signoff_deployment)
        for review in pending_reviews(rt):
            signoffs[review.id] = start_signoff(review, signoff_deployment)
        logger.info("%d sign-off run(s) waiting for reviewers, %d resumed (decided elsewhere)", len(signoffs), resumed)
    raise_failed(failed, len(chunks))
    logger.info("%s, in %d batch(es)", summary_line(outcomes), len(chunks))
    run = get_run_context().flow_run  # type: ignore[union-attr]
    return AssessmentReport(outcomes, len(chunks), rt.policy.version, str(run.id) if run else None, signoffs)


@task(name="resume-decided", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def resume_decided_signoffs(rt: Runtime, deployment: str) -> int:
    """Resume the suspended sign-off runs whose review was decided elsewhere (CLI, dashboard, withdrawn).

    A suspended run holds no process that could watch the store, so this sweep, run with every
    scheduled assessment, wakes it: it sees the recorded decision, applies nothing and ends.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, FlowRunFilter, FlowRunFilterState
    from prefect.exceptions import ObjectNotFound
    from prefect.flow_runs import resume_flow_run

    from flows.review import outside_decision

    with get_client(sync_client=True) as client:
        try:
            dep = client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            return 0
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id={"any_": [dep.id]}),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type={"any_": ["PAUSED"]})),
        )
    resumed = 0
    for run in runs:
        review_id = run.parameters.get("review_id")
        if review_id is None:
            continue
        state = review_state(rt, int(review_id))
        if not state.pending:
            try:
                resume_flow_run(run.id, run_input=outside_decision(state))
                resumed += 1
            except Exception as exc:  # resumed meanwhile, or timed out: the next sweep looks again
                get_run_logger().warning("could not resume sign-off run %s: %s", run.id, exc)
    return resumed


def run_batches(
    rt: Runtime, who: Identity, chunks: list[list[str]], window_size: int
) -> Iterator[tuple[list[str], list[Outcome] | BaseException]]:
    """Each batch's outcomes (or what it raised after its retries) as the batches finish, at most `window_size` at once.

    One at a time on the flow's thread pool, batches are called right here, in the flow's thread:
    the same task runs with the same retries, without a hand-over to a pool thread per batch.
    Anything else (parallel batches, Dask workers) is submitted to the flow's task runner.
    """
    context = FlowRunContext.get()
    if window_size == 1 and (context is None or isinstance(context.task_runner, ThreadPoolTaskRunner)):
        for chunk in chunks:
            try:
                yield chunk, assess_batch(rt, who, chunk)
            except Exception as exc:
                yield chunk, exc
        return
    waiting = deque(chunks)
    running: dict[PrefectFuture[list[Outcome]], list[str]] = {}
    while waiting or running:
        while waiting and len(running) < window_size:
            chunk = waiting.popleft()
            running[assess_batch.submit(rt, who, chunk)] = chunk
        future = next(as_completed(list(running)))
        chunk = running.pop(future)
        try:
            yield chunk, future.result()
        except Exception as exc:
            yield chunk, exc


def publish_report(
    outcomes: list[Outcome], n_batches: int, failed: list[tuple[list[str], BaseException]], policy_version: str
) -> None:
    """Publish a markdown artifact of what moved and why."""
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=report_markdown(outcomes, n_batches, failed, policy_version),
        description=summary_line(outcomes),
    )
