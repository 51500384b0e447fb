"""Assessment flow: judge every open claim (or a given set) against the policy, one batch per task.

Claims are many and each Prefect task run costs tens of milliseconds of orchestration, so a task
assesses a whole batch (CLAIMS_BATCH_SIZE, default 5000) in one transaction. The service decides
every step from the stored state, so a retried or re-run batch never applies a transition twice.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from claims import services
from claims.domain.errors import DomainError
from claims.services import Outcome, Runtime
from claims.services.runtime import SYSTEM_USER
from claims.services.signoff import ReviewState, pending_reviews
from claims.settings import get_settings
from flows.common import current_runtime, plain, retry_on_io

ARTIFACT_KEY = "claims-assessment"
THREADS = 4

_PROGRESS: ContextVar[Callable[[int, int], None] | None] = ContextVar("claims_assessment_progress", default=None)


class BatchesFailed(RuntimeError):
    """Some batches failed even after their retries; the others are committed and reported."""


@dataclass(frozen=True)
class AssessmentReport:
    """What one assessment run did: an outcome per claim, and which batches and sign-off runs there were."""

    outcomes: list[Outcome]
    batches: int
    policy_version: str
    flow_run_id: str | None = None
    signoff_runs: dict[int, str] = field(default_factory=dict)

    @property
    def changed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.changes]


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


def batches(keys: Sequence[str], size: int) -> list[list[str]]:
    """`keys` cut into consecutive lists of at most `size`."""
    if size < 1:
        raise ValueError(f"batch_size: must be at least 1, not {size}")
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


@contextmanager
def on_progress(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Call `callback(done, total)` once the claims are listed and after each batch, in flows run in this context."""
    token = _PROGRESS.set(callback)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def progress_callback() -> Callable[[int, int], None]:
    """The callback set by `on_progress`, else one that does nothing.

    (The flow body reads the ContextVar only through this function: Dask pickles the flow with
    each task, and a ContextVar cannot be pickled.)
    """
    return _PROGRESS.get() or _no_progress


def _no_progress(done: int, total: int) -> None:
    return None


@task(name="list-claims", retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def list_claims(rt: Runtime, case: str | None = None, full: bool = False) -> list[str]:
    """Keys of the claims to assess (all, or one case's): those changed since last judged, or every one if `full`."""
    return services.open_claim_keys(rt, case, changed_only=not full)


@task(
    name="assess-batch",
    retries=3,
    retry_delay_seconds=[1, 5, 15],
    retry_condition_fn=retry_on_io,
    cache_policy=NO_CACHE,
)
def assess_batch(rt: Runtime, actor: str, keys: list[str]) -> list[Outcome]:
    """Assess one batch of claims in one transaction and apply what the policy says."""
    return services.assess_claims(rt, actor, keys)


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
    actor: str = SYSTEM_USER,
    batch_size: int | None = None,
    signoff_deployment: str | None = None,
    parallel: int | None = None,
    full: bool = False,
) -> AssessmentReport:
    """Assess claims in batches, publish what moved and why, and start sign-off runs for pending reviews.

    Without `keys`, only claims changed since their last assessment (or judged under another
    policy version) are assessed; `full` assesses every claim.
    """
    rt = current_runtime()
    logger = get_run_logger()
    todo = list(keys) if keys else list_claims(rt, case, full)
    chunks = batches(todo, batch_size or get_settings().batch_size)
    waiting = deque(chunks)
    # SQLite takes one writer at a time: batches in parallel would only queue on its lock, and its
    # busy handler sleeps in coarse steps. PostgreSQL (and Dask) get every batch at once.
    window = parallel or (1 if rt.database_url.startswith("sqlite") else len(chunks) or 1)
    running: dict[PrefectFuture[list[Outcome]], list[str]] = {}
    by_claim: dict[str, Outcome] = {}
    failed: list[tuple[list[str], BaseException]] = []
    report_progress = progress_callback()
    report_progress(0, len(todo))
    while waiting or running:
        while waiting and len(running) < window:
            chunk = waiting.popleft()
            running[assess_batch.submit(rt, actor, chunk)] = chunk
        future = next(as_completed(list(running)))
        chunk = running.pop(future)
        try:
            done = future.result()
        except Exception as exc:  # one batch's failure must not hide what the others committed
            failed.append((chunk, exc))
            continue
        by_claim.update((o.claim, o) for o in done)
        report_progress(len(by_claim), len(todo))
    outcomes = [by_claim[k] for k in todo if k in by_claim]
    publish_report(outcomes, len(chunks), failed, rt.policy.version)
    signoffs: dict[int, str] = {}
    if signoff_deployment:
        for review in pending_reviews(rt):
            signoffs[review.id] = start_signoff(review, signoff_deployment)
        logger.info("%d sign-off run(s) waiting for reviewers", len(signoffs))
    if failed:
        first_keys, first_exc = failed[0]
        if isinstance(first_exc, DomainError):
            raise first_exc  # an unknown claim or a role without permission: the caller's error, not an outage
        raise BatchesFailed(
            f"{len(failed)} of {len(chunks)} batch(es) failed after retries, first at claim {first_keys[0]!r}: "
            f"{first_exc}"
        ) from first_exc
    logger.info("%s, in %d batch(es)", summary_line(outcomes), len(chunks))
    run = get_run_context().flow_run  # type: ignore[union-attr]
    return AssessmentReport(outcomes, len(chunks), rt.policy.version, str(run.id) if run else None, signoffs)


def publish_report(
    outcomes: list[Outcome], n_batches: int, failed: list[tuple[list[str], BaseException]], policy_version: str
) -> None:
    """Publish a markdown artifact of what moved and why."""
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=report_markdown(outcomes, n_batches, failed, policy_version),
        description=summary_line(outcomes),
    )


def summary_line(outcomes: list[Outcome]) -> str:
    """One line: how many claims were assessed, moved, sent to review, at risk."""
    moved = sum(o.moved for o in outcomes)
    reviews = sum(o.review_requested is not None for o in outcomes)
    at_risk = sum(o.at_risk for o in outcomes)
    return f"{len(outcomes)} claim(s) assessed: {moved} moved, {reviews} review request(s) opened, {at_risk} at risk"


def report_markdown(
    outcomes: list[Outcome], n_batches: int, failed: list[tuple[list[str], BaseException]], policy_version: str
) -> str:
    """The artifact body: a summary, a table of every change with its reason, claims at risk, failed batches."""
    lines = [
        f"# Assessment under policy {policy_version}",
        "",
        f"{summary_line(outcomes)}, in {n_batches} batch(es).",
        "",
    ]
    changed = [o for o in outcomes if o.changes]
    if changed:
        lines += ["| claim | was | now | what happened and why |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {o.claim} | {o.from_stage} | {o.stage} | {'<br>'.join(plain(c) for c in o.changes)} |" for o in changed
        ]
    else:
        lines.append("Nothing moved: every claim already stands where the policy puts it.")
    at_risk = [o.claim for o in outcomes if o.at_risk]
    if at_risk:
        lines += [
            "",
            "## At risk",
            "",
            "Confirmed or refuted claims that no longer meet their stage (never demoted "
            "automatically; a reviewer decides whether to reopen):",
            "",
        ]
        lines += [f"- {k}" for k in at_risk]
    if failed:
        lines += ["", "## Failed batches", "", "These were rolled back and will be assessed again on the next run:", ""]
        lines += [f"- {len(keys)} claim(s) from {keys[0]!r}: {plain(str(exc))}" for keys, exc in failed]
    return "\n".join(lines) + "\n"
